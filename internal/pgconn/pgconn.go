// Package pgconn builds the settings of every PostgreSQL connection Elevate opens (the store's
// pool, the leader election's session, the one-off checks), so that none of them forgets how to
// authenticate: with the password the database URL carries, or with Microsoft Entra
// authentication, where each new connection's password is an access token for Scope obtained
// from an azcore.TokenCredential just before it connects (azidentity caches the token and renews
// it before it expires, so a reconnect after the token expired gets a fresh one).
//
// A token is a password: it is never put into a URL, a log or an error.
package pgconn

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Scope is what a token for Azure Database for PostgreSQL's Microsoft Entra authentication is
// asked for (the resource https://ossrdbms-aad.database.windows.net).
const Scope = "https://ossrdbms-aad.database.windows.net/.default"

// ErrURL: the database URL could not be parsed. The parser's own text is left out: it can repeat
// the URL, password and all.
var ErrURL = errors.New("cannot parse the PostgreSQL URL")

// ErrPasswordInURL: Entra authentication was asked for with a URL that carries a password too.
var ErrPasswordInURL = errors.New("the PostgreSQL URL carries a password, but with Microsoft Entra authentication the password is an access token: remove the password from the URL")

// TokenError: the credential gave no token for Scope. Its text names the scope and the
// credential's own cause (which never holds a token).
type TokenError struct{ Err error }

func (e *TokenError) Error() string {
	return fmt.Sprintf("Microsoft Entra authentication to PostgreSQL: no access token for %s: %v", Scope, e.Err)
}

func (e *TokenError) Unwrap() error { return e.Err }

// Token gets an access token for Scope from cred.
func Token(ctx context.Context, cred azcore.TokenCredential) (string, error) {
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	if err != nil {
		return "", &TokenError{Err: err}
	}
	if tok.Token == "" {
		return "", &TokenError{Err: errors.New("the credential returned an empty token")}
	}
	return tok.Token, nil
}

// ConnConfig parses dbURL for one connection. With cred, its password is a token obtained now:
// connect with it right away, and call ConnConfig again for the next connection.
func ConnConfig(ctx context.Context, dbURL string, cred azcore.TokenCredential) (*pgx.ConnConfig, error) {
	if err := check(dbURL, cred); err != nil {
		return nil, err
	}
	cc, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return nil, ErrURL
	}
	if cred != nil {
		if cc.Password, err = Token(ctx, cred); err != nil {
			return nil, err
		}
	}
	return cc, nil
}

// Connect opens one connection to dbURL; configure, when set, adjusts its settings first.
func Connect(ctx context.Context, dbURL string, cred azcore.TokenCredential, configure func(*pgx.ConnConfig)) (*pgx.Conn, error) {
	cc, err := ConnConfig(ctx, dbURL, cred)
	if err != nil {
		return nil, err
	}
	if configure != nil {
		configure(cc)
	}
	return pgx.ConnectConfig(ctx, cc)
}

// PoolConfig parses dbURL for a pool. With cred, every connection the pool opens, at any time,
// gets a token just before it connects (BeforeConnect).
func PoolConfig(dbURL string, cred azcore.TokenCredential) (*pgxpool.Config, error) {
	if err := check(dbURL, cred); err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, ErrURL
	}
	if cred != nil {
		cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
			tok, err := Token(ctx, cred)
			if err != nil {
				return err
			}
			cc.Password = tok
			return nil
		}
	}
	return cfg, nil
}

// check refuses a URL with a password alongside a credential: which one is meant is unclear,
// and a URL with a password is a secret while the point of Entra authentication is to have none.
func check(dbURL string, cred azcore.TokenCredential) error {
	if cred == nil {
		return nil
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return ErrURL
	}
	if _, ok := u.User.Password(); ok || u.Query().Has("password") {
		return ErrPasswordInURL
	}
	return nil
}
