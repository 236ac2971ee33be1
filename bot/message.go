package bot

import (
	"context"
	"time"

	"github.com/elevate-pim/elevate/policy"
	"github.com/elevate-pim/elevate/store"
)

// Kind says what a message is for, so a renderer can pick a layout.
type Kind string

const (
	KindText     Kind = "text"     // a plain answer (help, status, roles)
	KindCard     Kind = "card"     // a request card for approvers, updated in place
	KindSignIn   Kind = "sign_in"  // asks the user to sign in
	KindOffer    Kind = "offer"    // a refusal with an offer ("use 2h?")
	KindProgress Kind = "progress" // what is happening to the user's request
	KindResult   Kind = "result"   // the outcome: active, denied, failed, ...
	KindError    Kind = "error"    // the user's input could not be used
	KindAlert    Kind = "alert"    // for the security channel
)

// Action is what a button does when clicked.
type Action string

const (
	ActionApprove  Action = "approve"
	ActionDeny     Action = "deny"
	ActionUseOffer Action = "use_offer"
	ActionCancel   Action = "cancel"
	ActionActivate Action = "activate" // sign in again and activate an approved request
	ActionExtend   Action = "extend"   // extend an active role by an hour (expiry reminder)
	ActionDone     Action = "done"     // end an active role early (expiry reminder)
	ActionOpenURL  Action = "open_url" // a link button; nothing comes back to the core
)

// Style is a hint for how prominent a button is.
type Style string

const (
	StyleDefault Style = ""
	StylePrimary Style = "primary"
	StyleDanger  Style = "danger"
)

// Message is the neutral message model every adapter renders: Block Kit for Slack, an Adaptive
// Card for Teams, plain text for the demo transcript.
type Message struct {
	Kind      Kind
	Title     string
	Text      string
	Fields    []Field
	Buttons   []Button
	Footer    string
	RequestID uint64 // the request this message is about, 0 for none
	// Key identifies a post made from the outbox, so that an adapter with Finder can tell whether
	// a post whose answer was lost went through; empty for direct answers.
	Key string `json:",omitempty"`
}

// Field is a label and its value, shown as a small table on cards.
type Field struct {
	Label, Value string
}

// Button is a clickable action. Value identifies what it acts on (a request id); URL is set for
// ActionOpenURL only.
type Button struct {
	Action Action
	Label  string
	Value  string
	URL    string
	Style  Style
}

// Address says where a message goes. A Private message is seen only by User, in Channel if the
// platform supports it (a Slack ephemeral message) or in a direct message otherwise.
type Address struct {
	Channel string
	User    string
	Private bool
}

// DM addresses a direct message to a platform user.
func DM(user string) Address { return Address{User: user} }

// Messenger is what the core needs from a chat platform. The Slack and Teams adapters implement
// it; the demo implements it as a terminal transcript.
type Messenger interface {
	// Platform names the adapter ("slack", "teams", "demo"); it keys bindings and references.
	Platform() string
	// Send posts m and returns a reference with which it can be updated later.
	Send(ctx context.Context, to Address, m Message) (store.MessageRef, error)
	// Update replaces a message posted earlier, for everyone who sees it.
	Update(ctx context.Context, ref store.MessageRef, m Message) error
}

// Actor is who typed or clicked, as the adapter verified it.
type Actor struct {
	Platform string
	ChatUser string // the platform's stable user id
	Name     string // display name, for messages only
	Channel  string // where the command was typed; empty for a direct message
	// UserID is the Entra object id when the platform itself vouches for it (Teams, after the
	// JWT and tenant are checked). Slack leaves it empty: identity comes from the user's sign-in.
	UserID string
	// EmailHint is the platform's idea of the user's email: used as a login hint, never trusted.
	EmailHint string
}

func (a Actor) reply() Address { return Address{Channel: a.Channel, User: a.ChatUser, Private: true} }

// hm formats a duration the way users type it: 30m, 4h, 1h30m.
func hm(d time.Duration) string { return policy.FormatDuration(d) }

// FormatDuration writes d the way users type it (30m, 4h, 1h30m), for adapters' views.
func FormatDuration(d time.Duration) string { return policy.FormatDuration(d) }
