package lockevents_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/lockevents"
)

var (
	cp    *controlplane.ControlPlane
	cpErr error
)

func TestMain(m *testing.M) {
	cp, cpErr = controlplane.Start(context.Background(), controlplane.Options{})
	code := m.Run()
	if cp != nil {
		cp.Stop()
	}
	os.Exit(code)
}

// An elector on the real API server records both events on its ConfigMap.
func TestEventsOnConfigMap(t *testing.T) {
	controlplane.Require(t, cpErr)
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := controlplane.NewNamespace(ctx, t, cs)

	lock, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: ns, Name: "lock", Identity: "pod-a"})
	if err != nil {
		t.Fatal(err)
	}
	recorder, broadcaster, err := lockevents.NewRecorder(cs.CoreV1(), ns, "lockevents-test")
	if err != nil {
		t.Fatal(err)
	}
	defer broadcaster.Shutdown()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	e, err := electionloop.New(config.Config{
		Lock: lock, LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: time.Second,
		Callbacks: lockevents.Callbacks(config.Callbacks{OnStartedLeading: func(ctx context.Context) { <-ctx.Done() }},
			recorder, lockevents.ConfigMap(ns, "lock"), lock.Identity()),
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()

	became := waitForEvent(t, cs, ns, "pod-a became leader")
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	waitForEvent(t, cs, ns, "pod-a stopped leading")

	got := became.InvolvedObject
	if got.Kind != "ConfigMap" || got.APIVersion != "v1" || got.Namespace != ns || got.Name != "lock" {
		t.Errorf("involvedObject = %+v, want the ConfigMap %s/lock", got, ns)
	}
	if became.Type != corev1.EventTypeNormal || became.Reason != lockevents.Reason || became.Source.Component != "lockevents-test" {
		t.Errorf("event type %q reason %q source %+v", became.Type, became.Reason, became.Source)
	}
}

// waitForEvent polls the namespace's events for one with message msg.
func waitForEvent(t *testing.T, cs kubernetes.Interface, ns, msg string) corev1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		list, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if e.Message == msg {
				return e
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no event %q in %s", msg, ns)
	return corev1.Event{}
}
