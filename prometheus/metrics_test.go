package prometheus_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	leprom "github.com/kubepy/leaderelection/prometheus"
)

func TestSeriesFollowTheElection(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c, err := leprom.NewCollector(reg)
	if err != nil {
		t.Fatal(err)
	}
	m := c.For("ns/lock", "a")
	m.Leading(true)
	m.Renewed(3*time.Millisecond, nil)
	m.Renewed(5*time.Millisecond, errors.New("boom"))
	m.APIError("conflict")
	m.APIError("conflict")
	m.APIError("forbidden")
	other := c.For("ns/other", "a")
	other.Leading(true)
	other.Leading(false)

	want := `
# HELP leader_election_api_errors_total Failed API calls of the election, by kind.
# TYPE leader_election_api_errors_total counter
leader_election_api_errors_total{identity="a",kind="conflict",lock="ns/lock"} 2
leader_election_api_errors_total{identity="a",kind="forbidden",lock="ns/lock"} 1
# HELP leader_election_is_leader 1 while this candidate leads the election of the lock, else 0.
# TYPE leader_election_is_leader gauge
leader_election_is_leader{identity="a",lock="ns/lock"} 1
leader_election_is_leader{identity="a",lock="ns/other"} 0
# HELP leader_election_renew_failures_total Failed renewal attempts of the leader.
# TYPE leader_election_renew_failures_total counter
leader_election_renew_failures_total{identity="a",lock="ns/lock"} 1
leader_election_renew_failures_total{identity="a",lock="ns/other"} 0
# HELP leader_election_transitions_total Times this candidate became leader.
# TYPE leader_election_transitions_total counter
leader_election_transitions_total{identity="a",lock="ns/lock"} 1
leader_election_transitions_total{identity="a",lock="ns/other"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"leader_election_api_errors_total", "leader_election_is_leader",
		"leader_election_renew_failures_total", "leader_election_transitions_total"); err != nil {
		t.Fatal(err)
	}
	// Both elections have a histogram series from the moment For is called.
	if n := testutil.CollectAndCount(reg, "leader_election_renew_duration_seconds"); n != 2 {
		t.Fatalf("%d renew duration series, want 2", n)
	}
}

// The loop drives the series: lead, hit a conflict, release.
func TestLoopFeedsCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c, err := leprom.NewCollector(reg)
	if err != nil {
		t.Fatal(err)
	}
	cs := fake.NewClientset()
	conflicts := 1
	cs.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "lock", errors.New("stale"))
		}
		return false, nil, nil
	})
	lock, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: "ns", Name: "lock", Identity: "a"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	renewals := make(chan struct{}, 10)
	e, err := electionloop.New(config.Config{
		Lock: lock, LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: time.Second,
		ReleaseOnCancel: true,
		Metrics:         c.For(lock.Describe(), lock.Identity()),
		Callbacks: config.Callbacks{OnStartedLeading: func(ctx context.Context) {
			renewals <- struct{}{}
			<-ctx.Done()
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- e.Run(ctx) }()
	<-renewals
	// The first renewal after acquiring hits the scripted conflict,
	// reads the record again and renews.
	deadline := time.Now().Add(10 * time.Second)
	for testutil.CollectAndCount(reg, "leader_election_api_errors_total") == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	want := `
# HELP leader_election_api_errors_total Failed API calls of the election, by kind.
# TYPE leader_election_api_errors_total counter
leader_election_api_errors_total{identity="a",kind="conflict",lock="ns/lock"} 1
# HELP leader_election_is_leader 1 while this candidate leads the election of the lock, else 0.
# TYPE leader_election_is_leader gauge
leader_election_is_leader{identity="a",lock="ns/lock"} 0
# HELP leader_election_transitions_total Times this candidate became leader.
# TYPE leader_election_transitions_total counter
leader_election_transitions_total{identity="a",lock="ns/lock"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"leader_election_api_errors_total", "leader_election_is_leader", "leader_election_transitions_total"); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("ns").Get(context.Background(), "lock", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}
