package teams_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
)

const (
	appID    = "b07e0000-0000-4000-8000-0000000000b1"
	secret   = "bot-secret"
	tenantID = "7c3a0000-0000-4000-8000-00000000c0de"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newValidator(t *testing.T, fake *teamstest.Server, now func() time.Time) *teams.Validator {
	t.Helper()
	v, err := teams.NewValidator(teams.ValidatorOptions{AppID: appID, MetadataURL: fake.MetadataURL(), Now: now, HTTPClient: fake.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newFake(t *testing.T) *teamstest.Server {
	t.Helper()
	f := teamstest.New(teamstest.Options{AppID: appID, AppSecret: secret, TenantID: tenantID})
	t.Cleanup(f.Close)
	return f
}

func TestValidatorRefusesEmptyAppID(t *testing.T) {
	if _, err := teams.NewValidator(teams.ValidatorOptions{AppID: " "}); err == nil {
		t.Fatal("a validator without app id was made; msbotbuilder-go's would accept any request")
	}
}

func TestValidate(t *testing.T) {
	fake := newFake(t)
	su := fake.ServiceURL()
	key := fake.SigningKey()
	forger := fake.UnpublishedKey("key-1") // same kid as the real key, different secret
	stranger := fake.UnpublishedKey("key-x", "msteams")
	skype := fake.UnpublishedKey("key-skype", "skype")
	fake.Publish(skype)
	with := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := fake.Claims(su)
		edit(c)
		return c
	}
	now := time.Now()
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, fake.Claims(su))
	hs.Header["kid"] = key.ID
	hsToken, _ := hs.SignedString([]byte("guess"))
	none := jwt.NewWithClaims(jwt.SigningMethodNone, fake.Claims(su))
	none.Header["kid"] = key.ID
	noneToken, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)

	tests := []struct {
		name    string
		header  string
		service string
		channel string
		ok      bool
	}{
		{"valid", "Bearer " + teamstest.Sign(key, fake.Claims(su)), su, "msteams", true},
		{"expired a minute ago (within leeway)", "Bearer " + teamstest.Sign(key, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() })), su, "msteams", true},
		{"expired", "Bearer " + teamstest.Sign(key, with(func(c jwt.MapClaims) { c["exp"] = now.Add(-6 * time.Minute).Unix() })), su, "msteams", false},
		{"not yet valid", "Bearer " + teamstest.Sign(key, with(func(c jwt.MapClaims) { c["nbf"] = now.Add(10 * time.Minute).Unix() })), su, "msteams", false},
		{"no expiry", "Bearer " + teamstest.Sign(key, with(func(c jwt.MapClaims) { delete(c, "exp") })), su, "msteams", false},
		{"forged (same kid, other key)", "Bearer " + teamstest.Sign(forger, fake.Claims(su)), su, "msteams", false},
		{"unknown kid", "Bearer " + teamstest.Sign(stranger, fake.Claims(su)), su, "msteams", false},
		{"wrong audience", "Bearer " + teamstest.Sign(key, with(func(c jwt.MapClaims) { c["aud"] = "another-bot" })), su, "msteams", false},
		{"no audience", "Bearer " + teamstest.Sign(key, with(func(c jwt.MapClaims) { delete(c, "aud") })), su, "msteams", false},
		{"wrong issuer", "Bearer " + teamstest.Sign(key, with(func(c jwt.MapClaims) { c["iss"] = "https://sts.windows.net/" + tenantID + "/" })), su, "msteams", false},
		{"wrong serviceurl", "Bearer " + teamstest.Sign(key, with(func(c jwt.MapClaims) { c["serviceurl"] = "https://evil.example/" })), su, "msteams", false},
		{"no serviceurl", "Bearer " + teamstest.Sign(key, with(func(c jwt.MapClaims) { delete(c, "serviceurl") })), su, "msteams", false},
		{"serviceurl not a string", "Bearer " + teamstest.Sign(key, with(func(c jwt.MapClaims) { c["serviceurl"] = 42 })), su, "msteams", false},
		{"no claims at all", "Bearer " + teamstest.Sign(key, jwt.MapClaims{}), su, "msteams", false},
		{"claims of the wrong types", "Bearer " + teamstest.Sign(key, jwt.MapClaims{"iss": 1, "aud": []int{1}, "exp": "soon", "serviceurl": nil}), su, "msteams", false},
		{"key not endorsed for the channel", "Bearer " + teamstest.Sign(skype, fake.Claims(su)), su, "msteams", false},
		{"no channel", "Bearer " + teamstest.Sign(key, fake.Claims(su)), su, "", false},
		{"HS256 (alg confusion)", "Bearer " + hsToken, su, "msteams", false},
		{"alg none", "Bearer " + noneToken, su, "msteams", false},
		{"no Bearer", teamstest.Sign(key, fake.Claims(su)), su, "msteams", false},
		{"empty", "", su, "msteams", false},
		{"garbage", "Bearer not-a-jwt", su, "msteams", false},
		{"three dots", "Bearer ...", su, "msteams", false},
		{"bad base64", "Bearer e30.e30.!!!", su, "msteams", false},
		{"header not an object", "Bearer WzFd.e30.c2ln", su, "msteams", false},
		{"kid not a string", "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.e30.c2ln", su, "msteams", false},
	}
	v := newValidator(t, fake, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Validate(context.Background(), tt.header, tt.service, tt.channel)
			if got := err == nil; got != tt.ok {
				t.Fatalf("Validate: err = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, teams.ErrUnauthorized) {
				t.Errorf("error %v is not ErrUnauthorized", err)
			}
			if err == nil && c.ServiceURL != su {
				t.Errorf("claims serviceurl %q", c.ServiceURL)
			}
		})
	}
}

// TestKeyRotation: a token signed with a key the cached set lacks makes the validator fetch
// the keys again, but not more than once per MinRefresh.
func TestKeyRotation(t *testing.T) {
	fake := newFake(t)
	clock := &fakeClock{t: time.Now()}
	var fetches atomic.Int32
	v, err := teams.NewValidator(teams.ValidatorOptions{AppID: appID, MetadataURL: fake.MetadataURL(), Now: clock.Now, MinRefresh: time.Minute,
		HTTPClient: countingClient(&fetches, fake)})
	if err != nil {
		t.Fatal(err)
	}
	su := fake.ServiceURL()
	ok := func(t *testing.T, key *teamstest.Key, want bool) {
		t.Helper()
		_, err := v.Validate(context.Background(), "Bearer "+teamstest.Sign(key, fake.Claims(su)), su, "msteams")
		if (err == nil) != want {
			t.Fatalf("err = %v, want ok=%v", err, want)
		}
	}
	old := fake.SigningKey()
	ok(t, old, true)
	ok(t, old, true)
	if n := fetches.Load(); n != 2 { // metadata + key set, once
		t.Fatalf("%d fetches for two tokens, want 2 (one metadata, one key set)", n)
	}
	next := fake.UnpublishedKey("key-2", "msteams")
	ok(t, next, false) // keys fetched less than MinRefresh ago: no new fetch
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want still 2", n)
	}
	clock.Advance(2 * time.Minute)
	ok(t, next, false) // fetched again, still unknown
	ok(t, next, false) // rate-limited
	if n := fetches.Load(); n != 4 {
		t.Fatalf("%d fetches, want 4", n)
	}
	fake.Publish(next)
	ok(t, next, false) // still rate-limited
	clock.Advance(2 * time.Minute)
	ok(t, next, true) // the rotated key is picked up
	ok(t, old, true)
	fake.RotateKey()
	clock.Advance(25 * time.Hour) // keys are refetched a day later anyway
	ok(t, old, false)
}

func TestValidateConcurrent(t *testing.T) {
	fake := newFake(t)
	v := newValidator(t, fake, nil)
	su := fake.ServiceURL()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fake.SigningKey()
			if i%2 == 1 {
				key = fake.UnpublishedKey("nope", "msteams")
			}
			_, err := v.Validate(context.Background(), "Bearer "+teamstest.Sign(key, fake.Claims(su)), su, "msteams")
			if (err == nil) != (i%2 == 0) {
				t.Errorf("token %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

func FuzzValidate(f *testing.F) {
	fake := teamstest.New(teamstest.Options{AppID: appID, AppSecret: secret, TenantID: tenantID})
	defer fake.Close()
	su := fake.ServiceURL()
	v, err := teams.NewValidator(teams.ValidatorOptions{AppID: appID, MetadataURL: fake.MetadataURL(), MinRefresh: time.Hour, HTTPClient: fake.Client()})
	if err != nil {
		f.Fatal(err)
	}
	good := fake.Token(su)
	f.Add("Bearer "+good, su)
	f.Add("Bearer "+good[:len(good)-3], su)
	f.Add("Bearer "+strings.Replace(good, ".", "..", 1), su)
	f.Add("Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImtleS0xIn0.e30.", su)
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJzZXJ2aWNldXJsIjpudWxsfQ.", "")
	f.Fuzz(func(t *testing.T, header, serviceURL string) {
		c, err := v.Validate(context.Background(), header, serviceURL, "msteams")
		if err == nil && (header != "Bearer "+good || serviceURL != su || c == nil) {
			t.Fatalf("accepted %q for %q", header, serviceURL)
		}
	})
}
