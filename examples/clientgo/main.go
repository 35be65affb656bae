// Command clientgo runs client-go's own LeaderElector on the Python client's
// ConfigMap lock, through clientgolock, so that it can join a pool of Python
// candidates (and of examples/candidate). It prints a line when it starts or
// stops leading and when it sees a new leader; client-go logs to stderr.
//
//	go run ./examples/clientgo --name my-lock [--namespace default] [--identity ID]
//	    [--kubeconfig PATH] [--lease-duration 15s] [--renew-deadline 10s] [--retry-period 2s]
//
// SIGTERM or SIGINT releases the lock and exits 0; losing leadership exits 1.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"

	"github.com/kubepy/leaderelection/clientgolock"
)

func main() {
	host, _ := os.Hostname()
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file (default: in-cluster, $KUBECONFIG, ~/.kube/config)")
	namespace := flag.String("namespace", "default", "namespace of the lock")
	name := flag.String("name", "", "name of the lock's ConfigMap (required)")
	identity := flag.String("identity", host, "identity of this candidate")
	leaseDuration := flag.Duration("lease-duration", 15*time.Second, "lease duration, whole seconds")
	renewDeadline := flag.Duration("renew-deadline", 10*time.Second, "renew deadline")
	retryPeriod := flag.Duration("retry-period", 2*time.Second, "retry period")
	flag.Parse()
	out := log.New(os.Stdout, "", log.LstdFlags|log.Lmicroseconds)
	if *name == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	restConfig, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		log.Fatalf("clientgo: loading kubeconfig: %v", err)
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		log.Fatalf("clientgo: creating client: %v", err)
	}
	// The lock's lease is the elector's, so that it waits for a Python
	// holder at least as long as Python candidates do.
	lock, err := clientgolock.New(client.CoreV1(), *namespace, *name, *identity, clientgolock.WithLeaseDuration(*leaseDuration))
	if err != nil {
		log.Fatalf("clientgo: %v", err)
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: *leaseDuration,
		RenewDeadline: *renewDeadline,
		RetryPeriod:   *retryPeriod,
		// client-go releases without waiting for OnStartedLeading to
		// return: the leader's work must stop as soon as ctx is done.
		ReleaseOnCancel: true,
		Name:            *name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				out.Printf("%s: started leading", *identity)
				<-ctx.Done() // the work of the leader would run here
			},
			OnStoppedLeading: func() { out.Printf("%s: stopped leading", *identity) },
			OnNewLeader:      func(leader string) { out.Printf("%s: new leader %s", *identity, leader) },
		},
	})
	if err != nil {
		log.Fatalf("clientgo: invalid configuration: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	elector.Run(ctx)
	if ctx.Err() == nil {
		// Leadership was lost: exit, so that a restart rejoins the
		// election with a fresh state, as client-go recommends.
		stop()
		os.Exit(1)
	}
}
