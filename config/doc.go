// Package config holds the configuration of one leader-election candidate and
// checks it with the rules of the Python client's electionconfig.Config.
//
// The Python client calls sys.exit on a bad configuration; Validate instead
// returns every problem at once, joined with errors.Join, each naming the
// field and the values at fault.
//
// Durations are time.Duration, so fractional seconds (Python accepts
// lease_duration=2.5) carry over unchanged. As in Python, each of
// LeaseDuration, RenewDeadline and RetryPeriod must be at least one second:
// sub-second values are rejected even though client-go would accept them,
// because a Python candidate in the same pool could not be configured to
// match them.
package config
