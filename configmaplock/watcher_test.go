package configmaplock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/record"
)

func countGets(cs *fake.Clientset) int {
	n := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "configmaps" {
			n++
		}
	}
	return n
}

func startWatcher(t *testing.T, cs *fake.Clientset, opts configmaplock.WatcherOptions) *configmaplock.Watcher {
	t.Helper()
	w, err := configmaplock.NewWatcher(cs.CoreV1(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	syncCtx, syncCancel := context.WithTimeout(ctx, 10*time.Second)
	defer syncCancel()
	if err := w.WaitForSync(syncCtx); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestNewWatcherNamesBadValues(t *testing.T) {
	cs := fake.NewClientset()
	if _, err := configmaplock.NewWatcher(cs.CoreV1(), configmaplock.WatcherOptions{Namespace: "NS!"}); err == nil {
		t.Error("NewWatcher accepted an invalid namespace")
	}
	w, err := configmaplock.NewWatcher(cs.CoreV1(), configmaplock.WatcherOptions{Namespace: "ns", Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: "ns", Name: "lock", Identity: "me", Watcher: w})
	if err == nil {
		t.Error("New accepted a watcher of another ConfigMap")
	}
}

// A follower on a watching lock reads from the cache, learns of each change
// at once, and goes back to the server only after losing a race.
func TestWatchingLockReadsCacheAndReportsChanges(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(userConfigMap(map[string]string{record.AnnotationKey: record.Python.Encode(sample("other"))}))
	w := startWatcher(t, cs, configmaplock.WatcherOptions{Namespace: "ns"})
	l, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: "ns", Name: "lock", Identity: "me", Watcher: w})
	if err != nil {
		t.Fatal(err)
	}
	if l.Changes() == nil {
		t.Fatal("a watching lock has no Changes channel")
	}

	for range 3 {
		rec, _, err := l.Get(ctx)
		if err != nil || rec.HolderIdentity != "other" {
			t.Fatalf("Get = %+v, %v", rec, err)
		}
	}
	if n := countGets(cs); n != 0 {
		t.Fatalf("a watching lock made %d GET requests, want 0", n)
	}

	// Another candidate renews: the lock hears of it.
	cm, err := cs.CoreV1().ConfigMaps("ns").Get(ctx, "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	renewed := sample("other")
	renewed.RenewTime = renewed.RenewTime.Add(time.Second)
	cm.Annotations[record.AnnotationKey] = record.Python.Encode(renewed)
	if _, err := cs.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Changes():
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported within 10s")
	}
	if _, raw, _ := l.Get(ctx); raw != record.Python.Encode(renewed) {
		t.Fatalf("cache serves %q after the change", raw)
	}

	// A lost race sends the next read to the server.
	cs.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewConflict(corev1.Resource("configmaps"), "lock", errors.New("stale"))
	})
	before := countGets(cs)
	if err := l.Update(ctx, sample("me")); !apierrors.IsConflict(err) {
		t.Fatalf("Update: %v, want Conflict", err)
	}
	if _, _, err := l.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countGets(cs) - before; got != 1 {
		t.Fatalf("after a conflict Get made %d GET requests, want 1", got)
	}
	if _, _, err := l.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if got := countGets(cs) - before; got != 1 {
		t.Fatalf("the read after that made %d more GET requests, want 0", got-1)
	}
}

func TestWatchingLockSeesDeletion(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(userConfigMap(map[string]string{record.AnnotationKey: record.Python.Encode(sample("other"))}))
	w := startWatcher(t, cs, configmaplock.WatcherOptions{Namespace: "ns", Name: "lock"})
	l, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: "ns", Name: "lock", Identity: "me", Watcher: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("ns").Delete(ctx, "lock", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Changes():
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported for the deletion")
	}
	if _, _, err := l.Get(ctx); !apierrors.IsNotFound(err) {
		t.Fatalf("Get after deletion: %v, want NotFound", err)
	}
}
