package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/elevate-pim/elevate/store"
)

// audit is `elevate audit verify|export`.
func audit(args []string, stdout, stderr io.Writer) error {
	const synopsis = "audit verify -db FILE [-anchor SEQ:HASH ...] | elevate audit export -db FILE [-since 2026-01-01] [-format jsonl|csv]"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprintln(stdout, "usage: elevate "+synopsis)
		return flag.ErrHelp
	}
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		return usagef("usage: elevate %s", synopsis)
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	db := fs.String("db", defaultDB(), "the store: a bbolt file (stop elevate serve or use a backup: the file is locked while it runs) or a postgres:// URL (default $ELEVATE_DATABASE_URL, else elevate.db)")
	since := fs.String("since", "", "export records at or after this time (RFC 3339 or YYYY-MM-DD)")
	format := fs.String("format", "jsonl", "export format: jsonl or csv")
	var anchors []store.Anchor
	if args[0] == "verify" {
		fs.Func("anchor", "verify: an anchor `SEQ:HASH` from an \"audit anchor\" log line; the chain's record SEQ must have that hash (repeatable)", func(v string) error {
			a, err := store.ParseAnchor(v)
			if err != nil {
				return err
			}
			anchors = append(anchors, a)
			return nil
		})
	}
	authMode := dbAuthFlag(fs)
	if err := parseFlags(fs, args[1:], synopsis, stdout, stderr); err != nil {
		return err
	}
	auth, err := newDBAuth(*authMode, *db, os.Getenv)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("audit %s takes no arguments (got %q)", args[0], fs.Args())
	}
	var from time.Time
	if *since != "" {
		var err error
		if from, err = parseSince(*since); err != nil {
			return &usageError{err.Error()}
		}
	}
	if *format != "jsonl" && *format != "csv" {
		return usagef("-format %q: use jsonl or csv", *format)
	}
	// Read-only on PostgreSQL: nothing created or migrated under a running serve.
	s, err := openStoreWith(context.Background(), *db, store.PostgresOptions{ReadOnly: true, Credential: auth.credential()})
	if err != nil {
		return err
	}
	defer s.Close()
	if args[0] == "verify" {
		// One read transaction for both: the chain that verifies is the one checked against
		// the anchors.
		n, err := s.VerifyAuditAnchors(anchors)
		if errors.Is(err, store.ErrAnchor) {
			return fmt.Errorf("%s: the audit log's %d records verify among themselves, but not against a published anchor: %w", dbName(*db), n, err)
		} else if err != nil {
			return fmt.Errorf("%s: the audit log does not verify: %w", dbName(*db), err)
		}
		// A copy that stopped part way holds a chain that verifies but may end early: say so
		// rather than pass it as a whole store's.
		if err := s.UnfinishedCopy(); err != nil {
			return fmt.Errorf("%s: the audit log's %d records verify among themselves, but %w", dbName(*db), n, err)
		}
		if len(anchors) == 0 {
			fmt.Fprintf(stdout, "%s: %d audit records, hash chain intact (no anchor given: a chain rewritten whole or cut short would verify too)\n", dbName(*db), n)
			return nil
		}
		newest := anchors[0]
		for _, a := range anchors {
			if a.Seq > newest.Seq {
				newest = a
			}
		}
		fmt.Fprintf(stdout, "%s: %d audit records, hash chain intact, holds %d anchor(s) (newest: record %d)\n", dbName(*db), n, len(anchors), newest.Seq)
		return nil
	}
	return exportAudit(s, from, *format, stdout)
}

func parseSince(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("-since %q: use a date like 2026-01-31 or a time like 2026-01-31T09:00:00Z", s)
}

// exportAudit writes the audit records at or after from, with their hashes, so an auditor can
// re-verify the chain outside Elevate.
func exportAudit(s *store.Store, from time.Time, format string, w io.Writer) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		return s.Audit(func(r store.AuditRecord) error {
			if r.At.Before(from) {
				return nil
			}
			return enc.Encode(r)
		})
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write([]string{"seq", "at", "actor", "action", "request_id", "detail", "prev_hash", "hash"}); err != nil {
			return err
		}
		err := s.Audit(func(r store.AuditRecord) error {
			if r.At.Before(from) {
				return nil
			}
			return cw.Write([]string{strconv.FormatUint(r.Seq, 10), r.At.UTC().Format(time.RFC3339Nano), r.Actor, r.Action,
				strconv.FormatUint(r.RequestID, 10), r.Detail, r.PrevHash, r.Hash})
		})
		cw.Flush()
		if err != nil {
			return err
		}
		return cw.Error()
	}
	return fmt.Errorf("-format %q: use jsonl or csv", format)
}

// backup is `elevate backup -db FILE OUT`: a consistent copy of a store that is not in use.
// While `serve` runs, it takes backups itself (see -backup-every).
func backup(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	db := fs.String("db", "elevate.db", "store file")
	if err := parseFlags(fs, args, "backup -db FILE OUT", stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("usage: elevate backup -db FILE OUT")
	}
	if isPostgresURL(*db) {
		return fmt.Errorf("elevate backup copies a bbolt file; %s is PostgreSQL: use its own backups "+
			"(Azure Database for PostgreSQL's point-in-time restore) or pg_dump", dbName(*db))
	}
	s, err := store.Open(*db)
	if err != nil {
		return err
	}
	defer s.Close()
	n, err := s.BackupFile(fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d bytes written to %s\n", *db, n, fs.Arg(0))
	return nil
}
