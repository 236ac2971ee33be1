package teams

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"
)

// The Bot Framework's public cloud values (botframework-connector's AuthenticationConstants).
const (
	DefaultOpenIDMetadataURL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
	BotFrameworkIssuer       = "https://api.botframework.com"
	// leeway is the clock skew the Microsoft SDKs allow on exp and nbf.
	leeway = 5 * time.Minute
	// keysMaxAge is how long fetched keys are used before they are fetched again anyway.
	keysMaxAge = 24 * time.Hour
	// fetchTimeout bounds one fetch of the metadata and key set, whoever is waiting for it.
	fetchTimeout = 15 * time.Second
	// failRetry is how soon a fetch that failed may be tried again (MinRefresh applies to
	// fetches that succeeded: the keys are known, just not this one).
	failRetry = 5 * time.Second
)

// ErrUnauthorized is returned for every token that does not pass; the wrapped detail is for the log.
var ErrUnauthorized = errors.New("teams: unauthorized")

// Validator checks the JWT the Bot Connector sends with every activity (the Bot Framework's
// "connector to bot" authentication): an RSA signature by a key from the OpenID metadata whose
// endorsements include the activity's channel, the issuer, the audience (our app id), the
// expiry with 5 minutes' leeway and the serviceurl claim. It never panics on any input.
//
// Keys are cached; an unknown key id makes it fetch them again (key rotation), at most once per
// MinRefresh so that tokens with made-up key ids cannot turn it into a fetching machine; after a
// failed fetch, again a few seconds later. A fetch runs on its own, with its own timeout: the
// request that started it may give up (its client disconnected) without aborting it, requests
// arriving meanwhile wait for that one fetch, and no lock is held while it runs.
// It implements msbotbuilder-go's auth.TokenValidator, replacing the library's own.
type Validator struct {
	appID       string
	metadataURL string
	issuer      string
	hc          *http.Client
	now         func() time.Time
	minRefresh  time.Duration

	mu       sync.Mutex
	keys     map[string]jwk
	fetched  time.Time  // when keys were fetched, zero for never
	next     time.Time  // no fetch for an unknown key id before this
	failed   error      // why the last fetch failed, nil when it succeeded
	fetching *fetchCall // the fetch running now, if any
}

// fetchCall is one fetch of the key set; done is closed when it has finished, err set before.
type fetchCall struct {
	done chan struct{}
	err  error
}

type jwk struct {
	key          *rsa.PublicKey
	endorsements []string
}

// ValidatorOptions configure a Validator. AppID is required.
type ValidatorOptions struct {
	AppID       string
	MetadataURL string // DefaultOpenIDMetadataURL when empty
	Issuer      string // BotFrameworkIssuer when empty
	HTTPClient  *http.Client
	Now         func() time.Time
	// MinRefresh is the least time between two key fetches caused by an unknown key id
	// (default one minute).
	MinRefresh time.Duration
}

// NewValidator returns a Validator; it refuses an empty app id, with which msbotbuilder-go's own
// validator would accept any request.
func NewValidator(o ValidatorOptions) (*Validator, error) {
	if strings.TrimSpace(o.AppID) == "" {
		return nil, errors.New("teams: the bot's app id (MICROSOFT_APP_ID) is required")
	}
	v := &Validator{appID: o.AppID, metadataURL: o.MetadataURL, issuer: o.Issuer, hc: o.HTTPClient, now: o.Now, minRefresh: o.MinRefresh}
	if v.metadataURL == "" {
		v.metadataURL = DefaultOpenIDMetadataURL
	}
	if v.issuer == "" {
		v.issuer = BotFrameworkIssuer
	}
	if v.hc == nil {
		v.hc = &http.Client{Timeout: 10 * time.Second}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.minRefresh == 0 {
		v.minRefresh = time.Minute
	}
	return v, nil
}

// Claims are the validated token's claims that matter to us.
type Claims struct {
	jwt.RegisteredClaims
	ServiceURL string `json:"serviceurl"`
}

// Validate checks authHeader ("Bearer <jwt>") for an activity from channelID with serviceURL.
func (v *Validator) Validate(ctx context.Context, authHeader, serviceURL, channelID string) (c *Claims, err error) {
	defer func() {
		// The parser is not ours; whatever it does with a hostile token, we answer 401.
		if p := recover(); p != nil {
			c, err = nil, fmt.Errorf("%w: token made the parser panic: %v", ErrUnauthorized, p)
		}
	}()
	raw, ok := strings.CutPrefix(authHeader, "Bearer ")
	if !ok || raw == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrUnauthorized)
	}
	if len(raw) > 16<<10 {
		return nil, fmt.Errorf("%w: token too long", ErrUnauthorized)
	}
	claims := &Claims{}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512"}),
		jwt.WithLeeway(leeway),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.appID),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(v.now),
	)
	_, err = p.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no key id")
		}
		k, err := v.key(ctx, kid)
		if err != nil {
			return nil, err
		}
		// The key must be endorsed for the channel the activity claims to come from.
		if channelID == "" || !slices.Contains(k.endorsements, channelID) {
			return nil, fmt.Errorf("key %s is not endorsed for channel %q", kid, channelID)
		}
		return k.key, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if claims.ServiceURL == "" || claims.ServiceURL != serviceURL {
		return nil, fmt.Errorf("%w: serviceurl claim %q does not match the activity's %q", ErrUnauthorized, claims.ServiceURL, serviceURL)
	}
	return claims, nil
}

// AuthenticateRequest is msbotbuilder-go's auth.TokenValidator: our checks, its interface.
func (v *Validator) AuthenticateRequest(ctx context.Context, act schema.Activity, authHeader string, _ auth.CredentialProvider, _ string) (auth.ClaimsIdentity, error) {
	c, err := v.Validate(ctx, authHeader, act.ServiceURL, act.ChannelID)
	if err != nil {
		return nil, err
	}
	return identity{c}, nil
}

// identity is a ClaimsIdentity that answers "" for a claim it does not have, where the
// library's DefaultClaimIdentity panics.
type identity struct{ c *Claims }

func (i identity) GetClaimValue(name string) string {
	switch name {
	case "iss":
		return i.c.Issuer
	case "aud":
		if len(i.c.Audience) > 0 {
			return i.c.Audience[0]
		}
	case "serviceurl":
		return i.c.ServiceURL
	}
	return ""
}

func (identity) IsAuthenticated() bool { return true }

// key returns the key with id kid, fetching the keys when they are stale or do not have it.
func (v *Validator) key(ctx context.Context, kid string) (jwk, error) {
	var waited *fetchCall
	for {
		v.mu.Lock()
		now := v.now()
		k, ok := v.keys[kid]
		stale := v.fetched.IsZero() || now.Sub(v.fetched) > keysMaxAge
		if ok && !stale {
			v.mu.Unlock()
			return k, nil
		}
		call := v.fetching
		if call == nil {
			if waited != nil || now.Before(v.next) {
				// A fetch just ran (ours, or one less than MinRefresh ago) and did not bring kid.
				v.mu.Unlock()
				switch {
				case ok:
					return k, nil // stale, but newer ones could not be fetched
				case waited != nil && waited.err != nil:
					return jwk{}, fmt.Errorf("fetching signing keys: %w", waited.err)
				case waited != nil:
					return jwk{}, fmt.Errorf("unknown key id %q", kid)
				case v.failed != nil:
					return jwk{}, fmt.Errorf("signing keys unavailable (the last fetch failed, retried after %s): %w", failRetry, v.failed)
				}
				return jwk{}, fmt.Errorf("unknown key id %q (keys were fetched less than %s ago)", kid, v.minRefresh)
			}
			call = &fetchCall{done: make(chan struct{})}
			v.fetching = call
			go v.refresh(call)
		}
		v.mu.Unlock()
		select {
		case <-call.done:
			waited = call
		case <-ctx.Done():
			// The fetch goes on for the requests after this one.
			if ok {
				return k, nil
			}
			return jwk{}, fmt.Errorf("waiting for signing keys: %w", ctx.Err())
		}
	}
}

// refresh fetches the keys for call, with its own context and timeout, and installs them.
func (v *Validator) refresh(call *fetchCall) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	keys, err := func() (keys map[string]jwk, err error) {
		defer func() {
			// Nobody's request recovers this goroutine: a panic would end the process.
			if p := recover(); p != nil {
				keys, err = nil, fmt.Errorf("key fetch panicked: %v", p)
			}
		}()
		return v.fetch(ctx)
	}()
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	if err != nil {
		v.next = now.Add(min(failRetry, v.minRefresh))
	} else {
		v.keys, v.fetched, v.next = keys, now, now.Add(v.minRefresh)
	}
	v.failed = err
	call.err = err
	v.fetching = nil
	close(call.done)
}

// fetch reads the OpenID metadata and the key set it points to.
func (v *Validator) fetch(ctx context.Context) (map[string]jwk, error) {
	var meta struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := v.getJSON(ctx, v.metadataURL, &meta); err != nil {
		return nil, fmt.Errorf("openid metadata: %w", err)
	}
	if meta.JWKSURI == "" {
		return nil, errors.New("openid metadata has no jwks_uri")
	}
	var set struct {
		Keys []struct {
			Kty          string   `json:"kty"`
			Kid          string   `json:"kid"`
			N            string   `json:"n"`
			E            string   `json:"e"`
			Endorsements []string `json:"endorsements"`
		} `json:"keys"`
	}
	if err := v.getJSON(ctx, meta.JWKSURI, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	keys := map[string]jwk{}
	for _, k := range set.Keys {
		if k.Kty != "RSA" || k.Kid == "" {
			continue
		}
		pub, err := rsaKey(k.N, k.E)
		if err != nil {
			continue // one bad key must not cost us the others
		}
		keys[k.Kid] = jwk{key: pub, endorsements: k.Endorsements}
	}
	if len(keys) == 0 {
		return nil, errors.New("key set has no usable RSA keys")
	}
	return keys, nil
}

func (v *Validator) getJSON(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(into)
}

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(n, "="))
	if err != nil {
		return nil, err
	}
	eb, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(e, "="))
	if err != nil {
		return nil, err
	}
	if len(nb) < 256 || len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("rsa key too small or exponent malformed")
	}
	exp := 0
	for _, b := range eb {
		exp = exp<<8 | int(b)
	}
	if exp < 3 {
		return nil, errors.New("rsa exponent too small")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: exp}, nil
}
