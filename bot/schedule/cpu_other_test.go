//go:build !unix

package schedule_test

import "time"

// cpuTime: not measured here.
func cpuTime() (time.Duration, bool) { return 0, false }
