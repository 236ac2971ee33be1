package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/internal/logbuf"
	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/elevate-pim/elevate/lead"
	"github.com/elevate-pim/elevate/store"
	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// withPassword puts a password into a database URL (the test server trusts local connections,
// so it is never checked, but it must never be shown either).
func withPassword(t *testing.T, u, pw string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.UserPassword(p.User.Username(), pw)
	return p.String()
}

func boltStoreWithRequests(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "elevate.db")
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range n {
		if _, err := s.CreateRequest(store.Request{Platform: "slack", ChatUser: "U1", RoleName: "Exchange Administrator", Duration: time.Hour},
			store.AuditRecord{At: time.Date(2026, 1, 1+i, 9, 0, 0, 0, time.UTC), Actor: "slack:U1", Action: "request.created"}); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// `elevate store migrate` copies a bbolt store into PostgreSQL and says it matches; the audit
// commands and serve then work on the URL; the password never shows.
func TestStoreMigrateCommand(t *testing.T) {
	const pw = "s3cret-pw"
	path := boltStoreWithRequests(t, 5)
	dbURL := withPassword(t, pgtest.URL(t), pw)

	out, err := runCLI(t, "store", "migrate", "-from", path, "-to", dbURL)
	if err != nil {
		t.Fatalf("store migrate: %v\n%s", err, out)
	}
	for _, want := range []string{"requests", "audit records verified", "5          5", "audit chain intact on both sides, every bucket matches"} {
		if !strings.Contains(out, want) {
			t.Errorf("store migrate output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, pw) {
		t.Errorf("store migrate printed the password:\n%s", out)
	}

	out, err = runCLI(t, "audit", "verify", "-db", dbURL)
	if err != nil || !strings.Contains(out, "5 audit records, hash chain intact") || strings.Contains(out, pw) {
		t.Errorf("audit verify on PostgreSQL: %v\n%s", err, out)
	}
	out, err = runCLI(t, "audit", "export", "-db", dbURL)
	if err != nil || strings.Count(out, "request.created") != 5 {
		t.Errorf("audit export on PostgreSQL: %v\n%s", err, out)
	}

	// A second copy is refused without -replace, accepted with it.
	out, err = runCLI(t, "store", "migrate", "-from", path, "-to", dbURL)
	if err == nil || !strings.Contains(err.Error(), "-replace") || strings.Contains(err.Error(), pw) {
		t.Errorf("store migrate into a used database: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "store", "migrate", "-from", path, "-to", dbURL, "-replace"); err != nil {
		t.Errorf("store migrate -replace: %v\n%s", err, out)
	}

	// bbolt-only commands say what to use instead.
	_, err = runCLI(t, "backup", "-db", dbURL, filepath.Join(t.TempDir(), "b.db"))
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || strings.Contains(err.Error(), pw) {
		t.Errorf("backup of a PostgreSQL store = %v; want a message naming pg_dump, without the password", err)
	}
	_, err = runCLI(t, "serve", "-db", dbURL, "-backup-dir", t.TempDir())
	var ue *usageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "point-in-time restore") {
		t.Errorf("serve -backup-dir on PostgreSQL = %v; want a usage error naming point-in-time restore", err)
	}
}

// A source whose audit chain does not verify fails the migration (exit 1), with the summary.
func TestStoreMigrateBrokenSource(t *testing.T) {
	path := boltStoreWithRequests(t, 3)
	// Break the chain: alter a record's detail in place.
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyAudit(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	tamperAuditFile(t, path)

	out, err := runCLI(t, "store", "migrate", "-from", path, "-to", pgtest.URL(t))
	if err == nil || !strings.Contains(err.Error(), "source audit log") || !strings.Contains(err.Error(), "unfinished copy") {
		t.Fatalf("store migrate of a broken chain = %v, want a mismatch, the target marked unfinished\n%s", err, out)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		t.Errorf("a mismatch is a usage error (exit 2), want exit 1")
	}
	if !strings.Contains(out, "audit records verified") {
		t.Errorf("no summary printed:\n%s", out)
	}
}

// Errors about a database never show its password.
func TestOpenStoreRedactsPassword(t *testing.T) {
	const pw = "hunter2-secret"
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("nobody", pw)
	u.Host = "127.0.0.1:1" // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = openStore(ctx, u.String())
	if err == nil {
		t.Fatal("open of an unreachable database succeeded")
	}
	if strings.Contains(err.Error(), pw) {
		t.Errorf("error shows the password: %v", err)
	}
	if got := dbName(u.String()); strings.Contains(got, pw) || !strings.Contains(got, "nobody:xxxxx@") {
		t.Errorf("dbName = %q", got)
	}
	if got := dbName("postgres://u@h/db?password=" + pw); strings.Contains(got, pw) {
		t.Errorf("dbName = %q, shows the password given as a parameter", got)
	}
}

// tamperAuditFile alters audit record 2 of a closed bbolt store, behind the store's back.
func tamperAuditFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		v := bytes.Replace(b.Get(k), []byte("request.created"), []byte("request.cr3ated"), 1)
		return b.Put(k, v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// An unparsable URL's error does not repeat it.
func TestOpenStoreBadURLHidesPassword(t *testing.T) {
	const pw = "p@ss:w/rd%zz"
	_, err := openStore(context.Background(), "postgres://user:"+pw+"@host:notaport/db")
	if err == nil || strings.Contains(err.Error(), "rd%zz") || strings.Contains(err.Error(), "p@ss") {
		t.Errorf("openStore(bad URL) = %v; want an error without the password", err)
	}
}

// serve warns, in its log, about a database URL whose server is not authenticated, without the
// password.
func TestServeWarnsAboutUnverifiedTLS(t *testing.T) {
	const pw = "hunter2-secret"
	var stderr logbuf.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-sandbox", "-listen", "127.0.0.1:0", "-db",
			"postgres://elevate:" + pw + "@db.invalid:5432/elevate?sslmode=disable"}, strings.NewReader(""), io.Discard, &stderr)
	}()
	err := <-done // the database's name does not resolve: serve stops at once, with the cause
	log := stderr.String()
	if err == nil {
		t.Error("serve on an unreachable database returned no error")
	}
	if !strings.Contains(log, "sslmode=disable") || !strings.Contains(log, "verify-full") {
		t.Errorf("no TLS warning in the log:\n%s", log)
	}
	if strings.Contains(log, pw) || err != nil && strings.Contains(err.Error(), pw) {
		t.Errorf("the password is shown:\n%s\n%v", log, err)
	}
}

// `store migrate` does not write into a database an `elevate serve` leads on: its writes are not
// fenced, and -replace would delete the live store.
func TestStoreMigrateRefusesWhileServeLeads(t *testing.T) {
	const pw = "s3cret-pw"
	path := boltStoreWithRequests(t, 2)
	dbURL := withPassword(t, pgtest.URL(t), pw)
	if out, err := runCLI(t, "store", "migrate", "-from", path, "-to", dbURL); err != nil {
		t.Fatalf("store migrate: %v\n%s", err, out)
	}
	el := lead.New(dbURL, lead.Config{Holder: "serve-a"})
	defer el.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := el.Campaign(ctx); err != nil {
		t.Fatal(err)
	}
	other := boltStoreWithRequests(t, 1)
	out, err := runCLI(t, "store", "migrate", "-from", other, "-to", dbURL, "-replace")
	if err == nil || !strings.Contains(err.Error(), "serve-a") || !strings.Contains(err.Error(), "stop every `elevate serve`") {
		t.Fatalf("store migrate -replace while serve leads = %v\n%s; want a refusal naming the leader", err, out)
	}
	if strings.Contains(err.Error()+out, pw) {
		t.Errorf("the refusal shows the password: %v\n%s", err, out)
	}
	s, err := store.OpenPostgres(ctx, dbURL, store.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.VerifyAudit(); err != nil || n != 2 {
		t.Errorf("the live store after the refused migrate: %d audit records, %v; want the 2 it had", n, err)
	}
	// Once the leader has stopped (resigned), the copy goes ahead.
	if err := el.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "store", "migrate", "-from", other, "-to", dbURL, "-replace"); err != nil {
		t.Errorf("store migrate -replace after the leader stopped: %v\n%s", err, out)
	}
}

// `elevate audit verify` and `audit export` only read: on PostgreSQL they create and migrate
// nothing (a running serve owns the schema), and say when the database holds no store.
func TestAuditCommandsDoNotWritePostgres(t *testing.T) {
	const pw = "s3cret-pw"
	dbURL := withPassword(t, pgtest.URL(t), pw)
	for _, cmd := range []string{"verify", "export"} {
		out, err := runCLI(t, "audit", cmd, "-db", dbURL)
		if err == nil || !strings.Contains(err.Error(), "holds no Elevate store") || strings.Contains(err.Error()+out, pw) {
			t.Errorf("audit %s on an empty database = %v\n%s; want a refusal saying it holds no store, without the password", cmd, err, out)
		}
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var tables int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("the audit commands created %d tables", tables)
	}
	// On a store they read it; a write through a read-only store is refused.
	path := boltStoreWithRequests(t, 3)
	if out, err := runCLI(t, "store", "migrate", "-from", path, "-to", dbURL); err != nil {
		t.Fatalf("store migrate: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "audit", "verify", "-db", dbURL); err != nil || !strings.Contains(out, "3 audit records, hash chain intact") {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
	s, err := store.OpenPostgres(context.Background(), dbURL, store.PostgresOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateRequest(store.Request{Platform: "slack", ChatUser: "U1", RoleName: "Exchange Administrator", Duration: time.Hour},
		store.AuditRecord{At: time.Now(), Actor: "slack:U1", Action: "request.created"}); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("a write through a read-only store = %v, want ErrReadOnly", err)
	}
}

// `store migrate` holds the leader lease while it copies: another elector (a serve starting
// meanwhile) cannot lead and waits; the lease is free once migrate ends, and the waiting serve
// then leads.
func TestStoreMigrateHoldsTheLease(t *testing.T) {
	path := boltStoreWithRequests(t, 3)
	dbURL := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	serve := lead.New(dbURL, lead.Config{Holder: "serve-b", TTL: 2 * time.Second, RenewEvery: 100 * time.Millisecond})
	defer serve.Close()
	type result struct {
		ctx context.Context
		err error
	}
	campaigned := make(chan result, 1)
	var during string
	migrateLeased = func() {
		holder, held, err := lead.Held(ctx, dbURL, nil)
		if err != nil || !held || !strings.Contains(holder, "elevate store migrate") {
			t.Errorf("during migrate: lease held %v by %q (%v); want held by the migrate", held, holder, err)
		}
		lctx, h, err := serve.TryLead(ctx)
		if err != nil || lctx != nil {
			t.Errorf("during migrate: a serve's TryLead = %v, %v; want refused", lctx, err)
		}
		during = h
		go func() { l, err := serve.Campaign(ctx); campaigned <- result{l, err} }()
	}
	defer func() { migrateLeased = nil }()
	out, err := runCLI(t, "store", "migrate", "-from", path, "-to", dbURL)
	if err != nil {
		t.Fatalf("store migrate: %v\n%s", err, out)
	}
	if !strings.Contains(during, "elevate store migrate") {
		t.Errorf("a serve refused during migrate was told the holder %q; want the migrate", during)
	}
	// The serve that campaigned during the copy leads once migrate has handed the lease back.
	r := <-campaigned
	if r.err != nil || !serve.Leading() {
		t.Fatalf("the serve waiting during migrate: Campaign = %v, leading %v; want it to lead after migrate", r.err, serve.Leading())
	}
	// It now holds the lease: a second migrate is refused, naming it, and writes nothing.
	other := boltStoreWithRequests(t, 1)
	migrateLeased = func() { t.Error("a refused migrate went on") }
	out, err = runCLI(t, "store", "migrate", "-from", other, "-to", dbURL, "-replace")
	if err == nil || !strings.Contains(err.Error(), "serve-b") || !strings.Contains(err.Error(), "stop every `elevate serve`") {
		t.Errorf("store migrate while serve-b leads = %v\n%s; want a refusal naming serve-b", err, out)
	}
	if err := serve.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	migrateLeased = nil
	if out, err := runCLI(t, "store", "migrate", "-from", other, "-to", dbURL, "-replace"); err != nil {
		t.Fatalf("store migrate -replace after serve-b resigned: %v\n%s", err, out)
	}
	if holder, held, err := lead.Held(ctx, dbURL, nil); err != nil || held {
		t.Errorf("after migrate: the lease is held by %q (%v); want it free", holder, err)
	}
}

// The copy's writes are fenced like a leader's: a migrate whose lease was taken over (it paused
// past the lease's end and a serve took it) writes nothing more, and says why.
func TestStoreMigrateFencedAfterLosingTheLease(t *testing.T) {
	const pw = "s3cret-pw"
	path := boltStoreWithRequests(t, 2)
	dbURL := withPassword(t, pgtest.URL(t), pw)
	if out, err := runCLI(t, "store", "migrate", "-from", path, "-to", dbURL); err != nil {
		t.Fatalf("store migrate: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	thief := lead.New(dbURL, lead.Config{Holder: "serve-c"})
	defer thief.Close()
	migrateLeased = func() {
		// As if migrate froze past its lease: the lease runs out and serve-c takes it.
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `UPDATE elevate_leader SET expires_at = clock_timestamp()`); err != nil {
			t.Fatal(err)
		}
		if l, h, err := thief.TryLead(ctx); l == nil || err != nil {
			t.Fatalf("serve-c's TryLead after the lease ran out = %q, %v; want the lead", h, err)
		}
	}
	defer func() { migrateLeased = nil }()
	other := boltStoreWithRequests(t, 5)
	out, err := runCLI(t, "store", "migrate", "-from", other, "-to", dbURL, "-replace")
	if err == nil || !strings.Contains(err.Error(), "lost the database's leader lease") || !strings.Contains(err.Error(), "serve-c") {
		t.Fatalf("store migrate after losing the lease = %v\n%s; want a refusal naming serve-c", err, out)
	}
	if n := strings.Count(err.Error(), "not the leader"); n != 1 || strings.Contains(err.Error()+out, pw) {
		t.Errorf("the refusal %q: says %q %d times (want once), or shows the password", err, "not the leader", n)
	}
	// -replace's delete was refused: the store is the first copy, whole.
	s, err := store.OpenPostgres(ctx, dbURL, store.PostgresOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.VerifyAudit(); err != nil || n != 2 {
		t.Errorf("the store after the fenced migrate: %d audit records, %v; want the first copy's 2", n, err)
	}
	if holder, held, err := lead.Held(ctx, dbURL, nil); err != nil || !held || holder != "serve-c" {
		t.Errorf("after the fenced migrate: lease %q held %v (%v); want serve-c's, untouched", holder, held, err)
	}
}

// An `elevate serve` started while `store migrate` copies stands by (alive, not ready, serving
// nothing) and leads once migrate has ended.
func TestStoreMigrateServeStandsBy(t *testing.T) {
	path := boltStoreWithRequests(t, 2)
	dbURL := pgtest.URL(t)
	var p *serveProc
	migrateLeased = func() {
		p = startServe(t, dbURL)
		p.standsBy(t)
		if holder, held, err := lead.Held(context.Background(), dbURL, nil); err != nil || !held || !strings.Contains(holder, "store migrate") {
			t.Errorf("during migrate, with a serve started: lease held %v by %q (%v); want the migrate", held, holder, err)
		}
	}
	defer func() { migrateLeased = nil }()
	if out, err := runCLI(t, "store", "migrate", "-from", path, "-to", dbURL); err != nil {
		t.Fatalf("store migrate: %v\n%s", err, out)
	}
	p.waitFor(t, "/readyz", http.StatusOK)
	if holder, held, err := lead.Held(context.Background(), dbURL, nil); err != nil || !held || strings.Contains(holder, "store migrate") {
		t.Errorf("after migrate: lease held %v by %q (%v); want the serve", held, holder, err)
	}
}

// A database that `store migrate` did not finish copying into (killed part way: its rows stop
// wherever the last chunk ended, and the audit chain it holds, a prefix, verifies) is refused by
// serve, which would otherwise lead on it as if whole; migrate -replace copies it over.
func TestServeRefusesUnfinishedCopy(t *testing.T) {
	path := boltStoreWithRequests(t, 2)
	dbURL := pgtest.URL(t)
	if out, err := runCLI(t, "store", "migrate", "-from", path, "-to", dbURL); err != nil {
		t.Fatalf("store migrate: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// What a migrate killed after its first chunk leaves: its mark, as it wrote it before copying.
	if _, err := conn.Exec(ctx, `INSERT INTO elevate_kv (bucket, key, value)
		SELECT bucket, 'copy_unfinished', 'started 2026-12-03T17:00:00Z' FROM elevate_kv WHERE key = 'version'`); err != nil {
		t.Fatal(err)
	}
	var logs logbuf.Buffer
	err = run(ctx, []string{"serve", "-sandbox", "-listen", freePort(t), "-db", dbURL, "-leader-ttl", "2s", "-leader-renew", "200ms"},
		strings.NewReader(""), io.Discard, &logs)
	if err == nil || !strings.Contains(err.Error(), "unfinished copy") || !strings.Contains(err.Error(), "store migrate -replace") {
		t.Fatalf("serve on an unfinished copy = %v; want a refusal saying to run store migrate -replace\n%s", err, logs.String())
	}
	if out, err := runCLI(t, "store", "migrate", "-from", path, "-to", dbURL); err == nil || !strings.Contains(err.Error(), "unfinished copy") ||
		!strings.Contains(err.Error(), "-replace") {
		t.Errorf("store migrate into an unfinished copy without -replace = %v; want a refusal naming it\n%s", err, out)
	}
	if out, err := runCLI(t, "store", "migrate", "-from", path, "-to", dbURL, "-replace"); err != nil {
		t.Fatalf("store migrate -replace: %v\n%s", err, out)
	}
	p := startServe(t, dbURL)
	p.waitFor(t, "/readyz", http.StatusOK)
}
