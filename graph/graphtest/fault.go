package graphtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
)

// Fault is a failure injected into the Graph requests that match it, for tests of what a client
// does when a write's outcome is unknown. Matching requests pass authentication first (an
// unauthenticated request is refused as usual), then:
//
//   - Hold, when set, keeps the request waiting until the channel is closed: a slow answer, or
//     (with Apply) PIM taking the write after the client gave up;
//   - without Apply, the request is answered Status (with RetryAfter) and not processed: Graph
//     was down or refused to take it;
//   - with Apply, PIM processes the request; then its answer is lost: Status is answered instead
//     (504 when 0), or, with Drop, the connection is closed without any answer (a reset).
//
// A fault that neither applies nor has a Status only delays the request (Hold).
type Fault struct {
	Method string // "POST", "PATCH", …; "" matches any
	// Path must occur in the path after the version ("roleAssignmentScheduleRequests",
	// "privilegedAccess/group/assignmentScheduleRequests"); "" matches any.
	Path string
	// Body must occur in the request body ("selfDeactivate"); "" matches any.
	Body  string
	Times int // how many matching requests it applies to; 0 means 1

	Hold       <-chan struct{}
	Apply      bool
	Drop       bool
	Status     int
	RetryAfter string // the Retry-After header sent with Status, if any
}

// Inject adds f; faults apply in the order added, each to its next Times matching requests.
func (t *Tenant) Inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = append(t.faults, &f)
}

// Faults says how many injected faults have not been used up yet.
func (t *Tenant) Faults() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.faults)
}

// takeFault returns the first fault matching c's request and counts it used; nil when none.
func (t *Tenant) takeFault(c *gctx) *Fault {
	t.mu.Lock()
	defer t.mu.Unlock()
	path := strings.Join(c.parts, "/")
	for i, f := range t.faults {
		if (f.Method != "" && !strings.EqualFold(f.Method, c.r.Method)) ||
			(f.Path != "" && !strings.Contains(strings.ToLower(path), strings.ToLower(f.Path))) ||
			(f.Body != "" && !strings.Contains(string(c.body), f.Body)) {
			continue
		}
		f.Times--
		if f.Times == 0 {
			t.faults = append(t.faults[:i:i], t.faults[i+1:]...)
		}
		out := *f
		return &out
	}
	return nil
}

// serveFault answers c as f says; it returns false when f only delayed the request and it is to
// be served as usual.
func (t *Tenant) serveFault(c *gctx, f *Fault) bool {
	if f.Hold != nil {
		<-f.Hold
	}
	if !f.Apply {
		if f.Status == 0 {
			return false
		}
		if f.RetryAfter != "" {
			c.w.Header().Set("Retry-After", f.RetryAfter)
		}
		c.fail(f.Status, "ServiceUnavailable", "The service is temporarily unavailable.")
		return true
	}
	// PIM takes the write; its answer never reaches the client.
	w := c.w
	c.w = httptest.NewRecorder()
	t.route(c)
	c.w = w
	if f.Drop {
		c.status = 0
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without an answer
	}
	status := f.Status
	if status == 0 {
		status = http.StatusGatewayTimeout
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	c.fail(status, "GatewayTimeout", "The gateway timed out.")
	return true
}
