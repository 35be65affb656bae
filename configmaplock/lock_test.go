package configmaplock_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/record"
)

var configmaps = schema.GroupResource{Resource: "configmaps"}

func newLock(t *testing.T, cs *fake.Clientset, dialect record.Dialect) *configmaplock.Lock {
	t.Helper()
	l, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: "ns", Name: "lock", Identity: "me", Dialect: dialect})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func userConfigMap(annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: "lock",
			Labels:      map[string]string{"app": "operator"},
			Annotations: annotations,
		},
		Data:       map[string]string{"setting": "kept"},
		BinaryData: map[string][]byte{"blob": {0, 1, 2}},
	}
}

func sample(holder string) record.Record {
	t := time.Date(2026, 11, 22, 10, 15, 30, 250000000, time.Local)
	return record.Record{HolderIdentity: holder, LeaseDuration: 17 * time.Second, AcquireTime: t, RenewTime: t}
}

func stored(t *testing.T, cs *fake.Clientset) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps("ns").Get(context.Background(), "lock", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func TestNewNamesBadValues(t *testing.T) {
	cs := fake.NewClientset()
	_, err := configmaplock.New(cs.CoreV1(), configmaplock.Options{Namespace: "Bad_NS", Name: "no/slash", Identity: ""})
	if err == nil {
		t.Fatal("New accepted an invalid namespace, name and identity")
	}
	for _, want := range []string{`"Bad_NS"`, `"no/slash"`, "Identity"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := configmaplock.New(nil, configmaplock.Options{Namespace: "ns", Name: "lock", Identity: "me"}); err == nil {
		t.Error("New accepted a nil client")
	}
}

func TestGetMissingConfigMapIsNotFound(t *testing.T) {
	l := newLock(t, fake.NewClientset(), record.Python)
	_, _, err := l.Get(context.Background())
	if !apierrors.IsNotFound(err) {
		t.Fatalf("Get on a missing ConfigMap: %v, want NotFound", err)
	}
	if err := l.Update(context.Background(), sample("me")); !errors.Is(err, configmaplock.ErrNotRead) {
		t.Fatalf("Update before any read: %v, want ErrNotRead", err)
	}
}

func TestGetWithoutRecordIsNoRecord(t *testing.T) {
	for name, annotations := range map[string]map[string]string{
		"no annotations":    nil,
		"other annotations": {"team": "a"},
		"empty annotation":  {record.AnnotationKey: ""},
	} {
		t.Run(name, func(t *testing.T) {
			cs := fake.NewClientset(userConfigMap(annotations))
			l := newLock(t, cs, record.Python)
			_, raw, err := l.Get(context.Background())
			if !errors.Is(err, record.ErrNoRecord) || raw != "" {
				t.Fatalf("Get = raw %q, err %v; want empty raw and ErrNoRecord", raw, err)
			}
		})
	}
}

// Python's ConfigMapLock replaces every annotation with its own when its key
// is missing; ours keeps them, and the labels and data, through every write.
func TestWritesKeepEverythingElse(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(userConfigMap(map[string]string{"team": "a", "note": "keep me"}))
	l := newLock(t, cs, record.Python)
	if _, _, err := l.Get(ctx); !errors.Is(err, record.ErrNoRecord) {
		t.Fatalf("Get: %v", err)
	}
	for _, holder := range []string{"me", "me", ""} { // take, renew, release
		if err := l.Update(ctx, sample(holder)); err != nil {
			t.Fatalf("Update(%q): %v", holder, err)
		}
		cm := stored(t, cs)
		if cm.Annotations["team"] != "a" || cm.Annotations["note"] != "keep me" ||
			cm.Labels["app"] != "operator" || cm.Data["setting"] != "kept" || len(cm.BinaryData["blob"]) != 3 {
			t.Fatalf("after writing holder %q the ConfigMap lost user content: %+v", holder, cm)
		}
		if got := cm.Annotations[record.AnnotationKey]; got != record.Python.Encode(sample(holder)) {
			t.Fatalf("annotation = %q, want the Python encoding", got)
		}
		rec, _, err := l.Get(ctx)
		if holder != "" && (err != nil || rec.HolderIdentity != holder) {
			t.Fatalf("Get after write = %+v, %v", rec, err)
		}
	}
}

func TestCreateWritesDialect(t *testing.T) {
	for _, d := range []record.Dialect{record.Python, record.ClientGo} {
		t.Run(d.String(), func(t *testing.T) {
			cs := fake.NewClientset()
			l := newLock(t, cs, d)
			if err := l.Create(context.Background(), sample("me")); err != nil {
				t.Fatal(err)
			}
			if got, want := stored(t, cs).Annotations[record.AnnotationKey], d.Encode(sample("me")); got != want {
				t.Fatalf("annotation = %q, want %q", got, want)
			}
			if err := l.Create(context.Background(), sample("me")); !apierrors.IsAlreadyExists(err) {
				t.Fatalf("second Create: %v, want AlreadyExists", err)
			}
		})
	}
}

// The fake clientset never detects a stale write, so the conflict is
// scripted; the real server's 409 is shown by the integration tests.
func TestAPIErrorsStayDistinguishable(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		err  error
		is   func(error) bool
	}{
		{"conflict", apierrors.NewConflict(configmaps, "lock", errors.New("stale")), apierrors.IsConflict},
		{"forbidden", apierrors.NewForbidden(configmaps, "lock", errors.New("no rights")), apierrors.IsForbidden},
		{"timeout", apierrors.NewServerTimeout(configmaps, "update", 1), apierrors.IsServerTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(userConfigMap(nil))
			cs.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tc.err
			})
			l := newLock(t, cs, record.Python)
			if _, _, err := l.Get(ctx); !errors.Is(err, record.ErrNoRecord) {
				t.Fatal(err)
			}
			err := l.Update(ctx, sample("me"))
			if !tc.is(err) || !strings.Contains(err.Error(), "ns/lock") {
				t.Fatalf("Update error %v: lost its kind or does not name the lock", err)
			}
		})
	}
}

func TestUpdateReplacesTheVersionLastSeen(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(userConfigMap(nil))
	var sentVersions []string
	cs.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		cm := a.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap)
		sentVersions = append(sentVersions, cm.ResourceVersion)
		return false, nil, nil
	})
	if err := cs.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"},
		func() *corev1.ConfigMap { cm := userConfigMap(nil); cm.ResourceVersion = "41"; return cm }(), "ns"); err != nil {
		t.Fatal(err)
	}
	l := newLock(t, cs, record.Python)
	if _, _, err := l.Get(ctx); !errors.Is(err, record.ErrNoRecord) {
		t.Fatal(err)
	}
	if err := l.Update(ctx, sample("me")); err != nil {
		t.Fatal(err)
	}
	if len(sentVersions) != 1 || sentVersions[0] != "41" {
		t.Fatalf("Update sent resourceVersions %q, want the one read (41)", sentVersions)
	}
}
