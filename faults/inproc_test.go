package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/pool"
)

// inproc is a candidate running in the test process as an
// electionloop.Elector, restarted like a supervised process: each time Run
// returns it runs again after a RetryPeriod, until stopped.
type inproc struct {
	id string
	e  *electionloop.Elector

	mu      sync.Mutex
	started []time.Time // OnStartedLeading
	ctxDone []time.Time // the work's context ended
	stopped []time.Time // OnStoppedLeading
	runs    []error     // what each Run returned
	changed chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

// startInproc runs an in-process candidate id on lock, as the admin, until
// the test ends.
func (e *env) startInproc(id, lock string) *inproc {
	e.t.Helper()
	c := &inproc{id: id, changed: make(chan struct{}), done: make(chan struct{})}
	rc := e.cp.RESTConfigFor(controlplane.AdminUser)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	lk, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: e.ns, Name: lock, Identity: id})
	if err != nil {
		e.t.Fatal(err)
	}
	c.e, err = electionloop.New(config.Config{
		Lock:          lk,
		LeaseDuration: leaseDuration,
		RenewDeadline: renewDeadline,
		RetryPeriod:   retryPeriod,
		Callbacks: config.Callbacks{
			OnStartedLeading: func(ctx context.Context) {
				c.note(&c.started)
				<-ctx.Done()
				c.note(&c.ctxDone)
			},
			OnStoppedLeading: func() { c.note(&c.stopped) },
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	logger := funcr.New(func(prefix, args string) {
		e.logs.Add(id, args)
	}, funcr.Options{Verbosity: 1})
	ctx, cancel := context.WithCancel(logr.NewContext(e.ctx, logger))
	c.cancel = cancel
	go func() {
		defer close(c.done)
		for {
			err := c.e.Run(ctx)
			c.mu.Lock()
			c.runs = append(c.runs, err)
			c.mu.Unlock()
			c.poke()
			if ctx.Err() != nil {
				return
			}
			select {
			case <-time.After(retryPeriod):
			case <-ctx.Done():
				return
			}
		}
	}()
	e.t.Cleanup(c.stop)
	return c
}

func (c *inproc) stop() {
	c.cancel()
	<-c.done
}

func (c *inproc) note(list *[]time.Time) {
	c.mu.Lock()
	*list = append(*list, time.Now())
	c.mu.Unlock()
	c.poke()
}

func (c *inproc) poke() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// wait waits up to within until cond, checked under the lock, holds.
func (c *inproc) wait(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		c.mu.Lock()
		ok := cond()
		changed := c.changed
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s: no %s within %v", c.id, what, within)
		}
	}
}

// terms returns the in-process leadership terms, from OnStartedLeading to
// the end of the work's context, in pool form.
func (c *inproc) terms() []pool.Term {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []pool.Term
	for i, s := range c.started {
		t := pool.Term{Identity: c.id, Start: s}
		if i < len(c.ctxDone) {
			t.End, t.EndedBy = c.ctxDone[i], "context cancelled"
		}
		out = append(out, t)
	}
	return out
}

func (c *inproc) leading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.started) > len(c.ctxDone)
}

func (c *inproc) String() string { // for failure messages
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%s: started %v ctxDone %v stopped %v runs %v", c.id, c.started, c.ctxDone, c.stopped, c.runs)
}

// lastRunErr is the error of the last Run that returned.
func (c *inproc) lastRunErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.runs) == 0 {
		return errors.New("no Run returned")
	}
	return c.runs[len(c.runs)-1]
}
