package prometheus_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/kubernetes"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/internal/controlplane"
	leprom "github.com/kubepy/leaderelection/prometheus"
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

// On the real API server the series follow an election: is_leader 1 and a
// transition while leading, renewals observed, 0 after the release.
func TestSeriesOnTheAPIServer(t *testing.T) {
	controlplane.Require(t, cpErr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ns := controlplane.NewNamespace(ctx, t, cs)
	lock, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: ns, Name: "lock", Identity: "a"})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	c, err := leprom.NewCollector(reg)
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	e, err := electionloop.New(config.Config{
		Lock: lock, LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: time.Second,
		ReleaseOnCancel: true,
		Metrics:         c.For(lock.Describe(), lock.Identity()),
		Callbacks: config.Callbacks{OnStartedLeading: func(ctx context.Context) {
			close(started)
			<-ctx.Done()
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("never led")
	}
	time.Sleep(2500 * time.Millisecond) // the first renewals

	want := `
# HELP leader_election_is_leader 1 while this candidate leads the election of the lock, else 0.
# TYPE leader_election_is_leader gauge
leader_election_is_leader{identity="a",lock="` + lock.Describe() + `"} 1
# HELP leader_election_transitions_total Times this candidate became leader.
# TYPE leader_election_transitions_total counter
leader_election_transitions_total{identity="a",lock="` + lock.Describe() + `"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "leader_election_is_leader", "leader_election_transitions_total"); err != nil {
		t.Error(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var renewals uint64
	for _, f := range families {
		if f.GetName() == "leader_election_renew_duration_seconds" {
			renewals = f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if renewals < 2 {
		t.Errorf("%d renewals observed in 2.5 s of leading, want at least 2", renewals)
	}

	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	stopped := strings.Replace(want, `"} 1
# HELP leader_election_transitions_total`, `"} 0
# HELP leader_election_transitions_total`, 1)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(stopped), "leader_election_is_leader", "leader_election_transitions_total"); err != nil {
		t.Errorf("after the release: %v", err)
	}
}
