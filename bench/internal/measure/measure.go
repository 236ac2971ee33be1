// Package measure holds what the load benchmarks share: an open-loop scheduler, percentiles, the
// disk's floor (the store's own fsync'd write, measured in the same run), and the server
// process's CPU time, memory and the machine's load from /proc.
package measure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/elevate-pim/elevate/store"
)

// OpenLoop calls fn(0..n-1) on schedule, rate per second, each in its own goroutine whatever
// the earlier calls are doing (open loop: call j is due at start + j/rate, late or not), and
// waits for all of them. fn gets the time call j was due: a latency measured from it, not from
// when the goroutine happened to run, counts the generator's own lag (coordinated omission) and
// cannot hide a stall of the machine.
func OpenLoop(rate float64, n int, fn func(j int, due time.Time)) {
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for j := range n {
		due := start.Add(time.Duration(j) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() { fn(j, due) })
	}
	wg.Wait()
}

// Floor is the floor's own store file, next to the server's: the same kind of request stored
// with the same store code (store.CreateRequest: one fsync'd bbolt transaction, group commit),
// which an acknowledgement that persists before answering cannot beat on this disk.
type Floor struct {
	st   *store.Store
	path string
	next int
	mu   sync.Mutex
	lat  []time.Duration
	errs int
}

// OpenFloor opens the floor's file in dir.
func OpenFloor(dir string) (*Floor, error) { return OpenFloorAt(filepath.Join(dir, "floor.db")) }

// OpenFloorAt opens the floor's store at loc: a bbolt file, or a postgres:// URL of a database of
// its own (on the same server as the server's, to measure PostgreSQL's floor).
func OpenFloorAt(loc string) (*Floor, error) {
	var st *store.Store
	var err error
	if IsPostgresURL(loc) {
		st, err = store.OpenPostgres(context.Background(), loc, store.PostgresOptions{})
	} else {
		st, err = store.Open(loc)
	}
	if err != nil {
		return nil, err
	}
	return &Floor{st: st, path: loc}, nil
}

// IsPostgresURL says whether loc names a PostgreSQL database rather than a bbolt file, as
// elevate's -db does.
func IsPostgresURL(loc string) bool {
	return strings.HasPrefix(loc, "postgres://") || strings.HasPrefix(loc, "postgresql://")
}

// Run stores n requests like the ones a load creates (same fields, same sizes) at rate per
// second, open loop, spread over users users.
func (f *Floor) Run(rate float64, n, users int) {
	base := f.next
	f.next += n
	OpenLoop(rate, n, func(j int, due time.Time) {
		i := base + j
		user := fmt.Sprintf("U%05d", i%users)
		now := time.Now().UTC()
		r := store.Request{Platform: "slack", ChatUser: user, ChatName: "user", Channel: "C0LOAD",
			LoginHint: fmt.Sprintf("user%d@contoso.example", i%users),
			RoleID:    "29232cdf-9323-42fd-ade2-1d097af3e4de", RoleName: "Exchange Administrator",
			Duration: time.Hour, Justification: "load test " + strconv.Itoa(i), State: store.StateAwaitingSignIn,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		_, err := f.st.CreateRequest(r, store.AuditRecord{Actor: "slack:" + user, Action: "request.created",
			Detail: `role="Exchange Administrator" duration=1h`})
		el := time.Since(due)
		f.mu.Lock()
		defer f.mu.Unlock()
		if err != nil {
			f.errs++
			return
		}
		f.lat = append(f.lat, el)
	})
}

// CommitStats are the floor store's group commits so far.
func (f *Floor) CommitStats() store.CommitStats { return f.st.CommitStats() }

// Close closes and removes the floor's file and returns its latencies, sorted, and its errors.
func (f *Floor) Close() ([]time.Duration, int, error) {
	err := f.st.Close()
	if !IsPostgresURL(f.path) {
		os.Remove(f.path)
	}
	slices.Sort(f.lat)
	return f.lat, f.errs, err
}

// Ratio is a's p-th percentile over b's, to two decimals ("-" when either is empty).
func Ratio(a, b []time.Duration, p int) string {
	pa, pb := At(a, p), At(b, p)
	if pa <= 0 || pb <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", float64(pa)/float64(pb))
}

// Pct is the p-th percentile of sorted ds, rounded for reading ("-" when empty).
func Pct(ds []time.Duration, p int) string {
	if len(ds) == 0 {
		return "-"
	}
	return At(ds, p).Round(10 * time.Microsecond).String()
}

// At is the p-th percentile of sorted ds (nearest rank); 0 when ds is empty.
func At(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := (len(ds)*p+99)/100 - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// LoadAvg is the machine's 1-minute load average (the machine is shared; say how busy it was).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// Memory reads a process's peak and current resident set size from /proc.
func Memory(pid int) (hwm, rss string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?", "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "VmHWM:" {
			hwm = f[1] + " kB"
		}
		if len(f) >= 3 && f[0] == "VmRSS:" {
			rss = f[1] + " kB"
		}
	}
	return hwm, rss
}

// CPUSeconds is the user and system CPU time a process has used, from /proc (Linux's clock
// tick is 1/100 s); -1 when it cannot be read.
func CPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; the fields after its closing parenthesis are
	// state (3), ..., utime (14), stime (15).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (ut + st) / 100
}

// FreeAddr is a loopback address with a free port.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// WaitUp waits until base/healthz answers 200.
func WaitUp(base string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("the server did not come up")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops the server process the way an operator would (SIGTERM), and kills it if it has not
// exited 30 s later.
func Stop(srv *exec.Cmd) {
	srv.Process.Signal(syscall.SIGTERM)
	werr := make(chan error, 1)
	go func() { werr <- srv.Wait() }()
	select {
	case <-werr:
	case <-time.After(30 * time.Second):
		srv.Process.Kill()
		<-werr
	}
}
