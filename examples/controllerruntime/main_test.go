package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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
		cp.Stop()
	}
	os.Exit(code)
}

// syncBuffer is the runnable's output, written and read concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The manager's leader-election runnable starts once the manager holds the
// lock, the record is the Python client's, and stopping the manager stops
// the runnable and then releases the lock as Python candidates understand.
func TestManagerLeadsOnPythonLock(t *testing.T) {
	controlplane.Require(t, cpErr)
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := controlplane.NewNamespace(t.Context(), t, cs)
	annotation := func() string {
		t.Helper()
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "lock", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cm.Annotations[record.AnnotationKey]
	}

	out := &syncBuffer{}
	mgr, err := newManager(cp.RESTConfig(), election{namespace: ns, name: "lock", identity: "manager-a"}, out)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()

	waitFor := func(line string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(out.String(), line); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q within 30s; output:\n%s", line, out.String())
			}
		}
	}
	waitFor("manager-a: started leading\n")

	raw := annotation()
	rec, err := record.Decode(raw)
	if err != nil || rec.HolderIdentity != "manager-a" {
		t.Fatalf("annotation %s: %+v, %v; want holder manager-a", raw, rec, err)
	}
	if again := record.Python.Encode(rec); again != raw || !strings.Contains(raw, `"leaseDurationSeconds": "15"`) {
		t.Errorf("annotation is not the Python dialect:\n%s\nPython writes\n%s", raw, again)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Start = %v after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the manager did not stop within 30s of cancel")
	}
	waitFor("manager-a: stopped leading\n")
	if raw := annotation(); !errors.Is(func() error { _, err := record.Decode(raw); return err }(), record.ErrNoRecord) {
		t.Errorf("after the manager stopped, annotation %s is not released", raw)
	}
}
