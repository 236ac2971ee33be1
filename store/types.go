package store

import (
	"fmt"
	"time"
)

// State is where a request is in its lifecycle (DESIGN §3).
type State string

// The lifecycle: received → (awaiting sign-in) → (awaiting approval) →
// activating → active → ended, with the side exits denied, expired, cancelled
// and failed.
const (
	StateReceived         State = "received"
	StateAwaitingSignIn   State = "awaiting_sign_in"
	StateAwaitingApproval State = "awaiting_approval"
	StateActivating       State = "activating"
	StateActive           State = "active"
	StateEnded            State = "ended"
	StateDenied           State = "denied"
	StateExpired          State = "expired"
	StateCancelled        State = "cancelled"
	StateFailed           State = "failed"
)

// Terminal reports whether the request is over: nothing more will happen to it
// and it no longer counts as open.
func (s State) Terminal() bool {
	switch s {
	case StateEnded, StateDenied, StateExpired, StateCancelled, StateFailed:
		return true
	}
	return false
}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	switch s {
	case StateReceived, StateAwaitingSignIn, StateAwaitingApproval, StateActivating, StateActive,
		StateEnded, StateDenied, StateExpired, StateCancelled, StateFailed:
		return true
	}
	return false
}

// Request is one elevation request, from the chat command to its end.
type Request struct {
	ID uint64 `json:"id"`

	// Where it came from.
	Platform string `json:"platform,omitempty"`
	ChatUser string `json:"chat_user,omitempty"`
	ChatName string `json:"chat_name,omitempty"`
	Channel  string `json:"channel,omitempty"`
	// LoginHint is the chat platform's idea of the user's email: prefilled on the sign-in page,
	// never an identity.
	LoginHint string `json:"login_hint,omitempty"`

	// The Entra user; empty until the chat user is bound.
	UserID string `json:"user_id,omitempty"`
	UPN    string `json:"upn,omitempty"`

	RoleID        string        `json:"role_id,omitempty"`
	RoleName      string        `json:"role_name,omitempty"`
	Duration      time.Duration `json:"duration,omitempty"`
	Justification string        `json:"justification,omitempty"`
	Ticket        string        `json:"ticket,omitempty"`

	State           State      `json:"state"`
	ApprovalsNeeded int        `json:"approvals_needed,omitempty"`
	Approvals       []Approval `json:"approvals,omitempty"`
	// Reminders is how many of the role's reminder points have passed for this request,
	// RemindedAt when approvers were last reminded, EscalatedAt when it was escalated.
	Reminders   int       `json:"reminders,omitempty"`
	RemindedAt  time.Time `json:"reminded_at,omitzero"`
	EscalatedAt time.Time `json:"escalated_at,omitzero"`
	// Waived says why no approver was needed ("alice is on call for … (PagerDuty schedule
	// P123ABC)"); OnCallNote why an on-call waiver did not apply, for the approvers' card.
	Waived     string `json:"waived,omitempty"`
	OnCallNote string `json:"on_call_note,omitempty"`

	CreatedAt   time.Time `json:"created_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	EndsAt      time.Time `json:"ends_at,omitzero"`
	// OfferedAt is when the requester was offered another duration (queued in the same
	// transaction); a received request with it set waits for their answer.
	OfferedAt time.Time `json:"offered_at,omitzero"`

	// Write is the PIM write in flight for this request, if any: committed before it is sent,
	// cleared when PIM's answer (or a look at PIM) says what became of it.
	Write *Write `json:"write,omitempty"`

	GraphRequestID string `json:"graph_request_id,omitempty"`
	GraphStatus    string `json:"graph_status,omitempty"`
	FailureCode    string `json:"failure_code,omitempty"`
	FailureMessage string `json:"failure_message,omitempty"`

	// PIMStageExpiresAt is when PIM's own approval stage for this request expires; zero when PIM
	// did not ask for approval. Elevate's approvals and PIM's stage are separate steps.
	PIMStageExpiresAt time.Time `json:"pim_stage_expires_at,omitzero"`

	// Extension is what `extend` added to this activation, stored with the request so that the
	// consent, the follow-up activation's intent and its outcome share the request's transactions.
	Extension *Extension `json:"extension,omitempty"`

	// Group is the id of the first request of a multi-role request ("exchange,sharepoint 4h …"),
	// on each of its items (the first included); GroupSize is how many items it has. Zero for a
	// request for one role. See doc.go and multi.go.
	Group     uint64 `json:"group,omitempty"`
	GroupSize int    `json:"group_size,omitempty"`

	// Version is 1 after CreateRequest and incremented by every write.
	Version uint64 `json:"version"`
}

// Extension is an activation's extension. PIM refuses a second activation of a role while one
// is running (RoleAssignmentExists), so Elevate activates the role again when the current one
// ends: the requester's consent (By, ConsentAt) is stored at `extend` time, and the follow-up
// activation's intent (Write, action WriteExtend) is committed before the PIM write is sent.
type Extension struct {
	Used      time.Duration `json:"used,omitempty"`      // extension budget spent on this request
	By        time.Duration `json:"by,omitempty"`        // the follow-up waiting for the current end (0: none)
	ConsentAt time.Time     `json:"consent_at,omitzero"` // when the requester asked for it
	AskedAt   time.Time     `json:"asked_at,omitzero"`   // when the requester was sent a sign-in link for it
	Requests  []string      `json:"requests,omitempty"`  // PIM request ids of the follow-ups Elevate made
	// Withdrawn are PIM request ids of follow-ups scheduled by Elevate versions before Extension
	// (kept in a store cursor) that `done` withdrew in PIM.
	Withdrawn []string `json:"withdrawn,omitempty"`
}

// Write is a PIM write Elevate has committed to make for a request: its intent, stored (with its
// audit record) before the write is sent, so that after a crash, a lost answer or a timeout the
// write can be found in PIM and the request moved to what PIM says. The principal and the role
// or group are the request's; the rest of what identifies the write is here.
type Write struct {
	Action string    `json:"action"` // WriteActivate, WriteDeactivate, …
	At     time.Time `json:"at"`     // when the intent was committed: PIM's record of the write is no older
	// Start is the schedule start sent with an activation (PIM's instance starts then).
	Start time.Time `json:"start,omitzero"`
	// Target is the PIM request the write acts on (approve, deny, cancel).
	Target string `json:"target,omitempty"`
	// By is the Entra user whose delegated token makes the write; ByPlatform and ByChatUser
	// are where to tell them (an approver), when it is not the requester.
	By         string `json:"by,omitempty"`
	ByPlatform string `json:"by_platform,omitempty"`
	ByChatUser string `json:"by_chat_user,omitempty"`
	Reason     string `json:"reason,omitempty"` // the justification sent (approve, deny)

	Attempts int  `json:"attempts,omitempty"` // writes sent so far
	Unknown  bool `json:"unknown,omitempty"`  // a write was sent and nothing says whether PIM took it
	// Retry is when to look at PIM (and, if nothing is there, write) again.
	Retry time.Time `json:"retry,omitzero"`
	Told  bool      `json:"told,omitempty"` // the user was told the write is being retried
}

// Write actions.
const (
	WriteActivate   = "activate"   // selfActivate (directory role or group membership)
	WriteDeactivate = "deactivate" // selfDeactivate (`done`)
	WriteApprove    = "approve"    // PIM's own approval step, approved with the approver's token
	WriteDeny       = "deny"       // … denied
	WriteCancel     = "cancel"     // a request pending in PIM withdrawn by its requester
	WriteExtend     = "extend"     // a follow-up activation (`extend`)
)

// Approval is one approver's decision on a request.
type Approval struct {
	Approver     string    `json:"approver"` // Entra object id
	ApproverName string    `json:"approver_name,omitempty"`
	Platform     string    `json:"platform,omitempty"`
	ChatUser     string    `json:"chat_user,omitempty"`
	Decision     string    `json:"decision"` // "approve" or "deny"
	Reason       string    `json:"reason,omitempty"`
	At           time.Time `json:"at,omitzero"`
	// InPIM marks a decision on PIM's own approval stage (made in PIM with the approver's
	// token), apart from Elevate's approvals.
	InPIM bool `json:"in_pim,omitempty"`
}

// MessageRef points at a chat message that shows a request (the approvals
// channel card, the requester's DM, …) so it can be updated later.
type MessageRef struct {
	Platform  string    `json:"platform"`
	Channel   string    `json:"channel"`
	MessageID string    `json:"message_id"`
	Kind      string    `json:"kind,omitempty"`
	At        time.Time `json:"at,omitzero"`
}

// Binding ties a chat user to the Entra user who signed in from it.
type Binding struct {
	Platform string    `json:"platform"`
	ChatUser string    `json:"chat_user"`
	UserID   string    `json:"user_id"`
	UPN      string    `json:"upn,omitempty"`
	BoundAt  time.Time `json:"bound_at,omitzero"`
}

// Filter selects requests. Empty fields match everything; all set fields must
// match. Queries by Platform (+ChatUser), by UserID or for open requests use an
// index; anything else scans all requests.
type Filter struct {
	Platform string
	ChatUser string
	UserID   string
	States   []State // any of these
	OpenOnly bool    // non-terminal states only
}

// normalize puts every time in UTC without a monotonic reading, so that what
// is stored compares equal to what is read back.
func (r *Request) normalize() {
	for _, t := range []*time.Time{&r.CreatedAt, &r.UpdatedAt, &r.ExpiresAt, &r.ActivatedAt, &r.EndsAt, &r.OfferedAt, &r.RemindedAt, &r.EscalatedAt, &r.PIMStageExpiresAt} {
		*t = utc(*t)
	}
	for i := range r.Approvals {
		r.Approvals[i].At = utc(r.Approvals[i].At)
	}
	if e := r.Extension; e != nil {
		e.ConsentAt, e.AskedAt = utc(e.ConsentAt), utc(e.AskedAt)
	}
	if w := r.Write; w != nil {
		w.At, w.Start, w.Retry = utc(w.At), utc(w.Start), utc(w.Retry)
	}
}

func (r *Request) validate() error {
	if !r.State.Valid() {
		return fmt.Errorf("store: request %d: unknown state %q", r.ID, r.State)
	}
	return nil
}

// utc drops the monotonic reading and the zone; the zero time stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
