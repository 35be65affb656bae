package lockevents

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	k8srecord "k8s.io/client-go/tools/record"

	"github.com/kubepy/leaderelection/config"
)

// Reason is the reason of every event, the one client-go's leader election
// uses, so that tools that filter for it find ours too.
const Reason = "LeaderElection"

// Callbacks returns inner with OnStartedLeading and OnStoppedLeading
// wrapped: each first records a Normal event on object, with the messages
// client-go uses ("<identity> became leader", "<identity> stopped leading"),
// and then calls the inner callback. OnNewLeader is inner's.
//
// object is the lock object, or a reference to it such as [ConfigMap] or
// [Lease] return: the Lock interface does not expose the object, and the
// event needs only its kind, namespace and name. When recorder or object is
// nil, inner is returned unchanged. A nil inner.OnStartedLeading stays nil,
// so that config.Validate still reports it.
//
// With a nil inner.OnStoppedLeading the election loop would log "stopped
// leading"; once wrapped, the event takes the place of that log line.
func Callbacks(inner config.Callbacks, recorder k8srecord.EventRecorder, object runtime.Object, identity string) config.Callbacks {
	if isNil(recorder) || isNil(object) {
		return inner
	}
	wrapped := inner
	if started := inner.OnStartedLeading; started != nil {
		wrapped.OnStartedLeading = func(ctx context.Context) {
			// identity is an argument, not part of the format: it may
			// hold a '%'.
			recorder.Eventf(object, corev1.EventTypeNormal, Reason, "%s became leader", identity)
			started(ctx)
		}
	}
	stopped := inner.OnStoppedLeading
	wrapped.OnStoppedLeading = func() {
		recorder.Eventf(object, corev1.EventTypeNormal, Reason, "%s stopped leading", identity)
		if stopped != nil {
			stopped()
		}
	}
	return wrapped
}

// isNil reports whether v is nil or a nil pointer in an interface, which
// client-go's recorder would dereference.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// ConfigMap returns a reference to the ConfigMap namespace/name, the object
// of configmaplock and the primary of migrationlock.
func ConfigMap(namespace, name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "ConfigMap", Namespace: namespace, Name: name}
}

// Lease returns a reference to the Lease namespace/name, the object of
// leaselock.
func Lease(namespace, name string) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: "coordination.k8s.io/v1", Kind: "Lease", Namespace: namespace, Name: name}
}

// NewRecorder returns a recorder whose events go to the Events of namespace,
// with source component, and the broadcaster that sends them. The lock object
// must be in namespace: an event lives in its object's namespace, and the
// sink refuses others, which also keeps the RBAC a candidate needs to
// creating and patching events there.
//
// The caller must call the broadcaster's Shutdown when the candidate is done,
// to stop its goroutines; events still queued or being retried then are
// dropped.
func NewRecorder(events typedcorev1.EventsGetter, namespace, component string) (k8srecord.EventRecorder, k8srecord.EventBroadcaster, error) {
	var errs []error
	if isNil(events) {
		errs = append(errs, errors.New("lockevents: events client is nil"))
	}
	errs = append(errs, config.ValidateNamespace(namespace))
	if strings.TrimSpace(component) == "" {
		errs = append(errs, fmt.Errorf("lockevents: component %q is empty; it names the reporter of the events", component))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	broadcaster := k8srecord.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: events.Events(namespace)})
	// client-go's scheme knows ConfigMap and Lease, so the lock object
	// itself may be given as well as a reference.
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
	return recorder, broadcaster, nil
}
