package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	entra "github.com/elevate-pim/elevate/internal/pgconn"
	"github.com/elevate-pim/elevate/internal/pgconn/pgconntest"
	"github.com/elevate-pim/elevate/internal/pgtest"
)

// With a Credential every new connection of the pool logs in with the token the credential
// returns at that moment: after the role's password (the token) rotates, new connections use the
// new token, and the old one is refused by the server.
func TestPostgresEntraTokenPerConnection(t *testing.T) {
	if !onPostgres() {
		return
	}
	ctx := context.Background()
	admin := testPath(t)
	old := pgconntest.Token()
	role, roleURL := pgtest.Role(t, admin, old)
	cred := pgconntest.New(old)

	s, err := OpenPostgres(ctx, roleURL, PostgresOptions{Credential: cred})
	if err != nil {
		t.Fatalf("OpenPostgres with the role's token = %v", err)
	}
	defer s.Close()
	first := mustCreate(t, s, sampleRequest())
	if cred.Calls() == 0 {
		t.Fatal("the store connected without asking the credential for a token")
	}

	// The token rotates: the server takes only the new one, the credential returns it.
	fresh := pgconntest.Token()
	pgtest.SetPassword(t, admin, role, fresh)
	cred.Set(fresh)
	before := cred.Calls()
	s.db.(*pgBackend).pool.Reset() // every connection is opened anew, as after they expired or broke
	second := mustCreate(t, s, sampleRequest())
	if cred.Calls() == before {
		t.Error("a new connection after the rotation did not ask the credential again")
	}
	for _, id := range []uint64{first.ID, second.ID} {
		if _, err := s.Request(id); err != nil {
			t.Errorf("Request(%d) after the rotation = %v", id, err)
		}
	}

	withOld := strings.Replace(roleURL, role+"@", role+":"+old+"@", 1)
	c, err := pgx.Connect(ctx, withOld)
	var pe *pgconn.PgError
	if err == nil {
		c.Close(ctx)
		t.Fatal("the old token still logs in after the rotation; want it refused")
	} else if !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("connect with the old token = %v; want invalid_password (28P01)", err)
	}
}

// A credential that gives no token: the open fails with the scope named and the credential's
// cause; a token the server refuses: the open fails without showing the token.
func TestPostgresEntraFailures(t *testing.T) {
	if !onPostgres() {
		return
	}
	ctx := context.Background()
	admin := testPath(t)
	_, roleURL := pgtest.Role(t, admin, pgconntest.Token())

	cred := pgconntest.New("")
	cred.Fail(errors.New("ManagedIdentityCredential: no managed identity endpoint is available"))
	_, err := OpenPostgres(ctx, roleURL, PostgresOptions{Credential: cred})
	var te *entra.TokenError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), entra.Scope) || !strings.Contains(err.Error(), "no managed identity endpoint") {
		t.Errorf("OpenPostgres with a failing credential = %v; want a TokenError naming %s and the cause", err, entra.Scope)
	}

	wrong := pgconntest.Token()
	_, err = OpenPostgres(ctx, roleURL, PostgresOptions{Credential: pgconntest.New(wrong)})
	if err == nil {
		t.Fatal("OpenPostgres with a token the server refuses succeeded")
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), wrong[len(wrong)-40:]) {
		t.Errorf("the error shows the token: %v", err)
	}

	withPassword := strings.Replace(roleURL, "@", ":secret@", 1)
	if _, err := OpenPostgres(ctx, withPassword, PostgresOptions{Credential: pgconntest.New(wrong)}); !errors.Is(err, entra.ErrPasswordInURL) {
		t.Errorf("OpenPostgres with a password in the URL and a credential = %v; want ErrPasswordInURL", err)
	}
}

// An operator who logs in with an Entra token in PGPASSWORD (docs/deploy.md, moving a store in
// from the jump host) never sees it in a message: ScrubPassword covers the password pgx reads
// from the environment as well as the URL's.
func TestScrubPasswordCoversPGPASSWORD(t *testing.T) {
	tok := pgconntest.Token()
	t.Setenv("PGPASSWORD", tok)
	err := ScrubPassword(fmt.Errorf("connect: %s refused", tok), "postgres://admins@db.example:5432/elevate?sslmode=verify-full")
	if strings.Contains(err.Error(), tok) || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("ScrubPassword left the token in: %.80s…", err.Error())
	}
}
