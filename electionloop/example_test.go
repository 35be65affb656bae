package electionloop_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/record"
)

// A candidate that leads, does its work once, and steps down releasing the
// lock, so that another candidate — Go or Python — takes over at once.
// A real program passes a clientset built from its kubeconfig or in-cluster
// config instead of the fake one.
func Example() {
	client := fake.NewSimpleClientset()
	lock, err := configmaplock.New(client.CoreV1(), configmaplock.Options{
		Namespace: "default",
		Name:      "my-app-lock",
		Identity:  "pod-a",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	elector, err := electionloop.New(config.Config{
		Lock:            lock,
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Callbacks: config.Callbacks{
			OnStartedLeading: func(ctx context.Context) {
				fmt.Println("pod-a started leading")
				cancel() // the work is done: shut down
				<-ctx.Done()
			},
			OnStoppedLeading: func() { fmt.Println("pod-a stopped leading") },
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	err = elector.Run(ctx)
	fmt.Println("Run:", err)

	cm, err := client.CoreV1().ConfigMaps("default").Get(context.Background(), "my-app-lock", metav1.GetOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, err := record.Decode(cm.Annotations[record.AnnotationKey])
	fmt.Printf("holder after release: %q, free for the taking: %v\n", rec.HolderIdentity, errors.Is(err, record.ErrNoRecord))
	// Output:
	// pod-a started leading
	// pod-a stopped leading
	// Run: context canceled
	// holder after release: "", free for the taking: true
}
