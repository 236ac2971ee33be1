package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/elevate-pim/elevate/internal/pgconn"
	"github.com/elevate-pim/elevate/lead"
	"github.com/elevate-pim/elevate/store"
)

// The store is a bbolt file (the default) or a PostgreSQL database, chosen by the -db value: a
// postgres:// or postgresql:// URL opens PostgreSQL, anything else is a bbolt file's path. serve
// and the other commands take -db's default from ELEVATE_DATABASE_URL, else elevate.db.

// A PostgreSQL store authenticates with the URL's password (-db-auth password, the default) or
// with Microsoft Entra (-db-auth entra, or ELEVATE_DATABASE_AUTH=entra): the URL then carries no
// password and every new connection, the store's and the leader election's alike, gets an access
// token from the host's managed identity (ELEVATE_DATABASE_CLIENT_ID names a user-assigned one)
// or, on AKS, the pod's workload identity (AZURE_FEDERATED_TOKEN_FILE).

// The -db-auth values.
const (
	dbAuthPassword = "password"
	dbAuthEntra    = "entra"
)

// dbAuthFlag adds -db-auth to fs.
func dbAuthFlag(fs *flag.FlagSet) *string {
	return fs.String("db-auth", envOr("ELEVATE_DATABASE_AUTH", dbAuthPassword),
		"with a PostgreSQL -db: password (the URL's) or entra (a Microsoft Entra token from the managed or workload identity; the URL has no password) (default $ELEVATE_DATABASE_AUTH, else password)")
}

// dbAuth is how the store's connections authenticate.
type dbAuth struct {
	mode string             // dbAuthPassword or dbAuthEntra
	cred *pgconn.Credential // with dbAuthEntra
}

// credential is the token credential for the store and the elector: nil with a password.
func (a dbAuth) credential() azcore.TokenCredential {
	if a.cred == nil {
		return nil
	}
	return a.cred
}

// describe says how the store authenticates, for logs and `elevate check`.
func (a dbAuth) describe() string {
	if a.cred == nil {
		return "password (from the URL, PGPASSWORD or ~/.pgpass)"
	}
	return "Microsoft Entra, tokens from the " + a.cred.Describe()
}

// newDBAuth checks -db-auth against db and makes the Entra credential from the environment.
// It does no I/O: the first token is asked for when the first connection opens.
func newDBAuth(mode, db string, getenv func(string) string) (dbAuth, error) {
	switch strings.ToLower(strings.TrimSpace(mode)) {
	case "", dbAuthPassword:
		return dbAuth{mode: dbAuthPassword}, nil
	case dbAuthEntra:
	default:
		return dbAuth{}, usagef("-db-auth %q: use password or entra", mode)
	}
	if !isPostgresURL(db) {
		return dbAuth{}, usagef("-db-auth entra is for a PostgreSQL -db (a postgres:// URL), not a bbolt file")
	}
	clientID := getenv("ELEVATE_DATABASE_CLIENT_ID")
	if clientID == "" && getenv("AZURE_FEDERATED_TOKEN_FILE") != "" {
		// AKS's webhook names the federated identity in AZURE_CLIENT_ID. Not so with a managed
		// identity: there AZURE_CLIENT_ID is the app registration's (Graph), no identity of the host.
		clientID = getenv("AZURE_CLIENT_ID")
	}
	cred, err := pgconn.NewCredential(pgconn.CredentialConfig{ClientID: clientID,
		TenantID: getenv("AZURE_TENANT_ID"), FederatedTokenFile: getenv("AZURE_FEDERATED_TOKEN_FILE")})
	if err != nil {
		return dbAuth{}, err
	}
	return dbAuth{mode: dbAuthEntra, cred: cred}, nil
}

// isPostgresURL says whether db names a PostgreSQL database rather than a bbolt file.
func isPostgresURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens the store that db names, a PostgreSQL one with the URL's password.
func openStore(ctx context.Context, db string) (*store.Store, error) {
	return openStoreWith(ctx, db, store.PostgresOptions{})
}

// openStoreWith is openStore with PostgreSQL's options (a leadership fence); a bbolt file ignores them.
func openStoreWith(ctx context.Context, db string, opt store.PostgresOptions) (*store.Store, error) {
	if isPostgresURL(db) {
		return store.OpenPostgres(ctx, db, opt)
	}
	return store.Open(db)
}

// dbName is db as messages and logs may show it: a URL without its password.
func dbName(db string) string {
	if isPostgresURL(db) {
		return store.RedactURL(db)
	}
	return db
}

// defaultDB is -db's default: ELEVATE_DATABASE_URL, else elevate.db.
func defaultDB() string { return envOr("ELEVATE_DATABASE_URL", "elevate.db") }

// migrateLeased, when set (by tests), runs once `store migrate` holds the lease, before it opens
// the target.
var migrateLeased func()

// migrateHolder names a `store migrate` in the lease row, where a standing-by serve's log and a
// refused migrate's message show it.
func migrateHolder() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("elevate store migrate on %s (pid %d)", host, os.Getpid())
}

// storeCmd is `elevate store migrate -from FILE -to URL [-replace]`.
func storeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const synopsis = "store migrate -from FILE -to postgres://... [-replace] [-db-auth entra]\n\n" +
		"Copies a bbolt store (stop `elevate serve` first) into a PostgreSQL database: every bucket, key\n" +
		"and sequence; then verifies the audit chain on both sides and compares the key counts of every\n" +
		"bucket. A target that holds data is refused unless -replace (which deletes it first). It holds the\n" +
		"database's leader lease while it copies: refused while an `elevate serve` leads on it, and a serve\n" +
		"started meanwhile stands by until it ends. A copy stopped part way leaves the target marked\n" +
		"unfinished: serve refuses it until a migrate -replace finishes.\n" +
		"Exit status: 0 copied and matching, 1 failure or mismatch, 2 usage error."
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintln(stdout, "usage: elevate "+synopsis)
		return flag.ErrHelp
	}
	if len(args) == 0 || args[0] != "migrate" {
		return usagef("usage: elevate %s", synopsis)
	}
	fs := flag.NewFlagSet("store migrate", flag.ContinueOnError)
	from := fs.String("from", "", "the bbolt store file to copy")
	to := fs.String("to", os.Getenv("ELEVATE_DATABASE_URL"), "the PostgreSQL database URL to copy into (default $ELEVATE_DATABASE_URL)")
	replace := fs.Bool("replace", false, "delete what the target database holds before copying")
	authMode := dbAuthFlag(fs)
	if err := parseFlags(fs, args[1:], synopsis, stdout, stderr); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("store migrate takes no arguments (got %q)", fs.Args())
	case *from == "" || isPostgresURL(*from):
		return usagef("-from: give the bbolt store file to copy")
	case !isPostgresURL(*to):
		return usagef("-to: give a postgres:// URL (or set ELEVATE_DATABASE_URL)")
	}
	auth, err := newDBAuth(*authMode, *to, os.Getenv)
	if err != nil {
		return err
	}
	if _, err := os.Stat(*from); err != nil {
		return fmt.Errorf("-from: %w", err)
	}
	src, err := store.Open(*from)
	if err != nil {
		return err
	}
	defer src.Close()
	if w := store.PostgresTLSWarning(*to, os.Getenv); w != "" {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	// The copy holds the leader's lease while it writes, as a leader does: a serve started
	// meanwhile stands by until it ends, and its writes are fenced, so a serve that took the
	// lease anyway (this process paused past the lease's end) is never written under.
	el := lead.New(*to, lead.Config{Holder: migrateHolder(), Credential: auth.credential()})
	defer el.Close()
	leader, holder, err := el.TryLead(ctx)
	if err != nil {
		return store.ScrubPassword(fmt.Errorf("%s: taking the leader lease: %w", dbName(*to), err), *to)
	}
	if leader == nil {
		return fmt.Errorf("%s is in use: %s holds its leader lease (an `elevate serve` leading, or another `elevate store migrate`); "+
			"stop every `elevate serve` on this database first", dbName(*to), holder)
	}
	defer func() {
		// Handed back at once, so a serve waiting as a standby takes over within its -leader-renew.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := el.Resign(rctx); err != nil {
			fmt.Fprintf(stderr, "warning: could not hand the leader lease back; it expires by itself within %s\n", el.Config().TTL)
		}
	}()
	if migrateLeased != nil {
		migrateLeased()
	}
	dst, err := store.OpenPostgres(ctx, *to, store.PostgresOptions{Fence: el.Fence, Credential: auth.credential()})
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := src.CopyTo(dst, *replace)
	if errors.Is(err, store.ErrTargetNotEmpty) {
		if errors.Is(dst.UnfinishedCopy(), store.ErrUnfinishedCopy) {
			return fmt.Errorf("%s holds an unfinished copy (a migrate into it stopped part way); add -replace to delete it and copy %s over it", dbName(*to), *from)
		}
		return fmt.Errorf("%s already holds a store; add -replace to delete it and copy %s over it", dbName(*to), *from)
	}
	if errors.Is(err, store.ErrNotLeader) {
		// Whatever the fence refused was rolled back; what committed before stays.
		return fmt.Errorf("%s: the copy was stopped: this migrate lost the database's leader lease, so another process "+
			"may be writing to it (%w). Stop every `elevate serve` on it and run migrate again with -replace "+
			"(a copy stopped part way is marked unfinished, and serve refuses it)", dbName(*to), err)
	}
	if rep.SourceKeys != nil {
		names := make([]string, 0, len(rep.SourceKeys))
		for name := range rep.SourceKeys {
			names = append(names, name)
		}
		sort.Strings(names)
		fmt.Fprintf(stdout, "%-24s %10s %10s\n", "bucket", "source", "target")
		for _, name := range names {
			mark := ""
			if rep.SourceKeys[name] != rep.TargetKeys[name] {
				mark = "  MISMATCH"
			}
			fmt.Fprintf(stdout, "%-24s %10d %10d%s\n", name, rep.SourceKeys[name], rep.TargetKeys[name], mark)
		}
		fmt.Fprintf(stdout, "%-24s %10d %10d\n", "audit records verified", rep.SourceAudit, rep.TargetAudit)
	}
	if err != nil {
		if errors.Is(dst.UnfinishedCopy(), store.ErrUnfinishedCopy) {
			return fmt.Errorf("%w; %s stays marked as an unfinished copy, which `elevate serve` refuses, until a "+
				"migrate -replace into it finishes", err, dbName(*to))
		}
		return err
	}
	fmt.Fprintf(stdout, "%s copied into %s: audit chain intact on both sides, every bucket matches\n", *from, dbName(*to))
	return nil
}
