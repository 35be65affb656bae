// Package migrationlock moves a pool from the Python client's ConfigMap lock
// to a Lease without a moment with two leaders. Its lock writes the Python
// annotation on a ConfigMap (the primary, through configmaplock in the Python
// dialect) and a Lease of the same namespace and name (the secondary, through
// leaselock), and it is the bridge between candidates that only know one of
// the two. It is client-go's old MultiLock idea (primary: ConfigMap,
// secondary: Lease), which client-go removed with its ConfigMap lock.
//
// # Migration
//
//  1. The pool runs Python candidates on the ConfigMap.
//  2. Replace the Python candidates, one at a time, with Go candidates on
//     migrationlock. Python and Go candidates share the ConfigMap; the Lease
//     follows, written by whichever migration candidate leads.
//  3. When no Python candidate remains, switch the Go candidates, one at a
//     time, to leaselock (or to client-go's LeaseLock). Lease-only and
//     migration candidates agree through the Lease.
//  4. When no migration candidate remains, delete the annotation
//     control-plane.alpha.kubernetes.io/leader from the ConfigMap, or the
//     ConfigMap if it holds nothing else.
//
// Before step 2, grant the candidates get, create and update on leases
// (coordination.k8s.io) beside configmaps: a migration candidate that cannot
// write the Lease never leads. Give every candidate the same lease duration
// and renew deadline: the Python client judges expiry by its own lease
// duration alone and client-go by the record's alone.
//
// # Why there are never two leaders
//
// Three facts hold for every candidate, of any kind. A write replaces the
// version of the object its writer read, so of two candidates that read the
// same version only one can write. A follower takes a lock held by another
// only once the object has not changed for a lease duration on its own clock
// (at once only when it holds no record, as after a release, which a leader
// writes only once its work has stopped).
// A leader stops leading once its last renewal is older than its renew
// deadline, which is shorter than the lease duration. A migration candidate
// adds a fourth: it leads only once both its writes succeeded, the ConfigMap's
// first, and it writes both at every renewal.
//
// Step 2: every candidate writes the ConfigMap to lead, so the ConfigMap
// decides, as it did in step 1. Python candidates see a migration leader
// alive because it renews the annotation; migration candidates see any
// leader alive because the annotation is part of what they watch. The Lease
// can only make a migration candidate wait longer, never lead sooner: it
// changes only right after a migration candidate wrote the annotation, and
// Get reports its holder only where the annotation would let this candidate
// claim the lock. The primary's holder decides while Python candidates exist.
//
// Step 3: every candidate writes the Lease to lead, so the Lease decides.
// Lease-only candidates see a migration leader alive because it renews the
// Lease; migration candidates see a Lease-only leader alive because the
// Lease's changes are part of what they watch. The annotation, which now
// names the last migration leader, perhaps long gone, cannot make a migration
// candidate lead beside a Lease-only one: when it names this candidate or
// holds no record while the Lease names another, Get reports the Lease's
// holder, and this candidate waits for that lease to run out. That case is
// real: a migration candidate whose ConfigMap write succeeded but whose Lease
// write lost the race to a Lease-only candidate finds its own name in the
// annotation. This is also why step 3 must wait for the last Python
// candidate to be gone: a Python candidate decides by the ConfigMap alone and
// a Lease-only one by the Lease alone, and nothing makes them agree.
//
// Step 4: Lease-only candidates never read the annotation. A migration
// candidate still running would find no record in it, but would wait for
// the Lease's holder, as above; a deleted ConfigMap it would recreate, but
// creating the existing Lease fails, so it does not lead.
//
// # Differences from client-go's MultiLock
//
// MultiLock read the Lease again right before writing it, so its Lease write
// replaced whatever was newest, not the version its decision was based on;
// Update here replaces the version Get saw. MultiLock reported a made-up
// holder, leaderelection.k8s.io/unknown, whenever the holders differed; Get
// here reports the annotation's holder, the real one while Python candidates
// run, unless that would let this candidate claim the lock. So while
// Lease-only candidates lead (step 3), a migration candidate's OnNewLeader
// and GetLeader may name the annotation's stale holder: the Lease's holder is
// the leader then.
package migrationlock
