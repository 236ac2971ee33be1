// Package bot is Elevate's conversation core: it turns what a chat user typed or clicked into
// requests, drives each request through its lifecycle (DESIGN §3) and answers through a neutral
// message model that each chat adapter renders.
//
// The lifecycle is a state machine persisted in the store:
//
//	received ─▶ awaiting_sign_in ─▶ awaiting_approval ─▶ activating ─▶ active ─▶ ended
//	    │              │                    │                 │
//	    └──────────────┴──── cancelled, expired, denied ──────┴──▶ failed
//
// Every transition is one store transaction with one audit record, and every handler is
// idempotent: a double click, a replayed request or a restart activates a request at most once.
// Activations are always the requesting user's own PIM selfActivate, made with the delegated token
// from their own sign-in; tokens live in memory only.
//
// Chat platforms plug in through Messenger; the core never imports a chat SDK.
package bot
