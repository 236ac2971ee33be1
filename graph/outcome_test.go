package graph_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/graph/graphtest"
)

// What a failed selfActivate says about its outcome, through the real client against each
// injected fault: unknown whenever PIM may have taken it, never a plain refusal.
func TestWriteOutcomes(t *testing.T) {
	const path = "roleAssignmentScheduleRequests"
	for _, tc := range []struct {
		name               string
		fault              graphtest.Fault
		cancel             bool
		unknown, transient bool
		applied            bool
	}{
		{name: "answer lost (504)", fault: graphtest.Fault{Method: "POST", Path: path, Apply: true}, unknown: true, transient: true, applied: true},
		{name: "connection reset", fault: graphtest.Fault{Method: "POST", Path: path, Apply: true, Drop: true}, unknown: true, transient: true, applied: true},
		{name: "500 before processing", fault: graphtest.Fault{Method: "POST", Path: path, Status: http.StatusInternalServerError}, unknown: true, transient: true},
		{name: "503 with Retry-After, retries used up", fault: graphtest.Fault{Method: "POST", Path: path, Status: http.StatusServiceUnavailable, RetryAfter: "1", Times: 4}, transient: true},
		{name: "cancelled while PIM works", fault: graphtest.Fault{Method: "POST", Path: path, Apply: true, Status: http.StatusCreated}, cancel: true, unknown: true, transient: true, applied: true},
		{name: "PIM refuses"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenant, c := newTenant(t)
			tok := signIn(t, tenant, c, "alice@contoso.example", "")
			f := tc.fault
			ctx := t.Context()
			var release chan struct{}
			var watch func()
			if tc.cancel {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				release = make(chan struct{})
				f.Hold = release
				watch = func() {
					// Cancel once the write is held at PIM, then let PIM take it.
					for tenant.Faults() > 0 {
						time.Sleep(time.Millisecond)
					}
					cancel()
				}
			}
			if f.Method != "" {
				tenant.Inject(f)
			}
			if watch != nil {
				go watch() // only now: before Inject there is no fault to wait for
			}
			req := graph.ActivationRequest{UserID: alice, RoleID: graphtest.RoleExchangeAdministrator, Duration: time.Hour, Justification: "mail flow"}
			if tc.name == "PIM refuses" {
				req.Justification = "" // JustificationRule
			}
			done := make(chan error, 1)
			go func() { _, err := c.Activate(ctx, tok, req); done <- err }()
			err := <-done
			if release != nil {
				close(release)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if got := graph.OutcomeUnknown(err); got != tc.unknown {
				t.Errorf("OutcomeUnknown(%v) = %v, want %v", err, got, tc.unknown)
			}
			if got := graph.Transient(err); got != tc.transient {
				t.Errorf("Transient(%v) = %v, want %v", err, got, tc.transient)
			}
			if tc.cancel && !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled write: %v", err)
			}
			deadline := time.Now().Add(5 * time.Second)
			var as []graph.Assignment
			for {
				as, err = c.ActiveAssignments(t.Context(), alice)
				if err != nil {
					t.Fatal(err)
				}
				if len(as) > 0 || !tc.applied || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got := len(as) > 0; got != tc.applied {
				t.Errorf("applied in PIM = %v, want %v", got, tc.applied)
			}
		})
	}
}
