package compat

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/electionloop"
	"github.com/kubepy/leaderelection/record"
)

// invalidLock stands in for a ConfigMapLock whose arguments were bad, so
// that ConfigMapLock keeps Python's one-value shape and Config reports the
// error.
type invalidLock struct{ err error }

func (l invalidLock) Get(context.Context) (record.Record, string, error) {
	return record.Record{}, "", l.err
}
func (l invalidLock) Create(context.Context, record.Record) error { return l.err }
func (l invalidLock) Update(context.Context, record.Record) error { return l.err }
func (l invalidLock) Describe() string                            { return "invalid ConfigMapLock" }

// Identity passes validation, so that Config reports l.err once instead of
// adding a second, misleading identity error.
func (l invalidLock) Identity() string { return "invalid" }

// ConfigMapLock is Python's ConfigMapLock(name, namespace, identity), with
// the client Go needs first. identity is formatted with fmt.Sprint, as
// Python applies str() (a uuid.UUID prints as its string). Bad arguments are
// reported by Config.
func ConfigMapLock(client corev1client.ConfigMapsGetter, name, namespace string, identity any) config.Lock {
	lock, err := configmaplock.New(client, configmaplock.Options{Namespace: namespace, Name: name, Identity: fmt.Sprint(identity)})
	if err != nil {
		return invalidLock{err: err}
	}
	return lock
}

// Config is Python's electionconfig.Config(lock, lease_duration,
// renew_deadline, retry_period, onstarted_leading, onstopped_leading), with
// durations in seconds. onStoppedLeading may be nil. It returns every
// problem at once instead of exiting, and then the zero Config, which
// LeaderElection refuses.
func Config(lock config.Lock, leaseDuration, renewDeadline, retryPeriod float64,
	onStartedLeading func(ctx context.Context), onStoppedLeading func()) (config.Config, error) {
	var errs []error
	if bad, ok := lock.(invalidLock); ok {
		errs = append(errs, bad.err)
	}
	cfg := config.Config{
		Lock:          lock,
		LeaseDuration: seconds("lease_duration", leaseDuration, &errs),
		RenewDeadline: seconds("renew_deadline", renewDeadline, &errs),
		RetryPeriod:   seconds("retry_period", retryPeriod, &errs),
		Callbacks:     config.Callbacks{OnStartedLeading: onStartedLeading, OnStoppedLeading: onStoppedLeading},
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return config.Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// LeaderElection is Python's LeaderElection(config); call Run(ctx) on the
// result where Python calls run().
func LeaderElection(cfg config.Config) (*electionloop.Elector, error) {
	return electionloop.New(cfg)
}

// seconds converts Python's float seconds, rejecting values no Duration holds.
func seconds(name string, s float64, errs *[]error) time.Duration {
	if math.IsNaN(s) || math.IsInf(s, 0) || math.Abs(s) > float64(math.MaxInt64)/float64(time.Second) {
		*errs = append(*errs, fmt.Errorf("compat: %s is %v seconds, not a usable duration", name, s))
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
