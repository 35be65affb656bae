// Command clientgo-candidate joins a leader election with client-go's own
// LeaderElector on a coordination.k8s.io/v1 Lease lock, for the benchmarks.
// It speaks the contract of examples/candidate: the same flags and one JSON
// object per line on stdout per event.
//
//	clientgo-candidate --name my-lock [--namespace default] [--identity ID]
//	    [--kubeconfig PATH] [--lease-duration 15s] [--renew-deadline 10s]
//	    [--retry-period 2s] [--release-on-cancel]
//
// Events: {"event":"started_leading"|"stopped_leading"|"new_leader",
// "identity":ID, "leader":ID (new_leader only), "time":RFC 3339}.
//
// Exit status: 0 after SIGTERM or SIGINT (which cancel the election,
// releasing the Lease with --release-on-cancel); 1 when leadership was lost;
// 2 for invalid flags or configuration.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("clientgo-candidate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config)")
	namespace := fs.String("namespace", "default", "namespace of the Lease")
	name := fs.String("name", "", "name of the Lease (required)")
	identity := fs.String("identity", host, "identity of this candidate")
	leaseDuration := fs.Duration("lease-duration", 15*time.Second, "lease duration")
	renewDeadline := fs.Duration("renew-deadline", 10*time.Second, "renew deadline")
	retryPeriod := fs.Duration("retry-period", 2*time.Second, "retry period")
	releaseOnCancel := fs.Bool("release-on-cancel", false, "release the Lease on SIGTERM or SIGINT")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *name == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "clientgo-candidate: --name is required and no arguments are taken")
		return 2
	}
	klog.SetOutput(stderr)
	klog.LogToStderr(false)

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	restConfig, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		fmt.Fprintln(stderr, "clientgo-candidate: loading kubeconfig:", err)
		return 2
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		fmt.Fprintln(stderr, "clientgo-candidate: creating client:", err)
		return 2
	}
	events := &eventWriter{enc: json.NewEncoder(stdout), identity: *identity}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: *namespace, Name: *name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: *identity},
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		ReleaseOnCancel: *releaseOnCancel,
		Name:            *name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				events.write("started_leading", "")
				<-ctx.Done()
			},
			OnStoppedLeading: func() { events.write("stopped_leading", "") },
			OnNewLeader:      func(id string) { events.write("new_leader", id) },
		},
	})
	if err != nil {
		fmt.Fprintln(stderr, "clientgo-candidate: invalid configuration:", err)
		return 2
	}
	elector.Run(ctx)
	if ctx.Err() != nil {
		return 0
	}
	fmt.Fprintln(stderr, "clientgo-candidate:", errors.New("leadership lost"))
	return 1
}

// eventWriter prints one JSON object per line, whole lines only: client-go
// calls OnNewLeader on its own goroutine.
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

func (w *eventWriter) write(kind, leader string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.enc.Encode(event{Event: kind, Identity: w.identity, Leader: leader, Time: time.Now().Format(time.RFC3339Nano)})
}
