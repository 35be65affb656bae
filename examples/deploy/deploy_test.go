package deploy_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/record"
)

var (
	cp    *controlplane.ControlPlane
	cpErr error
)

func TestMain(m *testing.M) {
	cp, cpErr = controlplane.Start(context.Background(), controlplane.Options{})
	code := m.Run()
	if cp != nil {
		_ = cp.Stop()
	}
	os.Exit(code)
}

const lockName = "my-operator-lock"

func load[T any](t *testing.T, file string) *T {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	obj := new(T)
	if err := yaml.UnmarshalStrict(data, obj); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return obj
}

// serviceAccountClient creates the manifests' ServiceAccount in ns, with the
// Role and RoleBinding when bind is set, and returns a client that
// authenticates as that ServiceAccount with a token from the TokenRequest API,
// counting its requests.
func serviceAccountClient(ctx context.Context, t *testing.T, admin kubernetes.Interface, ns string, bind bool) (kubernetes.Interface, *atomic.Int64) {
	t.Helper()
	sa := load[corev1.ServiceAccount](t, "serviceaccount.yaml")
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if bind {
		if _, err := admin.RbacV1().Roles(ns).Create(ctx, load[rbacv1.Role](t, "role.yaml"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, load[rbacv1.RoleBinding](t, "rolebinding.yaml"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(cp.RESTConfig())
	cfg.BearerToken = tok.Status.Token
	var requests atomic.Int64
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			requests.Add(1)
			return rt.RoundTrip(r)
		})
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, &requests
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func newElector(t *testing.T, cs kubernetes.Interface, ns string, watcher *configmaplock.Watcher, started chan<- struct{}) *electionloop.Elector {
	t.Helper()
	lock, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: ns, Name: lockName, Identity: "pod-0", Watcher: watcher})
	if err != nil {
		t.Fatal(err)
	}
	e, err := electionloop.New(config.Config{
		Lock: lock, LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: time.Second,
		ReleaseOnCancel: true,
		Callbacks: config.Callbacks{OnStartedLeading: func(ctx context.Context) {
			close(started)
			<-ctx.Done()
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// The Role of role.yaml is enough for a watching candidate: it creates the
// lock, leads, renews and releases.
func TestCandidateWorksWithExactlyTheRole(t *testing.T) {
	controlplane.Require(t, cpErr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := controlplane.NewNamespace(ctx, t, admin)
	cs, _ := serviceAccountClient(ctx, t, admin, ns, true)

	watcher, err := configmaplock.NewWatcher(cs.CoreV1(), configmaplock.WatcherOptions{Namespace: ns, Name: lockName})
	if err != nil {
		t.Fatal(err)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go watcher.Run(watchCtx)
	if err := watcher.WaitForSync(ctx); err != nil {
		t.Fatalf("the Role does not allow watching the lock: %v", err)
	}

	started := make(chan struct{})
	e := newElector(t, cs, ns, watcher, started)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the candidate did not lead with the Role")
	}
	time.Sleep(2500 * time.Millisecond) // two renewals under the Role
	if !e.IsLeader() {
		t.Fatal("the candidate stopped leading: a renewal was refused")
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	cm, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, lockName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := record.Decode(cm.Annotations[record.AnnotationKey]); !errors.Is(err, record.ErrNoRecord) {
		t.Fatalf("after release the record is %q (%v), want a released one", cm.Annotations[record.AnnotationKey], err)
	}
}

// Without the binding the candidate reports Forbidden once and backs off.
func TestCandidateWithoutTheRoleFailsClearly(t *testing.T) {
	controlplane.Require(t, cpErr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := controlplane.NewNamespace(ctx, t, admin)
	cs, requests := serviceAccountClient(ctx, t, admin, ns, false)

	var mu sync.Mutex
	var logged []error
	logger := funcr.New(func(prefix, args string) {}, funcr.Options{})
	logger = logr.New(&errorSink{LogSink: logger.GetSink(), record: func(err error) {
		mu.Lock()
		logged = append(logged, err)
		mu.Unlock()
	}})
	started := make(chan struct{})
	e := newElector(t, cs, ns, nil, started)
	runCtx, stop := context.WithTimeout(logr.NewContext(ctx, logger), 8*time.Second)
	defer stop()
	if err := e.Run(runCtx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run: %v", err)
	}
	select {
	case <-started:
		t.Fatal("a candidate without rights led")
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 1 || !apierrors.IsForbidden(logged[0]) {
		t.Fatalf("logged errors %v, want one Forbidden", logged)
	}
	// Backoff 1, 2, 4 s from t=0: attempts at 0, 1, 3, 7 s in 8 s.
	if n := requests.Load(); n > 5 {
		t.Fatalf("%d requests in 8 s without rights: a retry storm", n)
	}
	t.Logf("Forbidden logged once: %v; %d requests in 8 s", logged[0], requests.Load())
}

// errorSink passes every Error call to record.
type errorSink struct {
	logr.LogSink
	record func(error)
}

func (s *errorSink) Error(err error, msg string, kv ...any) { s.record(err) }
func (s *errorSink) WithValues(kv ...any) logr.LogSink {
	return &errorSink{LogSink: s.LogSink.WithValues(kv...), record: s.record}
}
func (s *errorSink) WithName(name string) logr.LogSink {
	return &errorSink{LogSink: s.LogSink.WithName(name), record: s.record}
}
