// Package leaselock stores the election record in the spec of a
// coordination.k8s.io/v1 Lease, the lock client-go's LeaseLock uses.
//
// It exists so that a pool that began on the Python client's ConfigMap lock
// can end on the lock every Kubernetes controller uses today (see package
// migrationlock for the way there). A record this package writes reads the
// same through client-go's resourcelock.LeaseLock, and the other way round:
// the spec fields are client-go's, holderIdentity, leaseDurationSeconds,
// acquireTime, renewTime and leaseTransitions.
//
// The rules are those of the ConfigMap lock, so that the election loop
// behaves alike on both:
//
//   - A Lease whose holder is missing or empty, or whose duration or times are
//     missing or zero, holds no record (record.ErrNoRecord) and is taken at
//     once, as an empty or incomplete annotation is; client-go likewise takes
//     a Lease with an empty holder at once.
//   - The raw value that Get returns is the JSON of the whole spec, so any
//     write, even one that only moves renewTime, is seen as the holder being
//     alive. Followers judge expiry by how long that value stays unchanged on
//     their own clock, never by the times inside it.
//   - Update replaces exactly the Lease that Get, Create or Update saw last,
//     so a write based on a stale read fails with a 409 Conflict.
//   - The lease duration is written rounded up to whole seconds, the Lease's
//     unit, so that no reader waits less than the writer meant.
//   - Labels, annotations, owner references and the coordinated-election
//     fields of the spec (strategy, preferredHolder) survive every write.
//
// API errors are wrapped with %w, so NotFound, Conflict and Forbidden stay
// distinguishable with k8s.io/apimachinery/pkg/api/errors.
package leaselock
