// Package controlplane runs a real etcd and kube-apiserver on 127.0.0.1 for
// the library's integration tests and demo.
//
// Start picks free ports, starts etcd and then kube-apiserver as child
// processes, waits until the apiserver's /readyz returns 200 and the
// "default" namespace exists (it appears a moment after readiness), and
// writes kubeconfig files. A static token file defines two users:
//
//   - [AdminUser] ("admin") is in group system:masters, which RBAC never denies;
//   - [UnprivilegedUser] ("nobody") is only system:authenticated, which RBAC
//     denies nearly everything, for Forbidden tests.
//
// [ControlPlane.RESTConfig] and [ControlPlane.RESTConfigFor] give client-go
// configurations; [ControlPlane.KubeconfigPath] and [ControlPlane.KubeconfigFor]
// give files for kubectl and for the Python client
// (kubernetes.config.load_kube_config(config_file=path)).
//
// Fault tests take either process down and bring it back on the same port
// with the same data: [ControlPlane.StopAPIServer] and
// [ControlPlane.StartAPIServer], [ControlPlane.StopEtcd] and
// [ControlPlane.StartEtcd]. [ControlPlane.Stop] ends both and removes the
// working directory if Start created it. The processes run in their own
// process group, so a terminal's Ctrl-C does not reach them; on Linux they
// also get SIGKILL when the test binary dies, so none outlive it; a binary
// killed that way leaves only its temporary directory (controlplane-*).
//
// The binaries come from hack/kube/build.sh, which builds kube-apiserver and
// etcd into .cache/kube/bin at the repository root; KUBE_BIN_DIR overrides
// that directory.
//
// # Use in tests
//
// Start costs seconds, so a test binary starts one control plane in TestMain
// and every test passes Start's error to [Require]:
//
//	var (
//		cp    *controlplane.ControlPlane
//		cpErr error
//	)
//
//	func TestMain(m *testing.M) {
//		cp, cpErr = controlplane.Start(context.Background(), controlplane.Options{})
//		code := m.Run()
//		if cp != nil {
//			cp.Stop()
//		}
//		os.Exit(code)
//	}
//
//	func TestSomething(t *testing.T) {
//		controlplane.Require(t, cpErr)
//		cs, err := kubernetes.NewForConfig(cp.RESTConfig())
//		...
//		ns := controlplane.NewNamespace(ctx, t, cs)
//	}
//
// Require skips the test with a loud message when the binaries are missing,
// so that go test ./... works on a machine that never ran the build, and fails
// it instead when CI=true, so that CI cannot pass by skipping. Any other
// Start error fails the test. [SkipOrFail] applies the same rule to other
// prerequisites, such as the Python client.
//
// Tests share the server, so each one works in its own namespace from
// [NewNamespace]. No controllers run, so a deleted namespace stays
// Terminating forever: namespaces are never deleted or reused; Stop throws
// the whole etcd data directory away.
//
// # Why not envtest
//
// controller-runtime's envtest also runs etcd and kube-apiserver, but this
// package manages the processes itself because:
//
//   - fault tests stop and restart etcd and the apiserver separately, on the
//     same ports with the same data, which envtest does not offer;
//   - RBAC tests need an unprivileged user with a known token, which is one
//     line in a static token file passed to the apiserver;
//   - the library's go.mod must not depend on controller-runtime.
package controlplane
