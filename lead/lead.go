// Package lead elects one leader among the `elevate serve` processes sharing a PostgreSQL
// database, and fences the store's writes so that only the current leader's writes commit.
//
// Leadership is a lease: one row in its own table,
//
//	elevate_leader(id int primary key, holder text, epoch bigint, expires_at timestamptz)
//
// created if missing. A candidate takes the row when its lease has expired, bumping the epoch;
// the leader renews it every RenewEvery for TTL more. Every time is the database's clock
// (clock_timestamp()), never a process's, so the processes' clocks need not agree.
//
// # Numbers
//
// Defaults: TTL 5 s, renewal every 1 s, local margin 1 s. A leader that has not renewed within
// TTL−Margin (4 s, measured on its monotonic clock from the moment it sent its last successful
// renewal) steps down at once, before its lease can expire in the database; a renewal that fails
// (the connection lost, the row taken) steps down at once too. A standby looks at the row every
// RenewEvery, so when a leader dies the lease runs out at most TTL after its last renewal and a
// standby holds it at most RenewEvery later: worst case TTL+RenewEvery = 6 s, plus a round trip.
// A leader that stops cleanly resigns (expires its lease) and a standby takes over within
// RenewEvery.
//
// # Fencing
//
// Stepping down is not enough on its own: a leader paused between its check and its commit (a
// long GC, a frozen VM, a slow network) could write after a successor started. So every write
// transaction of the store calls Fence before it commits. Fence reads the lease row inside that
// transaction with SELECT … FOR KEY SHARE and refuses unless the row still names this process
// and epoch and has not expired. Row locks in PostgreSQL make the rest work:
//
//   - A takeover locks the row with SELECT … FOR UPDATE before bumping the epoch. FOR UPDATE
//     conflicts with FOR KEY SHARE, so the takeover waits for every write transaction that passed
//     Fence to commit or abort; a write that passed Fence therefore commits before the takeover.
//     A write whose Fence comes after the takeover reads the new epoch and is refused. Writes
//     arriving while the takeover holds the lock wait for it, then read the new epoch (READ
//     COMMITTED re-reads the newest row version after a lock wait) and are refused.
//   - A renewal is a plain UPDATE of non-key columns, which takes FOR NO KEY UPDATE: that lock
//     does not conflict with FOR KEY SHARE, so renewals never wait for the leader's own writers
//     (and writers never wait for renewals). It does conflict with FOR UPDATE, so a renewal racing
//     a takeover waits, then finds the epoch moved on and fails.
//   - A standby polls with an unlocked read and locks only once the lease looks expired, so a
//     healthy leader's writes never wait for a standby.
//   - Fence sets idle_in_transaction_session_timeout for the rest of the write transaction: a
//     leader frozen between Fence and commit holds the row lock, and the server ends its session
//     after 2×TTL so the takeover can go on (a takeover waits at most that long for it). The
//     store sends a transaction's writes in the same round trip as Fence's read, after its own
//     idle timeout (10 s) and before that read: from the moment the transaction holds row locks
//     on what it wrote, which the successor's writes would wait for, an idle timeout is set
//     (Fence's 2×TTL, the later of the two), so a leader frozen then does not hold them until TCP
//     keepalive notices, hours later. Before its writes a transaction has only read, which takes
//     no row lock. Without a fence the store's 10 s holds between the writes and the COMMIT.
package lead

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/jackc/pgx/v5"

	"github.com/elevate-pim/elevate/internal/pgconn"
)

// ErrNotLeader is returned by Fence when this process does not hold the current lease, and is
// the cause of a leader context's cancellation.
var ErrNotLeader = errors.New("not the leader")

// Config tunes an Elector. Zero values take the defaults.
type Config struct {
	// TTL is how long a lease lasts after its last renewal (default 5s).
	TTL time.Duration
	// RenewEvery is how often the leader renews and a standby looks (default 1s).
	RenewEvery time.Duration
	// Margin is how long before the lease's end, by its own clock, the leader steps down when it
	// could not renew (default 1s, at most TTL/2).
	Margin time.Duration
	// Holder names this process in the lease row (default hostname/pid/random).
	Holder string
	Logger *slog.Logger
	// Credential, when set, authenticates with Microsoft Entra: each new connection gets an
	// access token from it as its password (see internal/pgconn).
	Credential azcore.TokenCredential
}

// Elector campaigns for the lease on its own connection and fences the store's writes.
type Elector struct {
	url string
	cfg Config
	log *slog.Logger

	connMu sync.Mutex // the connection is used by Campaign, the renewal loop and Resign in turn
	conn   *pgx.Conn

	mu       sync.Mutex
	epoch    int64                   // this process's term; 0 when not leading
	deadline time.Time               // local (monotonic) end of the term unless renewed
	cancel   context.CancelCauseFunc // ends the current leader context
	done     chan struct{}           // closed when the renewal loop ended
}

const leaseID = 1

// New returns an Elector for the database at url; nothing is contacted until Campaign.
func New(url string, cfg Config) *Elector {
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Second
	}
	if cfg.RenewEvery <= 0 {
		cfg.RenewEvery = time.Second
	}
	if cfg.Margin <= 0 {
		cfg.Margin = time.Second
	}
	cfg.Margin = min(cfg.Margin, cfg.TTL/2)
	if cfg.Holder == "" {
		cfg.Holder = holderName()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Elector{url: url, cfg: cfg, log: cfg.Logger}
}

// holderName is hostname/pid/random: unique across restarts of the same pod.
func holderName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Holder is this process's name in the lease row.
func (e *Elector) Holder() string { return e.cfg.Holder }

// Config is the elector's configuration with defaults applied.
func (e *Elector) Config() Config { return e.cfg }

// Campaign blocks until this process holds the lease (or ctx ends) and returns a context that is
// cancelled, with ErrNotLeader as its cause, the moment leadership is lost: a renewal failed or
// did not succeed within TTL−Margin. Errors reaching the database are logged and retried.
func (e *Elector) Campaign(ctx context.Context) (context.Context, error) {
	for {
		epoch, sent, _, err := e.tryAcquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e.log.Warn("leader election: cannot reach the database, retrying", "err", err)
		}
		if epoch > 0 {
			return e.lead(epoch, sent), nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(e.cfg.RenewEvery):
		}
	}
}

// TryLead takes the lease once, without waiting: if it is free it returns the leader context, as
// Campaign does; if another process holds it, a nil context and that process's name. It is for a
// command that must write alone for a while (`elevate store migrate`): holding the lease, its
// writes are fenced like a leader's and every `elevate serve` stands by until it resigns.
func (e *Elector) TryLead(ctx context.Context) (leader context.Context, holder string, err error) {
	epoch, sent, holder, err := e.tryAcquire(ctx)
	if err != nil || epoch == 0 {
		return nil, holder, err
	}
	return e.lead(epoch, sent), "", nil
}

// tryAcquire takes the lease if it has expired (or was never taken). It returns the new epoch, or
// 0 when another process holds the lease, and when the acquiring statement was sent; holder is
// the process the row named before (the one that leads when epoch is 0).
func (e *Elector) tryAcquire(ctx context.Context) (epoch int64, sent time.Time, holder string, err error) {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	conn, err := e.connect(ctx)
	if err != nil {
		return 0, time.Time{}, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 4*e.cfg.TTL)
	defer cancel()
	// Look first without a lock: a row lock taken every second by each standby would make the
	// leader's writes wait for it.
	var free bool
	if err := conn.QueryRow(ctx, `SELECT expires_at <= clock_timestamp(), holder FROM elevate_leader WHERE id = $1`,
		leaseID).Scan(&free, &holder); err != nil {
		return 0, time.Time{}, "", e.broken(err)
	}
	if !free {
		return 0, time.Time{}, holder, nil
	}
	sent = time.Now()
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// FOR UPDATE waits for the old leader's write transactions that passed Fence (FOR KEY
		// SHARE): they commit before the epoch moves, or not at all. lock_timeout bounds the
		// wait for a writer that neither commits nor is ended by its idle timeout.
		if _, err := tx.Exec(ctx, `SELECT set_config('lock_timeout', $1, true)`, fmt.Sprint(3*e.cfg.TTL.Milliseconds())); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT expires_at <= clock_timestamp(), holder FROM elevate_leader WHERE id = $1 FOR UPDATE`,
			leaseID).Scan(&free, &holder); err != nil {
			return err
		}
		if !free {
			return nil // renewed or taken by another standby meanwhile
		}
		sent = time.Now()
		return tx.QueryRow(ctx, `UPDATE elevate_leader SET holder = $2, epoch = epoch + 1,
			expires_at = clock_timestamp() + $3 * interval '1 millisecond' WHERE id = $1 RETURNING epoch`,
			leaseID, e.cfg.Holder, e.cfg.TTL.Milliseconds()).Scan(&epoch)
	})
	if err != nil {
		return 0, time.Time{}, "", e.broken(err)
	}
	if epoch > 0 {
		e.log.Info("leader election: this process leads", "holder", e.cfg.Holder, "epoch", epoch, "previous_holder", holder)
	}
	return epoch, sent, holder, nil
}

// connect returns the elector's connection, opening it (and the lease table) if needed.
// connMu is held.
func (e *Elector) connect(ctx context.Context) (*pgx.Conn, error) {
	if e.conn != nil && !e.conn.IsClosed() {
		return e.conn, nil
	}
	cctx, cancel := context.WithTimeout(ctx, 2*e.cfg.TTL)
	defer cancel()
	conn, err := pgconn.Connect(cctx, e.url, e.cfg.Credential, func(cc *pgx.ConnConfig) {
		// Named so operators (and the tests) can tell the lease's session in pg_stat_activity.
		cc.RuntimeParams["application_name"] = "elevate-lead " + e.cfg.Holder
	})
	if errors.Is(err, pgconn.ErrURL) {
		// Not the parser's text: it repeats the URL, password and all, when it cannot tell
		// where the password is.
		return nil, errors.New("leader election: cannot parse the database URL")
	} else if err != nil {
		return nil, err
	}
	if err := ensureTable(cctx, conn); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	e.conn = conn
	return conn, nil
}

// ensureTable creates the lease table and its one row. Two processes starting together
// serialise on a transaction-scoped advisory lock (CREATE TABLE IF NOT EXISTS alone can fail on a
// concurrent create).
func ensureTable(ctx context.Context, conn *pgx.Conn) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('elevate_leader'))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS elevate_leader (
			id int PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL)`); err != nil {
			return fmt.Errorf("creating the lease table: %w", err)
		}
		_, err := tx.Exec(ctx, `INSERT INTO elevate_leader (id, holder, epoch, expires_at)
			VALUES ($1, '', 0, '-infinity') ON CONFLICT (id) DO NOTHING`, leaseID)
		return err
	})
}

// broken drops the connection after an error that may have left it unusable, so the next
// attempt reconnects. connMu is held.
func (e *Elector) broken(err error) error {
	if e.conn != nil {
		e.conn.Close(context.Background())
		e.conn = nil
	}
	return err
}

// lead starts a term: the renewal loop and the local deadline.
func (e *Elector) lead(epoch int64, sent time.Time) context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan struct{})
	e.mu.Lock()
	e.epoch, e.cancel, e.done = epoch, cancel, done
	e.deadline = sent.Add(e.cfg.TTL - e.cfg.Margin)
	e.mu.Unlock()
	go e.renew(ctx, epoch, done)
	return ctx
}

// stepDown ends the term at once.
func (e *Elector) stepDown(epoch int64, why error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.epoch != epoch {
		return
	}
	e.epoch = 0
	e.cancel(fmt.Errorf("%w: %w", ErrNotLeader, why))
}

// renew keeps the lease until a renewal fails or the local deadline passes.
func (e *Elector) renew(ctx context.Context, epoch int64, done chan struct{}) {
	defer close(done)
	e.mu.Lock()
	deadline := e.deadline
	e.mu.Unlock()
	// The local deadline fires even while a renewal hangs.
	expire := time.AfterFunc(time.Until(deadline), func() {
		e.stepDown(epoch, fmt.Errorf("no renewal within %s", e.cfg.TTL-e.cfg.Margin))
	})
	defer expire.Stop()
	tick := time.NewTicker(e.cfg.RenewEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		sent := time.Now()
		if err := e.renewOnce(ctx, epoch, deadline); err != nil {
			e.stepDown(epoch, err)
			return
		}
		deadline = sent.Add(e.cfg.TTL - e.cfg.Margin)
		e.mu.Lock()
		if e.epoch != epoch { // the deadline fired while renewing
			e.mu.Unlock()
			return
		}
		e.deadline = deadline
		expire.Reset(time.Until(deadline))
		e.mu.Unlock()
	}
}

func (e *Elector) renewOnce(ctx context.Context, epoch int64, deadline time.Time) error {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if e.conn == nil || e.conn.IsClosed() {
		// A new session could renew, but the lost one may have held a writer's fate; the
		// conservative answer is to step down and let the lease run out.
		return errors.New("the lease connection was lost")
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	tag, err := e.conn.Exec(ctx, `UPDATE elevate_leader SET expires_at = clock_timestamp() + $4 * interval '1 millisecond'
		WHERE id = $1 AND holder = $2 AND epoch = $3 AND expires_at > clock_timestamp()`,
		leaseID, e.cfg.Holder, epoch, e.cfg.TTL.Milliseconds())
	if err != nil {
		e.broken(err)
		return fmt.Errorf("renewing the lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errors.New("the lease expired or was taken by another process")
	}
	return nil
}

// Fence refuses, with an error wrapping ErrNotLeader, unless this process holds the current
// lease; the store calls it inside every write transaction before commit. The row lock it takes
// makes a takeover wait for this transaction (see the package doc).
func (e *Elector) Fence(ctx context.Context, tx pgx.Tx) error {
	e.mu.Lock()
	epoch, deadline := e.epoch, e.deadline
	e.mu.Unlock()
	if epoch == 0 {
		return ErrNotLeader
	}
	if !time.Now().Before(deadline) {
		return fmt.Errorf("%w: the lease was not renewed in time", ErrNotLeader)
	}
	var holder string
	var current int64
	var live bool
	err := tx.QueryRow(ctx, `SELECT set_config('idle_in_transaction_session_timeout', $2, true),
			holder, epoch, expires_at > clock_timestamp()
		FROM elevate_leader WHERE id = $1 FOR KEY SHARE`,
		leaseID, fmt.Sprint(2*e.cfg.TTL.Milliseconds())).Scan(nil, &holder, &current, &live)
	if err != nil {
		return fmt.Errorf("%w: reading the lease: %w", ErrNotLeader, err)
	}
	switch {
	case holder != e.cfg.Holder || current != epoch:
		return fmt.Errorf("%w: the lease is held by %s (epoch %d, ours was %d)", ErrNotLeader, holder, current, epoch)
	case !live:
		return fmt.Errorf("%w: the lease expired", ErrNotLeader)
	}
	return nil
}

// Epoch is this process's current term, 0 when it does not lead.
func (e *Elector) Epoch() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.epoch
}

// Leading reports whether this process believes it holds the lease now.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.epoch != 0 && time.Now().Before(e.deadline)
}

// Resign ends the term and expires the lease in the database, so a standby takes over within
// RenewEvery instead of TTL. Call it after the last write; it is a no-op when not leading.
func (e *Elector) Resign(ctx context.Context) error {
	e.mu.Lock()
	epoch, done := e.epoch, e.done
	e.mu.Unlock()
	if epoch != 0 {
		e.stepDown(epoch, errors.New("resigned"))
	}
	if done != nil {
		<-done
	}
	if epoch == 0 {
		return nil
	}
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if e.conn == nil || e.conn.IsClosed() {
		return nil
	}
	_, err := e.conn.Exec(ctx, `UPDATE elevate_leader SET expires_at = clock_timestamp()
		WHERE id = $1 AND holder = $2 AND epoch = $3`, leaseID, e.cfg.Holder, epoch)
	return err
}

// Close ends any term (without resigning) and closes the connection.
func (e *Elector) Close() {
	e.mu.Lock()
	epoch, done := e.epoch, e.done
	e.mu.Unlock()
	if epoch != 0 {
		e.stepDown(epoch, errors.New("closed"))
	}
	if done != nil {
		<-done
	}
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if e.conn != nil {
		e.conn.Close(context.Background())
		e.conn = nil
	}
}

// Held reports whether a process leads on the database at url now: the lease row names a holder
// and has not expired by the database's clock. A database without the lease table has no leader.
// It only looks: a command that writes takes the lease itself (TryLead).
// cred, when set, authenticates with Microsoft Entra (see Config.Credential).
func Held(ctx context.Context, url string, cred azcore.TokenCredential) (holder string, held bool, err error) {
	conn, err := pgconn.Connect(ctx, url, cred, nil)
	if errors.Is(err, pgconn.ErrURL) {
		return "", false, errors.New("leader election: cannot parse the database URL")
	} else if err != nil {
		return "", false, err
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('elevate_leader') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return "", false, err
	}
	err = conn.QueryRow(ctx, `SELECT holder, holder <> '' AND expires_at > clock_timestamp() FROM elevate_leader WHERE id = $1`,
		leaseID).Scan(&holder, &held)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return holder, held, err
}
