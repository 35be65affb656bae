package faults

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"math/big"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/internal/controlplane"
	"github.com/kubepy/leaderelection/internal/netproxy"
	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

var (
	longIdentity    = strings.Repeat("i", config.MaxIdentityLength+1)
	maxIdentity     = strings.Repeat("m", config.MaxIdentityLength)
	longLockName    = strings.Repeat("n", 254)
	badNames        = []string{"", "Bad_Name", "no/slash", "-leading-dash", longLockName}
	badNamespaces   = []string{"", "Bad_NS", "dots.are.not.labels", strings.Repeat("s", 64)}
	badIdentities   = []string{"", longIdentity, "not utf-8 \xff"}
	identityProblem = map[string]string{"": "is empty", longIdentity: "1025 bytes", "not utf-8 \xff": "not valid UTF-8"}
)

// TestBadNamesAndIdentities: an empty, oversized or non-UTF-8 identity,
// and a lock name or namespace that is not a valid Kubernetes name, are
// refused by configmaplock.New, config.ValidateIdentity and the candidate
// command (exit 2 at once, nothing on stdout), each error naming the bad
// value, before any connection to the API server: the candidate's
// kubeconfig points at a proxy that counts connections.
func TestBadNamesAndIdentities(t *testing.T) {
	t.Parallel()
	cs := fake.NewClientset()
	good := configmaplock.Options{Namespace: "default", Name: "lock", Identity: "me"}
	type bad struct {
		name string
		opts configmaplock.Options
		want string // in the error
	}
	var cases []bad
	for _, n := range badNames {
		o := good
		o.Name = n
		cases = append(cases, bad{"name " + short(n), o, `name "` + short(n)})
	}
	// The command requires --name before it gets to the lock.
	cmdWant := func(c bad) string {
		if c.opts.Name == "" {
			return "--name is required"
		}
		return c.want
	}
	for _, ns := range badNamespaces {
		o := good
		o.Namespace = ns
		cases = append(cases, bad{"namespace " + short(ns), o, `namespace "` + short(ns)})
	}
	for _, id := range badIdentities {
		o := good
		o.Identity = id
		cases = append(cases, bad{"identity " + short(id), o, identityProblem[id]})
	}
	t.Run("constructors", func(t *testing.T) {
		for _, c := range cases {
			_, err := configmaplock.New(cs.CoreV1(), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: configmaplock.New = %v, want an error saying %q", c.name, err, c.want)
			}
		}
		for _, id := range badIdentities {
			err := config.ValidateIdentity(id)
			var fe *config.FieldError
			if !errors.As(err, &fe) || fe.Field != "Lock.Identity" || !strings.Contains(err.Error(), identityProblem[id]) {
				t.Errorf("ValidateIdentity(%s) = %v, want a Lock.Identity error saying %q", short(id), err, identityProblem[id])
			}
		}
		if _, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: "default", Name: "lock", Identity: maxIdentity}); err != nil {
			t.Errorf("an identity of exactly %d bytes: %v", config.MaxIdentityLength, err)
		}
	})

	t.Run("candidate command", func(t *testing.T) {
		controlplane.Require(t, cpErr)
		if buildErr != nil {
			t.Fatal(buildErr)
		}
		p, err := netproxy.New("127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		kubeconfig := (&env{t: t, cp: cp, dir: t.TempDir()}).kubeconfigVia(p.Addr(), controlplane.AdminUser)
		for _, c := range cases {
			args := []string{"--kubeconfig", kubeconfig, "--namespace", c.opts.Namespace, "--name", c.opts.Name,
				"--identity", c.opts.Identity, "--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "1s"}
			code, stdout, stderr := runCandidate(t, args)
			if code != 2 || stdout != "" || !strings.Contains(stderr, cmdWant(c)) {
				t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and a message saying %q", c.name, code, stdout, stderr, cmdWant(c))
			}
		}
		if n := p.Stats().Conns; n != 0 {
			t.Errorf("candidates with bad input connected %d times to the API server", n)
		}
	})
}

// short shortens a bad value for test names and messages as the library's
// errors quote it (the first 40 bytes).
func short(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

// runCandidate runs the Go candidate to its exit (within 10 s).
func runCandidate(t *testing.T, args []string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, built.GoBinary, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("candidate %q still running after 10s\nstderr:\n%s", args, errOut.String())
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// persistentWindow is how long the tests of errors that need someone to
// act (RBAC, a namespace, a smaller annotation) watch a candidate: attempts
// back off from RetryPeriod doubling, at about 0, 1, 3 and 7 s, where
// polling every RetryPeriod would make 8 or 9.
const persistentWindow = 8 * time.Second

// TestPersistentErrorsBackOff: a candidate that cannot do its job until
// someone acts — its namespace does not exist, its user has no RBAC rights,
// or the user's other annotations leave no room for the record — says so
// once, clearly (naming the lock and the cause), keeps trying but backs off,
// never leads, and does not exit. Attempts are counted twice: from its log
// at -v 1, and from its proxy (bursts of traffic). The user's ConfigMap,
// where there is one, keeps every byte.
func TestPersistentErrorsBackOff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		user      string
		namespace string // "" for the test's own
		fill      bool   // fill the user's annotations to the limit
		want      []string
	}{
		{"missing-namespace", controlplane.AdminUser, "no-such-namespace", false, []string{`namespaces "no-such-namespace" not found`}},
		{"forbidden", controlplane.UnprivilegedUser, "", false, []string{`User "nobody"`, "forbidden", `configmaps "lock"`}},
		{"record-does-not-fit", controlplane.AdminUser, "", true, []string{"Too long", "262144"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, false)
			ns := e.ns
			if tc.namespace != "" {
				ns = tc.namespace
			}
			blob := map[string]string{}
			if tc.fill {
				// The record of a maximal identity is some 1.2 KB: leave
				// less than that.
				used := 0
				for k, v := range userAnnotations {
					used += len(k) + len(v)
				}
				const key = "example.com/blob"
				blob[key] = strings.Repeat("b", 256*1024-used-len(key)-300)
				ann := maps.Clone(userAnnotations)
				maps.Copy(ann, blob)
				e.createLock("lock", ann, maps.Clone(userLabels), maps.Clone(userData))
			}
			id := "candidate"
			if tc.fill {
				id = maxIdentity
			}
			p := e.proxy(id)
			kubeconfig := e.kubeconfigVia(p.Addr(), tc.user)
			started := time.Now()
			e.start(pool.Go, id, "lock", withSpec(func(s *pool.Spec) { s.Kubeconfig, s.Namespace = kubeconfig, ns }))
			e.sleep(persistentWindow)

			var errs []string
			attempts := 0
			for _, l := range e.logs.Lines(id, started) {
				switch {
				case strings.Contains(l.Text, `"msg"="failed to acquire lease"`):
					errs = append(errs, l.Text)
					attempts++
				case strings.Contains(l.Text, "failed to acquire lease again"):
					attempts++
				}
			}
			bursts := burstsOf(p.Chunks(started))
			t.Logf("%s: %d attempts logged, %d bursts of traffic in %v; the error, said once: %s", tc.name, attempts, bursts, persistentWindow, firstOr(errs))
			if len(errs) != 1 {
				t.Errorf("logged the error %d times, want once: %q", len(errs), errs)
			}
			for _, w := range append(tc.want, ns+"/lock") {
				if len(errs) > 0 && !strings.Contains(errs[0], logQuoted(w)) {
					t.Errorf("the error does not say %q: %s", w, errs[0])
				}
			}
			if attempts < 3 || attempts > 5 {
				t.Errorf("%d attempts in %v, want 3 to 5 (backing off from %v)", attempts, persistentWindow, retryPeriod)
			}
			if bursts < attempts || bursts > attempts+1 {
				t.Errorf("the proxy saw %d bursts of traffic for %d logged attempts", bursts, attempts)
			}
			if evs := e.pool.Events(); len(evs) != 0 {
				t.Errorf("events: %v, want none (no leading, no exit)", evs)
			}
			if tc.fill {
				e.checkUserContent("lock", blob)
				if raw, ok := e.getLock("lock").Annotations[record.AnnotationKey]; ok {
					t.Errorf("a record was written: %q", raw)
				}
			}
		})
	}
}

// logQuoted is s as it appears inside a quoted value of a Go candidate's
// log line.
func logQuoted(s string) string { return strings.ReplaceAll(s, `"`, `\"`) }

// bursts counts the bursts of traffic towards the server among chunks:
// groups separated by at least gap of silence. One attempt of a candidate
// (a request or two, and a TLS handshake on a new connection) is one burst.
func burstsOf(chunks []netproxy.Chunk) int {
	const gap = 300 * time.Millisecond
	n := 0
	var last time.Time
	for _, ch := range chunks {
		if !ch.Up {
			continue
		}
		if last.IsZero() || ch.At.Sub(last) >= gap {
			n++
		}
		last = ch.At
	}
	return n
}

func firstOr(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return s[0]
}

// TestUnreachableOrUntrusted: a server that refuses connections (a closed
// port) and one whose certificate the kubeconfig's CA did not sign. The Go
// candidate logs the error once, clearly, retries about every RetryPeriod
// (the server may come back at any moment: no backoff, but no storm), never
// leads and does not exit. The Python client exits with a traceback on the
// first failure (reported, not asserted).
func TestUnreachableOrUntrusted(t *testing.T) {
	t.Parallel()
	const window = 6 * time.Second
	for _, tc := range []struct {
		name string
		want string
	}{
		{"closed-port", "connection refused"},
		{"wrong-ca", "certificate signed by unknown authority"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, false)
			var p *netproxy.Proxy // the Go candidate's
			var closed string
			if tc.name == "closed-port" {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				closed = ln.Addr().String()
				ln.Close()
			}
			kubeconfig := func(id string) string {
				if closed != "" {
					return e.kubeconfigVia(closed, controlplane.AdminUser)
				}
				return e.rewriteKubeconfig(e.kubeconfigVia(e.proxy(id).Addr(), controlplane.AdminUser),
					func(c *clientcmdapi.Cluster) { c.CertificateAuthorityData = otherCA(t) })
			}
			started := time.Now()
			e.start(pool.Go, "go", "lock", withSpec(func(s *pool.Spec) { s.Kubeconfig = kubeconfig("go") }))
			if closed == "" {
				p = e.proxy("go")
			}
			if pyErr == nil {
				e.start(pool.Python, "py", "lock", withSpec(func(s *pool.Spec) { s.Kubeconfig = kubeconfig("py") }))
			}
			e.sleep(window)

			var errs []string
			attempts := 0
			for _, l := range e.logs.Lines("go", started) {
				switch {
				case strings.Contains(l.Text, `"msg"="failed to acquire lease"`):
					errs = append(errs, l.Text)
					attempts++
				case strings.Contains(l.Text, "failed to acquire lease again"):
					attempts++
				}
			}
			conns, bursts := -1, -1
			if p != nil {
				conns, bursts = p.Stats().Conns, burstsOf(p.Chunks(started))
			}
			t.Logf("%s: %d attempts in %v (through the proxy: %d bursts of traffic, %d connections); the error, said once: %s",
				tc.name, attempts, window, bursts, conns, firstOr(errs))
			if len(errs) != 1 || !strings.Contains(errs[0], logQuoted(tc.want)) || !strings.Contains(errs[0], e.ns+"/lock") {
				t.Errorf("logged %q, want one error naming the lock and saying %q", errs, tc.want)
			}
			// Every RetryPeriod to 1.2 × RetryPeriod: 5 to 7 in 6 s.
			if attempts < 4 || attempts > int(window/retryPeriod)+1 {
				t.Errorf("%d attempts in %v, want about one per RetryPeriod (%v)", attempts, window, retryPeriod)
			}
			if p != nil && (bursts < attempts || bursts > attempts+1 || conns < attempts || conns > attempts+1) {
				t.Errorf("%d bursts and %d connections for %d attempts", bursts, conns, attempts)
			}
			for _, ev := range e.pool.Events() {
				if ev.Identity == "py" && ev.Event == pool.Exited {
					lines := e.logs.Lines("py", started)
					t.Logf("the Python client exited with code %d: %s", ev.Code, lines[len(lines)-1].Text)
					continue
				}
				t.Errorf("the Go candidate: %s (code %d), want it still following", ev.Event, ev.Code)
			}
		})
	}
}

// otherCA returns a CA certificate that signed nothing the API server has.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "not the API server's CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestUnreadableRecords: records that cannot be read as written — text
// that is not JSON, and JSON with every value of the wrong type (a numeric
// holderIdentity, an object for leaseDurationSeconds, numbers for the
// times) — on a lock that also holds the user's content. A Go and a Python
// candidate face each. Nobody crashes; each record is taken as held by
// someone (an unknown holder, or the holder "42"), and taken over once it
// has stayed unchanged for a lease, not before, by exactly one candidate,
// which writes a valid record. (The Python client raises on the text that
// is not JSON: its candidate is left out of that case, see
// interop.TestCorruptAnnotation.) The user's content survives.
func TestUnreadableRecords(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		raw    string
		python bool
	}{
		{"not-json", `{"holderIdentity": "someone", not json`, false},
		{"holder-number", `{"holderIdentity": 42, "leaseDurationSeconds": "4", "acquireTime": "2026-01-01 00:00:00", "renewTime": "2026-01-01 00:00:00"}`, true},
		{"lease-object", `{"holderIdentity": "someone", "leaseDurationSeconds": {"seconds": 4}, "acquireTime": "2026-01-01 00:00:00", "renewTime": "2026-01-01 00:00:00"}`, true},
		{"times-numbers", `{"holderIdentity": "someone", "leaseDurationSeconds": "4", "acquireTime": 1767225600, "renewTime": 1767225600.5}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, tc.python)
			e.userLock("lock", tc.raw)
			rec, err := record.Decode(tc.raw)
			t.Logf("record.Decode: %+v, %v", rec, err)
			started := time.Now()
			e.start(pool.Go, "go", "lock")
			if tc.python {
				e.start(pool.Python, "py", "lock")
			}
			led, _ := e.waitLeader(0, leaseDuration+failoverBound+slack)
			first := e.waitLog("go", started, 0, "following", func(s string) bool { return strings.Contains(s, "candidate is following") })
			t.Logf("%s took the lock %v after it started following (lease %v)", led.Identity, led.Time.Sub(goLogTime(t, first.Text)).Round(time.Millisecond), leaseDuration)
			if d := led.Time.Sub(started); d < leaseDuration {
				t.Errorf("%s took the lock %v after the candidates started, before a lease (%v) passed", led.Identity, d, leaseDuration)
			}
			e.sleep(leaseDuration)
			if evs := e.eventsOf(0, pool.StartedLeading, nil); len(evs) != 1 {
				t.Errorf("%d started leading, want 1: %v", len(evs), evs)
			}
			for _, ev := range e.eventsOf(0, pool.Exited, nil) {
				t.Errorf("%s exited with code %d", ev.Identity, ev.Code)
			}
			if r, err := e.holder("lock"); err != nil || r.HolderIdentity != led.Identity || r.LeaseDuration != leaseDuration {
				t.Errorf("the record written over it is %+v, %v", r, err)
			}
			e.checkNoOverlap(0)
			e.checkUserContent("lock")
		})
	}
}

// TestOddIdentities: identities with quotes, backslashes, non-ASCII
// letters and an emoji round-trip through the real API server: a Go leader's
// record decodes to its identity and the Python client's ConfigMapLock.get
// reads exactly that identity; a Python leader's record decodes to its
// identity, and a Go follower reports it as the new leader, byte for byte.
// Both writers escape to ASCII, as Python's json.dumps does. The user's
// content of the Go leader's lock survives.
func TestOddIdentities(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	goID := `go "quoted" \back\slash\ ünïcödé 日本 😀`
	pyID := `py 'single' "double" \\ ñ Ω 🐍`

	e.userLock("go-leads", "")
	e.start(pool.Go, goID, "go-leads")
	e.waitLeader(0, 30*time.Second)
	// The Python client creates its lock: it would drop the user's other
	// annotations from a ConfigMap without its record (see the README).
	e.start(pool.Python, pyID, "py-leads")
	pyLed, _ := e.waitEvent(0, 30*time.Second, "the Python leader", func(ev pool.Event) bool {
		return ev.Event == pool.StartedLeading && ev.Identity == pyID
	})
	if pyLed.Identity != pyID {
		t.Errorf("the Python candidate's own event names %q", pyLed.Identity)
	}
	e.start(pool.Go, "go-follower", "py-leads")
	ev, _ := e.waitEvent(0, 30*time.Second, "the Go follower's new_leader", func(ev pool.Event) bool {
		return ev.Event == pool.NewLeader && ev.Identity == "go-follower"
	})
	if ev.Leader != pyID {
		t.Errorf("the Go follower reports the leader %q, want %q", ev.Leader, pyID)
	}

	for lock, id := range map[string]string{"go-leads": goID, "py-leads": pyID} {
		raw := e.getLock(lock).Annotations[record.AnnotationKey]
		r, err := record.Decode(raw)
		if err != nil || r.HolderIdentity != id {
			t.Errorf("%s: the record %s decodes to %q, %v; want %q", lock, raw, r.HolderIdentity, err, id)
		}
		for _, c := range raw {
			if c > 0x7e {
				t.Errorf("%s: the record is not ASCII: %s", lock, raw)
				break
			}
		}
		held, err := e.pyRead(lock)
		var s string
		if err != nil || json.Unmarshal(held, &s) != nil || s != id {
			t.Errorf("%s: the Python client reads the holder %s, %v; want %q", lock, held, err, id)
		}
	}
	e.checkUserContent("go-leads")
	if evs := e.eventsOf(0, pool.Exited, nil); len(evs) > 0 {
		t.Errorf("exits: %v", evs)
	}
}
