package configmaplock

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/kubepy/leaderelection/config"
	"github.com/kubepy/leaderelection/record"
)

// ErrNotRead is returned by Update when no ConfigMap has been read or
// written yet: there is no version to replace.
var ErrNotRead = errors.New("configmaplock: update before the ConfigMap was read")

// Options names the lock and this candidate.
type Options struct {
	// Namespace of the ConfigMap; a DNS label. Required.
	Namespace string
	// Name of the ConfigMap; a DNS subdomain. Required.
	Name string
	// Identity of this candidate, written as the holder. Required.
	Identity string
	// Dialect of the records written. The zero value, record.Python, is
	// readable by every candidate; record.ClientGo only suits pools without
	// Python candidates.
	Dialect record.Dialect
	// Watcher, when set, serves reads from its cache and tells the
	// election loop of every change (see Watcher). It must watch this
	// lock's namespace and name.
	Watcher *Watcher
}

// Lock is a ConfigMap-annotation lock. It is safe for concurrent use, though
// a candidate uses it from one goroutine.
type Lock struct {
	client corev1client.ConfigMapsGetter
	opts   Options

	changes <-chan struct{} // from the Watcher; nil without one

	mu    sync.Mutex
	last  *corev1.ConfigMap // what Get, Create or Update last saw
	stale bool              // the cache lost a race: read the server next
}

var _ config.Lock = (*Lock)(nil)

// New returns a lock on the ConfigMap opts.Namespace/opts.Name. It checks the
// names and the identity, naming each bad value.
func New(client corev1client.ConfigMapsGetter, opts Options) (*Lock, error) {
	var errs []error
	if client == nil {
		errs = append(errs, errors.New("configmaplock: client is nil"))
	}
	errs = append(errs, config.ValidateNamespace(opts.Namespace))
	errs = append(errs, config.ValidateName("ConfigMap", opts.Name))
	if err := config.ValidateIdentity(opts.Identity); err != nil {
		errs = append(errs, err)
	}
	if opts.Dialect != record.Python && opts.Dialect != record.ClientGo {
		errs = append(errs, fmt.Errorf("configmaplock: unknown dialect %d", int(opts.Dialect)))
	}
	if opts.Watcher != nil && !opts.Watcher.covers(opts.Namespace, opts.Name) {
		errs = append(errs, fmt.Errorf("configmaplock: the watcher does not cover ConfigMap %s/%s", opts.Namespace, opts.Name))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l := &Lock{client: client, opts: opts}
	if opts.Watcher != nil {
		l.changes = opts.Watcher.subscribe(opts.Name)
	}
	return l, nil
}

// Changes returns a channel that receives a value whenever the ConfigMap
// may have changed, or nil when the lock has no Watcher.
func (l *Lock) Changes() <-chan struct{} { return l.changes }

// Get reads the ConfigMap and decodes its annotation. A missing annotation is
// reported like an empty one, as an error wrapping record.ErrNoRecord.
func (l *Lock) Get(ctx context.Context) (record.Record, string, error) {
	cm, err := l.read(ctx)
	if err != nil {
		return record.Record{}, "", fmt.Errorf("configmaplock: get %s: %w", l.Describe(), err)
	}
	l.remember(cm)
	raw := cm.Annotations[record.AnnotationKey]
	rec, err := record.Decode(raw)
	if err != nil {
		return rec, raw, fmt.Errorf("configmaplock: %s: %w", l.Describe(), err)
	}
	return rec, raw, nil
}

// read returns the ConfigMap from the watcher's cache when it can, else from
// the API server.
func (l *Lock) read(ctx context.Context) (*corev1.ConfigMap, error) {
	l.mu.Lock()
	stale := l.stale
	l.stale = false
	l.mu.Unlock()
	if l.opts.Watcher != nil && !stale {
		if cm, ok, err := l.opts.Watcher.get(l.opts.Name); ok || err != nil {
			return cm, err
		}
	}
	return l.client.ConfigMaps(l.opts.Namespace).Get(ctx, l.opts.Name, metav1.GetOptions{})
}

// Create creates the ConfigMap holding rec. It fails with AlreadyExists when
// another candidate created it first.
func (l *Lock) Create(ctx context.Context, rec record.Record) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Namespace:   l.opts.Namespace,
		Name:        l.opts.Name,
		Annotations: map[string]string{record.AnnotationKey: l.opts.Dialect.Encode(rec)},
	}}
	created, err := l.client.ConfigMaps(l.opts.Namespace).Create(ctx, cm, metav1.CreateOptions{})
	if err != nil {
		l.markStale(err)
		return fmt.Errorf("configmaplock: create %s: %w", l.Describe(), err)
	}
	l.remember(created)
	return nil
}

// Update writes rec into the ConfigMap last seen, keeping everything else in
// it. A concurrent write since then makes it fail with a 409 Conflict.
func (l *Lock) Update(ctx context.Context, rec record.Record) error {
	l.mu.Lock()
	last := l.last
	l.mu.Unlock()
	if last == nil {
		return fmt.Errorf("%w: %s", ErrNotRead, l.Describe())
	}
	cm := last.DeepCopy()
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[record.AnnotationKey] = l.opts.Dialect.Encode(rec)
	updated, err := l.client.ConfigMaps(l.opts.Namespace).Update(ctx, cm, metav1.UpdateOptions{})
	if err != nil {
		l.markStale(err)
		return fmt.Errorf("configmaplock: update %s: %w", l.Describe(), err)
	}
	l.remember(updated)
	return nil
}

// Identity returns this candidate's identity.
func (l *Lock) Identity() string { return l.opts.Identity }

// Describe returns "namespace/name".
func (l *Lock) Describe() string { return l.opts.Namespace + "/" + l.opts.Name }

// markStale makes the next Get ask the API server after a write lost a race
// that the cache may not have seen yet.
func (l *Lock) markStale(err error) {
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) || apierrors.IsNotFound(err) {
		l.mu.Lock()
		l.stale = true
		l.mu.Unlock()
	}
}

func (l *Lock) remember(cm *corev1.ConfigMap) {
	l.mu.Lock()
	l.last = cm
	l.mu.Unlock()
}
