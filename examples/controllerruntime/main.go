// Command controllerruntime runs a controller-runtime manager whose leader
// election goes through clientgolock, on the Python client's ConfigMap lock,
// so that an operator built on controller-runtime can join, or replace one
// by one, a pool of Python candidates. Its one runnable needs leader election
// and prints a line when it starts and stops.
//
//	go run . --name my-lock [--namespace default] [--identity ID] [--kubeconfig PATH]
//
// It is a module of its own so that the library's go.mod does not depend on
// controller-runtime.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/go-logr/stdr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kubepy/leaderelection/clientgolock"
)

func main() {
	host, _ := os.Hostname()
	var e election
	flag.StringVar(&e.namespace, "namespace", "default", "namespace of the lock")
	flag.StringVar(&e.name, "name", "", "name of the lock's ConfigMap (required)")
	flag.StringVar(&e.identity, "identity", host, "identity of this candidate")
	flag.Parse() // --kubeconfig is controller-runtime's own flag
	if e.name == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctrl.SetLogger(stdr.New(log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Fatalf("controllerruntime: loading kubeconfig: %v", err)
	}
	mgr, err := newManager(cfg, e, os.Stdout)
	if err != nil {
		log.Fatalf("controllerruntime: %v", err)
	}
	// On SIGTERM or SIGINT the manager stops its runnables, then releases
	// the lock; losing leadership makes Start fail.
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Fatalf("controllerruntime: %v", err)
	}
}

// election names the lock and this candidate.
type election struct {
	namespace, name, identity string
}

// The timings are controller-runtime's defaults; client-go writes the lease
// in whole seconds.
var (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// newManager returns a manager that elects its leader on the ConfigMap lock
// of e and runs leaderWork, printing to out, only while it leads.
func newManager(cfg *rest.Config, e election, out io.Writer) (manager.Manager, error) {
	// A client of its own, with a timeout under the renew deadline, as
	// client-go's resourcelock.NewFromKubeconfig makes: one hung request
	// must not cost the leadership.
	lockConfig := rest.CopyConfig(cfg)
	lockConfig.Timeout = max(time.Second, renewDeadline/2)
	client, err := kubernetes.NewForConfig(rest.AddUserAgent(lockConfig, "leader-election"))
	if err != nil {
		return nil, fmt.Errorf("creating the lock's client: %w", err)
	}
	lock, err := clientgolock.New(client.CoreV1(), e.namespace, e.name, e.identity, clientgolock.WithLeaseDuration(leaseDuration))
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		LeaderElection:                      true,
		LeaderElectionResourceLockInterface: lock,
		// Only names the elector in logs and metrics: the lock is given.
		LeaderElectionID: e.name,
		// Safe because the manager releases only after its runnables
		// have stopped, and the process then exits.
		LeaderElectionReleaseOnCancel: true,
		// controller-runtime documents these as ignored with a lock
		// interface, but its LeaderElector uses them.
		LeaseDuration: &leaseDuration,
		RenewDeadline: &renewDeadline,
		RetryPeriod:   &retryPeriod,
		Metrics:       metricsserver.Options{BindAddress: "0"}, // none in this example
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.Add(leaderWork{identity: e.identity, out: out}); err != nil {
		return nil, fmt.Errorf("adding the runnable: %w", err)
	}
	return mgr, nil
}

// leaderWork stands for the work that only the leader may do.
type leaderWork struct {
	identity string
	out      io.Writer
}

// NeedLeaderElection makes the manager start it only once elected, and stop
// it when leadership ends.
func (leaderWork) NeedLeaderElection() bool { return true }

func (w leaderWork) Start(ctx context.Context) error {
	fmt.Fprintf(w.out, "%s: started leading\n", w.identity)
	<-ctx.Done()
	fmt.Fprintf(w.out, "%s: stopped leading\n", w.identity)
	return nil
}
