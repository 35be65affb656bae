package controlplane

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Users in the static token file.
const (
	// AdminUser is in group system:masters, which RBAC never denies.
	AdminUser = "admin"
	// UnprivilegedUser has no groups beyond system:authenticated, so RBAC
	// denies it nearly everything.
	UnprivilegedUser = "nobody"
)

// modulePath identifies the repository root when looking for BinDir.
const modulePath = "github.com/kubepy/leaderelection"

// ErrNoBinaries is wrapped by Start's error when kube-apiserver or etcd cannot
// be found; Require skips tests for it unless CI=true.
var ErrNoBinaries = errors.New("control plane binaries not found")

// Options configures Start. The zero value is ready to use.
type Options struct {
	// BinDir holds the kube-apiserver and etcd executables. Default:
	// $KUBE_BIN_DIR, else .cache/kube/bin in the directory holding the
	// go.mod of module github.com/kubepy/leaderelection, found by walking up
	// from the working directory.
	BinDir string
	// Dir holds etcd's data, the apiserver's certificates, the token file
	// and the kubeconfig files. Default: a new temporary directory, which
	// Stop removes; a given Dir is kept.
	Dir string
	// Log receives the output of both processes, each line prefixed with
	// the process name. Default: discarded. Either way the last lines of
	// each process appear in error messages.
	Log io.Writer
}

// ControlPlane is a running etcd and kube-apiserver on 127.0.0.1. Its methods
// are safe for concurrent use; starting and stopping are serialized.
type ControlPlane struct {
	binDir    string
	dir       string
	removeDir bool
	log       *lockedWriter

	etcdClientPort int
	etcdPeerPort   int
	apiPort        int

	tokens map[string]string // user name to bearer token
	// ca is the apiserver's self-signed serving certificate followed by the
	// CA that signed it, in PEM. It is set before Start returns and never
	// changes, because the apiserver reuses the files in its cert dir.
	ca []byte

	mu        sync.Mutex
	etcd      *process // nil while stopped
	apiserver *process // nil while stopped
}

// Start starts etcd and then kube-apiserver and returns once the apiserver is
// ready and the default namespace exists. ctx bounds only the start-up; the
// processes run until Stop. On error nothing is left running.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	binDir := opts.BinDir
	if binDir == "" {
		var err error
		if binDir, err = defaultBinDir(); err != nil {
			return nil, err
		}
	}
	// An absolute path keeps exec from searching PATH for a bare name.
	binDir, err := filepath.Abs(binDir)
	if err != nil {
		return nil, fmt.Errorf("bin dir %q: %w", binDir, err)
	}
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(binDir, name)); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%w: %w (build them with hack/kube/build.sh, or set KUBE_BIN_DIR)", ErrNoBinaries, err)
			}
			return nil, err
		}
	}

	cp := &ControlPlane{binDir: binDir, log: &lockedWriter{w: io.Discard}}
	if opts.Log != nil {
		cp.log.w = opts.Log
	}
	if opts.Dir == "" {
		if cp.dir, err = os.MkdirTemp("", "controlplane-"); err != nil {
			return nil, fmt.Errorf("create working dir: %w", err)
		}
		cp.removeDir = true
	} else {
		if cp.dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, fmt.Errorf("working dir %q: %w", opts.Dir, err)
		}
		if err := os.MkdirAll(cp.dir, 0o700); err != nil {
			return nil, fmt.Errorf("create working dir: %w", err)
		}
	}

	if err := cp.setUp(ctx); err != nil {
		// The start-up error says what went wrong; errors from stopping
		// the half-started processes would only repeat it.
		_ = cp.Stop()
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) setUp(ctx context.Context) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	cp.etcdClientPort, cp.etcdPeerPort, cp.apiPort = ports[0], ports[1], ports[2]
	cp.tokens = map[string]string{AdminUser: rand.Text(), UnprivilegedUser: rand.Text()}
	if err := cp.writeTokenFile(); err != nil {
		return err
	}
	if err := writeServiceAccountKey(cp.path(serviceAccountKey)); err != nil {
		return err
	}
	if err := cp.StartEtcd(ctx); err != nil {
		return err
	}
	if err := cp.StartAPIServer(ctx); err != nil {
		return err
	}
	for user := range cp.tokens {
		if err := cp.writeKubeconfig(user); err != nil {
			return err
		}
	}
	return nil
}

// Files and directories in the working dir.
const (
	etcdDataDir       = "etcd"
	certDir           = "apiserver"
	servingCert       = "apiserver/apiserver.crt" // written by kube-apiserver
	tokenFile         = "tokens.csv"
	serviceAccountKey = "service-account.key"
)

func (cp *ControlPlane) path(name string) string { return filepath.Join(cp.dir, name) }

// Host returns the apiserver's URL, https://127.0.0.1:PORT.
func (cp *ControlPlane) Host() string {
	return "https://127.0.0.1:" + strconv.Itoa(cp.apiPort)
}

func (cp *ControlPlane) etcdURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(cp.etcdClientPort)
}

func (cp *ControlPlane) etcdArgs() []string {
	peer := "http://127.0.0.1:" + strconv.Itoa(cp.etcdPeerPort)
	return []string{
		"--name=controlplane",
		"--data-dir=" + cp.path(etcdDataDir),
		"--listen-client-urls=" + cp.etcdURL(),
		"--advertise-client-urls=" + cp.etcdURL(),
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=controlplane=" + peer,
		// Test data need not survive a machine crash; fsync dominates
		// write latency on slow disks.
		"--unsafe-no-fsync",
	}
}

func (cp *ControlPlane) apiserverArgs() []string {
	return []string{
		"--etcd-servers=" + cp.etcdURL(),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(cp.apiPort),
		// With no --tls-cert-file the apiserver writes a self-signed
		// certificate here, and reuses it after a restart.
		"--cert-dir=" + cp.path(certDir),
		"--token-auth-file=" + cp.path(tokenFile),
		"--authorization-mode=RBAC",
		"--service-account-key-file=" + cp.path(serviceAccountKey),
		"--service-account-signing-key-file=" + cp.path(serviceAccountKey),
		"--service-account-issuer=https://127.0.0.1",
		// Required to start; nothing routes traffic to it.
		"--service-cluster-ip-range=10.0.0.0/24",
		// Endpoints may not hold a loopback address, so maintaining those
		// of the kubernetes service would fail over and over.
		"--endpoint-reconciler-type=none",
	}
}

// StartEtcd starts etcd on its ports with its data dir and waits until it is
// healthy. If the apiserver is running, StartEtcd also waits until it is
// ready again, so that the control plane is usable when StartEtcd returns.
func (cp *ControlPlane) StartEtcd(ctx context.Context) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.etcd != nil && !cp.etcd.exited() {
		return fmt.Errorf("etcd is already running (pid %d)", cp.etcd.pid())
	}
	// etcd reads every ETCD_* variable as a flag, so none may leak in.
	p, err := startProcess("etcd", filepath.Join(cp.binDir, "etcd"), cp.etcdArgs(), environWithout("ETCD_"), etcdGrace, cp.log)
	if err != nil {
		return err
	}
	cp.etcd = p
	if err := cp.waitEtcd(ctx, p); err != nil {
		// Do not leave a half-started etcd holding the ports.
		_ = p.stop(context.Background())
		cp.etcd = nil
		return err
	}
	if cp.apiserver != nil && !cp.apiserver.exited() {
		return cp.waitAPIServer(ctx, cp.apiserver)
	}
	return nil
}

// StartAPIServer starts kube-apiserver on its port with the same flags and
// waits until it is ready and the default namespace exists.
func (cp *ControlPlane) StartAPIServer(ctx context.Context) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.apiserver != nil && !cp.apiserver.exited() {
		return fmt.Errorf("kube-apiserver is already running (pid %d)", cp.apiserver.pid())
	}
	p, err := startProcess("kube-apiserver", filepath.Join(cp.binDir, "kube-apiserver"), cp.apiserverArgs(), os.Environ(), apiserverGrace, cp.log)
	if err != nil {
		return err
	}
	cp.apiserver = p
	if err := cp.waitAPIServer(ctx, p); err != nil {
		// Do not leave a half-started apiserver holding the port.
		_ = p.stop(context.Background())
		cp.apiserver = nil
		return err
	}
	return nil
}

// StopEtcd stops etcd: SIGTERM, then SIGKILL after a short grace or once ctx
// ends. Its data dir stays for StartEtcd. Stopping a stopped etcd does
// nothing; the error reports an etcd that had exited by itself.
func (cp *ControlPlane) StopEtcd(ctx context.Context) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	p := cp.etcd
	cp.etcd = nil
	if p == nil {
		return nil
	}
	return p.stop(ctx)
}

// StopAPIServer stops kube-apiserver like StopEtcd stops etcd.
func (cp *ControlPlane) StopAPIServer(ctx context.Context) error {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	p := cp.apiserver
	cp.apiserver = nil
	if p == nil {
		return nil
	}
	return p.stop(ctx)
}

// Stop stops the apiserver and etcd and removes the working dir if Start
// created it. Calling it again does nothing.
func (cp *ControlPlane) Stop() error {
	ctx := context.Background()
	errs := []error{cp.StopAPIServer(ctx), cp.StopEtcd(ctx)}
	if cp.removeDir {
		if err := os.RemoveAll(cp.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove working dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

// writeTokenFile writes the apiserver's static token file, one
// "token,user,uid[,groups]" line per user.
func (cp *ControlPlane) writeTokenFile() error {
	content := fmt.Sprintf("%s,%s,%s,system:masters\n%s,%s,%s\n",
		cp.tokens[AdminUser], AdminUser, AdminUser,
		cp.tokens[UnprivilegedUser], UnprivilegedUser, UnprivilegedUser)
	if err := os.WriteFile(cp.path(tokenFile), []byte(content), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	return nil
}

// writeServiceAccountKey writes a new RSA key, which the apiserver needs to
// sign and verify service account tokens even if no test uses them.
func writeServiceAccountKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate service account key: %w", err)
	}
	block := &pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return fmt.Errorf("write service account key: %w", err)
	}
	return nil
}

// defaultBinDir returns $KUBE_BIN_DIR, else .cache/kube/bin at the root of
// this repository, found by walking up from the working directory; a test
// binary runs in its package's directory.
func defaultBinDir() (string, error) {
	if dir := os.Getenv("KUBE_BIN_DIR"); dir != "" {
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find bin dir: %w", err)
	}
	for dir := wd; ; {
		if moduleOf(filepath.Join(dir, "go.mod")) == modulePath {
			return filepath.Join(dir, ".cache", "kube", "bin"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: KUBE_BIN_DIR is unset and no go.mod of module %s is above %s", ErrNoBinaries, modulePath, wd)
		}
		dir = parent
	}
}

// moduleOf returns the module path declared in the go.mod file at path, or
// "" if there is none. Nested modules (hack/kube) have other paths, so the
// walk continues past them.
func moduleOf(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`)
		}
	}
	return ""
}
