package compat_test

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubepy/leaderelection/compat"
)

// The Python client's example,
//
//	config = electionconfig.Config(ConfigMapLock(lock_name, lock_namespace, candidate_id),
//	    lease_duration=17, renew_deadline=15, retry_period=5,
//	    onstarted_leading=example_func, onstopped_leading=None)
//	leaderelection.LeaderElection(config).run()
//
// line for line in Go. Here the leader stops itself after its first turn.
func Example() {
	client := fake.NewClientset() // kubernetes.NewForConfig(...) in a real program
	ctx, cancel := context.WithCancel(context.Background())

	exampleFunc := func(ctx context.Context) {
		fmt.Println("I am leader")
		cancel()
	}
	config, err := compat.Config(compat.ConfigMapLock(client.CoreV1(), "examplepython", "default", "candidate-1"),
		17, 15, 5, exampleFunc, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	le, err := compat.LeaderElection(config)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Exited leader election:", le.Run(ctx))
	// Output:
	// I am leader
	// Exited leader election: context canceled
}
