// Package electionloop runs one candidate's leader election: acquire, lead
// while renewing, and step down or release.
//
// The loop behaves on the wire like the Python client's LeaderElection.run,
// so Go and Python candidates can share a lock, and fixes what Python gets
// wrong: the leader's work gets a context that is cancelled the moment
// leadership ends, a leader can release the lock on shutdown, configuration
// and API errors are returned or logged instead of exiting or crashing, and
// nothing else stored in the lock object is lost.
//
// Expiry is judged as Python and client-go judge it: by this candidate's
// clock at the moment it last saw the raw record change, never by the
// timestamps inside the record, so clock skew between machines does not
// matter. A follower takes over no earlier than the longer of its own
// LeaseDuration and the record's leaseDurationSeconds after that moment.
//
// A leader whose last successful renewal is older than RenewDeadline stops
// leading at once, before it tries to renew again; since RenewDeadline is
// shorter than LeaseDuration, it has stopped before any follower may take
// over, provided the clocks of both run at about the same rate.
//
// The clock is injected through config.Config.Clock, so tests step a fake
// clock instead of sleeping. The logger comes from the context given to Run
// (logr.FromContextOrDiscard).
package electionloop
