// Package lockevents records Kubernetes Events on the lock object when this
// candidate becomes leader or stops leading, as client-go's leader election
// does, so that "kubectl describe configmap my-lock" (or lease) shows who led
// when. The Python client records no events; Python candidates neither need
// nor see them, and nothing in the election depends on them.
//
// Events are optional and best effort: client-go's EventRecorder queues them
// and sends them from a goroutine, dropping them when the queue is full or
// the API server refuses them, so a slow or failing API server never delays
// a callback. [Callbacks] wraps the callbacks of a config.Config;
// [NewRecorder] builds a recorder that writes to the Events of the lock's
// namespace.
//
// This library has a package named record (the election record), and so has
// client-go (k8s.io/client-go/tools/record, the event recorder). Import
// client-go's under an alias, as this package does:
//
//	k8srecord "k8s.io/client-go/tools/record"
package lockevents
