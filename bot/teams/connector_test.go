package teams_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
)

func TestTokenSource(t *testing.T) {
	fake := newFake(t)
	ts := teams.NewTokenSource(teams.TokenURL(fake.AuthorityHost(), tenantID), appID, secret, fake.Client(), nil)
	var wg sync.WaitGroup
	toks := make([]string, 20)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := ts.Token(context.Background())
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		}()
	}
	wg.Wait()
	if n := fake.TokenCalls(); n != 1 {
		t.Errorf("%d token requests for 20 concurrent callers, want 1 (cached)", n)
	}
	for _, tok := range toks {
		if tok != toks[0] || tok == "" {
			t.Fatalf("tokens differ: %q", toks)
		}
	}

	bad := teams.NewTokenSource(teams.TokenURL(fake.AuthorityHost(), tenantID), appID, "wrong-secret", fake.Client(), nil)
	_, err := bad.Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("bad secret: %v", err)
	}
	// The multi-tenant endpoint (botframework.com) is not ours.
	multi := teams.NewTokenSource(teams.TokenURL(fake.AuthorityHost(), "botframework.com"), appID, secret, fake.Client(), nil)
	if _, err := multi.Token(context.Background()); err == nil {
		t.Error("a token from another tenant's endpoint")
	}
	if got := teams.TokenURL("", "contoso-tenant"); got != "https://login.microsoftonline.com/contoso-tenant/oauth2/v2.0/token" {
		t.Errorf("TokenURL = %s", got)
	}
}

func TestConnector(t *testing.T) {
	fake := newFake(t)
	fake.AddMember(teamstest.Member{ID: "29:bob", AadObjectID: "oid-bob", UserPrincipalName: "bob@contoso.example"})
	conn := teams.NewConnector(teams.NewTokenSource(teams.TokenURL(fake.AuthorityHost(), tenantID), appID, secret, fake.Client(), nil), fake.Client())
	conn.ServiceURLs = allowFake(t, fake)
	ctx := context.Background()
	su := fake.ServiceURL()
	conv := "19:abc@thread.tacv2;messageid=1700000000000"
	id, err := conn.Send(ctx, su, conv, teams.Activity{Type: "message", Text: "hello"})
	if err != nil || id == "" {
		t.Fatalf("Send: %q, %v", id, err)
	}
	if err := conn.Update(ctx, su, conv, id, teams.Activity{Type: "message", Text: "updated"}); err != nil {
		t.Fatal(err)
	}
	c, _ := fake.Conversation(conv)
	if len(c.Activities) != 1 || teamstest.Text(c.Activities[0].Body) != "updated" {
		t.Errorf("conversation %+v", c)
	}
	m, err := conn.GetMember(ctx, su, conv, "29:bob")
	if err != nil || m.AadObjectID != "oid-bob" || m.UserPrincipalName != "bob@contoso.example" {
		t.Errorf("GetMember: %+v %v", m, err)
	}
	res, err := conn.CreateConversation(ctx, su, teams.ConversationParams{Members: nil, TenantID: tenantID})
	var ce *teams.Error
	if !errors.As(err, &ce) || ce.Status != 400 {
		t.Errorf("CreateConversation without members: %+v %v", res, err)
	}
	if err := conn.Delete(ctx, su, conv, id); err != nil {
		t.Fatal(err)
	}
	if err := conn.Update(ctx, su, conv, id, teams.Activity{Type: "message"}); !errors.As(err, &ce) || ce.Status != 404 {
		t.Errorf("update of a deleted activity: %v", err)
	}

	// 429: waited out while it is short, reported as ErrThrottled when it persists.
	fake.Throttle(2, "0")
	if _, err := conn.Send(ctx, su, conv, teams.Activity{Type: "message", Text: "after 429"}); err != nil {
		t.Errorf("Send after two 429s: %v", err)
	}
	fake.Throttle(10, "0")
	if _, err := conn.Send(ctx, su, conv, teams.Activity{Type: "message"}); !errors.Is(err, teams.ErrThrottled) {
		t.Errorf("persistent 429: %v, want ErrThrottled", err)
	}
	fake.Throttle(1, "3600")
	if _, err := conn.Send(ctx, su, conv, teams.Activity{Type: "message"}); !errors.Is(err, teams.ErrThrottled) {
		t.Errorf("429 with an hour's Retry-After: %v, want ErrThrottled at once", err)
	}
	fake.Throttle(0, "")
}

func TestAdapterReady(t *testing.T) {
	w := startWorld(t)
	if err := w.adapter.Ready(context.Background()); err != nil {
		t.Errorf("with the token endpoint up: %v", err)
	}
	w.fake.Close()
	bad, err := teams.New(teams.Options{AppID: appID, AppPassword: secret, TenantID: w.tenant,
		OpenIDMetadataURL: w.fake.MetadataURL(), AuthorityHost: w.fake.AuthorityHost(), Conversations: &lateStore{s: w.Store},
		HTTPClient: w.fake.Client(), ServiceURLHosts: []string{w.fake.Host()}})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Ready(context.Background()); err == nil {
		t.Error("ready although the token endpoint is down")
	}
}
