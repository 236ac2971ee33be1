package bot

import (
	"strings"
	"testing"

	"github.com/elevate-pim/elevate/store"
)

// A role whose PIM write was never confirmed is not reported as refused by PIM in a
// multi-role request's summary: nobody looked and found a refusal.
func TestRoleOutcomeUnconfirmedIsNotARefusal(t *testing.T) {
	c := &Core{}
	got := c.roleOutcome(store.Request{RoleName: "SharePoint Administrator", State: store.StateFailed,
		FailureCode: failWriteUnconfirmed, FailureMessage: "I could not confirm it with PIM; check PIM's My roles."})
	if strings.Contains(got, "refused") || !strings.Contains(got, "not confirmed by PIM") {
		t.Fatalf("roleOutcome = %q, want it to say the write was not confirmed, not refused", got)
	}
	refused := c.roleOutcome(store.Request{RoleName: "Exchange Administrator", State: store.StateFailed,
		FailureCode: "pim_refused", FailureMessage: "PIM needs a ticket number."})
	if !strings.Contains(refused, "refused by PIM: PIM needs a ticket number") {
		t.Fatalf("roleOutcome = %q for a refusal", refused)
	}
}
