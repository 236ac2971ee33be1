package pgconn_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/elevate-pim/elevate/internal/pgconn"
	"github.com/elevate-pim/elevate/internal/pgconn/pgconntest"
)

func TestConfigs(t *testing.T) {
	ctx := context.Background()
	const u = "postgres://elevate-id@db.example:5432/elevate?sslmode=verify-full"
	tok := pgconntest.Token()
	cred := pgconntest.New(tok)

	cc, err := pgconn.ConnConfig(ctx, u, cred)
	if err != nil || cc.Password != tok || cc.User != "elevate-id" {
		t.Fatalf("ConnConfig = %+v, %v; want user elevate-id with the token as password", cc, err)
	}
	cc, err = pgconn.ConnConfig(ctx, u+"&password=", nil)
	if err != nil || cc.Password != "" {
		t.Errorf("ConnConfig without a credential = password %q, %v; want the URL's (none)", cc.Password, err)
	}

	pc, err := pgconn.PoolConfig(u, cred)
	if err != nil || pc.BeforeConnect == nil {
		t.Fatalf("PoolConfig with a credential = %v, BeforeConnect set %v; want it set", err, pc != nil && pc.BeforeConnect != nil)
	}
	// Each new connection asks again: the second gets the rotated token.
	for _, want := range []string{tok, "rotated"} {
		cred.Set(want)
		c := pc.ConnConfig.Copy()
		if err := pc.BeforeConnect(ctx, c); err != nil || c.Password != want {
			t.Errorf("BeforeConnect = password %.12q…, %v; want %.12q…", c.Password, err, want)
		}
	}
	if pc, _ := pgconn.PoolConfig(u, nil); pc.BeforeConnect != nil {
		t.Error("PoolConfig without a credential set BeforeConnect")
	}
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	cred := pgconntest.New(pgconntest.Token())
	for _, u := range []string{"postgres://u:pw@db/elevate", "postgres://u@db/elevate?password=pw"} {
		if _, err := pgconn.PoolConfig(u, cred); !errors.Is(err, pgconn.ErrPasswordInURL) {
			t.Errorf("PoolConfig(%s) with a credential = %v; want ErrPasswordInURL", u, err)
		}
		if _, err := pgconn.ConnConfig(ctx, u, cred); !errors.Is(err, pgconn.ErrPasswordInURL) {
			t.Errorf("ConnConfig(%s) with a credential = %v; want ErrPasswordInURL", u, err)
		}
	}
	const bad = "postgres://u:s3cret@db:notaport/elevate"
	if _, err := pgconn.PoolConfig(bad, nil); !errors.Is(err, pgconn.ErrURL) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("PoolConfig(bad URL) = %v; want ErrURL without the password", err)
	}

	cred.Fail(errors.New("DefaultAzureCredential: failed to acquire a token"))
	_, err := pgconn.Connect(ctx, "postgres://u@127.0.0.1:1/elevate", cred, func(*pgx.ConnConfig) { t.Error("configure ran without a token") })
	var te *pgconn.TokenError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), pgconn.Scope) || !strings.Contains(err.Error(), "failed to acquire") {
		t.Errorf("Connect with a failing credential = %v; want a TokenError naming %s and the cause", err, pgconn.Scope)
	}
}
