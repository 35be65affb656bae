package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Require ends tb unless err, from Start, is nil. A missing kube-apiserver or
// etcd skips tb with a loud message, unless the environment has CI=true,
// where it fails like any other error, so that CI cannot pass by skipping.
func Require(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNoBinaries) {
		SkipOrFail(tb, "no control plane: %v", err)
	}
	tb.Fatalf("control plane: %v", err)
}

// SkipOrFail skips tb with a loud message, or fails it when the environment
// has CI=true. It is for tests whose prerequisites may be missing on a
// developer's machine but never in CI.
func SkipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("FAILING, not skipping, because CI=true: %s", msg)
	}
	tb.Skipf("SKIPPING: %s", msg)
}

// NewNamespace creates a namespace named after tb with a random suffix and
// returns its name, or fails tb. It never deletes it: without a namespace
// controller a deleted namespace stays Terminating forever.
func NewNamespace(ctx context.Context, tb testing.TB, cs kubernetes.Interface) string {
	tb.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: namespacePrefix(tb.Name())}}
	ns, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("create namespace for %s: %v", tb.Name(), err)
	}
	return ns.Name
}

// namespacePrefix turns a test name into a GenerateName prefix: lower-case
// letters, digits and single dashes, short enough that the apiserver's
// 5-character suffix keeps it within a 63-character DNS label.
func namespacePrefix(testName string) string {
	const maxLen = 40
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(testName) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= maxLen {
			break
		}
	}
	prefix := strings.TrimRight(b.String(), "-")
	if prefix == "" {
		prefix = "test"
	}
	return prefix + "-"
}
