package lead

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/internal/logbuf"
	"github.com/elevate-pim/elevate/internal/pgconn"
	"github.com/elevate-pim/elevate/internal/pgconn/pgconntest"
	"github.com/elevate-pim/elevate/internal/pgtest"
)

// The elector logs in with the credential's token on each new connection: a credential that
// fails is logged with the scope it was asked for, a refused token is logged without the token,
// and after the role's token rotates a new connection leads with the new one.
func TestElectorEntraToken(t *testing.T) {
	admin := pgtest.URL(t)
	token := pgconntest.Token()
	role, roleURL := pgtest.Role(t, admin, token)
	cred := pgconntest.New(token)
	var logs logbuf.Buffer
	cfg := testConfig
	cfg.Holder, cfg.Credential = "entra-a", cred
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	e := New(roleURL, cfg)
	t.Cleanup(e.Close)

	// Campaign retries until its context ends; a second is several attempts.
	attempt := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := e.Campaign(ctx)
		return err
	}
	cred.Fail(errors.New("ManagedIdentityCredential: no managed identity endpoint is available"))
	if err := attempt(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Campaign without a token = %v; want it to keep trying until its context ends", err)
	}
	if l := logs.String(); !strings.Contains(l, pgconn.Scope) || !strings.Contains(l, "no managed identity endpoint") {
		t.Errorf("the log does not name the scope and the credential's cause:\n%s", l)
	}

	refused := pgconntest.Token()
	cred.Set(refused)
	if err := attempt(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Campaign with a refused token = %v; want it to keep trying", err)
	}
	if l := logs.String(); !strings.Contains(l, "28P01") {
		t.Errorf("the log does not show the server's refusal (28P01):\n%s", l)
	}

	cred.Set(token)
	mustLead(t, e)
	if _, held, err := Held(context.Background(), roleURL, cred); err != nil || !held {
		t.Errorf("Held with the token = %v, %v; want held", held, err)
	}

	// Rotate: the server takes only the new token and the credential returns it. The elector's
	// next connection (after Close dropped the one it had) must ask again.
	if err := e.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.Close()
	fresh := pgconntest.Token()
	pgtest.SetPassword(t, admin, role, fresh)
	cred.Set(fresh)
	before := cred.Calls()
	mustLead(t, e)
	if cred.Calls() == before {
		t.Error("the elector reconnected without asking the credential for a token")
	}
	if _, _, err := Held(context.Background(), roleURL, pgconntest.New(token)); err == nil {
		t.Error("Held with the old token after the rotation succeeded; want it refused")
	}

	for name, tok := range map[string]string{"first": token, "refused": refused, "rotated": fresh} {
		if l := logs.String(); strings.Contains(l, tok) || strings.Contains(l, tok[len(tok)-40:]) {
			t.Errorf("the %s token is in the log", name)
		}
	}
}
