package prometheus

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubepy/leaderelection/config"
)

// Collector holds the series of every election in a process.
type Collector struct {
	isLeader      *prometheus.GaugeVec
	transitions   *prometheus.CounterVec
	renewDuration *prometheus.HistogramVec
	renewFailures *prometheus.CounterVec
	apiErrors     *prometheus.CounterVec
}

var labels = []string{"lock", "identity"}

// NewCollector creates the series and registers them with reg.
func NewCollector(reg prometheus.Registerer) (*Collector, error) {
	c := &Collector{
		isLeader: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leader_election_is_leader",
			Help: "1 while this candidate leads the election of the lock, else 0.",
		}, labels),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leader_election_transitions_total",
			Help: "Times this candidate became leader.",
		}, labels),
		renewDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "leader_election_renew_duration_seconds",
			Help:    "Duration of the leader's renewal attempts.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms to 8 s
		}, labels),
		renewFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leader_election_renew_failures_total",
			Help: "Failed renewal attempts of the leader.",
		}, labels),
		apiErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leader_election_api_errors_total",
			Help: "Failed API calls of the election, by kind.",
		}, append(labels, "kind")),
	}
	for _, col := range []prometheus.Collector{c.isLeader, c.transitions, c.renewDuration, c.renewFailures, c.apiErrors} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// For returns the config.Metrics of one election.
func (c *Collector) For(lock, identity string) config.Metrics {
	return &election{c: c, lock: lock, identity: identity,
		isLeader:      c.isLeader.WithLabelValues(lock, identity),
		transitions:   c.transitions.WithLabelValues(lock, identity),
		renewDuration: c.renewDuration.WithLabelValues(lock, identity),
		renewFailures: c.renewFailures.WithLabelValues(lock, identity),
	}
}

type election struct {
	c              *Collector
	lock, identity string
	isLeader       prometheus.Gauge
	transitions    prometheus.Counter
	renewDuration  prometheus.Observer
	renewFailures  prometheus.Counter
}

func (e *election) Leading(leading bool) {
	if leading {
		e.isLeader.Set(1)
		e.transitions.Inc()
		return
	}
	e.isLeader.Set(0)
}

func (e *election) Renewed(took time.Duration, err error) {
	e.renewDuration.Observe(took.Seconds())
	if err != nil {
		e.renewFailures.Inc()
	}
}

func (e *election) APIError(kind string) {
	e.c.apiErrors.WithLabelValues(e.lock, e.identity, kind).Inc()
}
