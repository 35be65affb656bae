package lockevents_test

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes/fake"
	k8srecord "k8s.io/client-go/tools/record"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/lockevents"
)

func ExampleCallbacks() {
	client := fake.NewClientset() // a real clientset in a program
	lock, err := configmaplock.New(client.CoreV1(), configmaplock.Options{
		Namespace: "default", Name: "my-operator", Identity: "pod-a",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// In a program: recorder, broadcaster, err := lockevents.NewRecorder(
	// client.CoreV1(), "default", "my-operator"), and defer
	// broadcaster.Shutdown().
	recorder := k8srecord.NewFakeRecorder(10)

	ctx, cancel := context.WithCancel(context.Background())
	elector, err := electionloop.New(config.Config{
		Lock:          lock,
		LeaseDuration: 15 * time.Second,
		RenewDeadline: 10 * time.Second,
		RetryPeriod:   2 * time.Second,
		Callbacks: lockevents.Callbacks(config.Callbacks{
			OnStartedLeading: func(ctx context.Context) {
				cancel() // this example only leads for a moment
				<-ctx.Done()
			},
		}, recorder, lockevents.ConfigMap("default", "my-operator"), lock.Identity()),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(elector.Run(ctx))
	close(recorder.Events)
	for e := range recorder.Events {
		fmt.Println(e)
	}
	// Output:
	// context canceled
	// Normal LeaderElection pod-a became leader
	// Normal LeaderElection pod-a stopped leading
}
