package record

import (
	"errors"
	"time"
)

// AnnotationKey is the ConfigMap annotation that holds the record, the key the
// Python client and client-go's ConfigMap lock both use.
const AnnotationKey = "control-plane.alpha.kubernetes.io/leader"

// Record is a leader-election record, whichever client wrote it.
type Record struct {
	// HolderIdentity is the identity of the leader; empty once released.
	HolderIdentity string
	// LeaseDuration is how long followers wait, after they last saw the record
	// change, before they may take the lock. Zero when the record's value could
	// not be read as a number of seconds.
	LeaseDuration time.Duration
	// AcquireTime is when the holder took the lock. Zero when unreadable.
	AcquireTime time.Time
	// RenewTime is when the holder last renewed. Zero when unreadable.
	RenewTime time.Time
	// LeaderTransitions counts changes of holder. Only the client-go dialect
	// writes it; the Python dialect drops it.
	LeaderTransitions int
}

var (
	// ErrNoRecord reports what the Python client counts as no record at all:
	// the annotation is absent or empty, or one of holderIdentity,
	// leaseDurationSeconds, acquireTime, renewTime is missing, null or falsy.
	// Python candidates then take the lock at once, and so do ours.
	ErrNoRecord = errors.New("record: no election record")
	// ErrMalformed reports an annotation that is not JSON, or is JSON but
	// not an object. The Python client fails on such a record.
	ErrMalformed = errors.New("record: annotation is not a JSON object")
)
