package configmaplock_test

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubepy/leaderelection/configmaplock"
	"github.com/kubepy/leaderelection/record"
)

// A candidate takes a user's ConfigMap as its lock: the record goes into
// the annotation Python uses, and the user's annotation and data stay.
func Example() {
	ctx := context.Background()
	client := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "my-operator",
			Annotations: map[string]string{"team": "payments"}},
		Data: map[string]string{"mode": "active"},
	})
	lock, err := configmaplock.New(client.CoreV1(), configmaplock.Options{
		Namespace: "default", Name: "my-operator", Identity: "pod-0",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _, err = lock.Get(ctx)
	fmt.Println("before:", err)

	now := time.Now()
	if err := lock.Update(ctx, record.Record{HolderIdentity: "pod-0", LeaseDuration: 15 * time.Second, AcquireTime: now, RenewTime: now}); err != nil {
		fmt.Println(err)
		return
	}
	rec, _, err := lock.Get(ctx)
	fmt.Println("after:", rec.HolderIdentity, rec.LeaseDuration, err)

	cm, _ := client.CoreV1().ConfigMaps("default").Get(ctx, "my-operator", metav1.GetOptions{})
	fmt.Println("kept:", cm.Annotations["team"], cm.Data["mode"])
	// Output:
	// before: configmaplock: default/my-operator: record: no election record
	// after: pod-0 15s <nil>
	// kept: payments active
}
