//go:build unix

package schedule_test

import (
	"syscall"
	"time"
)

// cpuTime is the user and system CPU time this process has used (in BenchmarkBuildDigest1M: the
// digest and the simulated tenant answering its Graph reads).
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
