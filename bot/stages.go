package bot

import (
	"fmt"

	"github.com/elevate-pim/elevate/store"
)

// Approval steps. Elevate's own approvals (N of M in chat) come first; where PIM's role setting
// itself requires approval, PIM's stage follows, decided in PIM with an approver's token. The
// request counts both in ApprovalsNeeded (PIM's stage as one), so the lifecycle gates stay
// simple; what people read shows them as separate steps, each with its own count and expiry.

// pimStage says whether r has (or had) PIM's own approval stage.
func pimStage(r store.Request) bool { return !r.PIMStageExpiresAt.IsZero() }

// elevateNeeded is how many of Elevate's own approvals r needs.
func elevateNeeded(r store.Request) int {
	if pimStage(r) {
		return max(r.ApprovalsNeeded-1, 0)
	}
	return r.ApprovalsNeeded
}

// elevateApprovals counts Elevate's own approvals of r, not PIM's.
func elevateApprovals(r store.Request) int {
	n := 0
	for _, ap := range r.Approvals {
		if ap.Decision == string(ActionApprove) && !ap.InPIM {
			n++
		}
	}
	return n
}

// pimStageWords says where PIM's approval stage of r stands.
func (c *Core) pimStageWords(r store.Request) string {
	for _, ap := range r.Approvals {
		if ap.InPIM {
			verb := map[string]string{"approve": "approved", "deny": "denied"}[ap.Decision]
			return fmt.Sprintf("%s by %s at %s", verb, cmpOr(ap.ApproverName, ap.Approver), c.clock(ap.At))
		}
	}
	if pimPending(r) {
		return fmt.Sprintf("waiting for one of PIM's approvers, decided in PIM with their own Microsoft sign-in (expires at %s)", c.clock(r.PIMStageExpiresAt))
	}
	return "not decided in PIM"
}
