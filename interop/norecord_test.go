package interop

import (
	"maps"
	"testing"
	"time"

	"github.com/kubepy/leaderelection/internal/pool"
	"github.com/kubepy/leaderelection/record"
)

// in returns a copy of e that reports to t, for subtests that share e's
// namespace and pool.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// userLabels, userData and userAnnotation are what a user keeps in the
// lock's ConfigMap besides the election record.
var (
	userLabels     = map[string]string{"app.kubernetes.io/name": "my-operator"}
	userData       = map[string]string{"settings.yaml": "replicas: 3\n"}
	userAnnotation = map[string]string{"example.com/owner": "team-a"}
)

// TestNoRecordStatesAreTakenAtOnce: ConfigMaps whose annotation the Python
// client does not count as a record (the ConfigMap has no annotations, its
// record key is missing or empty, fields are missing or null, the holder is
// empty) are taken at the first attempt, without waiting for any lease, by a
// Go candidate and, on an identical ConfigMap, by a Python candidate: the
// same behaviour. The Go candidate keeps the user's labels, data and other
// annotations. (The Python client drops the other annotations when its key
// is missing or empty; that is not asserted.)
func TestNoRecordStatesAreTakenAtOnce(t *testing.T) {
	t.Parallel()
	e := setup(t, true)
	states := []struct {
		name        string
		annotations map[string]string // nil: none at all
	}{
		{"no-annotations", nil},
		{"key-missing", maps.Clone(userAnnotation)},
		{"empty", map[string]string{record.AnnotationKey: "", "example.com/owner": "team-a"}},
		{"fields-missing", map[string]string{
			record.AnnotationKey: `{"holderIdentity": "ghost", "leaseDurationSeconds": "4"}`, "example.com/owner": "team-a"}},
		{"fields-null", map[string]string{
			record.AnnotationKey: `{"holderIdentity": "ghost", "leaseDurationSeconds": "4", "acquireTime": null, "renewTime": null}`,
			"example.com/owner":  "team-a"}},
		{"holder-empty", map[string]string{
			record.AnnotationKey: `{"holderIdentity": "", "leaseDurationSeconds": "4", "acquireTime": "2026-11-22 10:15:30.250000", "renewTime": "2026-11-22 10:15:40"}`,
			"example.com/owner":  "team-a"}},
	}
	kinds := []pool.Kind{pool.Go, pool.Python}
	lockOf := func(state string, k pool.Kind) string { return state + "-" + string(k) }
	idOf := func(state string, k pool.Kind) string { return string(k) + "-" + state }

	for _, s := range states {
		for _, k := range kinds {
			e.createLock(lockOf(s.name, k), maps.Clone(s.annotations), maps.Clone(userLabels), maps.Clone(userData))
		}
	}
	for _, s := range states {
		for _, k := range kinds {
			e.start(k, idOf(s.name, k), lockOf(s.name, k))
		}
	}

	for _, s := range states {
		t.Run(s.name, func(t *testing.T) {
			se := e.in(t)
			for _, k := range kinds {
				id, lock := idOf(s.name, k), lockOf(s.name, k)
				led, _ := se.waitEvent(0, 20*time.Second, id+" leading", func(ev pool.Event) bool {
					return ev.Event == pool.StartedLeading && ev.Identity == id
				})
				se.checkTookAtOnce(k, id, led)

				cm := se.getLock(lock)
				r, err := record.Decode(cm.Annotations[record.AnnotationKey])
				if err != nil || r.HolderIdentity != id {
					t.Errorf("%s: after %s took it the record is %+v, %v", lock, id, r, err)
				}
				others := maps.Clone(cm.Annotations)
				delete(others, record.AnnotationKey)
				wantOthers := maps.Clone(s.annotations)
				delete(wantOthers, record.AnnotationKey)
				same := maps.Equal(others, wantOthers) && maps.Equal(cm.Labels, userLabels) && maps.Equal(cm.Data, userData)
				switch {
				case k == pool.Go && !same:
					t.Errorf("%s: the Go candidate lost the user's content: annotations %v labels %v data %v; want %v %v %v",
						lock, others, cm.Labels, cm.Data, wantOthers, userLabels, userData)
				case k == pool.Python && !same:
					t.Logf("%s: the Python client changed the user's content, as it does: annotations %v (were %v)", lock, others, wantOthers)
				}
			}
		})
	}
}
