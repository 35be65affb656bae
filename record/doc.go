// Package record reads and writes the leader-election record that lives in
// the ConfigMap annotation [AnnotationKey].
//
// Two clients write that annotation, in two JSON dialects, and a mixed fleet
// must agree on who leads:
//
//   - The Python client (kubernetes.leaderelection) writes every value as a
//     string: json.dumps with ", " and ": " separators and ASCII escapes,
//     leaseDurationSeconds as str(lease_duration) ("15", "2.5"), and times as
//     str(datetime.fromtimestamp(t)), a naive local time such as
//     "2026-11-22 10:15:30.250000". It drops leaderTransitions.
//   - client-go's ConfigMap lock (up to v0.27) writes compact encoding/json
//     output: leaseDurationSeconds as an integer, RFC 3339 UTC times and
//     leaderTransitions.
//
// [Dialect.Encode] writes either one; [Python] is the default because Python
// candidates are the peers this module exists to live with, and its output is
// byte-identical to theirs (testdata/golden.json is produced by the Python
// client's own code). [Decode] reads both, and the records of other clients
// (Java, C#, fabric8, Istio), without being told which one wrote them.
//
// "No record" follows the Python client: an empty annotation, or a record in
// which any of holderIdentity, leaseDurationSeconds, acquireTime or renewTime
// is missing or Python-falsy (null, false, 0, "", [], {}), is treated as if
// there were no record, and a Python candidate then takes the lock at once.
// Decode reports that as [ErrNoRecord] so that callers can do the same.
//
// The timestamps are informational only and expiry must never be judged from
// them. The Python dialect's times are naive local times of whichever pod
// wrote them, so they are only correct if every pod runs in the same time
// zone, and they are ambiguous for an hour each autumn. Neither dialect's
// times are comparable with a reader's clock either, because the pods' clocks
// are skewed. Like both clients, judge expiry by how long the record has gone
// unchanged on the reader's own clock (the Python client uses time.time();
// use a monotonic clock), against the lease duration.
package record
