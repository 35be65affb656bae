package compat_test

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubepy/leaderelection/compat"
	"github.com/kubepy/leaderelection/config"
)

func work(context.Context) {}

func TestConfigTakesPythonSeconds(t *testing.T) {
	cs := fake.NewClientset()
	cfg, err := compat.Config(compat.ConfigMapLock(cs.CoreV1(), "examplepython", "default", "id-1"), 2.5, 2, 1.5, work, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LeaseDuration != 2500*time.Millisecond || cfg.RenewDeadline != 2*time.Second || cfg.RetryPeriod != 1500*time.Millisecond {
		t.Fatalf("durations = %v/%v/%v, want 2.5s/2s/1.5s", cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod)
	}
	if got := cfg.Lock.Describe(); got != "default/examplepython" {
		t.Fatalf("lock = %q: Python's argument order is name, namespace", got)
	}
	if cfg.Callbacks.OnStartedLeading == nil || cfg.Callbacks.OnStoppedLeading != nil {
		t.Fatal("callbacks not carried over: nil onstopped_leading must stay nil for the default")
	}
}

// Python applies str() to the identity; a uuid.UUID-like value prints as its
// string.
type uuidLike struct{ s string }

func (u uuidLike) String() string { return u.s }

func TestConfigMapLockFormatsIdentity(t *testing.T) {
	lock := compat.ConfigMapLock(fake.NewClientset().CoreV1(), "lock", "default", uuidLike{"6c1b8a3e-4d1f-4e55-9a0e-2f1d7c1b0a11"})
	if got := lock.Identity(); got != "6c1b8a3e-4d1f-4e55-9a0e-2f1d7c1b0a11" {
		t.Fatalf("identity = %q", got)
	}
}

// Where Python calls sys.exit, Config returns every problem at once and the
// zero Config, which LeaderElection refuses.
func TestConfigReportsEveryProblem(t *testing.T) {
	cs := fake.NewClientset()
	cfg, err := compat.Config(compat.ConfigMapLock(cs.CoreV1(), "Bad_Name", "default", ""), 15, 17, math.NaN(), nil, nil)
	if err == nil {
		t.Fatal("Config accepted bad arguments")
	}
	for _, want := range []string{`"Bad_Name"`, "Identity", "retry_period", "LeaseDuration", "OnStartedLeading"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	var fe *config.FieldError
	if !errors.As(err, &fe) {
		t.Errorf("error %v carries no *config.FieldError", err)
	}
	if _, err := compat.LeaderElection(cfg); err == nil {
		t.Error("LeaderElection accepted the zero Config returned with an error")
	}
}
