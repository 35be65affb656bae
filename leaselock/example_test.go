package leaselock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubepy/leaderelection/leaselock"
	"github.com/kubepy/leaderelection/record"
)

func ExampleNew() {
	ctx := context.Background()
	client := fake.NewClientset() // a real clientset in a program
	lock, err := leaselock.New(client.CoordinationV1(), leaselock.Options{
		Namespace: "default", Name: "my-operator", Identity: "pod-a",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The election loop creates the Lease when Get finds none.
	_, _, err = lock.Get(ctx)
	fmt.Println(apierrors.IsNotFound(err))

	now := time.Date(2026, 11, 22, 10, 15, 30, 0, time.UTC)
	err = lock.Create(ctx, record.Record{HolderIdentity: lock.Identity(), LeaseDuration: 15 * time.Second, AcquireTime: now, RenewTime: now})
	fmt.Println(err)
	rec, raw, err := lock.Get(ctx)
	fmt.Println(rec.HolderIdentity, rec.LeaseDuration, err)
	fmt.Println(raw)
	// Output:
	// true
	// <nil>
	// pod-a 15s <nil>
	// {"holderIdentity":"pod-a","leaseDurationSeconds":15,"acquireTime":"2026-11-22T10:15:30.000000Z","renewTime":"2026-11-22T10:15:30.000000Z","leaseTransitions":0}
}

func ExampleSpecFromRecord() {
	acquired := time.Date(2026, 11, 22, 10, 15, 30, 250_000_000, time.UTC)
	spec, err := leaselock.SpecFromRecord(record.Record{
		HolderIdentity:    "pod-a",
		LeaseDuration:     2500 * time.Millisecond, // a Lease counts whole seconds: 3
		AcquireTime:       acquired,
		RenewTime:         acquired.Add(9750 * time.Millisecond),
		LeaderTransitions: 3,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	b, _ := json.Marshal(spec)
	fmt.Println(string(b))

	// A released Lease, as client-go or this package writes it, holds no
	// record: the next candidate takes it at once.
	*spec.HolderIdentity = ""
	_, err = leaselock.RecordFromSpec(spec)
	fmt.Println(errors.Is(err, record.ErrNoRecord), err)
	// Output:
	// {"holderIdentity":"pod-a","leaseDurationSeconds":3,"acquireTime":"2026-11-22T10:15:30.250000Z","renewTime":"2026-11-22T10:15:40.000000Z","leaseTransitions":3}
	// true record: no election record: holderIdentity is empty
}
