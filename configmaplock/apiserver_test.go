package configmaplock_test

// Integration tests against a real kube-apiserver and etcd
// (internal/controlplane): what the fake clientset cannot show, such as the
// server's own optimistic concurrency, RBAC and namespace checks.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/record"
)

// The control plane is started by the first test that needs it, so the unit
// tests of this package run without it, and stopped by TestMain.
var (
	cpOnce sync.Once
	cp     *controlplane.ControlPlane
	cpErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cp != nil {
		if err := cp.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "controlplane: Stop: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// server returns the shared control plane, a context for the test and an
// admin clientset, or ends the test as controlplane.Require says.
func server(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	cpOnce.Do(func() {
		cp, cpErr = controlplane.Start(context.Background(), controlplane.Options{})
	})
	controlplane.Require(t, cpErr)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx, clientsetFor(t, controlplane.AdminUser)
}

func clientsetFor(t *testing.T, user string) kubernetes.Interface {
	t.Helper()
	rc := cp.RESTConfigFor(user)
	rc.QPS = -1 // no client-side rate limit: the tests burst
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func lockFor(t *testing.T, cs kubernetes.Interface, ns, name, identity string) *configmaplock.Lock {
	t.Helper()
	l, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: ns, Name: name, Identity: identity})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// recordOf returns a record held by holder, renewed at renew.
func recordOf(holder string, acquire, renew time.Time) record.Record {
	return record.Record{HolderIdentity: holder, LeaseDuration: 4 * time.Second, AcquireTime: acquire, RenewTime: renew}
}

// fresh reads the ConfigMap anew, bypassing every lock.
func fresh(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s/%s: %v", ns, name, err)
	}
	return cm
}

func holderOf(t *testing.T, cm *corev1.ConfigMap) string {
	t.Helper()
	rec, err := record.Decode(cm.Annotations[record.AnnotationKey])
	if errors.Is(err, record.ErrNoRecord) {
		return ""
	}
	if err != nil {
		t.Fatalf("stored annotation %q: %v", cm.Annotations[record.AnnotationKey], err)
	}
	return rec.HolderIdentity
}

func TestAPIServerCreateRaceHasOneWinner(t *testing.T) {
	ctx, cs := server(t)
	t.Parallel()
	ns := controlplane.NewNamespace(ctx, t, cs)

	const n = 8
	locks := make([]*configmaplock.Lock, n)
	for i := range locks {
		locks[i] = lockFor(t, cs, ns, "lock", fmt.Sprintf("candidate-%d", i))
	}
	now := time.Now()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, l := range locks {
		wg.Go(func() {
			<-start
			errs[i] = l.Create(ctx, recordOf(l.Identity(), now, now))
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("candidate-%d and candidate-%d both created the lock", winner, i)
			}
			winner = i
		case !apierrors.IsAlreadyExists(err):
			t.Errorf("candidate-%d: Create: %v, want AlreadyExists", i, err)
		case !strings.Contains(err.Error(), ns+"/lock"):
			t.Errorf("candidate-%d: error %q does not name the lock %s/lock", i, err, ns)
		}
	}
	if winner < 0 {
		t.Fatal("no candidate created the lock")
	}
	if got, want := holderOf(t, fresh(ctx, t, cs, ns, "lock")), locks[winner].Identity(); got != want {
		t.Fatalf("stored holder %q, want the winner %q", got, want)
	}
	// The winner's lock remembers what it created: it can renew at once.
	if err := locks[winner].Update(ctx, recordOf(locks[winner].Identity(), now, time.Now())); err != nil {
		t.Fatalf("winner's renewal after Create: %v", err)
	}
	// A loser has seen no version: it cannot write blindly.
	loser := (winner + 1) % n
	if err := locks[loser].Update(ctx, recordOf(locks[loser].Identity(), now, now)); !errors.Is(err, configmaplock.ErrNotRead) {
		t.Fatalf("loser's Update without a read: %v, want ErrNotRead", err)
	}
}

func TestAPIServerStaleUpdateConflicts(t *testing.T) {
	ctx, cs := server(t)
	t.Parallel()
	ns := controlplane.NewNamespace(ctx, t, cs)
	a, b := lockFor(t, cs, ns, "lock", "a"), lockFor(t, cs, ns, "lock", "b")
	t0 := time.Now()
	if err := a.Create(ctx, recordOf("a", t0, t0)); err != nil {
		t.Fatal(err)
	}
	_, rawA, errA := a.Get(ctx)
	_, rawB, errB := b.Get(ctx)
	if errA != nil || errB != nil || rawA != rawB {
		t.Fatalf("reads of the same version: %v, %v, %q != %q", errA, errB, rawA, rawB)
	}

	if err := a.Update(ctx, recordOf("a", t0, time.Now())); err != nil {
		t.Fatalf("first update: %v", err)
	}
	err := b.Update(ctx, recordOf("b", time.Now(), time.Now()))
	if !apierrors.IsConflict(err) {
		t.Fatalf("second update of the same version: %v, want a 409 Conflict", err)
	}
	if !strings.Contains(err.Error(), ns+"/lock") {
		t.Errorf("conflict %q does not name the lock", err)
	}
	if got := holderOf(t, fresh(ctx, t, cs, ns, "lock")); got != "a" {
		t.Fatalf("holder after the lost race: %q, want a", got)
	}
	// After a new read b's write goes through: the conflict was only about
	// the version.
	if _, _, err := b.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Update(ctx, recordOf("b", time.Now(), time.Now())); err != nil {
		t.Fatalf("update after a fresh read: %v", err)
	}
	if got := holderOf(t, fresh(ctx, t, cs, ns, "lock")); got != "b" {
		t.Fatalf("holder: %q, want b", got)
	}
}

// TestAPIServerKeepsUserContent follows a user's ConfigMap through every
// kind of write the election makes, checking each time with a fresh Get
// that nothing but the leader annotation changed.
func TestAPIServerKeepsUserContent(t *testing.T) {
	ctx, cs := server(t)
	t.Parallel()

	userAnnotations := map[string]string{"example.com/owner": "team-a", "note": "keep me"}
	labels := map[string]string{"app": "operator", "tier": "control"}
	data := map[string]string{"setting": "kept", "empty": ""}
	binaryData := map[string][]byte{"blob": {0, 1, 2, 0xff}}
	userContent := func(cm *corev1.ConfigMap) {
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		maps.Copy(cm.Annotations, userAnnotations)
		cm.Labels = maps.Clone(labels)
		cm.Data = maps.Clone(data)
		cm.BinaryData = maps.Clone(binaryData)
	}
	check := func(t *testing.T, ns, step, wantHolder string) {
		t.Helper()
		cm := fresh(ctx, t, cs, ns, "lock")
		for k, v := range userAnnotations {
			if cm.Annotations[k] != v {
				t.Errorf("after %s: annotation %s = %q, want %q (annotations %v)", step, k, cm.Annotations[k], v, cm.Annotations)
			}
		}
		if len(cm.Annotations) != len(userAnnotations)+1 {
			t.Errorf("after %s: annotations %v, want the user's and the leader's only", step, cm.Annotations)
		}
		if !maps.Equal(cm.Labels, labels) {
			t.Errorf("after %s: labels %v, want %v", step, cm.Labels, labels)
		}
		if !maps.Equal(cm.Data, data) {
			t.Errorf("after %s: data %v, want %v", step, cm.Data, data)
		}
		if !maps.EqualFunc(cm.BinaryData, binaryData, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Errorf("after %s: binaryData %v, want %v", step, cm.BinaryData, binaryData)
		}
		if got := holderOf(t, cm); got != wantHolder {
			t.Errorf("after %s: holder %q, want %q", step, got, wantHolder)
		}
	}
	// renewTakeoverRelease drives a and b as the election would: every
	// write follows a read.
	renewTakeoverRelease := func(t *testing.T, ns string, a, b *configmaplock.Lock) {
		t.Helper()
		recA, _, err := a.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Update(ctx, recordOf("a", recA.AcquireTime, time.Now())); err != nil {
			t.Fatalf("renew: %v", err)
		}
		check(t, ns, "renew", "a")

		if _, _, err := b.Get(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Update(ctx, recordOf("b", time.Now(), time.Now())); err != nil {
			t.Fatalf("takeover: %v", err)
		}
		check(t, ns, "takeover", "b")

		recB, _, err := b.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		released := recB
		released.HolderIdentity = ""
		if err := b.Update(ctx, released); err != nil {
			t.Fatalf("release: %v", err)
		}
		check(t, ns, "release", "")
		if _, _, err := a.Get(ctx); !errors.Is(err, record.ErrNoRecord) {
			t.Fatalf("Get after release: %v, want ErrNoRecord", err)
		}
	}

	t.Run("lock creates, user adds", func(t *testing.T) {
		ns := controlplane.NewNamespace(ctx, t, cs)
		a, b := lockFor(t, cs, ns, "lock", "a"), lockFor(t, cs, ns, "lock", "b")
		now := time.Now()
		if err := a.Create(ctx, recordOf("a", now, now)); err != nil {
			t.Fatal(err)
		}
		cm := fresh(ctx, t, cs, ns, "lock")
		if len(cm.Annotations) != 1 || len(cm.Labels) != 0 || len(cm.Data) != 0 || len(cm.BinaryData) != 0 {
			t.Fatalf("Create wrote more than the leader annotation: %+v", cm)
		}
		userContent(cm)
		if _, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		check(t, ns, "create and the user's edit", "a")
		renewTakeoverRelease(t, ns, a, b)
	})

	t.Run("user creates, lock joins", func(t *testing.T) {
		ns := controlplane.NewNamespace(ctx, t, cs)
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "lock"}}
		userContent(cm)
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		a, b := lockFor(t, cs, ns, "lock", "a"), lockFor(t, cs, ns, "lock", "b")
		now := time.Now()
		if err := a.Create(ctx, recordOf("a", now, now)); !apierrors.IsAlreadyExists(err) {
			t.Fatalf("Create over the user's ConfigMap: %v, want AlreadyExists", err)
		}
		if got := fresh(ctx, t, cs, ns, "lock"); len(got.Annotations) != len(userAnnotations) {
			t.Fatalf("a failed Create changed the annotations: %v", got.Annotations)
		}
		// No annotation is "no record", taken at once with an update.
		if _, raw, err := a.Get(ctx); !errors.Is(err, record.ErrNoRecord) || raw != "" {
			t.Fatalf("Get of a ConfigMap without the annotation: %q, %v; want ErrNoRecord", raw, err)
		}
		if err := a.Update(ctx, recordOf("a", now, now)); err != nil {
			t.Fatalf("acquire: %v", err)
		}
		check(t, ns, "acquire", "a")
		renewTakeoverRelease(t, ns, a, b)
	})
}

func TestAPIServerForbiddenNamesTheLock(t *testing.T) {
	ctx, cs := server(t)
	t.Parallel()
	ns := controlplane.NewNamespace(ctx, t, cs)
	nobody := lockFor(t, clientsetFor(t, controlplane.UnprivilegedUser), ns, "lock", "nobody")
	now := time.Now()

	_, _, err := nobody.Get(ctx)
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), ns+"/lock") {
		t.Errorf("Get as %s: %v, want Forbidden naming %s/lock", controlplane.UnprivilegedUser, err, ns)
	}
	err = nobody.Create(ctx, recordOf("nobody", now, now))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), ns+"/lock") {
		t.Errorf("Create as %s: %v, want Forbidden naming %s/lock", controlplane.UnprivilegedUser, err, ns)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "lock", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the forbidden Create left something: %v", err)
	}
}

func TestAPIServerMissingNamespace(t *testing.T) {
	ctx, _ := server(t)
	t.Parallel()
	const ns = "no-such-namespace"
	l := lockFor(t, clientsetFor(t, controlplane.AdminUser), ns, "lock", "a")
	if _, _, err := l.Get(ctx); !apierrors.IsNotFound(err) {
		t.Errorf("Get in a missing namespace: %v, want NotFound", err)
	}
	now := time.Now()
	err := l.Create(ctx, recordOf("a", now, now))
	if !apierrors.IsNotFound(err) {
		t.Fatalf("Create in a missing namespace: %v, want NotFound", err)
	}
	// The message must say that the namespace is what is missing, and
	// which lock was being created.
	for _, want := range []string{`namespaces "` + ns + `" not found`, "create " + ns + "/lock"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestAPIServerDeletedWhileHeld(t *testing.T) {
	ctx, cs := server(t)
	t.Parallel()
	ns := controlplane.NewNamespace(ctx, t, cs)
	a := lockFor(t, cs, ns, "lock", "a")
	t0 := time.Now()
	if err := a.Create(ctx, recordOf("a", t0, t0)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Get(ctx); err != nil {
		t.Fatal(err)
	}
	old := fresh(ctx, t, cs, ns, "lock")
	if err := cs.CoreV1().ConfigMaps(ns).Delete(ctx, "lock", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// A renewal over the version read before the deletion cannot bring
	// the object back: the server answers NotFound, not Conflict.
	if err := a.Update(ctx, recordOf("a", t0, time.Now())); !apierrors.IsNotFound(err) {
		t.Fatalf("Update of the deleted ConfigMap: %v, want NotFound", err)
	}
	if _, _, err := a.Get(ctx); !apierrors.IsNotFound(err) {
		t.Fatalf("Get after delete: %v, want NotFound", err)
	}
	if err := a.Create(ctx, recordOf("a", t0, time.Now())); err != nil {
		t.Fatalf("Create after delete: %v", err)
	}
	cm := fresh(ctx, t, cs, ns, "lock")
	if cm.UID == old.UID {
		t.Fatalf("recreated ConfigMap has the old UID %s", cm.UID)
	}
	if got := holderOf(t, cm); got != "a" {
		t.Fatalf("holder after recreation: %q, want a", got)
	}
	// The lock now works on the new object.
	if _, _, err := a.Get(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Update(ctx, recordOf("a", t0, time.Now())); err != nil {
		t.Fatalf("renewal of the recreated ConfigMap: %v", err)
	}
}
