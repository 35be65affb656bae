package migrationlock_test

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubepy/leaderelection/migrationlock"
	"github.com/kubepy/leaderelection/record"
)

// Step 2 of the migration: a Go candidate joins a Python pool.
func ExampleNew() {
	// The Python dialect writes local times; fix the zone for the output.
	defer func(l *time.Location) { time.Local = l }(time.Local)
	time.Local = time.UTC
	ctx := context.Background()

	// The ConfigMap as a Python candidate left it; no Lease yet.
	client := fake.NewClientset(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Namespace: "default", Name: "my-operator",
		Annotations: map[string]string{record.AnnotationKey: `{"holderIdentity": "python-a", "leaseDurationSeconds": "15", "acquireTime": "2026-11-22 10:15:30", "renewTime": "2026-11-22 10:15:45"}`},
	}})
	lock, err := migrationlock.New(client.CoreV1(), client.CoordinationV1(), migrationlock.Options{
		Namespace: "default", Name: "my-operator", Identity: "go-b",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec, _, err := lock.Get(ctx)
	fmt.Println(rec.HolderIdentity, err)

	// Once python-a's lease ran out, the election loop writes:
	now := time.Date(2026, 11, 22, 10, 16, 5, 0, time.UTC)
	if err := lock.Update(ctx, record.Record{HolderIdentity: "go-b", LeaseDuration: 15 * time.Second, AcquireTime: now, RenewTime: now, LeaderTransitions: 1}); err != nil {
		fmt.Println(err)
		return
	}
	cm, _ := client.CoreV1().ConfigMaps("default").Get(ctx, "my-operator", metav1.GetOptions{})
	fmt.Println(cm.Annotations[record.AnnotationKey])
	lease, _ := client.CoordinationV1().Leases("default").Get(ctx, "my-operator", metav1.GetOptions{})
	fmt.Println(*lease.Spec.HolderIdentity, *lease.Spec.LeaseDurationSeconds, *lease.Spec.LeaseTransitions)
	// Output:
	// python-a <nil>
	// {"holderIdentity": "go-b", "leaseDurationSeconds": "15", "acquireTime": "2026-11-22 10:16:05", "renewTime": "2026-11-22 10:16:05"}
	// go-b 15 1
}
