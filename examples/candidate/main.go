// Command candidate joins a leader election on a ConfigMap lock and reports
// it: one JSON object per line on stdout for each event, logs on stderr.
//
//	go run ./examples/candidate --name my-lock [--namespace default] [--identity ID]
//	    [--kubeconfig PATH] [--lease-duration 15s] [--renew-deadline 10s]
//	    [--retry-period 2s] [--release-on-cancel] [--dialect python|client-go]
//	    [--watch] [--healthz-addr 127.0.0.1:8081] [-v N]
//
// Events: {"event":"started_leading"|"stopped_leading"|"new_leader",
// "identity":ID, "leader":ID (new_leader only), "time":RFC 3339}.
//
// Exit status: 0 after SIGTERM or SIGINT (which cancel the election,
// releasing the lock with --release-on-cancel); 1 when leadership was lost or
// the election failed; 2 for invalid flags or configuration, reported before
// any API call.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/stdr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/record"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	kubeconfig, namespace, name, identity, dialect string
	leaseDuration, renewDeadline, retryPeriod      time.Duration
	releaseOnCancel, watch                         bool
	healthzAddr                                    string
	verbosity                                      int
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	host, _ := os.Hostname()
	var o options
	fs := flag.NewFlagSet("candidate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config)")
	fs.StringVar(&o.namespace, "namespace", "default", "namespace of the lock")
	fs.StringVar(&o.name, "name", "", "name of the lock's ConfigMap (required)")
	fs.StringVar(&o.identity, "identity", host, "identity of this candidate")
	fs.DurationVar(&o.leaseDuration, "lease-duration", 15*time.Second, "lease duration")
	fs.DurationVar(&o.renewDeadline, "renew-deadline", 10*time.Second, "renew deadline")
	fs.DurationVar(&o.retryPeriod, "retry-period", 2*time.Second, "retry period")
	fs.BoolVar(&o.releaseOnCancel, "release-on-cancel", false, "release the lock on SIGTERM or SIGINT")
	fs.StringVar(&o.dialect, "dialect", "python", "record dialect to write: python or client-go")
	fs.BoolVar(&o.watch, "watch", false, "watch the lock instead of polling it (needs list and watch rights on configmaps)")
	fs.StringVar(&o.healthzAddr, "healthz-addr", "", "serve /healthz on this address, failing when a leader stops renewing")
	fs.IntVar(&o.verbosity, "v", 0, "log verbosity")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.name == "" {
		return o, errors.New("--name is required")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "candidate:", err)
		return 2
	}
	stdr.SetVerbosity(o.verbosity)
	logger := stdr.New(log.New(stderr, "", log.LstdFlags|log.Lmicroseconds))
	ctx = logr.NewContext(ctx, logger)

	dialect := record.Python
	switch o.dialect {
	case "python":
	case "client-go":
		dialect = record.ClientGo
	default:
		fmt.Fprintf(stderr, "candidate: --dialect %q is not python or client-go\n", o.dialect)
		return 2
	}

	// Every problem with flags, kubeconfig and configuration is reported
	// at once, before any API call.
	var problems []error
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	restConfig, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		problems = append(problems, fmt.Errorf("loading kubeconfig: %w", err))
		restConfig = &rest.Config{} // lets the rest of the configuration be checked
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		fmt.Fprintln(stderr, "candidate: creating client:", errors.Join(append(problems, err)...))
		return 2
	}

	events := newEventWriter(stdout, o.identity)
	var watcher *configmaplock.Watcher
	if o.watch {
		watcher, err = configmaplock.NewWatcher(client.CoreV1(), configmaplock.WatcherOptions{Namespace: o.namespace, Name: o.name})
		problems = append(problems, err)
	}
	lock, lockErr := configmaplock.New(client.CoreV1(), configmaplock.Options{
		Namespace: o.namespace, Name: o.name, Identity: o.identity, Dialect: dialect, Watcher: watcher,
	})
	cfg := config.Config{
		Lock:            lock,
		LeaseDuration:   o.leaseDuration,
		RenewDeadline:   o.renewDeadline,
		RetryPeriod:     o.retryPeriod,
		ReleaseOnCancel: o.releaseOnCancel,
		Callbacks: config.Callbacks{
			OnStartedLeading: func(ctx context.Context) {
				events.write("started_leading", "")
				<-ctx.Done()
			},
			OnStoppedLeading: func() { events.write("stopped_leading", "") },
			OnNewLeader:      func(id string) { events.write("new_leader", id) },
		},
	}
	if lockErr != nil {
		cfg.Lock = nil
	}
	elector, err := electionloop.New(cfg)
	if lockErr != nil {
		// "Lock is required" would only repeat why the lock is missing.
		err = withoutField(err, "Lock")
	}
	if err = errors.Join(append(problems, lockErr, err)...); err != nil {
		fmt.Fprintln(stderr, "candidate: invalid configuration:", err)
		return 2
	}

	if o.healthzAddr != "" {
		if err := serveHealthz(ctx, o.healthzAddr, electionloop.NewHealthCheck(elector, o.renewDeadline)); err != nil {
			fmt.Fprintln(stderr, "candidate:", err)
			return 2
		}
	}
	// Only now, with every check passed, does anything talk to the server.
	if watcher != nil {
		watchCtx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		go watcher.Run(watchCtx)
	}

	err = elector.Run(ctx)
	switch {
	case ctx.Err() != nil:
		return 0
	default:
		logger.Error(err, "election ended")
		return 1
	}
}

// withoutField drops the *config.FieldError of field from the joined
// validation errors err.
func withoutField(err error, field string) error {
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		return err
	}
	var kept []error
	for _, e := range joined.Unwrap() {
		var fe *config.FieldError
		if errors.As(e, &fe) && fe.Field == field {
			continue
		}
		kept = append(kept, e)
	}
	return errors.Join(kept...)
}

// serveHealthz serves the health check until ctx ends.
func serveHealthz(ctx context.Context, addr string, check http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--healthz-addr %q: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", check)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return nil
}

// eventWriter prints one JSON object per line, whole lines only, since the
// callbacks run on different goroutines.
type eventWriter struct {
	mu       sync.Mutex
	enc      *json.Encoder
	identity string
}

type event struct {
	Event    string `json:"event"`
	Identity string `json:"identity"`
	Leader   string `json:"leader,omitempty"`
	Time     string `json:"time"`
}

func newEventWriter(w io.Writer, identity string) *eventWriter {
	return &eventWriter{enc: json.NewEncoder(w), identity: identity}
}

func (w *eventWriter) write(kind, leader string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.enc.Encode(event{Event: kind, Identity: w.identity, Leader: leader, Time: time.Now().Format(time.RFC3339Nano)})
}
