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

	"github.com/elevate-pim/elevate/lead"
	"github.com/elevate-pim/elevate/store"
)

// The store is a bbolt file (the default) or a PostgreSQL database, chosen by the -db value: a
// postgres:// or postgresql:// URL opens PostgreSQL, anything else is a bbolt file's path. serve
// and the other commands take -db's default from ELEVATE_DATABASE_URL, else elevate.db.

// isPostgresURL says whether db names a PostgreSQL database rather than a bbolt file.
func isPostgresURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens the store that db names.
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

// storeCmd is `elevate store migrate -from FILE -to URL [-replace]`.
func storeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const synopsis = "store migrate -from FILE -to postgres://... [-replace]\n\n" +
		"Copies a bbolt store (stop `elevate serve` first) into a PostgreSQL database: every bucket, key\n" +
		"and sequence; then verifies the audit chain on both sides and compares the key counts of every\n" +
		"bucket. A target that holds data is refused unless -replace (which deletes it first).\n" +
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
	// The copy's writes are not fenced: with a leader running they would race its writes, and
	// -replace would delete its store under it.
	if holder, held, err := lead.Held(ctx, *to); err != nil {
		return store.ScrubPassword(fmt.Errorf("%s: reading the leader lease: %w", dbName(*to), err), *to)
	} else if held {
		return fmt.Errorf("%s is in use: `elevate serve` (%s) leads on it; stop every `elevate serve` on this database first", dbName(*to), holder)
	}
	dst, err := store.OpenPostgres(ctx, *to, store.PostgresOptions{})
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := src.CopyTo(dst, *replace)
	if errors.Is(err, store.ErrTargetNotEmpty) {
		return fmt.Errorf("%s already holds a store; add -replace to delete it and copy %s over it", dbName(*to), *from)
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
		return err
	}
	fmt.Fprintf(stdout, "%s copied into %s: audit chain intact on both sides, every bucket matches\n", *from, dbName(*to))
	return nil
}
