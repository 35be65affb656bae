// Package clientgolock lets client-go's own leader election join a pool of
// Python candidates: [Lock] is a resourcelock.Interface over this module's
// Python-compatible ConfigMap lock, for k8s.io/client-go/tools/leaderelection's
// LeaderElector and for controller-runtime's manager through its
// LeaderElectionResourceLockInterface option.
//
// client-go cannot do this by itself. Its ConfigMap lock (up to v0.27)
// decodes the annotation into a struct whose leaseDurationSeconds is an int
// and whose times are RFC 3339, so a Python record, with the lease as a
// string and naive local times, fails to decode and the candidate never
// acquires; from v0.28 on the ConfigMap lock is gone. Lock reads and writes
// the annotation with configmaplock in the Python dialect, byte for byte as
// Python writes it, so Python candidates, this module's candidates and
// client-go's LeaderElector share one lock.
//
// # How client-go's calls map
//
//	LeaderElector                         Lock                                    on the wire
//	Get, ConfigMap missing                API NotFound error                      the elector Creates it
//	Get, no record (absent, empty,        record with HolderIdentity ""           the elector takes the lock at
//	  released, incomplete)                                                         once, as Python does
//	Get, annotation not a JSON object     holder UnreadableHolder, the lease of   the elector takes it once the
//	                                        WithLeaseDuration                       bytes stay unchanged a lease
//	Get, record                           the record; lease rounded up to whole   the elector takes it once the
//	                                        seconds, at least WithLeaseDuration     bytes stay unchanged a lease
//	Get, raw bytes                        the annotation's value                  any write shows the holder alive
//	Create, Update                        Python dialect; Update replaces the     a stale write fails: 409 Conflict
//	                                        version last read or written
//	RecordEvent                           an Event on the ConfigMap, or nothing
//
// LeaseDurationSeconds is an int of seconds and the record's lease is a
// time.Duration; AcquireTime and RenewTime are metav1.Time around the
// record's time.Time. LeaderTransitions passes through, but the Python
// dialect does not store it: the elector always reads 0.
//
// # With controller-runtime
//
// Give the Lock to the manager as Options.LeaderElectionResourceLockInterface
// and pass the manager's LeaseDuration to WithLeaseDuration. The option's
// documentation says LeaseDuration, RenewDeadline and RetryPeriod are then
// ignored, but the manager's LeaderElector still uses them: set them. The
// manager releases only after its runnables have stopped, so
// LeaderElectionReleaseOnCancel is safe. examples/controllerruntime, a
// module of its own, shows it.
//
// # Where client-go differs from Python
//
//   - client-go judges a lease by the record's leaseDurationSeconds, Python
//     by its own lease_duration. Get reports at least the lease given to
//     WithLeaseDuration, so the elector waits the longer of the two, the rule
//     of this module's election loop. Give it the elector's LeaseDuration.
//   - client-go writes int(LeaseDuration / time.Second), truncated; use whole
//     seconds.
//   - A client-go leader renews without reading first (its optimistic
//     path), and Update then replaces its own last write, so another
//     candidate's write in between still makes it fail with a Conflict.
//   - A client-go leader whose renewal fails, or reads another holder or an
//     unreadable record, neither stops at once, as this module's loop does,
//     nor overwrites the record: it retries until a round of renewals, which
//     starts RetryPeriod after its last success, has run for RenewDeadline.
//     Followers take over LeaseDuration after the last change they saw, so
//     keep LeaseDuration > RenewDeadline + RetryPeriod (client-go's usual
//     15 s, 10 s, 2 s do) for a leader that lost the API server to stop
//     before another starts.
//   - With ReleaseOnCancel, client-go releases by writing an empty holder,
//     leaseDurationSeconds "1" and the current times; Python and this
//     module read that as no record and take the lock at their next retry.
//     The Python client itself never releases. client-go releases without
//     waiting for OnStartedLeading to return, where this module's loop
//     waits: the leader's work must stop as soon as its context is done.
//   - Coordinated leader election (LeaderElectionConfig.Coordinated and the
//     record's Strategy and PreferredHolder) works on Leases only: Get leaves
//     those fields empty and Create and Update drop them. Leave Coordinated
//     false.
//   - An unreadable record shows up as a new leader named UnreadableHolder
//     in client-go's OnNewLeader callback.
package clientgolock
