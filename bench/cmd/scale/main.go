// Command scale runs many elections in one process with the library, for the
// benchmarks: one client, one configmaplock.Watcher shared by every lock of
// the namespace, and --count Electors on the ConfigMaps PREFIX-0 ...
// PREFIX-(count-1). Started first on a fresh namespace it leads them all;
// started second with another identity it follows them all.
//
//	scale --kubeconfig PATH --namespace NS --count 1000 --identity ID
//	    [--prefix lock] [--lease-duration 15s] [--renew-deadline 10s]
//	    [--retry-period 2s] [--status-every 1s]
//
// Every --status-every it prints one JSON status line on stdout (see status);
// counters are cumulative so that a reader takes differences over a window.
// The Electors start spread evenly over one RetryPeriod, as the candidates
// of independent processes would, so their renewals do not come in bursts.
// The client has no client-side rate limit: every request the elections
// need reaches the API server, which is what the benchmark measures.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
)

// bucketsMs are the upper bounds of the renewal latency histogram.
var bucketsMs = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}

// status is one line on stdout.
type status struct {
	Time        time.Time        `json:"time"`
	Count       int              `json:"count"`
	Leading     int              `json:"leading"`   // electors that lead now
	Following   int              `json:"following"` // electors that see another holder
	Goroutines  int              `json:"goroutines"`
	HeapInuse   uint64           `json:"heap_inuse"`
	Renewals    int64            `json:"renewals"`     // renewal attempts, cumulative
	RenewErrors int64            `json:"renew_errors"` // failed renewal attempts, cumulative
	Lost        int64            `json:"lost"`         // leaderships lost, cumulative
	Acquired    int64            `json:"acquired"`     // leaderships won, cumulative
	APIErrors   map[string]int64 `json:"api_errors"`   // by electionloop.ErrorKind, cumulative
	RenewHist   []int64          `json:"renew_hist"`   // renewal latency counts per bucketsMs, then +Inf
	BucketsMs   []float64        `json:"buckets_ms"`
}

type metrics struct {
	renewals, renewErrors, acquired atomic.Int64
	hist                            []atomic.Int64

	mu        sync.Mutex
	apiErrors map[string]int64
}

func (m *metrics) Leading(leading bool) {
	if leading {
		m.acquired.Add(1)
	}
}

func (m *metrics) Renewed(took time.Duration, err error) {
	m.renewals.Add(1)
	if err != nil {
		m.renewErrors.Add(1)
	}
	ms := float64(took) / float64(time.Millisecond)
	i := sort.SearchFloat64s(bucketsMs, ms)
	m.hist[i].Add(1)
}

func (m *metrics) APIError(kind string) {
	m.mu.Lock()
	m.apiErrors[kind]++
	m.mu.Unlock()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	namespace := flag.String("namespace", "default", "namespace of the locks")
	prefix := flag.String("prefix", "lock", "ConfigMap name prefix")
	count := flag.Int("count", 1000, "number of elections")
	identity := flag.String("identity", "scale", "identity of this process's candidates")
	leaseDuration := flag.Duration("lease-duration", 15*time.Second, "lease duration")
	renewDeadline := flag.Duration("renew-deadline", 10*time.Second, "renew deadline")
	retryPeriod := flag.Duration("retry-period", 2*time.Second, "retry period")
	every := flag.Duration("status-every", time.Second, "status line interval")
	flag.Parse()

	restConfig, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	restConfig.QPS = -1 // no client-side rate limit
	// Protobuf instead of JSON: a process that renews hundreds of locks and
	// watches their ConfigMaps spends most of its CPU encoding and decoding
	// them. The annotation inside is the same Python-dialect JSON.
	restConfig.ContentType = "application/vnd.kubernetes.protobuf"
	restConfig.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	watcher, err := configmaplock.NewWatcher(client.CoreV1(), configmaplock.WatcherOptions{Namespace: *namespace})
	if err != nil {
		return err
	}
	go watcher.Run(ctx)
	if err := watcher.WaitForSync(ctx); err != nil {
		return err
	}

	m := &metrics{hist: make([]atomic.Int64, len(bucketsMs)+1), apiErrors: map[string]int64{}}
	var lost atomic.Int64
	electors := make([]*electionloop.Elector, *count)
	for i := range electors {
		lock, err := configmaplock.New(client.CoreV1(), configmaplock.Options{
			Namespace: *namespace, Name: *prefix + "-" + strconv.Itoa(i), Identity: *identity, Watcher: watcher,
		})
		if err != nil {
			return err
		}
		electors[i], err = electionloop.New(config.Config{
			Lock:          lock,
			LeaseDuration: *leaseDuration,
			RenewDeadline: *renewDeadline,
			RetryPeriod:   *retryPeriod,
			Metrics:       m,
			Callbacks: config.Callbacks{
				OnStartedLeading: func(ctx context.Context) { <-ctx.Done() },
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			return err
		}
	}

	var wg sync.WaitGroup
	for i, e := range electors {
		wg.Add(1)
		delay := time.Duration(int64(*retryPeriod) * int64(i) / int64(len(electors)))
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			for ctx.Err() == nil {
				if err := e.Run(ctx); errors.Is(err, electionloop.ErrLeadershipLost) {
					lost.Add(1)
				}
			}
		}()
	}

	enc := json.NewEncoder(os.Stdout)
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for {
		s := status{Time: time.Now(), Count: len(electors), Goroutines: runtime.NumGoroutine(), BucketsMs: bucketsMs}
		for _, e := range electors {
			st := e.Status()
			switch {
			case st.Leading:
				s.Leading++
			case st.Leader != "" && st.Leader != *identity:
				s.Following++
			}
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.HeapInuse = ms.HeapInuse
		s.Renewals, s.RenewErrors, s.Acquired, s.Lost = m.renewals.Load(), m.renewErrors.Load(), m.acquired.Load(), lost.Load()
		s.RenewHist = make([]int64, len(m.hist))
		for i := range m.hist {
			s.RenewHist[i] = m.hist[i].Load()
		}
		m.mu.Lock()
		s.APIErrors = make(map[string]int64, len(m.apiErrors))
		for k, v := range m.apiErrors {
			s.APIErrors[k] = v
		}
		m.mu.Unlock()
		if err := enc.Encode(s); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-tick.C:
		}
	}
}
