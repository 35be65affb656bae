// Package configmaplock stores the election record in the annotation
// control-plane.alpha.kubernetes.io/leader of a ConfigMap, the lock the Python
// client's ConfigMapLock uses.
//
// The semantics are Python's: Get reads the ConfigMap and its annotation,
// Create makes the ConfigMap with the annotation, and Update replaces the
// ConfigMap that was read last, so a write based on a stale read fails with a
// 409 Conflict and only one of two racing candidates wins.
//
// Unlike the Python client, which replaces all annotations with its own when
// its key is missing, the lock never drops anything: other annotations,
// labels and data survive every write. API errors are wrapped with %w, so
// NotFound, Conflict, Forbidden and transport errors stay distinguishable with
// k8s.io/apimachinery/pkg/api/errors.
package configmaplock
