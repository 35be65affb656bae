// Package prometheus adapts the election loop's config.Metrics to Prometheus.
// It is a module of its own so that the library does not make anyone who
// does not use Prometheus download client_golang.
//
// One Collector serves every election of a process; each election gets its
// series, labelled with its lock and identity, from For:
//
//	c, err := prometheus.NewCollector(registry)
//	cfg.Metrics = c.For(lock.Describe(), lock.Identity())
//
// Series: leader_election_is_leader (gauge, 1 while leading),
// leader_election_transitions_total (times this candidate became leader),
// leader_election_renew_duration_seconds (histogram of renewal attempts),
// leader_election_renew_failures_total, and
// leader_election_api_errors_total{kind} (kinds of electionloop.ErrorKind).
package prometheus
