package configmaplock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/kubepy/leaderelection/config"
)

// DefaultWatchTimeout bounds how long one watch request may stay open: the
// API server ends it then and the watcher starts a new one, so a watch that
// silently stalled is noticed within this time.
const DefaultWatchTimeout = 5 * time.Minute

// ErrWatcherStopped is returned when a watching lock is used after its
// Watcher's Run returned.
var ErrWatcherStopped = errors.New("configmaplock: watcher stopped")

// WatcherOptions selects the ConfigMaps a Watcher follows.
type WatcherOptions struct {
	// Namespace to watch. Required.
	Namespace string
	// Name restricts the watch to the one ConfigMap of a process that runs
	// a single election. Empty watches every ConfigMap of the namespace (or
	// those matching LabelSelector), for a process running many elections.
	Name string
	// LabelSelector restricts a namespace-wide watch, such as "app=shards".
	LabelSelector string
	// WatchTimeout is DefaultWatchTimeout when zero.
	WatchTimeout time.Duration
}

// Watcher keeps a cache of ConfigMaps through one watch and tells each lock
// when its ConfigMap changes. Locks of one namespace in one process share a
// Watcher, so one more election costs a cache entry, not a connection or a
// polling loop. Followers using a watching lock read from the cache and make
// no requests; writes still go to the API server with the resourceVersion
// read, so a stale cache can only cause a 409 Conflict, never two leaders.
type Watcher struct {
	opts     WatcherOptions
	informer cache.SharedIndexInformer

	mu          sync.Mutex
	subscribers map[string][]chan struct{} // by ConfigMap name
	stopped     bool
}

// NewWatcher returns a Watcher; call Run to start it.
func NewWatcher(client corev1client.ConfigMapsGetter, opts WatcherOptions) (*Watcher, error) {
	var errs []error
	if client == nil {
		errs = append(errs, errors.New("configmaplock: watcher client is nil"))
	}
	errs = append(errs, config.ValidateNamespace(opts.Namespace))
	if opts.Name != "" {
		errs = append(errs, config.ValidateName("ConfigMap", opts.Name))
	}
	if opts.WatchTimeout < 0 {
		errs = append(errs, fmt.Errorf("configmaplock: WatchTimeout %v is negative", opts.WatchTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if opts.WatchTimeout == 0 {
		opts.WatchTimeout = DefaultWatchTimeout
	}
	timeout := int64(opts.WatchTimeout / time.Second)
	if timeout < 1 {
		timeout = 1
	}
	narrow := func(o *metav1.ListOptions) {
		if opts.Name != "" {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", opts.Name).String()
		}
		o.LabelSelector = opts.LabelSelector
	}
	configMaps := client.ConfigMaps(opts.Namespace)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			narrow(&o)
			return configMaps.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			narrow(&o)
			o.TimeoutSeconds = &timeout
			return configMaps.Watch(ctx, o)
		},
	}
	w := &Watcher{
		opts:        opts,
		informer:    cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, listThenWatch{}), &corev1.ConfigMap{}, 0, cache.Indexers{}),
		subscribers: map[string][]chan struct{}{},
	}
	_, err := w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.changed,
		UpdateFunc: func(_, obj any) { w.changed(obj) },
		DeleteFunc: w.changed,
	})
	if err != nil {
		return nil, fmt.Errorf("configmaplock: watcher: %w", err)
	}
	return w, nil
}

// Run watches until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	w.informer.RunWithContext(ctx)
	w.mu.Lock()
	w.stopped = true
	for _, subs := range w.subscribers {
		for _, ch := range subs {
			poke(ch)
		}
	}
	w.mu.Unlock()
}

// WaitForSync waits until the cache holds the first full listing.
func (w *Watcher) WaitForSync(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), w.informer.HasSynced) {
		return fmt.Errorf("configmaplock: watcher for namespace %q did not sync: %w", w.opts.Namespace, ctx.Err())
	}
	return nil
}

// covers reports whether the watcher follows the ConfigMap name.
func (w *Watcher) covers(namespace, name string) bool {
	return namespace == w.opts.Namespace && (w.opts.Name == "" || w.opts.Name == name)
}

// subscribe returns a channel poked whenever the ConfigMap name changes.
func (w *Watcher) subscribe(name string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	w.subscribers[name] = append(w.subscribers[name], ch)
	w.mu.Unlock()
	return ch
}

// get returns the cached ConfigMap. ok is false while the cache is not
// synced, when the caller must ask the API server.
func (w *Watcher) get(name string) (cm *corev1.ConfigMap, ok bool, err error) {
	w.mu.Lock()
	stopped := w.stopped
	w.mu.Unlock()
	if stopped {
		return nil, false, ErrWatcherStopped
	}
	if !w.informer.HasSynced() {
		return nil, false, nil
	}
	obj, exists, err := w.informer.GetStore().GetByKey(w.opts.Namespace + "/" + name)
	if err != nil {
		return nil, false, err
	}
	if !exists {
		return nil, true, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
	}
	return obj.(*corev1.ConfigMap), true, nil
}

func (w *Watcher) changed(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	w.mu.Lock()
	for _, ch := range w.subscribers[cm.Name] {
		poke(ch)
	}
	w.mu.Unlock()
}

// listThenWatch makes the reflector list and then watch, which every API
// server and client-go's fake clientset support, instead of streaming the
// initial list, which the fake does not: for the few ConfigMaps of a lock
// the difference in cost is nil.
type listThenWatch struct{}

func (listThenWatch) IsWatchListSemanticsUnSupported() bool { return true }

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
