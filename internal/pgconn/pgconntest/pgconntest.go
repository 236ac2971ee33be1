// Package pgconntest gives tests a token credential for Microsoft Entra authentication to
// PostgreSQL that they control: the token it returns, or an error, and how often it was asked.
// With internal/pgtest's Role (a role whose password is the token) it stands in for Azure
// Database for PostgreSQL checking a managed identity's token.
package pgconntest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/elevate-pim/elevate/internal/pgconn"
)

// Credential is an azcore.TokenCredential that returns its current token for pgconn.Scope and
// refuses any other scope, as a credential asked for the wrong resource's token would be useless.
type Credential struct {
	mu    sync.Mutex
	token string
	err   error
	calls int
}

// New returns a credential that returns token.
func New(token string) *Credential { return &Credential{token: token} }

// Set makes the credential return token from now on.
func (c *Credential) Set(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.err = token, nil
}

// Fail makes the credential return err from now on.
func (c *Credential) Fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// Calls is how many tokens were asked for.
func (c *Credential) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// GetToken implements azcore.TokenCredential.
func (c *Credential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if len(opts.Scopes) != 1 || opts.Scopes[0] != pgconn.Scope {
		return azcore.AccessToken{}, fmt.Errorf("pgconntest: token asked for %v, want [%s]", opts.Scopes, pgconn.Scope)
	}
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// Token returns a new random token shaped like an Entra access token (three base64url parts,
// about as long), so that a test sees what a real one's length and alphabet do.
func Token() string {
	part := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + part(900) + "." + part(256)
}
