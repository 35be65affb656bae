package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
)

// machine describes where the run happened.
type machine struct {
	NProc    int
	MemTotal string
	CPUModel string
	Kernel   string
	LoadAvg  string // at the start of the run
}

func readMachine() machine {
	m := machine{NProc: runtime.NumCPU(), MemTotal: "unknown", CPUModel: "unknown", Kernel: "unknown"}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscan(rest, &kb); err == nil {
					m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.LoadAvg = loadAvg()
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// versions of everything measured.
type versions struct {
	Go, KubeAPIServer, Etcd, Python, PythonKubernetes, ClientGo, Library string
}

func readVersions(ctx context.Context, root, binDir string) versions {
	first := func(name string, args ...string) string {
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("unknown (%v)", err)
		}
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	v := versions{
		Go:            first("go", "version"),
		KubeAPIServer: first(filepath.Join(binDir, "kube-apiserver"), "--version"),
		Etcd:          first(filepath.Join(binDir, "etcd"), "--version"),
		Python:        first("/usr/bin/python3", "--version"),
		PythonKubernetes: "python3-kubernetes " + first("dpkg-query", "-W", "-f", "${Version}", "python3-kubernetes") +
			" (kubernetes.__version__ " + first("/usr/bin/python3", "-c", "import kubernetes; print(kubernetes.__version__)") + ")",
		ClientGo: "unknown",
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "k8s.io/client-go" {
				v.ClientGo = "k8s.io/client-go " + d.Version
			}
		}
	}
	commit := first("git", "-C", root, "rev-parse", "--short", "HEAD")
	if out, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain").Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
		commit += " with uncommitted changes"
	}
	v.Library = "github.com/kubepy/leaderelection at " + commit
	return v
}

// runCodec runs the record package's benchmarks in the parent module and
// returns the interesting lines of their output.
func runCodec(ctx context.Context, root string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-run=^$", "-bench=.", "-benchmem", "./record/")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go test -bench ./record/: %w\n%s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "goos:") || strings.HasPrefix(l, "goarch:") ||
			strings.HasPrefix(l, "pkg:") || strings.HasPrefix(l, "cpu:") {
			lines = append(lines, l)
		}
	}
	return lines, nil
}
