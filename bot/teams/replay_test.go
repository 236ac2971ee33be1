package teams_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/elevate-pim/elevate/bot"
	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/store"
)

// connectorTrap stands in for a connector someone else runs: it counts what reaches it.
func connectorTrap(t *testing.T, tls bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"1","access_token":"x","expires_in":3600}`))
	})
	var srv *httptest.Server
	if tls {
		srv = httptest.NewTLSServer(h) // the same certificate as the fake's: the adapter trusts it
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestServiceURLOffAllowlist: a validly signed activity whose serviceUrl is not https on an
// allowed host is refused: no conversation reference changes, and neither the reply nor the
// bot's token goes anywhere. A reference stored with such a URL (before the allowlist) is never
// written to either.
func TestServiceURLOffAllowlist(t *testing.T) {
	w := startWorld(t)
	p := platform{w}
	p.Type(t, "alice", "status")
	w.settle()
	trap, hits := connectorTrap(t, true)
	plain, plainHits := connectorTrap(t, false)
	before, err := w.Store.Conversations(teams.Platform)
	if err != nil {
		t.Fatal(err)
	}
	tokens, calls := w.fake.TokenCalls(), len(w.fake.Requests())

	for _, su := range []string{trap.URL + "/amer/", plain.URL + "/amer/", "http://" + w.fake.Host() + "/amer/"} {
		act := w.activity(map[string]any{"type": "message", "text": "status", "from": w.from("alice"),
			"conversation": w.personal("alice"), "channelData": w.tenantData()})
		act["serviceUrl"] = su // and the token's serviceurl claim: signed as the Bot Connector signs
		status, body, err := w.fake.Deliver(w.endpoint, act)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusForbidden {
			t.Errorf("serviceUrl %s: status %d, want 403: %s", su, status, body)
		}
	}
	w.settle()
	after, err := w.Store.Conversations(teams.Platform)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, after, cmpopts.IgnoreFields(store.Conversation{}, "UpdatedAt")); d != "" {
		t.Errorf("conversation references changed (-before +after):\n%s", d)
	}
	if n := hits.Load() + plainHits.Load(); n != 0 {
		t.Errorf("%d requests reached the other connectors, want 0", n)
	}
	if n := w.fake.TokenCalls(); n != tokens {
		t.Errorf("%d token requests after the refused activities, want %d", n, tokens)
	}
	if n := len(w.fake.Requests()); n != calls {
		t.Errorf("%d connector calls after the refused activities, want %d", n, calls)
	}

	// A reference kept before the allowlist existed: nothing is sent to it.
	if err := w.Store.PutConversation(store.Conversation{Platform: teams.Platform, Key: "user:" + chatID("dave"), ServiceURL: trap.URL + "/amer/",
		TenantID: w.tenant, Type: "personal", UserID: chatID("dave")}); err != nil {
		t.Fatal(err)
	}
	_, err = w.adapter.Send(context.Background(), bot.Address{User: chatID("dave"), Private: true}, bot.Message{Text: "hello"})
	if !errors.Is(err, teams.ErrServiceURL) {
		t.Errorf("sending on a stored reference off the allowlist: %v, want ErrServiceURL", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests reached the other connector, want 0", n)
	}
}

// TestCreatedConversationServiceURL: a createConversation answer naming a service URL off the
// allowlist is not kept: the direct message goes on the reference Teams gave in a validated
// activity.
func TestCreatedConversationServiceURL(t *testing.T) {
	w := startWorld(t)
	trap, hits := connectorTrap(t, true)
	w.fake.AnswerServiceURL(trap.URL + "/amer/")
	if _, err := w.adapter.Send(context.Background(), bot.Address{User: chatID("dave"), Private: true}, bot.Message{Text: "hello dave"}); err != nil {
		t.Fatal(err)
	}
	if c, ok := w.fake.Personal(chatID("dave")); !ok || len(c.Activities) != 1 {
		t.Errorf("dave's chat holds %d messages, want 1", len(c.Activities))
	}
	ref, err := w.Store.Conversation(teams.Platform, "user:"+chatID("dave"))
	if err != nil {
		t.Fatal(err)
	}
	if ref.ServiceURL != w.fake.ServiceURL() {
		t.Errorf("dave's reference is on %s, want %s", ref.ServiceURL, w.fake.ServiceURL())
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests reached the other connector, want 0", n)
	}
}

// TestDuplicateActivity: the Bot Connector delivering the same activity twice (same id) makes
// one request.
func TestDuplicateActivity(t *testing.T) {
	w := startWorld(t)
	act := map[string]any{"id": "dup-1", "type": "message", "text": "exchange 1h fixing mail flow", "from": w.from("alice"),
		"conversation": w.personal("alice"), "channelData": w.tenantData()}
	w.deliver(t, act, http.StatusOK)
	w.settle()
	w.deliver(t, act, http.StatusOK)
	w.settle()
	rs, err := w.Store.Requests(store.Filter{Platform: teams.Platform})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("%d requests after one activity delivered twice, want 1", len(rs))
	}
	act["id"] = "dup-2"
	w.deliver(t, act, http.StatusOK)
	w.settle()
	if rs, _ = w.Store.Requests(store.Filter{Platform: teams.Platform}); len(rs) != 2 {
		t.Fatalf("%d requests after a new activity, want 2", len(rs))
	}
}

// TestActivityWhileStarting: an activity refused because the adapter has no core yet (503, a
// retry asked for) is handled when the Bot Connector delivers it again, not dropped as a repeat.
func TestActivityWhileStarting(t *testing.T) {
	w := startWorld(t)
	a, err := teams.New(teams.Options{AppID: appID, AppPassword: secret, TenantID: w.tenant,
		OpenIDMetadataURL: w.fake.MetadataURL(), AuthorityHost: w.fake.AuthorityHost(), Conversations: &lateStore{s: w.Store},
		HTTPClient: w.fake.Client(), ServiceURLHosts: []string{w.fake.Host()}, Replays: &lateReplays{s: w.Store}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a)
	t.Cleanup(func() { srv.Close(); a.Close() })
	act := w.activity(map[string]any{"id": "early-1", "type": "message", "text": "exchange 1h fixing mail flow", "from": w.from("alice"),
		"conversation": w.personal("alice"), "channelData": w.tenantData()})
	deliver := func(want int) {
		t.Helper()
		status, body, err := w.fake.Deliver(srv.URL, act)
		if err != nil {
			t.Fatal(err)
		}
		if status != want {
			t.Fatalf("status %d, want %d: %s", status, want, body)
		}
	}
	deliver(http.StatusServiceUnavailable)
	a.Use(w.Core)
	deliver(http.StatusOK)
	a.Wait()
	w.settle()
	if rs, _ := w.Store.Requests(store.Filter{Platform: teams.Platform}); len(rs) != 1 {
		t.Fatalf("%d requests after the retry, want 1", len(rs))
	}
}

// TestDuplicateActivityAcrossRestart: an activity handled before a restart (a new adapter on
// the same store file) is still a repeat after it.
func TestDuplicateActivityAcrossRestart(t *testing.T) {
	w := startWorld(t)
	path := filepath.Join(t.TempDir(), "replays.db")
	act := w.activity(map[string]any{"id": "restart-1", "type": "message", "text": "exchange 1h fixing mail flow", "from": w.from("alice"),
		"conversation": w.personal("alice"), "channelData": w.tenantData()})
	run := func() {
		t.Helper()
		s, err := store.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		a, err := teams.New(teams.Options{AppID: appID, AppPassword: secret, TenantID: w.tenant, Core: w.Core,
			OpenIDMetadataURL: w.fake.MetadataURL(), AuthorityHost: w.fake.AuthorityHost(), Conversations: &lateStore{s: w.Store},
			HTTPClient: w.fake.Client(), ServiceURLHosts: []string{w.fake.Host()}, Replays: s})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		srv := httptest.NewServer(a)
		defer srv.Close()
		if status, body, err := w.fake.Deliver(srv.URL, act); err != nil || status != http.StatusOK {
			t.Fatalf("status %d, %v: %s", status, err, body)
		}
		a.Wait()
		w.settle()
	}
	run()
	run()
	if rs, _ := w.Store.Requests(store.Filter{Platform: teams.Platform}); len(rs) != 1 {
		t.Fatalf("%d requests after an activity delivered before and after a restart, want 1", len(rs))
	}
}

// gatedTransport holds requests until open is closed (or their context ends), counting them.
type gatedTransport struct {
	open    chan struct{}
	started chan struct{}
	n       *atomic.Int32
	next    http.RoundTripper
}

func (g gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if g.n.Add(1) == 1 {
		close(g.started)
	}
	select {
	case <-g.open:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return g.next.RoundTrip(r)
}

// TestKeyFetchSurvivesDisconnect: the request whose unknown key id started a key fetch goes
// away (its client disconnected); the fetch goes on, and the next request uses its keys at once
// instead of being refused until MinRefresh has passed.
func TestKeyFetchSurvivesDisconnect(t *testing.T) {
	fake := newFake(t)
	var fetches atomic.Int32
	gt := gatedTransport{open: make(chan struct{}), started: make(chan struct{}), n: &fetches, next: fake.Client().Transport}
	v, err := teams.NewValidator(teams.ValidatorOptions{AppID: appID, MetadataURL: fake.MetadataURL(), MinRefresh: time.Hour,
		HTTPClient: &http.Client{Transport: gt}})
	if err != nil {
		t.Fatal(err)
	}
	su := fake.ServiceURL()
	tok := "Bearer " + fake.Token(su)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := v.Validate(ctx, tok, su, "msteams")
		done <- err
	}()
	<-gt.started
	cancel() // the caller disconnects while the fetch is under way
	if err := <-done; err == nil {
		t.Fatal("a validation whose caller went away succeeded")
	}
	close(gt.open)
	if _, err := v.Validate(context.Background(), tok, su, "msteams"); err != nil {
		t.Fatalf("the next request: %v, want the keys fetched for the first one", err)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d requests for keys, want 2 (one metadata, one key set)", n)
	}
}

// failingTransport fails the first fail requests, then passes them on.
type failingTransport struct {
	fail *atomic.Int32
	next http.RoundTripper
}

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.fail.Add(-1) >= 0 {
		return nil, errors.New("connection reset")
	}
	return f.next.RoundTrip(r)
}

// TestKeyFetchFailureRetriedSoon: a key fetch that failed is tried again seconds later, not
// after MinRefresh (meanwhile every activity would be refused).
func TestKeyFetchFailureRetriedSoon(t *testing.T) {
	fake := newFake(t)
	clock := &fakeClock{t: time.Now()}
	var fail atomic.Int32
	fail.Store(1)
	v, err := teams.NewValidator(teams.ValidatorOptions{AppID: appID, MetadataURL: fake.MetadataURL(), Now: clock.Now, MinRefresh: time.Hour,
		HTTPClient: &http.Client{Transport: failingTransport{&fail, fake.Client().Transport}}})
	if err != nil {
		t.Fatal(err)
	}
	su := fake.ServiceURL()
	tok := "Bearer " + fake.Token(su)
	if _, err := v.Validate(context.Background(), tok, su, "msteams"); err == nil {
		t.Fatal("validated although the key fetch failed")
	}
	clock.Advance(10 * time.Second)
	if _, err := v.Validate(context.Background(), tok, su, "msteams"); err != nil {
		t.Fatalf("10s after a failed fetch: %v, want the keys fetched again", err)
	}
}
