package config_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kubepy/leaderelection/config"
)

// The Python client's example values, 17/15/5 seconds, pass; a renew
// deadline that the jittered retry period could overrun does not.
func ExampleConfig_Validate() {
	c := config.Config{
		Lock:          namedLock("candidate-1"),
		LeaseDuration: 17 * time.Second,
		RenewDeadline: 15 * time.Second,
		RetryPeriod:   5 * time.Second,
		Callbacks:     config.Callbacks{OnStartedLeading: func(context.Context) {}},
	}
	fmt.Println(c.Validate())

	c.RenewDeadline = 6 * time.Second
	fmt.Println(c.Validate())
	// Output:
	// <nil>
	// config: RenewDeadline (6s) must be greater than RetryPeriod × JitterFactor (5s × 1.2 = 6s)
}
