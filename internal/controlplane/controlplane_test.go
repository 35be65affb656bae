//go:build unix

// The tests check process groups with kill(2), so they run only on Unix.

package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// One control plane for the tests that only use it; tests that stop it
// bring it back before they return.
var (
	shared    *ControlPlane
	sharedErr error
)

func TestMain(m *testing.M) {
	start := time.Now()
	shared, sharedErr = Start(context.Background(), Options{})
	if sharedErr == nil {
		fmt.Printf("controlplane: Start took %s\n", time.Since(start).Round(time.Millisecond))
	}
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "controlplane: Stop: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func clientset(t *testing.T, cp *ControlPlane, user string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cp.RESTConfigFor(user))
	if err != nil {
		t.Fatalf("clientset for %s: %v", user, err)
	}
	return cs
}

func createConfigMap(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cm"},
		Data:       map[string]string{"key": "value"},
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap: %v", err)
	}
	return cm
}

// getConfigMap reads the configmap, retrying for a while: after etcd comes
// back the apiserver can fail a request or two while it reconnects.
func getConfigMap(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) *corev1.ConfigMap {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return cm
		}
		if time.Now().After(deadline) {
			t.Fatalf("get configmap %s/%s: %v", ns, name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestConfigMapReadWriteConflict(t *testing.T) {
	Require(t, sharedErr)
	ctx := testContext(t)
	cs := clientset(t, shared, AdminUser)
	ns := NewNamespace(ctx, t, cs)

	created := createConfigMap(ctx, t, cs, ns)
	got := getConfigMap(ctx, t, cs, ns, created.Name)
	if got.Data["key"] != "value" {
		t.Fatalf("configmap data = %v, want key=value", got.Data)
	}

	fresh := got.DeepCopy()
	fresh.Data["key"] = "first"
	if _, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update with current resourceVersion: %v", err)
	}
	stale := got.DeepCopy()
	stale.Data["key"] = "second"
	_, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, stale, metav1.UpdateOptions{})
	if !apierrors.IsConflict(err) {
		t.Fatalf("update with stale resourceVersion %s: err = %v, want a conflict", stale.ResourceVersion, err)
	}
}

func TestUnprivilegedUserIsForbidden(t *testing.T) {
	Require(t, sharedErr)
	ctx := testContext(t)
	ns := NewNamespace(ctx, t, clientset(t, shared, AdminUser))

	nobody := clientset(t, shared, UnprivilegedUser)
	_, err := nobody.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("list configmaps as %s: err = %v, want Forbidden", UnprivilegedUser, err)
	}
	_, err = nobody.CoreV1().ConfigMaps(ns).Get(ctx, "cm", metav1.GetOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("get configmap as %s: err = %v, want Forbidden", UnprivilegedUser, err)
	}

	unknown, err := kubernetes.NewForConfig(shared.RESTConfigFor("mallory"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = unknown.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Fatalf("list configmaps as an unknown user: err = %v, want Unauthorized", err)
	}
	if _, err := shared.KubeconfigFor("mallory"); err == nil {
		t.Fatal("KubeconfigFor an unknown user: no error")
	}
}

const pythonListNamespaces = `
import sys
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
print(" ".join(ns.metadata.name for ns in client.CoreV1Api().list_namespace().items))
`

func TestKubeconfigWorksWithPythonClient(t *testing.T) {
	Require(t, sharedErr)
	const python = "/usr/bin/python3"
	// -I ignores PYTHON* variables and user site-packages: the test is
	// about the system's python3-kubernetes.
	if out, err := exec.Command(python, "-I", "-c", "import kubernetes").CombinedOutput(); err != nil {
		SkipOrFail(t, "no Python kubernetes client (apt-get install python3-kubernetes): %s: %v: %s", python, err, out)
	}
	for _, user := range []string{AdminUser, UnprivilegedUser} {
		path, err := shared.KubeconfigFor(user)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(python, "-I", "-c", pythonListNamespaces, path)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		switch user {
		case AdminUser:
			if err != nil {
				t.Fatalf("python list namespaces with %s: %v\n%s", path, err, stderr.Bytes())
			}
			if !strings.Contains(" "+string(out)+" ", " default ") {
				t.Fatalf("python listed namespaces %q, want default among them", out)
			}
		case UnprivilegedUser:
			// Proves that the file authenticates as nobody rather than
			// anonymously: RBAC names the user it denies.
			if err == nil || !strings.Contains(stderr.String(), "forbidden") || !strings.Contains(stderr.String(), UnprivilegedUser) {
				t.Fatalf("python list namespaces as %s: err = %v, want Forbidden for user nobody\n%s", user, err, stderr.Bytes())
			}
		}
	}
}

func TestKubeconfigWorksWithKubectl(t *testing.T) {
	Require(t, sharedErr)
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skipf("no kubectl on PATH: %v", err)
	}
	out, err := exec.Command(kubectl, "--kubeconfig", shared.KubeconfigPath(), "get", "namespace", "default", "-o", "name").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "namespace/default" {
		t.Fatalf("kubectl get namespace default: %v: %s", err, out)
	}
}

func TestAPIServerRestartKeepsData(t *testing.T) {
	Require(t, sharedErr)
	ctx := testContext(t)
	cs := clientset(t, shared, AdminUser)
	ns := NewNamespace(ctx, t, cs)
	cm := createConfigMap(ctx, t, cs, ns)

	old := shared.apiserver.pid()
	if err := shared.StopAPIServer(ctx); err != nil {
		t.Fatalf("StopAPIServer: %v", err)
	}
	if !processGone(old) {
		t.Fatalf("kube-apiserver pid %d still exists after StopAPIServer", old)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, cm.Name, metav1.GetOptions{}); err == nil {
		t.Fatal("get configmap with the apiserver stopped: no error")
	}
	start := time.Now()
	if err := shared.StartAPIServer(ctx); err != nil {
		t.Fatalf("StartAPIServer: %v", err)
	}
	t.Logf("StartAPIServer took %s", time.Since(start).Round(time.Millisecond))
	if got := getConfigMap(ctx, t, cs, ns, cm.Name); got.UID != cm.UID {
		t.Fatalf("configmap UID after restart = %s, want %s", got.UID, cm.UID)
	}
}

func TestEtcdRestartKeepsData(t *testing.T) {
	Require(t, sharedErr)
	ctx := testContext(t)
	cs := clientset(t, shared, AdminUser)
	ns := NewNamespace(ctx, t, cs)
	cm := createConfigMap(ctx, t, cs, ns)

	old := shared.etcd.pid()
	if err := shared.StopEtcd(ctx); err != nil {
		t.Fatalf("StopEtcd: %v", err)
	}
	if !processGone(old) {
		t.Fatalf("etcd pid %d still exists after StopEtcd", old)
	}
	// A quorum read needs etcd, so this must fail rather than come from the
	// apiserver's watch cache.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err := cs.CoreV1().ConfigMaps(ns).Get(short, cm.Name, metav1.GetOptions{})
	cancel()
	if err == nil {
		t.Fatal("get configmap with etcd stopped: no error")
	}
	start := time.Now()
	if err := shared.StartEtcd(ctx); err != nil {
		t.Fatalf("StartEtcd: %v", err)
	}
	t.Logf("StartEtcd took %s", time.Since(start).Round(time.Millisecond))
	if got := getConfigMap(ctx, t, cs, ns, cm.Name); got.UID != cm.UID {
		t.Fatalf("configmap UID after restart = %s, want %s", got.UID, cm.UID)
	}
}

func TestStopLeavesNothing(t *testing.T) {
	Require(t, sharedErr)
	ctx := testContext(t)
	start := time.Now()
	cp, err := Start(ctx, Options{})
	Require(t, err)
	t.Logf("Start took %s", time.Since(start).Round(time.Millisecond))
	pids := []int{cp.etcd.pid(), cp.apiserver.pid()}
	dir := cp.dir

	if err := cp.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Errorf("pid %d still exists after Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("working dir %s after Stop: %v, want it removed", dir, err)
	}
	if err := cp.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// processGone reports whether neither the process nor its process group
// exists any more.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) && errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH)
}

func TestMissingBinaries(t *testing.T) {
	_, err := Start(context.Background(), Options{BinDir: t.TempDir()})
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("Start with an empty BinDir: err = %v, want ErrNoBinaries", err)
	}
}

func TestNamespacePrefix(t *testing.T) {
	for name, want := range map[string]string{
		"TestFoo":                      "testfoo-",
		"TestFoo/sub_test#01":          "testfoo-sub-test-01-",
		"///":                          "test-",
		strings.Repeat("TestLong", 10): "testlongtestlongtestlongtestlongtestlong-",
		"TestA/" + strings.Repeat("x", 34) + "/y": "testa-" + strings.Repeat("x", 34) + "-",
	} {
		if got := namespacePrefix(name); got != want {
			t.Errorf("namespacePrefix(%q) = %q, want %q", name, got, want)
		}
	}
}
