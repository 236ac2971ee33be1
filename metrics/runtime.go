package metrics

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// goFamilies are the Go runtime metrics an operator watches, under the Prometheus client's names:
// goroutines, threads, heap and GC pauses (a summary with the quantiles 0, .25, .5, .75 and 1, as
// the client's Go collector exposed them).
func goFamilies() ([]family, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	threads, _ := runtime.ThreadCreateProfile(nil)
	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&gc)
	pauses := family{name: "go_gc_duration_seconds", help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.", typ: "summary"}
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		pauses.samples = append(pauses.samples, sample{names: []string{"quantile"}, values: []string{q}, value: gc.PauseQuantiles[i].Seconds()})
	}
	pauses.samples = append(pauses.samples,
		sample{suffix: "_sum", value: gc.PauseTotal.Seconds()},
		sample{suffix: "_count", value: float64(gc.NumGC)})
	return []family{
		pauses,
		gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine())),
		{name: "go_info", help: "Information about the Go environment.", typ: "gauge",
			samples: []sample{{names: []string{"version"}, values: []string{runtime.Version()}, value: 1}}},
		gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.", float64(ms.HeapAlloc)),
		counter("go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already.", float64(ms.TotalAlloc)),
		gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", float64(ms.HeapAlloc)),
		gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", float64(ms.HeapIdle)),
		gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse)),
		gauge("go_memstats_heap_objects", "Number of currently allocated objects.", float64(ms.HeapObjects)),
		gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", float64(ms.HeapReleased)),
		gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", float64(ms.HeapSys)),
		gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9),
		gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", float64(ms.NextGC)),
		gauge("go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments.", float64(ms.StackInuse)),
		gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(ms.Sys)),
		gauge("go_threads", "Number of OS threads created.", float64(threads)),
	}, nil
}

// processStart is when this process started, read once; zero where /proc is not available.
var processStart = func() float64 { s, _ := readStartTime(); return s }()

// processFamilies are the process metrics of the Prometheus client's process collector, read
// from /proc/self on Linux. Elsewhere (or if /proc cannot be read) there are none: the metrics are
// left out rather than the scrape failed.
func processFamilies() ([]family, error) {
	if runtime.GOOS != "linux" {
		return nil, nil
	}
	var fs []family
	if st, err := readStat(); err == nil {
		fs = append(fs,
			counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", float64(st.utime+st.stime)/userHZ),
			gauge("process_resident_memory_bytes", "Resident memory size in bytes.", float64(st.rss*int64(os.Getpagesize()))),
			gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", float64(st.vsize)))
	}
	if processStart > 0 {
		fs = append(fs, gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", processStart))
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		fs = append(fs, gauge("process_open_fds", "Number of open file descriptors.", float64(len(ents))))
	}
	if max, err := readMaxFDs(); err == nil {
		fs = append(fs, gauge("process_max_fds", "Maximum number of open file descriptors.", max))
	}
	return fs, nil
}

// userHZ is the kernel's USER_HZ, the unit of /proc's CPU times: 100 on every Linux architecture Go
// supports (the Prometheus client assumes the same).
const userHZ = 100

type procStat struct {
	utime, stime, starttime uint64 // clock ticks
	vsize                   uint64 // bytes
	rss                     int64  // pages
}

// readStat reads /proc/self/stat (proc(5)): after the command in parentheses come the fields from
// the third, state; utime is the 14th field, stime the 15th, starttime the 22nd, vsize the 23rd,
// rss the 24th.
func readStat() (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errBadProc
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 22 {
		return procStat{}, errBadProc
	}
	field := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	rss, _ := strconv.ParseInt(f[24-3], 10, 64)
	return procStat{utime: field(14), stime: field(15), starttime: field(22), vsize: field(23), rss: rss}, nil
}

// readStartTime is the process's start in seconds since the epoch: the boot time (btime in
// /proc/stat) plus the start in ticks since boot.
func readStartTime() (float64, error) {
	st, err := readStat()
	if err != nil {
		return 0, err
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			btime, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, err
			}
			return float64(btime) + float64(st.starttime)/userHZ, nil
		}
	}
	return 0, errBadProc
}

// readMaxFDs reads the soft limit of "Max open files" in /proc/self/limits.
func readMaxFDs() (float64, error) {
	b, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			if f[0] == "unlimited" {
				return float64(^uint64(0)), nil
			}
			return strconv.ParseFloat(f[0], 64)
		}
	}
	return 0, errBadProc
}

type procError string

func (e procError) Error() string { return string(e) }

const errBadProc = procError("metrics: unexpected /proc format")
