package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/elevate-pim/elevate/internal/pgconn"
)

// ErrNotLeader: PostgresOptions.Fence refused a write transaction, which was rolled back.
var ErrNotLeader = errors.New("store: not the leader")

// fenceError is a write the fence refused: it is ErrNotLeader and unwraps to the fence's error,
// whose text it shows after its own. The fence's error says why (lead's starts "not the leader:
// the lease is held by …"), so saying "not the leader" here too would say it twice.
type fenceError struct{ cause error }

func (e *fenceError) Error() string {
	return "store: write refused by the leadership fence: " + e.cause.Error()
}
func (e *fenceError) Is(target error) bool { return target == ErrNotLeader }
func (e *fenceError) Unwrap() error        { return e.cause }

// PostgresOptions configures OpenPostgres.
type PostgresOptions struct {
	// Fence, when set, runs inside every write transaction just before its commit; its first
	// statement carries the transaction's writes, which the server runs before it (pgWriteTx). An
	// error rolls the transaction back; Update and the other writes then
	// return it wrapped in ErrNotLeader. Schema migrations at open are not fenced: the advisory
	// lock serialises them instead.
	Fence func(ctx context.Context, tx pgx.Tx) error
	// ReadOnly opens the store without creating or migrating anything, and refuses every write
	// (ErrReadOnly): for commands that only read (`elevate audit verify`, `audit export`), which
	// must not change a database a running `serve` uses. A database without the store, or at a
	// schema version other than this build's, is refused.
	ReadOnly bool
	// Credential, when set, authenticates with Microsoft Entra: every new connection of the pool
	// gets an access token for pgconn.Scope from it as its password (the URL must carry none).
	Credential azcore.TokenCredential
}

// ErrReadOnly: a write to a store opened with PostgresOptions.ReadOnly.
var ErrReadOnly = errors.New("store: opened read-only")

// pgMaxConns is the connection pool's size unless the URL sets pool_max_conns.
const pgMaxConns = 10

// pgPage is how many rows a cursor reads per round trip.
const pgPage = 512

// pgTxTimeout bounds one transaction, its ROLLBACK included, so a database that stopped answering
// fails the write instead of hanging every writer behind it.
var pgTxTimeout = time.Minute

// pgWriteIdle is how long the server lets a write transaction sit idle once it has sent its
// writes (idle_in_transaction_session_timeout, set first in the round trip that carries them, the
// fence's read of the lease or, without a fence, their own before the COMMIT): after them comes
// only the commit, so a longer pause means the process froze or lost the connection, and its row
// locks (the audit bucket's among them) would hold up the next leader's every write. A fence may
// set its own later in the same round trip, which then holds (lead.Elector.Fence sets 2×TTL).
var pgWriteIdle = 10 * time.Second

// pgMigrateLock is the pg_advisory_xact_lock key that serialises schema migrations between
// processes opening the same database.
const pgMigrateLock = 0x656c6576617465 // "elevate"

// pgSchema creates the table. A bucket is a row of its parent (value NULL, seq its sequence)
// and its keys are the rows whose bucket column is its path: the names from the root down, each
// as appendStr. The root's path is empty, so the top-level buckets are the rows with an empty
// bucket column. bytea compares as memcmp, which is bbolt's key order.
const pgSchema = `
CREATE TABLE IF NOT EXISTS elevate_kv (
	bucket bytea NOT NULL,
	key    bytea NOT NULL,
	value  bytea,
	seq    bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (bucket, key)
);`

// OpenPostgres opens the store in the PostgreSQL database at dbURL, creating its tables at the
// latest schema or migrating an older one, in one transaction under an advisory lock so that
// processes starting together migrate once. A database written by a newer schema is refused with
// ErrSchemaTooNew and not modified. Errors never show the URL's password.
func OpenPostgres(ctx context.Context, dbURL string, opt PostgresOptions) (*Store, error) {
	cfg, err := pgconn.PoolConfig(dbURL, opt.Credential)
	if errors.Is(err, pgconn.ErrURL) {
		// Not the parser's text: it can repeat the URL, password and all.
		return nil, fmt.Errorf("store: cannot parse the PostgreSQL URL %s; the form is "+
			"postgres://user:password@host:5432/database?sslmode=verify-full", RedactURL(dbURL))
	} else if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if !strings.Contains(dbURL, "pool_max_conns") {
		// pgxpool's default is 4 (or the CPU count): a burst of reads queued behind it while
		// the writer holds one.
		cfg.MaxConns = pgMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, scrubPassword(fmt.Errorf("store: PostgreSQL %s: %w", RedactURL(dbURL), err), cfg, dbURL)
	}
	name := "database " + cfg.ConnConfig.Database
	db := &pgBackend{pool: pool, fence: opt.Fence, readOnly: opt.ReadOnly}
	if opt.ReadOnly {
		if err := db.checkVersion(ctx, name); err != nil {
			pool.Close()
			return nil, scrubPassword(err, cfg, dbURL)
		}
		return &Store{db: db, now: time.Now}, nil
	}
	if err := db.migrate(ctx, name); err != nil {
		pool.Close()
		return nil, scrubPassword(err, cfg, dbURL)
	}
	return &Store{db: db, now: time.Now}, nil
}

// ScrubPassword returns err with dbURL's password, wherever the driver put it in the text,
// replaced by "xxxxx"; errors.Is and errors.As still see err.
func ScrubPassword(err error, dbURL string) error {
	if err == nil {
		return nil
	}
	cfg, perr := pgxpool.ParseConfig(dbURL)
	if perr != nil {
		cfg = nil
	}
	return scrubPassword(err, cfg, dbURL)
}

// scrubPassword keeps the password out of an error's text whatever the driver put in it.
func scrubPassword(err error, cfg *pgxpool.Config, dbURL string) error {
	var pw []string
	if cfg != nil && cfg.ConnConfig.Password != "" {
		pw = append(pw, cfg.ConnConfig.Password)
	}
	if p, perr := url.Parse(dbURL); perr == nil {
		if s, ok := p.User.Password(); ok && s != "" {
			pw = append(pw, s, url.QueryEscape(s), url.PathEscape(s))
		}
		if s := p.Query().Get("password"); s != "" {
			pw = append(pw, s, url.QueryEscape(s))
		}
	}
	msg := err.Error()
	scrubbed := msg
	for _, s := range pw {
		scrubbed = strings.ReplaceAll(scrubbed, s, "xxxxx")
	}
	if scrubbed == msg {
		return err
	}
	return &redactedError{msg: scrubbed, err: err}
}

// redactedError is err with a message that does not show the password; errors.Is still sees err.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// RedactURL returns u with its password replaced by "xxxxx", for messages and logs.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	q := p.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		p.RawQuery = q.Encode()
	}
	return p.Redacted()
}

// PostgresTLSWarning says what is wrong with dbURL's TLS settings for a database that is not on
// this machine, or "" when nothing is: without sslmode=verify-full (or verify-ca) the server is
// not authenticated, and pgx's default, prefer, even falls back to no encryption. A URL that
// names only the loopback or a Unix socket is not warned about; neither is one that cannot be
// parsed (opening it says so). getenv reads PGSSLMODE, which pgx honours when the URL has no
// sslmode. The text never shows the password.
func PostgresTLSWarning(dbURL string, getenv func(string) string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	local := true
	hosts := strings.Split(u.Host, ",")
	if h := q.Get("host"); h != "" {
		hosts = strings.Split(h, ",")
	}
	for _, h := range hosts {
		if i := strings.LastIndex(h, ":"); i >= 0 && !strings.HasSuffix(h, "]") {
			h = h[:i]
		}
		h = strings.Trim(h, "[]")
		if h == "" || strings.HasPrefix(h, "/") || h == "localhost" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
			continue
		}
		local = false
	}
	if local {
		return ""
	}
	mode := q.Get("sslmode")
	if mode == "" {
		mode = getenv("PGSSLMODE")
	}
	switch mode {
	case "verify-full", "verify-ca":
		return ""
	case "require":
		if q.Get("sslrootcert") != "" {
			return "" // libpq and pgx verify the chain when a root certificate is given
		}
	case "":
		mode = "prefer (the default)"
	}
	return fmt.Sprintf("the PostgreSQL URL %s has sslmode=%s: the server's certificate is not checked "+
		"(and with disable, allow or prefer the connection may not be encrypted at all); set sslmode=verify-full",
		RedactURL(dbURL), mode)
}

// pgBackend keeps the buckets as rows. Write transactions run one at a time in this process, as
// on bbolt; their writes are kept in memory (reads and cursors see them) and sent in one round
// trip at the end, with the fence's read (pgWriteTx). Read transactions are REPEATABLE READ
// snapshots.
type pgBackend struct {
	pool     *pgxpool.Pool
	fence    func(ctx context.Context, tx pgx.Tx) error
	readOnly bool // PostgresOptions.ReadOnly
	writeMu  sync.Mutex

	// roots names the top-level buckets, for read transactions: they change only in
	// migrations, and a write transaction of this process refreshes them. nil: not known yet.
	rootsMu sync.Mutex
	roots   map[string]bool
}

func (p *pgBackend) forgetRoots() {
	p.rootsMu.Lock()
	p.roots = nil
	p.rootsMu.Unlock()
}

func (p *pgBackend) Close() error {
	p.pool.Close()
	return nil
}

func (p *pgBackend) View(fn func(kvTx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgTxTimeout)
	defer cancel()
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: PostgreSQL: %w", err)
	}
	// The pool closes a connection released inside a transaction (a failed ROLLBACK).
	defer conn.Release()
	q := &pgLazyRead{conn: conn.Conn()}
	t := newPgTx(ctx, q, false)
	t.backend = p
	err = fn(t)
	if q.begun {
		// Within the transaction's bound: on a network gone silent, a ROLLBACK without one waits
		// for its answer until the kernel gives up on the connection. Unanswered, the connection
		// is closed (and the pool drops it), which ends the transaction on the server.
		if _, rerr := conn.Exec(ctx, "ROLLBACK"); rerr != nil && err == nil && t.err == nil {
			err = fmt.Errorf("store: PostgreSQL: %w", rerr)
		}
	}
	if t.err != nil {
		return t.err
	}
	return err
}

// pgQuerier is what a transaction reads and writes through: a pgx.Tx, or pgLazyRead.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// pgLazyRead is a read transaction that begins with its first query, in the same round trip:
// a read of one key costs that round trip and the ROLLBACK's, and a read that finds all it
// needs in memory costs none.
type pgLazyRead struct {
	conn  *pgx.Conn
	begun bool
}

const pgBeginRead = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

func (l *pgLazyRead) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if l.begun {
		return l.conn.Query(ctx, sql, args...)
	}
	l.begun = true
	b := &pgx.Batch{}
	b.Queue(pgBeginRead)
	b.Queue(sql, args...)
	br := l.conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &pgBatchRows{Rows: rows, br: br}, nil
}

func (l *pgLazyRead) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := l.Query(ctx, sql, args...)
	return &pgOneRow{rows: rows, err: err}
}

func (l *pgLazyRead) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	panic("store: a read transaction sends no batch") // only flush sends one, in a write transaction
}

// pgBatchRows are the rows of the batch that began the transaction; closing them ends the batch.
type pgBatchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *pgBatchRows) Close() {
	r.Rows.Close()
	r.br.Close()
}

// pgOneRow is QueryRow's answer over Query: the first row, ErrNoRows without one.
type pgOneRow struct {
	rows pgx.Rows
	err  error
}

func (r *pgOneRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// checkVersion is migrate for a read-only store: the store must be there, at this build's schema.
func (p *pgBackend) checkVersion(ctx context.Context, name string) error {
	var exists bool
	if err := p.pool.QueryRow(ctx, `SELECT to_regclass('elevate_kv') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("store: PostgreSQL: %w", err)
	}
	if !exists {
		return fmt.Errorf("store: %s holds no Elevate store (no elevate_kv table)", name)
	}
	v, err := readVersion(p)
	switch {
	case err != nil:
		return err
	case v > latestVersion:
		return tooNew(name, v)
	case v < latestVersion:
		return fmt.Errorf("store: %s is at schema version %d and this elevate expects %d; it is migrated "+
			"when an `elevate serve` of this version opens it, and read-only commands do not change it", name, v, latestVersion)
	}
	return nil
}

func (p *pgBackend) Update(fn func(kvTx) error) error {
	if p.readOnly {
		return ErrReadOnly
	}
	ctx, cancel := context.WithTimeout(context.Background(), pgTxTimeout)
	defer cancel()
	return p.update(ctx, nil, fn, p.fence)
}

// update runs fn in a write transaction: pre first (on the raw transaction), then fn, then the
// flush of fn's writes, then fence, then the commit.
func (p *pgBackend) update(ctx context.Context, pre func(pgx.Tx) error, fn func(kvTx) error,
	fence func(context.Context, pgx.Tx) error) error {
	p.writeMu.Lock()
	defer p.writeMu.Unlock()
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: PostgreSQL: %w", err)
	}
	// The pool closes a connection released inside a transaction (a failed ROLLBACK).
	defer conn.Release()
	tx := &pgWriteTx{conn: conn.Conn()}
	// Within the transaction's bound, as in View: the write lock is held until it returns.
	defer tx.Rollback(ctx)
	if pre != nil {
		if err := pre(tx); err != nil {
			return err
		}
	}
	t := newPgTx(ctx, tx, true)
	t.backend = p
	err = fn(t)
	if t.err != nil {
		return t.err
	}
	if err != nil {
		return err
	}
	if err := t.flush(); err != nil {
		return err
	}
	if fence != nil {
		if err := fence(ctx, tx); err != nil {
			if tx.werr != nil {
				return tx.werr // the writes sent with the fence's read failed, not the fence
			}
			return &fenceError{err}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		if tx.werr != nil {
			return tx.werr // the writes sent with the COMMIT failed: it did not run
		}
		p.forgetRoots() // not knowing whether it committed
		return fmt.Errorf("store: PostgreSQL commit: %w", err)
	}
	if o := t.overlay[""]; o != nil && len(o.m) > 0 {
		p.forgetRoots() // top-level buckets created or deleted
	}
	return nil
}

// migrate creates the tables if needed and runs the migrations, as Open does on bbolt.
func (p *pgBackend) migrate(ctx context.Context, name string) error {
	lock := func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(pgMigrateLock)); err != nil {
			return fmt.Errorf("store: PostgreSQL: %w", err)
		}
		if _, err := tx.Exec(ctx, pgSchema); err != nil {
			return fmt.Errorf("store: PostgreSQL: create tables: %w", err)
		}
		return nil
	}
	return p.update(ctx, lock, func(tx kvTx) error {
		v, err := version(tx)
		if err != nil {
			return err
		}
		switch {
		case v > latestVersion:
			return tooNew(name, v)
		case v == latestVersion:
			return nil
		}
		return migrateTx(tx, name, latestVersion)
	}, nil)
}

// pgEntry is a key's state in a write transaction's overlay.
type pgEntry struct {
	v       []byte // nil with !deleted: a nested bucket
	seq     uint64 // a nested bucket's sequence
	deleted bool
	bucket  bool // deleted: the key was a nested bucket (DeleteBucket)
}

// pgOverlay is one bucket's pending writes.
type pgOverlay struct {
	m      map[string]pgEntry
	sorted []string // keys of m in order; nil when stale
}

func (o *pgOverlay) keys() []string {
	if o.sorted == nil {
		o.sorted = make([]string, 0, len(o.m))
		for k := range o.m {
			o.sorted = append(o.sorted, k)
		}
		sort.Strings(o.sorted)
	}
	return o.sorted
}

type pgRead struct {
	v          []byte
	seq        uint64
	found      bool
	seqUnknown bool // a top-level bucket known from pgBackend.roots: its sequence is not read yet
}

type pgTx struct {
	ctx      context.Context
	tx       pgQuerier
	backend  *pgBackend // for read transactions: the top-level buckets it knows
	writable bool
	err      error // the first database error; the transaction fails with it

	overlay map[string]*pgOverlay // bucket path → pending writes
	hidden  [][]byte              // paths of buckets deleted in this transaction: their rows in the database no longer count
	// What this transaction read from the database, which does not change under it (a read
	// transaction is a snapshot; a write transaction is the only writer and sends its writes
	// at the end):
	cache      map[string]pgRead      // bucket path ‖ key → row
	rootLoaded bool                   // every top-level bucket is in cache
	pages      map[string]*pgPageRows // bucket path → the rows a cursor read last
}

func newPgTx(ctx context.Context, tx pgQuerier, writable bool) *pgTx {
	return &pgTx{ctx: ctx, tx: tx, writable: writable, overlay: map[string]*pgOverlay{},
		cache: map[string]pgRead{}, pages: map[string]*pgPageRows{}}
}

var errTxReadOnly = errors.New("store: write in a read-only transaction")

func (t *pgTx) fail(err error) {
	if t.err == nil {
		t.err = fmt.Errorf("store: PostgreSQL: %w", err)
	}
}

func (t *pgTx) root() *pgBucket { return &pgBucket{tx: t} }

func (t *pgTx) Bucket(name []byte) kvBucket { return t.root().Bucket(name) }

func (t *pgTx) CreateBucketIfNotExists(name []byte) (kvBucket, error) {
	return t.root().CreateBucketIfNotExists(name)
}

func (t *pgTx) DeleteBucket(name []byte) error { return t.root().DeleteBucket(name) }

func (t *pgTx) Writable() bool { return t.writable }

func (t *pgTx) ForEach(fn func(name []byte, b kvBucket) error) error {
	r := t.root()
	return r.ForEach(func(k, v []byte) error {
		if v != nil {
			return nil // the root holds only buckets
		}
		return fn(k, r.Bucket(k))
	})
}

func (t *pgTx) isHidden(path []byte) bool {
	for _, h := range t.hidden {
		if bytes.HasPrefix(path, h) {
			return true
		}
	}
	return false
}

// get returns the value of key in the bucket at path, nil for a nested bucket; found says
// whether the key exists at all.
func (t *pgTx) get(path, key []byte) (v []byte, found bool) {
	r := t.getRow(path, key)
	return r.v, r.found
}

// getRow is get with a nested bucket's sequence.
func (t *pgTx) getRow(path, key []byte) pgRead {
	if o := t.overlay[string(path)]; o != nil {
		if e, ok := o.m[string(key)]; ok {
			return pgRead{v: e.v, seq: e.seq, found: !e.deleted}
		}
	}
	if t.isHidden(path) || t.err != nil {
		return pgRead{}
	}
	ck := cacheKey(path, key)
	if r, ok := t.cache[ck]; ok {
		return r
	}
	if len(path) == 0 {
		// The top-level buckets are few and nearly every transaction opens several: read them
		// all at once. A write transaction reads them (and their sequences) afresh; a read
		// transaction takes their names from the last one.
		if !t.rootLoaded && !t.writable && t.backend != nil {
			t.backend.rootsMu.Lock()
			roots := t.backend.roots
			t.backend.rootsMu.Unlock()
			if roots != nil {
				return pgRead{found: roots[string(key)], seqUnknown: roots[string(key)]}
			}
		}
		if !t.rootLoaded {
			t.loadRoot()
			return t.getRow(path, key)
		}
		return pgRead{}
	}
	var v []byte
	var isNull bool
	var seq int64
	err := t.tx.QueryRow(t.ctx, "SELECT value, value IS NULL, seq FROM elevate_kv WHERE bucket = $1 AND key = $2",
		path, key).Scan(&v, &isNull, &seq)
	var r pgRead
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		t.fail(err)
		return pgRead{}
	default:
		r = pgRead{v: v, seq: uint64(seq), found: true}
		if isNull {
			r.v = nil
		} else if r.v == nil {
			r.v = []byte{}
		}
	}
	t.cache[ck] = r
	return r
}

func cacheKey(path, key []byte) string { return string(path) + "\x00" + string(key) } // path is self-delimiting

// pgFixedNested are the top-level buckets whose nested buckets are a fixed few, made by the
// migrations (replays/keys and expiry, schedule/jobs, once, alerts and state): loadRoot reads
// them with the top-level buckets, in the same query, so that opening one (a replay key's
// check, under every acknowledgement) costs no round trip of its own.
var pgFixedNested = [][]byte{strs(string(bucketReplays)), strs(string(bucketSchedule))}

// loadRoot reads every top-level bucket (and its sequence) into the cache, and the nested
// buckets of pgFixedNested.
func (t *pgTx) loadRoot() {
	t.rootLoaded = true
	rows, err := t.tx.Query(t.ctx, "SELECT bucket, key, seq FROM elevate_kv WHERE value IS NULL AND (bucket = '' OR bucket = ANY($1))",
		pgFixedNested)
	if err != nil {
		t.fail(err)
		return
	}
	defer rows.Close()
	roots := map[string]bool{}
	for rows.Next() {
		var path, k []byte
		var seq int64
		if err := rows.Scan(&path, &k, &seq); err != nil {
			t.fail(err)
			return
		}
		if len(path) > 0 {
			// A nested bucket's row: known to exist, with its sequence, for this transaction.
			t.cache[cacheKey(path, k)] = pgRead{seq: uint64(seq), found: true}
			continue
		}
		t.cache[cacheKey(nil, k)] = pgRead{seq: uint64(seq), found: true}
		roots[string(k)] = true
	}
	if err := rows.Err(); err != nil {
		t.fail(err)
		return
	}
	if t.backend != nil { // what is committed; a write that changes it resets roots
		t.backend.rootsMu.Lock()
		t.backend.roots = roots
		t.backend.rootsMu.Unlock()
	}
}

func (t *pgTx) set(path, key []byte, e pgEntry) {
	o := t.overlay[string(path)]
	if o == nil {
		o = &pgOverlay{m: map[string]pgEntry{}}
		t.overlay[string(path)] = o
	}
	if _, ok := o.m[string(key)]; !ok {
		o.sorted = nil
	}
	o.m[string(key)] = e
}

// nonNil makes the root's path an empty bytea rather than NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// flush queues the transaction's writes, to go in one round trip with the statement after them
// (pgWriteTx: the fence's, or the COMMIT). Put and Delete do not ask the database
// whether a key they have not seen is a nested bucket (a round trip each): the statements refuse
// to turn a bucket's row into a value or the reverse, and a refused row fails the transaction.
func (t *pgTx) flush() error {
	b := &pgx.Batch{}
	// First, in the same round trip: from here the transaction holds row locks (see pgWriteIdle).
	b.Queue("SELECT set_config('idle_in_transaction_session_timeout', $1, true)", fmt.Sprint(pgWriteIdle.Milliseconds()))
	for _, h := range t.hidden {
		b.Queue("DELETE FROM elevate_kv WHERE substring(bucket from 1 for $2) = $1", h, len(h))
	}
	var delB, delK, bdelB, bdelK, putB, putK, putV [][]byte
	var putS []int64
	for path, o := range t.overlay {
		for k, e := range o.m {
			switch {
			case e.deleted && e.bucket:
				bdelB, bdelK = append(bdelB, []byte(path)), append(bdelK, []byte(k))
			case e.deleted:
				delB, delK = append(delB, []byte(path)), append(delK, []byte(k))
			default:
				putB, putK, putV, putS = append(putB, []byte(path)), append(putK, []byte(k)), append(putV, e.v), append(putS, int64(e.seq))
			}
		}
	}
	checkAt := -1
	if len(delB) > 0 {
		checkAt = b.Len()
		b.Queue(`SELECT count(*) FROM elevate_kv WHERE (bucket, key) IN (SELECT * FROM unnest($1::bytea[], $2::bytea[])) AND value IS NULL`, delB, delK)
		b.Queue(`DELETE FROM elevate_kv WHERE (bucket, key) IN (SELECT * FROM unnest($1::bytea[], $2::bytea[])) AND value IS NOT NULL`, delB, delK)
	}
	if len(bdelB) > 0 {
		b.Queue(`DELETE FROM elevate_kv WHERE (bucket, key) IN (SELECT * FROM unnest($1::bytea[], $2::bytea[])) AND value IS NULL`, bdelB, bdelK)
	}
	putAt := -1
	if len(putB) > 0 {
		putAt = b.Len()
		b.Queue(`INSERT INTO elevate_kv (bucket, key, value, seq) SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bigint[])
			ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value, seq = excluded.seq
			WHERE (elevate_kv.value IS NULL) = (excluded.value IS NULL)`, putB, putK, putV, putS)
	}
	if b.Len() == 1 {
		return nil // nothing to write
	}
	n := b.Len()
	t.tx.(*pgWriteTx).queue(b, func(br pgx.BatchResults) error {
		return checkWrites(br, n, checkAt, putAt, len(putB))
	})
	return nil
}

// checkWrites reads the results of flush's n statements: the nested-bucket check at checkAt, the
// puts at putAt (all nPut of them must be written), and fails on the first error.
func checkWrites(br pgx.BatchResults, n, checkAt, putAt, nPut int) error {
	for i := range n {
		if i == checkAt {
			var n int64
			if err := br.QueryRow().Scan(&n); err != nil {
				return fmt.Errorf("store: PostgreSQL write: %w", err)
			}
			if n > 0 {
				return fmt.Errorf("store: PostgreSQL write: %d deleted keys are nested buckets", n)
			}
			continue
		}
		tag, err := br.Exec()
		if err != nil {
			return fmt.Errorf("store: PostgreSQL write: %w", err)
		}
		if i == putAt && tag.RowsAffected() != int64(nPut) {
			return fmt.Errorf("store: PostgreSQL write: %d of %d keys not written: a value over a nested bucket, or a bucket over a value",
				int64(nPut)-tag.RowsAffected(), nPut)
		}
	}
	return nil
}

// known is what the transaction already knows of key, without asking the database; ok is false
// when it knows nothing.
func (t *pgTx) known(path, key []byte) (r pgRead, ok bool) {
	if o := t.overlay[string(path)]; o != nil {
		if e, ok := o.m[string(key)]; ok {
			return pgRead{v: e.v, seq: e.seq, found: !e.deleted}, true
		}
	}
	if t.isHidden(path) {
		return pgRead{}, true
	}
	r, ok = t.cache[cacheKey(path, key)]
	return r, ok
}

type pgBucket struct {
	tx           *pgTx
	path         []byte
	parent, name []byte // where its own row is (the root has none)
}

func (b *pgBucket) child(name []byte) []byte {
	p := make([]byte, 0, len(b.path)+len(name)+2)
	p = append(p, b.path...)
	return appendStr(p, string(name))
}

func (b *pgBucket) Get(k []byte) []byte {
	v, _ := b.tx.get(b.path, k)
	return v
}

func (b *pgBucket) Put(k, v []byte) error {
	switch {
	case !b.tx.writable:
		return errTxReadOnly
	case len(k) == 0:
		return errors.New("store: key required")
	}
	if r, ok := b.tx.known(b.path, k); ok && r.found && r.v == nil {
		return errors.New("store: key is a nested bucket")
	}
	b.tx.set(b.path, bytes.Clone(k), pgEntry{v: append([]byte{}, v...)})
	return nil
}

func (b *pgBucket) Delete(k []byte) error {
	if !b.tx.writable {
		return errTxReadOnly
	}
	if r, ok := b.tx.known(b.path, k); ok {
		if !r.found {
			return nil
		}
		if r.v == nil {
			return errors.New("store: key is a nested bucket")
		}
	}
	b.tx.set(b.path, bytes.Clone(k), pgEntry{deleted: true})
	return nil
}

func (b *pgBucket) Bucket(name []byte) kvBucket {
	if v, found := b.tx.get(b.path, name); !found || v != nil {
		return nil
	}
	return b.nested(name)
}

func (b *pgBucket) nested(name []byte) *pgBucket {
	name = bytes.Clone(name)
	return &pgBucket{tx: b.tx, path: b.child(name), parent: b.path, name: name}
}

func (b *pgBucket) CreateBucketIfNotExists(name []byte) (kvBucket, error) {
	if !b.tx.writable {
		return nil, errTxReadOnly
	}
	if len(name) == 0 {
		return nil, errors.New("store: bucket name required")
	}
	v, found := b.tx.get(b.path, name)
	switch {
	case b.tx.err != nil:
		return nil, b.tx.err
	case found && v != nil:
		return nil, errors.New("store: key is a value, not a bucket")
	case !found:
		b.tx.set(b.path, bytes.Clone(name), pgEntry{})
	}
	return b.nested(name), nil
}

func (b *pgBucket) DeleteBucket(name []byte) error {
	if !b.tx.writable {
		return errTxReadOnly
	}
	if v, found := b.tx.get(b.path, name); !found || v != nil {
		return errors.New("store: bucket not found")
	}
	b.tx.set(b.path, bytes.Clone(name), pgEntry{deleted: true, bucket: true})
	p := b.child(name)
	b.tx.hidden = append(b.tx.hidden, p)
	for path := range b.tx.overlay {
		if bytes.HasPrefix([]byte(path), p) {
			delete(b.tx.overlay, path)
		}
	}
	return nil
}

func (b *pgBucket) Sequence() uint64 {
	if b.name == nil {
		return 0 // the root has none
	}
	r := b.tx.getRow(b.parent, b.name)
	if !r.seqUnknown {
		return r.seq
	}
	t := b.tx
	var seq int64
	err := t.tx.QueryRow(t.ctx, "SELECT seq FROM elevate_kv WHERE bucket = '' AND key = $1", b.name).Scan(&seq)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		t.cache[cacheKey(nil, b.name)] = pgRead{}
		return 0
	case err != nil:
		t.fail(err)
		return 0
	}
	t.cache[cacheKey(nil, b.name)] = pgRead{seq: uint64(seq), found: true}
	return uint64(seq)
}

func (b *pgBucket) SetSequence(v uint64) error {
	switch {
	case !b.tx.writable:
		return errTxReadOnly
	case b.name == nil:
		return errors.New("store: the root has no sequence")
	}
	if r := b.tx.getRow(b.parent, b.name); !r.found || r.v != nil {
		if b.tx.err != nil {
			return b.tx.err
		}
		return errors.New("store: bucket not found")
	}
	b.tx.set(b.parent, b.name, pgEntry{seq: v})
	return nil
}

func (b *pgBucket) NextSequence() (uint64, error) {
	if !b.tx.writable {
		return 0, errTxReadOnly
	}
	v := b.Sequence() + 1
	if b.tx.err != nil {
		return 0, b.tx.err
	}
	return v, b.SetSequence(v)
}

func (b *pgBucket) ForEach(fn func(k, v []byte) error) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return b.tx.err
}

func (b *pgBucket) KeyN() (int, error) {
	t := b.tx
	if o := t.overlay[string(b.path)]; (o == nil || len(o.m) == 0) && !t.isHidden(b.path) && t.err == nil {
		var n int
		if err := t.tx.QueryRow(t.ctx, "SELECT count(*) FROM elevate_kv WHERE bucket = $1", nonNil(b.path)).Scan(&n); err != nil {
			t.fail(err)
			return 0, t.err
		}
		return n, nil
	}
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n, t.err
}

func (b *pgBucket) Cursor() kvCursor { return &pgCursor{b: b} }

// pgCursor walks the union of the database's rows (a page at a time) and the transaction's
// pending writes, which take precedence.
type pgCursor struct {
	b    *pgBucket
	cur  []byte // the key under the cursor
	past bool   // cur is nil because Seek went past the last key
}

// pgPageRows is a run of consecutive rows of the bucket, and the key range it covers entirely:
// every row of the database in [lo, hi] (bounds open or infinite as marked) is in rows.
type pgPageRows struct {
	rows   []pgRow
	lo, hi pgBound
	valid  bool
	size   int // rows to read next time: a lookup of one key (the last audit record) reads few, a scan grows to pgPage
}

type pgRow struct {
	k, v []byte // v nil: a nested bucket
}

type pgBound struct {
	k    []byte
	incl bool
	inf  bool
}

func (c *pgCursor) First() ([]byte, []byte) {
	k, v := c.succ(nil, true, true)
	c.cur, c.past = k, false
	return k, v
}

func (c *pgCursor) Last() ([]byte, []byte) {
	k, v := c.pred(nil, true, true)
	c.cur, c.past = k, false
	return k, v
}

func (c *pgCursor) Seek(seek []byte) ([]byte, []byte) {
	k, v := c.succ(seek, true, len(seek) == 0) // no key is empty
	c.cur, c.past = k, k == nil
	return k, v
}

// Next and Prev stay on the last key they returned when they run off an end, as bbolt's do: Prev
// past the start then Next gives the second key.
func (c *pgCursor) Next() ([]byte, []byte) {
	if c.cur == nil {
		return nil, nil
	}
	k, v := c.succ(c.cur, false, false)
	if k != nil {
		c.cur = k
	}
	return k, v
}

func (c *pgCursor) Prev() ([]byte, []byte) {
	if c.cur == nil {
		if c.past {
			return c.Last()
		}
		return nil, nil
	}
	k, v := c.pred(c.cur, false, false)
	if k != nil {
		c.cur = k
	}
	return k, v
}

func (c *pgCursor) Delete() error {
	if c.cur == nil {
		return errors.New("store: cursor not on a key")
	}
	return c.b.Delete(c.cur)
}

// succ returns the first live key after k (at or after it when incl; from the start when
// fromStart), and its value.
func (c *pgCursor) succ(k []byte, incl, fromStart bool) ([]byte, []byte) {
	var keys []string
	var o *pgOverlay
	if o = c.b.tx.overlay[string(c.b.path)]; o != nil {
		keys = o.keys()
	}
	for {
		dk, dv, dok := c.dbSucc(k, incl, fromStart)
		// The overlay's first key after k.
		i := 0
		if !fromStart {
			i = sort.Search(len(keys), func(i int) bool {
				cmp := bytes.Compare([]byte(keys[i]), k)
				return cmp > 0 || (incl && cmp == 0)
			})
		}
		if i < len(keys) && (!dok || bytes.Compare([]byte(keys[i]), dk) <= 0) {
			e := o.m[keys[i]]
			if e.deleted {
				k, incl, fromStart = []byte(keys[i]), false, false
				continue
			}
			return []byte(keys[i]), e.v
		}
		if !dok {
			return nil, nil
		}
		return dk, dv
	}
}

// pred mirrors succ backwards; fromEnd starts at the last key.
func (c *pgCursor) pred(k []byte, incl, fromEnd bool) ([]byte, []byte) {
	var keys []string
	var o *pgOverlay
	if o = c.b.tx.overlay[string(c.b.path)]; o != nil {
		keys = o.keys()
	}
	for {
		dk, dv, dok := c.dbPred(k, incl, fromEnd)
		// The overlay's last key before k.
		i := len(keys) - 1
		if !fromEnd {
			i = sort.Search(len(keys), func(i int) bool {
				cmp := bytes.Compare([]byte(keys[i]), k)
				return cmp > 0 || (!incl && cmp == 0)
			}) - 1
		}
		if i >= 0 && (!dok || bytes.Compare([]byte(keys[i]), dk) >= 0) {
			e := o.m[keys[i]]
			if e.deleted {
				k, incl, fromEnd = []byte(keys[i]), false, false
				continue
			}
			return []byte(keys[i]), e.v
		}
		if !dok {
			return nil, nil
		}
		return dk, dv
	}
}

// dbSucc is succ over the database's rows alone, served from the cursor's page when it covers
// the answer.
func (c *pgCursor) dbSucc(k []byte, incl, fromStart bool) ([]byte, []byte, bool) {
	t := c.b.tx
	if t.isHidden(c.b.path) || t.err != nil {
		return nil, nil, false
	}
	p := c.page()
	if p.valid && (p.lo.inf || (!fromStart && (bytes.Compare(p.lo.k, k) < 0 ||
		(bytes.Equal(p.lo.k, k) && (p.lo.incl || !incl))))) {
		i := 0
		if !fromStart {
			i = sort.Search(len(p.rows), func(i int) bool {
				cmp := bytes.Compare(p.rows[i].k, k)
				return cmp > 0 || (incl && cmp == 0)
			})
		}
		if i < len(p.rows) {
			return p.rows[i].k, p.rows[i].v, true
		}
		if p.hi.inf {
			return nil, nil, false
		}
	}
	// Fetch the page after k.
	var q string
	var args []any
	switch {
	case fromStart:
		q, args = "SELECT key, value, value IS NULL, seq FROM elevate_kv WHERE bucket = $1 ORDER BY key LIMIT $2", []any{nonNil(c.b.path), pgPage}
	case incl:
		q, args = "SELECT key, value, value IS NULL, seq FROM elevate_kv WHERE bucket = $1 AND key >= $3 ORDER BY key LIMIT $2", []any{nonNil(c.b.path), pgPage, k}
	default:
		q, args = "SELECT key, value, value IS NULL, seq FROM elevate_kv WHERE bucket = $1 AND key > $3 ORDER BY key LIMIT $2", []any{nonNil(c.b.path), pgPage, k}
	}
	n := p.next()
	args[1] = n
	rows, ok := c.fetch(q, args)
	if !ok {
		return nil, nil, false
	}
	*p = pgPageRows{rows: rows, valid: true, size: n, lo: pgBound{k: bytes.Clone(k), incl: incl, inf: fromStart}}
	if len(rows) < n {
		p.hi = pgBound{inf: true}
	} else {
		p.hi = pgBound{k: rows[len(rows)-1].k, incl: true}
	}
	if len(rows) == 0 {
		return nil, nil, false
	}
	return rows[0].k, rows[0].v, true
}

// dbPred is dbSucc backwards.
func (c *pgCursor) dbPred(k []byte, incl, fromEnd bool) ([]byte, []byte, bool) {
	t := c.b.tx
	if t.isHidden(c.b.path) || t.err != nil {
		return nil, nil, false
	}
	p := c.page()
	if p.valid && (p.hi.inf || (!fromEnd && (bytes.Compare(p.hi.k, k) > 0 ||
		(bytes.Equal(p.hi.k, k) && (p.hi.incl || !incl))))) {
		i := len(p.rows) - 1
		if !fromEnd {
			i = sort.Search(len(p.rows), func(i int) bool {
				cmp := bytes.Compare(p.rows[i].k, k)
				return cmp > 0 || (!incl && cmp == 0)
			}) - 1
		}
		if i >= 0 {
			return p.rows[i].k, p.rows[i].v, true
		}
		if p.lo.inf {
			return nil, nil, false
		}
	}
	var q string
	var args []any
	switch {
	case fromEnd:
		q, args = "SELECT key, value, value IS NULL, seq FROM elevate_kv WHERE bucket = $1 ORDER BY key DESC LIMIT $2", []any{nonNil(c.b.path), pgPage}
	case incl:
		q, args = "SELECT key, value, value IS NULL, seq FROM elevate_kv WHERE bucket = $1 AND key <= $3 ORDER BY key DESC LIMIT $2", []any{nonNil(c.b.path), pgPage, k}
	default:
		q, args = "SELECT key, value, value IS NULL, seq FROM elevate_kv WHERE bucket = $1 AND key < $3 ORDER BY key DESC LIMIT $2", []any{nonNil(c.b.path), pgPage, k}
	}
	n := p.next()
	args[1] = n
	rows, ok := c.fetch(q, args)
	if !ok {
		return nil, nil, false
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	*p = pgPageRows{rows: rows, valid: true, size: n, hi: pgBound{k: bytes.Clone(k), incl: incl, inf: fromEnd}}
	if len(rows) < n {
		p.lo = pgBound{inf: true}
	} else {
		p.lo = pgBound{k: rows[0].k, incl: true}
	}
	if len(rows) == 0 {
		return nil, nil, false
	}
	return rows[len(rows)-1].k, rows[len(rows)-1].v, true
}

// page is the bucket's page of rows, shared by the transaction's cursors on it.
func (c *pgCursor) page() *pgPageRows {
	p := c.b.tx.pages[string(c.b.path)]
	if p == nil {
		p = &pgPageRows{}
		c.b.tx.pages[string(c.b.path)] = p
	}
	return p
}

// pgFirstPage is how many rows a bucket's first read takes; each further read doubles it, up to
// pgPage.
const pgFirstPage = 8

func (p *pgPageRows) next() int {
	if p.size == 0 {
		return pgFirstPage
	}
	return min(2*p.size, pgPage)
}

func (c *pgCursor) fetch(q string, args []any) ([]pgRow, bool) {
	t := c.b.tx
	rows, err := t.tx.Query(t.ctx, q, args...)
	if err != nil {
		t.fail(err)
		return nil, false
	}
	defer rows.Close()
	out := make([]pgRow, 0, 16)
	for rows.Next() {
		var r pgRow
		var isNull bool
		var seq int64
		if err := rows.Scan(&r.k, &r.v, &isNull, &seq); err != nil {
			t.fail(err)
			return nil, false
		}
		if isNull {
			r.v = nil
			// Walking a bucket of buckets opens each: keep their rows (and sequences).
			t.cache[cacheKey(c.b.path, r.k)] = pgRead{seq: uint64(seq), found: true}
		} else if r.v == nil {
			r.v = []byte{}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.fail(err)
		return nil, false
	}
	return out, true
}
