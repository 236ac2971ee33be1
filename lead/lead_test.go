package lead

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Short numbers so takeovers happen within a test; the bounds asserted below follow from them.
var testConfig = Config{TTL: 2 * time.Second, RenewEvery: 200 * time.Millisecond, Margin: 500 * time.Millisecond}

func newElector(t *testing.T, url, holder string) *Elector {
	t.Helper()
	cfg := testConfig
	cfg.Holder = holder
	e := New(url, cfg)
	t.Cleanup(e.Close)
	return e
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

type campaign struct {
	ctx context.Context
	err error
	at  time.Time
}

func campaignAsync(ctx context.Context, e *Elector) <-chan campaign {
	ch := make(chan campaign, 1)
	go func() {
		lctx, err := e.Campaign(ctx)
		ch <- campaign{lctx, err, time.Now()}
	}()
	return ch
}

func mustLead(t *testing.T, e *Elector) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lctx, err := e.Campaign(ctx)
	if err != nil {
		t.Fatalf("%s: Campaign: %v", e.Holder(), err)
	}
	return lctx
}

// fencedWrite runs a write transaction as the store does: the write, then Fence, then commit.
func fencedWrite(ctx context.Context, conn *pgx.Conn, e *Elector, value string) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO writes (value) VALUES ($1)`, value); err != nil {
			return err
		}
		return e.Fence(ctx, tx)
	})
}

func setupWrites(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), `CREATE TABLE writes (value text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
}

func written(t *testing.T, conn *pgx.Conn, value string) bool {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM writes WHERE value = $1`, value).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func leaseRow(t *testing.T, conn *pgx.Conn) (holder string, epoch int64) {
	t.Helper()
	if err := conn.QueryRow(context.Background(), `SELECT holder, epoch FROM elevate_leader WHERE id = 1`).Scan(&holder, &epoch); err != nil {
		t.Fatal(err)
	}
	return holder, epoch
}

// terminate ends the elector's database session from the server side, as a network cut or a
// database failover does.
func terminate(t *testing.T, conn *pgx.Conn, e *Elector) {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1`, "elevate-lead "+e.Holder()).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("terminated %d sessions of %s, want 1", n, e.Holder())
	}
}

// waitingOnLock waits until the elector's session waits for a row lock.
func waitingOnLock(t *testing.T, conn *pgx.Conn, e *Elector) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(20 * time.Millisecond) {
		var n int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock'`, "elevate-lead "+e.Holder()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			return
		}
	}
	t.Fatalf("%s never waited for the lease row's lock", e.Holder())
}

func TestOnlyOneLeads(t *testing.T) {
	url := pgtest.URL(t)
	a, b := newElector(t, url, "a"), newElector(t, url, "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ca, cb := campaignAsync(ctx, a), campaignAsync(ctx, b)
	var first campaign
	var leader, standby *Elector
	var pending <-chan campaign
	select {
	case first = <-ca:
		leader, standby, pending = a, b, cb
	case first = <-cb:
		leader, standby, pending = b, a, ca
	}
	if first.err != nil {
		t.Fatal(first.err)
	}
	conn := connect(t, url)
	setupWrites(t, conn)
	// Several renewals pass; the standby still does not lead and its writes are refused.
	for i := range 3 {
		time.Sleep(testConfig.RenewEvery)
		if holder, _ := leaseRow(t, conn); holder != leader.Holder() {
			t.Fatalf("lease row names %q, want the leader %q", holder, leader.Holder())
		}
		if err := fencedWrite(ctx, conn, standby, "standby"); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("standby's write: got %v, want ErrNotLeader", err)
		}
		if err := fencedWrite(ctx, conn, leader, "leader"+string(rune('0'+i))); err != nil {
			t.Fatalf("leader's write: %v", err)
		}
	}
	select {
	case c := <-pending:
		t.Fatalf("%s leads too (err %v) while %s renews", standby.Holder(), c.err, leader.Holder())
	default:
	}
	if !leader.Leading() || standby.Leading() {
		t.Fatalf("Leading: leader %v, standby %v", leader.Leading(), standby.Leading())
	}
	if first.ctx.Err() != nil {
		t.Fatalf("leader context ended: %v", context.Cause(first.ctx))
	}

	// A clean stop resigns: the standby takes over without waiting for the TTL, with a new epoch.
	_, before := leaseRow(t, conn)
	if err := leader.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(context.Cause(first.ctx), ErrNotLeader) {
		t.Fatalf("resigned leader's context: cause %v, want ErrNotLeader", context.Cause(first.ctx))
	}
	second := <-pending
	if second.err != nil {
		t.Fatal(second.err)
	}
	if holder, epoch := leaseRow(t, conn); holder != standby.Holder() || epoch != before+1 {
		t.Fatalf("after resigning: lease row %q epoch %d, want %q epoch %d", holder, epoch, standby.Holder(), before+1)
	}
	if err := fencedWrite(ctx, conn, leader, "old"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("resigned leader's write: got %v, want ErrNotLeader", err)
	}
}

func TestTakeoverWhenLeaderLosesDatabase(t *testing.T) {
	url := pgtest.URL(t)
	conn := connect(t, url)
	setupWrites(t, conn)
	a, b := newElector(t, url, "a"), newElector(t, url, "b")
	actx := mustLead(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cb := campaignAsync(ctx, b)

	killed := time.Now()
	terminate(t, conn, a)
	<-actx.Done() // the next renewal fails: a steps down at once
	if !errors.Is(context.Cause(actx), ErrNotLeader) {
		t.Fatalf("a's leader context: cause %v, want ErrNotLeader", context.Cause(actx))
	}
	if a.Leading() {
		t.Fatal("a still says it leads after its session was killed")
	}
	got := <-cb
	if got.err != nil {
		t.Fatal(got.err)
	}
	// The lease ran out at most TTL after a's last renewal (before the kill), and b looks every
	// RenewEvery. The slack covers a loaded test machine's round trips.
	bound := testConfig.TTL + testConfig.RenewEvery + 2*time.Second
	if took := got.at.Sub(killed); took > bound {
		t.Errorf("b led %s after a's session was killed, want at most %s", took, bound)
	}
	if holder, _ := leaseRow(t, conn); holder != "b" {
		t.Fatalf("lease row names %q, want b", holder)
	}
	if err := fencedWrite(ctx, conn, a, "a"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("a's write after the takeover: got %v, want ErrNotLeader", err)
	}
	if err := fencedWrite(ctx, conn, b, "b"); err != nil {
		t.Fatalf("b's write: %v", err)
	}
	if written(t, conn, "a") || !written(t, conn, "b") {
		t.Fatalf("stored: a %v (want false), b %v (want true)", written(t, conn, "a"), written(t, conn, "b"))
	}
}

// A leader that believes it leads but was overtaken (it was paused past its lease) is refused
// by the database, not by its own bookkeeping.
func TestFenceRefusesAnUnseenTakeover(t *testing.T) {
	url := pgtest.URL(t)
	conn := connect(t, url)
	setupWrites(t, conn)
	a := newElector(t, url, "a")
	mustLead(t, a)
	if _, err := conn.Exec(context.Background(), `UPDATE elevate_leader SET holder = 'b', epoch = epoch + 1`); err != nil {
		t.Fatal(err)
	}
	err := fencedWrite(context.Background(), conn, a, "a")
	if !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write after an unseen takeover: got %v, want ErrNotLeader", err)
	}
	if written(t, conn, "a") {
		t.Fatal("the refused write was stored")
	}
}

// A write in flight during a takeover commits before it or not at all.
func TestInflightWriteDuringTakeover(t *testing.T) {
	url := pgtest.URL(t)
	conn := connect(t, url)
	setupWrites(t, conn)
	a, b := newElector(t, url, "a"), newElector(t, url, "b")
	actx := mustLead(t, a)
	ctx := context.Background()

	// Two of a's write transactions are open: one has passed Fence, one has not reached it.
	fenced, unfenced := connect(t, url), connect(t, url)
	txFenced, err := fenced.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txFenced.Exec(ctx, `INSERT INTO writes (value) VALUES ('fenced')`); err != nil {
		t.Fatal(err)
	}
	if err := a.Fence(ctx, txFenced); err != nil {
		t.Fatalf("fence while leading: %v", err)
	}
	txLate, err := unfenced.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := txLate.Exec(ctx, `INSERT INTO writes (value) VALUES ('late')`); err != nil {
		t.Fatal(err)
	}

	terminate(t, conn, a)
	<-actx.Done()
	cb := campaignAsync(ctx, b)
	// The lease runs out; b's takeover waits for the transaction that passed Fence.
	waitingOnLock(t, conn, b)
	select {
	case c := <-cb:
		t.Fatalf("b took over (err %v) while a fenced write was open", c.err)
	default:
	}
	if err := txFenced.Commit(ctx); err != nil {
		t.Fatalf("the fenced write did not commit: %v", err)
	}
	if got := <-cb; got.err != nil {
		t.Fatal(got.err)
	}
	// The other transaction reaches Fence after the takeover: refused.
	if err := a.Fence(ctx, txLate); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("fence after the takeover: got %v, want ErrNotLeader", err)
	}
	_ = txLate.Rollback(ctx)
	if !written(t, conn, "fenced") || written(t, conn, "late") {
		t.Fatalf("stored: fenced %v (want true), late %v (want false)", written(t, conn, "fenced"), written(t, conn, "late"))
	}
}

// A renewal that hangs does not keep a leader leading: it steps down at its local deadline,
// before its lease can expire in the database.
func TestStepsDownWhenRenewalHangs(t *testing.T) {
	url := pgtest.URL(t)
	conn := connect(t, url)
	// A wide margin, so that the check below is not a race with a slow test machine.
	a := New(url, Config{TTL: 4 * time.Second, RenewEvery: 200 * time.Millisecond, Margin: 2 * time.Second, Holder: "a"})
	t.Cleanup(a.Close)
	actx := mustLead(t, a)
	// A lock that renewals wait for, as a takeover's.
	tx, err := conn.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(context.Background(), `SELECT 1 FROM elevate_leader WHERE id = 1 FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	<-actx.Done()
	if !errors.Is(context.Cause(actx), ErrNotLeader) {
		t.Fatalf("cause %v, want ErrNotLeader", context.Cause(actx))
	}
	var live bool
	if err := tx.QueryRow(context.Background(), `SELECT expires_at > clock_timestamp() FROM elevate_leader`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if !live {
		t.Fatal("a stepped down only after its lease had expired in the database")
	}
}

// TryLead does not wait: with a live leader it names it and leaves the lease alone; on a free
// lease it leads as Campaign would, and its writes pass the fence while the old leader's do not.
func TestTryLead(t *testing.T) {
	url := pgtest.URL(t)
	conn := connect(t, url)
	setupWrites(t, conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, m := newElector(t, url, "serve-a"), newElector(t, url, "migrate-m")
	mustLead(t, a)
	_, before := leaseRow(t, conn)
	lctx, holder, err := m.TryLead(ctx)
	if err != nil || lctx != nil || holder != "serve-a" {
		t.Fatalf("TryLead under a live leader = %v, %q, %v; want no lead and the holder serve-a", lctx, holder, err)
	}
	if h, epoch := leaseRow(t, conn); h != "serve-a" || epoch != before || m.Leading() {
		t.Fatalf("after a refused TryLead: lease row %q epoch %d (want serve-a, %d), Leading %v", h, epoch, before, m.Leading())
	}
	if err := fencedWrite(ctx, conn, m, "m-refused"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("write of the refused TryLead: got %v, want ErrNotLeader", err)
	}
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	lctx, holder, err = m.TryLead(ctx)
	if err != nil || lctx == nil || holder != "" {
		t.Fatalf("TryLead on a free lease = %v, %q, %v; want the lead", lctx, holder, err)
	}
	if h, epoch := leaseRow(t, conn); h != "migrate-m" || epoch != before+1 {
		t.Fatalf("lease row %q epoch %d, want migrate-m epoch %d", h, epoch, before+1)
	}
	if err := fencedWrite(ctx, conn, m, "m"); err != nil {
		t.Fatalf("write of the leading TryLead: %v", err)
	}
	if err := fencedWrite(ctx, conn, a, "a-old"); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("old leader's write: got %v, want ErrNotLeader", err)
	}
	if err := m.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if _, held, err := Held(ctx, url, nil); err != nil || held {
		t.Fatalf("after Resign: Held = %v, %v; want free", held, err)
	}
}
