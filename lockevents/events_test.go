package lockevents_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8srecord "k8s.io/client-go/tools/record"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/lockevents"
)

// next returns the next recorded event, or "" when there is none.
func next(r *k8srecord.FakeRecorder) string {
	select {
	case e := <-r.Events:
		return e
	default:
		return ""
	}
}

// Each event is recorded before the inner callback runs, with the identity
// as an argument, not a format.
func TestEventsPrecedeInnerCallbacks(t *testing.T) {
	rec := k8srecord.NewFakeRecorder(10)
	rec.IncludeObject = true
	var calls []string
	inner := config.Callbacks{
		OnStartedLeading: func(context.Context) { calls = append(calls, "started after "+next(rec)) },
		OnStoppedLeading: func() { calls = append(calls, "stopped after "+next(rec)) },
		OnNewLeader:      func(id string) { calls = append(calls, "new leader "+id) },
	}
	cb := lockevents.Callbacks(inner, rec, lockevents.ConfigMap("ns", "lock"), "pod-%d")
	cb.OnStartedLeading(context.Background())
	cb.OnNewLeader("pod-%d")
	cb.OnStoppedLeading()
	want := []string{
		"started after Normal LeaderElection pod-%d became leader involvedObject{kind=ConfigMap,apiVersion=v1}",
		"new leader pod-%d",
		"stopped after Normal LeaderElection pod-%d stopped leading involvedObject{kind=ConfigMap,apiVersion=v1}",
	}
	if strings.Join(calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(want, "\n"))
	}
	if e := next(rec); e != "" {
		t.Errorf("unexpected event %q", e)
	}
}

func TestLeaseReference(t *testing.T) {
	rec := k8srecord.NewFakeRecorder(1)
	rec.IncludeObject = true
	cb := lockevents.Callbacks(config.Callbacks{}, rec, lockevents.Lease("ns", "lock"), "me")
	cb.OnStoppedLeading() // no inner callback: only the event
	if got, want := next(rec), "Normal LeaderElection me stopped leading involvedObject{kind=Lease,apiVersion=coordination.k8s.io/v1}"; got != want {
		t.Errorf("event %q, want %q", got, want)
	}
}

// Without a recorder or an object there is nothing to record, and the
// callbacks stay as they were; a missing OnStartedLeading stays missing,
// so that validation still reports it.
func TestNothingToRecord(t *testing.T) {
	var nilRef *corev1.ObjectReference
	var nilFake *k8srecord.FakeRecorder
	for name, cb := range map[string]config.Callbacks{
		"nil recorder":       lockevents.Callbacks(config.Callbacks{}, nil, lockevents.ConfigMap("ns", "lock"), "me"),
		"nil typed recorder": lockevents.Callbacks(config.Callbacks{}, nilFake, lockevents.ConfigMap("ns", "lock"), "me"),
		"nil object":         lockevents.Callbacks(config.Callbacks{}, k8srecord.NewFakeRecorder(1), nil, "me"),
		"nil typed object":   lockevents.Callbacks(config.Callbacks{}, k8srecord.NewFakeRecorder(1), nilRef, "me"),
	} {
		if cb.OnStartedLeading != nil || cb.OnStoppedLeading != nil || cb.OnNewLeader != nil {
			t.Errorf("%s: callbacks were wrapped", name)
		}
	}
	cb := lockevents.Callbacks(config.Callbacks{}, k8srecord.NewFakeRecorder(1), lockevents.ConfigMap("ns", "lock"), "me")
	if cb.OnStartedLeading != nil {
		t.Error("a nil OnStartedLeading was wrapped")
	}
	err := config.Config{Callbacks: cb}.Validate()
	if err == nil || !strings.Contains(err.Error(), "Callbacks.OnStartedLeading is required") {
		t.Errorf("Validate = %v, want it to report the missing OnStartedLeading", err)
	}
}

func TestNewRecorderNamesBadValues(t *testing.T) {
	_, _, err := lockevents.NewRecorder(nil, "Bad_NS", " ")
	if err == nil {
		t.Fatal("NewRecorder accepted a nil client, a bad namespace and a blank component")
	}
	for _, want := range []string{"client is nil", `"Bad_NS"`, `component " "`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	recorder, broadcaster, err := lockevents.NewRecorder(fake.NewClientset().CoreV1(), "ns", "my-operator")
	if err != nil || recorder == nil || broadcaster == nil {
		t.Fatalf("NewRecorder = %v, %v, %v", recorder, broadcaster, err)
	}
	broadcaster.Shutdown()
}
