package bot

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"

	"github.com/elevate-pim/elevate/graph"
	"github.com/elevate-pim/elevate/store"
)

// signInTTL is how long a sign-in link stays valid.
const signInTTL = 10 * time.Minute

type purpose int

const (
	forRequest  purpose = iota + 1 // sign in to activate request
	forApproval                    // sign in to approve or deny request
	forClick                       // sign in, then the click (decision, value, reason) runs again
)

// pendingSignIn is what a sign-in link's state stands for until the callback arrives. It lives in
// memory only: after a restart the user gets a new link and nothing else is lost.
type pendingSignIn struct {
	purpose   purpose
	scopes    []string // the delegated permissions the sign-in asks for (scopesFor)
	requestID uint64
	actor     Actor
	verifier  string
	claims    string
	decision  Action // forApproval: approve or deny; forClick: the button's action
	value     string // forClick: the button's value
	reason    string
	created   time.Time
}

type signInBook struct {
	now   func() time.Time
	mu    sync.Mutex
	m     map[string]pendingSignIn
	order []string // states in the order added: links expire in the same order
}

func newSignInBook(now func() time.Time) *signInBook {
	return &signInBook{now: now, m: map[string]pendingSignIn{}}
}

// add stores p and returns the state and PKCE challenge that go into the sign-in URL.
func (b *signInBook) add(p pendingSignIn) (state, challenge string) {
	state, p.verifier = randomString(), randomString()
	now := b.now()
	p.created = now
	sum := sha256.Sum256([]byte(p.verifier))
	challenge = base64.RawURLEncoding.EncodeToString(sum[:])
	b.mu.Lock()
	defer b.mu.Unlock()
	// Drop stale links from the front, so the book cannot grow without bound; each add does
	// only the work of the links that expired since the last one.
	for len(b.order) > 0 {
		old, ok := b.m[b.order[0]]
		if ok && now.Sub(old.created) <= signInTTL {
			break
		}
		delete(b.m, b.order[0])
		b.order = b.order[1:]
	}
	b.m[state] = p
	b.order = append(b.order, state)
	return state, challenge
}

// peek returns the sign-in for state without using it up.
func (b *signInBook) peek(state string) (pendingSignIn, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.m[state]
	if !ok || b.now().Sub(p.created) > signInTTL {
		return pendingSignIn{}, false
	}
	return p, true
}

// take returns and forgets the sign-in for state: each link works once.
func (b *signInBook) take(state string) (pendingSignIn, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.m[state]
	delete(b.m, state) // its entry in order is skipped when it reaches the front
	if !ok || b.now().Sub(p.created) > signInTTL {
		return pendingSignIn{}, false
	}
	return p, true
}

func randomString() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("bot: crypto/rand failed: " + err.Error()) // documented never to fail
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// heldToken is a user's delegated Graph token, held in memory only and only while fresh.
type heldToken struct {
	tok       graph.UserToken
	signedIn  time.Time
	requestID uint64 // the request the sign-in was made for (tier-0 needs one per request)
}

// tokenKey is whose a held token is: the chat account whose sign-in produced it and the Entra
// user it is for. A token is never used for another chat account, even one bound to the same
// Entra user (a second chat account must not borrow the first one's sign-in).
type tokenKey struct{ platform, chatUser, userID string }

func keyOf(a Actor, userID string) tokenKey { return tokenKey{a.Platform, a.ChatUser, userID} }

// requesterKey is the key of r's requester's tokens.
func requesterKey(r store.Request) tokenKey { return tokenKey{r.Platform, r.ChatUser, r.UserID} }

type tokenBook struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[tokenKey]heldToken
}

func newTokenBook(now func() time.Time) *tokenBook {
	return &tokenBook{now: now, m: map[tokenKey]heldToken{}}
}

func (b *tokenBook) put(k tokenKey, t heldToken) {
	if k.platform == "" || k.chatUser == "" || k.userID == "" || k.userID != t.tok.UserID {
		return // a token nobody can be sure is theirs is not kept
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[k] = t
}

// fresh returns k's token if it was obtained within window, is still valid and carries the
// delegated permission scope (any token when ""). When forRequest is non-zero the sign-in must
// have been made for that request (tier-0 roles).
func (b *tokenBook) fresh(k tokenKey, window time.Duration, forRequest uint64, scope string) (graph.UserToken, bool) {
	if k.userID == "" {
		return graph.UserToken{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.m[k]
	if !ok {
		return graph.UserToken{}, false
	}
	now := b.now()
	if !t.tok.ExpiresOn.IsZero() && !now.Before(t.tok.ExpiresOn.Add(-time.Minute)) {
		delete(b.m, k)
		return graph.UserToken{}, false
	}
	if now.Sub(t.signedIn) > window {
		return graph.UserToken{}, false
	}
	if forRequest != 0 && t.requestID != forRequest {
		return graph.UserToken{}, false
	}
	if scope != "" && !t.tok.Has(scope) {
		return graph.UserToken{}, false // incremental consent: this action needs another sign-in
	}
	return t.tok, true
}

func (b *tokenBook) drop(k tokenKey) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, k)
}

// dropChatUser forgets every token a chat account holds (its binding changed).
func (b *tokenBook) dropChatUser(platform, chatUser string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.m {
		if k.platform == platform && k.chatUser == chatUser {
			delete(b.m, k)
		}
	}
}

func (b *tokenBook) clear() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.m)
}
