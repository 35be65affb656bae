package config_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/record"
)

type namedLock string

func (l namedLock) Get(context.Context) (record.Record, string, error) {
	return record.Record{}, "", nil
}
func (l namedLock) Create(context.Context, record.Record) error { return nil }
func (l namedLock) Update(context.Context, record.Record) error { return nil }
func (l namedLock) Identity() string                            { return string(l) }
func (l namedLock) Describe() string                            { return "test/lock" }

func valid() config.Config {
	return config.Config{
		Lock:          namedLock("a"),
		LeaseDuration: 17 * time.Second,
		RenewDeadline: 15 * time.Second,
		RetryPeriod:   5 * time.Second,
		Callbacks:     config.Callbacks{OnStartedLeading: func(context.Context) {}},
	}
}

// fields lists the fields named by the *FieldErrors joined in err.
func fields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var out []string
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error %v is not a joined error", err)
	}
	for _, e := range joined.Unwrap() {
		var fe *config.FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v is not a *config.FieldError", e)
		}
		out = append(out, fe.Field)
	}
	return out
}

func TestValidateMirrorsPython(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*config.Config)
		want   []string
	}{
		{"python example 17/15/5", func(*config.Config) {}, nil},
		{"fractional seconds as in Python's test 2.5/2/1.5", func(c *config.Config) {
			c.LeaseDuration, c.RenewDeadline, c.RetryPeriod = 2500*time.Millisecond, 2*time.Second, 1500*time.Millisecond
		}, nil},
		{"lease equal to renew deadline", func(c *config.Config) { c.LeaseDuration = c.RenewDeadline }, []string{"LeaseDuration"}},
		{"renew deadline equal to retry × 1.2", func(c *config.Config) { c.RenewDeadline = 6 * time.Second }, []string{"RenewDeadline"}},
		{"renew deadline just above retry × 1.2", func(c *config.Config) { c.RenewDeadline = 6*time.Second + time.Nanosecond }, nil},
		{"sub-second retry period, as Python rejects", func(c *config.Config) {
			c.LeaseDuration, c.RenewDeadline, c.RetryPeriod = 4*time.Second, 3*time.Second, 999*time.Millisecond
		}, []string{"RetryPeriod"}},
		{"everything wrong at once", func(c *config.Config) {
			*c = config.Config{}
		}, []string{"Lock", "LeaseDuration", "RenewDeadline", "RetryPeriod", "LeaseDuration", "RenewDeadline", "Callbacks.OnStartedLeading"}},
		{"empty identity", func(c *config.Config) { c.Lock = namedLock("") }, []string{"Lock.Identity"}},
		{"identity not UTF-8", func(c *config.Config) { c.Lock = namedLock("a\xffb") }, []string{"Lock.Identity"}},
		{"identity too long", func(c *config.Config) { c.Lock = namedLock(strings.Repeat("x", config.MaxIdentityLength+1)) }, []string{"Lock.Identity"}},
		{"identity at the limit, non-ASCII", func(c *config.Config) {
			c.Lock = namedLock(strings.Repeat("ä", config.MaxIdentityLength/2))
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			got := fields(t, c.Validate())
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("Validate named fields %q, want %q (error: %v)", got, tc.want, c.Validate())
			}
		})
	}
}

func TestValidateNamesTheValues(t *testing.T) {
	c := valid()
	c.RenewDeadline = 6 * time.Second
	err := c.Validate()
	// The message is the user's only clue: it must carry the values.
	for _, want := range []string{"RenewDeadline", "6s", "5s", "1.2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestValidateNamesOfLockObjects(t *testing.T) {
	for _, tc := range []struct {
		err   error
		field string // "" when valid
	}{
		{config.ValidateNamespace("default"), ""},
		{config.ValidateNamespace("Bad_NS"), "Namespace"},
		{config.ValidateNamespace(""), "Namespace"},
		{config.ValidateName("ConfigMap", "my-operator.lock"), ""},
		{config.ValidateName("ConfigMap", "no/slash"), "Name"},
		{config.ValidateName("Lease", strings.Repeat("a", 254)), "Name"},
	} {
		var fe *config.FieldError
		switch {
		case tc.field == "" && tc.err != nil:
			t.Errorf("unexpected error: %v", tc.err)
		case tc.field != "" && (!errors.As(tc.err, &fe) || fe.Field != tc.field):
			t.Errorf("error %v, want a *FieldError for %s", tc.err, tc.field)
		}
	}
	if err := config.ValidateName("Lease", "no/slash"); !strings.Contains(err.Error(), `"no/slash"`) || !strings.Contains(err.Error(), "Lease") {
		t.Errorf("error %q does not name the value and the kind", err)
	}
}
