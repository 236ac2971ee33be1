package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/lead"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// These tests are about PostgreSQL alone; they run in the postgres pass of TestMain.
func onPostgres() bool { return current.name == "postgres" }

// A Fence that refuses aborts the write: nothing of it is stored and the caller gets ErrNotLeader.
func TestPostgresFenceRefusal(t *testing.T) {
	if !onPostgres() {
		return
	}
	loc := testPath(t)
	var refuse bool
	var mu sync.Mutex
	fenced := 0
	s, err := OpenPostgres(context.Background(), loc, PostgresOptions{Fence: func(ctx context.Context, tx pgx.Tx) error {
		mu.Lock()
		defer mu.Unlock()
		fenced++
		// The fence runs inside the transaction, after its writes: it sees them.
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM elevate_kv").Scan(&n); err != nil {
			return err
		}
		if refuse {
			return errors.New("lease held by node-b")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := mustCreate(t, s, sampleRequest())
	if fenced == 0 {
		t.Fatal("a write transaction did not call Fence")
	}

	mu.Lock()
	refuse = true
	mu.Unlock()
	_, err = s.Update(r.ID, ev("request.cancelled"), setState(StateCancelled))
	if !errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), "lease held by node-b") {
		t.Fatalf("Update under a refusing fence = %v; want ErrNotLeader with the fence's cause", err)
	}
	if _, err := s.CreateRequest(sampleRequest(), ev("request.created")); !errors.Is(err, ErrNotLeader) {
		t.Errorf("CreateRequest under a refusing fence = %v; want ErrNotLeader", err)
	}
	if _, err := s.FirstSeen("slack:evt1", t0, time.Minute); !errors.Is(err, ErrNotLeader) {
		t.Errorf("FirstSeen under a refusing fence = %v; want ErrNotLeader", err)
	}

	got, err := s.Request(r.ID)
	if err != nil || got.State != StateReceived {
		t.Errorf("request after the refused update = %v, %v; want it unchanged (received)", got.State, err)
	}
	if all, err := s.Requests(Filter{}); err != nil || len(all) != 1 {
		t.Errorf("requests = %d, %v; want only the first", len(all), err)
	}
	if n, err := s.VerifyAudit(); err != nil || n != 1 {
		t.Errorf("VerifyAudit = %d, %v; want the one record of the allowed write", n, err)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	if r2 := mustCreate(t, s, sampleRequest()); r2.ID != r.ID+1 {
		t.Errorf("id after refused writes = %d, want %d (refused writes take no id)", r2.ID, r.ID+1)
	}
}

// Two processes opening a new database at once migrate it once; both then work on it.
func TestPostgresConcurrentOpenMigratesOnce(t *testing.T) {
	if !onPostgres() {
		return
	}
	loc := testPath(t)
	const n = 4
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = OpenPostgres(context.Background(), loc, PostgresOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	for i, s := range stores {
		if _, err := s.CreateRequest(sampleRequest(), ev("request.created")); err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
	if all, err := stores[0].Requests(Filter{}); err != nil || len(all) != n {
		t.Errorf("requests = %d, %v; want %d", len(all), err, n)
	}
	if v, err := readVersion(stores[1].db); err != nil || v != latestVersion {
		t.Errorf("version = %d, %v; want %d", v, err, latestVersion)
	}
}

// A read transaction keeps its snapshot while a write commits meanwhile.
func TestPostgresReadSnapshotStable(t *testing.T) {
	if !onPostgres() {
		return
	}
	s := newTestStore(t)
	r := mustCreate(t, s, sampleRequest())
	err := s.db.View(func(tx kvTx) error {
		first, err := getRequest(tx, r.ID)
		if err != nil {
			return err
		}
		// Commit a change and a new request from outside this transaction.
		if _, err := s.Update(r.ID, ev("request.cancelled"), setState(StateCancelled)); err != nil {
			return err
		}
		mustCreate(t, s, sampleRequest())
		again, err := getRequest(tx, r.ID)
		if err != nil {
			return err
		}
		if again.State != first.State {
			t.Errorf("state in one read transaction went %s → %s", first.State, again.State)
		}
		n := 0
		tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error { n++; return nil })
		if n != 1 {
			t.Errorf("read transaction sees %d requests, want the 1 of its snapshot", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Request(r.ID); got.State != StateCancelled {
		t.Errorf("after the read: state %s, want cancelled", got.State)
	}
}

// TestKVConformance drives bbolt and PostgreSQL's key-value layers with the same random writes,
// in several transactions and with more keys than a cursor page, and compares every read: Get,
// ForEach, cursors forward, backward and from Seek (each also during the transaction, through its
// pending writes), nested buckets, sequences and KeyN.
func TestKVConformance(t *testing.T) {
	if !onPostgres() {
		return
	}
	bolt := backends[0].raw(t, backends[0].loc(t))
	defer bolt.Close()
	pg := backends[1].raw(t, backends[1].loc(t))
	defer pg.Close()
	dbs := []kvDB{bolt, pg}

	rng := rand.New(rand.NewPCG(1, 2))
	key := func() []byte {
		// Few distinct prefixes and lengths so that keys collide and interleave.
		n := 1 + rng.IntN(3)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(40))
		}
		return b
	}
	type op struct {
		kind   int
		bucket string
		k, v   []byte
	}
	randOps := func(n int) []op {
		ops := make([]op, n)
		for i := range ops {
			o := op{kind: rng.IntN(10), bucket: []string{"a", "b", "n"}[rng.IntN(3)], k: key()}
			o.v = []byte(fmt.Sprint(rng.IntN(1000)))
			if rng.IntN(20) == 0 {
				o.v = []byte{}
			}
			ops[i] = o
		}
		return ops
	}
	// apply runs ops on one backend; every mutation's error (nil or not) is part of the result.
	apply := func(tx kvTx, ops []op) []string {
		var out []string
		for _, o := range ops {
			b, err := tx.CreateBucketIfNotExists([]byte(o.bucket))
			if err != nil {
				out = append(out, "create: "+err.Error())
				continue
			}
			if o.bucket == "n" {
				// A bucket of nested buckets, as messages has one per request.
				nb, err := b.CreateBucketIfNotExists(o.k[:1])
				if err != nil {
					out = append(out, "nested: error")
					continue
				}
				b = nb
			}
			switch {
			case o.kind < 6:
				out = append(out, fmt.Sprint("put ", b.Put(o.k, o.v) == nil))
			case o.kind < 8:
				out = append(out, fmt.Sprint("del ", b.Delete(o.k) == nil))
			case o.kind == 8:
				s, err := b.NextSequence()
				out = append(out, fmt.Sprint("seq ", s, err == nil))
			default:
				out = append(out, fmt.Sprintf("get %q", b.Get(o.k)))
			}
		}
		return out
	}
	type kv struct{ K, V string }
	var walk func(b kvBucket, depth int) []kv
	walk = func(b kvBucket, depth int) []kv {
		var out []kv
		b.ForEach(func(k, v []byte) error {
			if v == nil {
				out = append(out, kv{string(k), "<bucket>"})
				if depth == 0 {
					for _, e := range walk(b.Bucket(k), 1) {
						out = append(out, kv{string(k) + "/" + e.K, e.V})
					}
				}
				return nil
			}
			out = append(out, kv{string(k), string(v)})
			return nil
		})
		return out
	}
	read := func(tx kvTx, probes [][]byte) []string {
		var out []string
		for _, name := range []string{"a", "b", "n"} {
			b := tx.Bucket([]byte(name))
			if b == nil {
				out = append(out, name+": none")
				continue
			}
			out = append(out, fmt.Sprintf("%s: %q seq %d", name, walk(b, 0), b.Sequence()))
			if name != "n" {
				n, err := b.KeyN()
				out = append(out, fmt.Sprint("keyn ", n, err))
			}
			c := b.Cursor()
			var back []string
			for k, v := c.Last(); k != nil; k, v = c.Prev() {
				back = append(back, fmt.Sprintf("%q=%q", k, v))
			}
			out = append(out, strings.Join(back, ","))
			for _, p := range probes {
				k, v := c.Seek(p)
				s := fmt.Sprintf("seek %q: %q=%q", p, k, v)
				k, v = c.Prev()
				s += fmt.Sprintf(" prev %q=%q", k, v)
				k, v = c.Next()
				s += fmt.Sprintf(" next %q=%q", k, v)
				k, v = c.Next()
				s += fmt.Sprintf(" next %q=%q", k, v)
				out = append(out, s)
			}
		}
		return out
	}

	for round := range 8 {
		ops := randOps(300 + rng.IntN(700))
		probes := [][]byte{key(), key(), key(), {0}, {39, 39, 39, 39}}
		deleteB := round == 5
		var got [2][]string
		for i, db := range dbs {
			err := db.Update(func(tx kvTx) error {
				res := apply(tx, ops)
				res = append(res, read(tx, probes)...) // through the pending writes
				if deleteB {
					res = append(res, fmt.Sprint("delete bucket ", tx.DeleteBucket([]byte("b")) == nil))
					res = append(res, read(tx, probes)...)
					if _, err := tx.CreateBucketIfNotExists([]byte("b")); err != nil {
						return err
					}
					res = append(res, read(tx, probes)...)
				}
				got[i] = res
				return nil
			})
			if err != nil {
				t.Fatalf("%s round %d: %v", []string{"bolt", "postgres"}[i], round, err)
			}
		}
		if diff := cmp.Diff(got[1], got[0]); diff != "" {
			t.Fatalf("round %d, in the write transaction, postgres (-) differs from bolt (+):\n%s", round, diff)
		}
		for i, db := range dbs {
			if err := db.View(func(tx kvTx) error { got[i] = read(tx, probes); return nil }); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff(got[1], got[0]); diff != "" {
			t.Fatalf("round %d, after commit, postgres (-) differs from bolt (+):\n%s", round, diff)
		}
	}
	// A rolled-back transaction leaves nothing behind.
	var before, after [2][]string
	for i, db := range dbs {
		db.View(func(tx kvTx) error { before[i] = read(tx, nil); return nil })
		errStop := errors.New("stop")
		if err := db.Update(func(tx kvTx) error { apply(tx, randOps(50)); return errStop }); !errors.Is(err, errStop) {
			t.Fatalf("Update = %v, want fn's error", err)
		}
		db.View(func(tx kvTx) error { after[i] = read(tx, nil); return nil })
		if diff := cmp.Diff(after[i], before[i]); diff != "" {
			t.Errorf("backend %d: a rolled-back transaction changed the store:\n%s", i, diff)
		}
	}
	// More rows than a page, walked both ways.
	var n [2]int
	for i, db := range dbs {
		db.Update(func(tx kvTx) error {
			b, _ := tx.CreateBucketIfNotExists([]byte("big"))
			for j := range 3*pgPage + 7 {
				b.Put(u64(uint64(j)), []byte("x"))
			}
			return nil
		})
		db.View(func(tx kvTx) error {
			c := tx.Bucket([]byte("big")).Cursor()
			prev := -1
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if j := int(u64key(k)); j != prev+1 {
					t.Errorf("backend %d: key %d after %d", i, j, prev)
				}
				prev++
				n[i]++
			}
			for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
				if j := int(u64key(k)); j != prev {
					t.Errorf("backend %d: backwards key %d, want %d", i, j, prev)
				}
				prev--
			}
			return nil
		})
	}
	if n[0] != 3*pgPage+7 || n[1] != n[0] {
		t.Errorf("walked %v keys, want %d on both", n, 3*pgPage+7)
	}
}

func u64key(k []byte) uint64 {
	var v uint64
	for _, b := range k {
		v = v<<8 | uint64(b)
	}
	return v
}

// A value written over a nested bucket, or a nested bucket deleted as a value, fails the write
// transaction on both backends (bbolt at the call, PostgreSQL at the commit, without asking the
// database about every key it writes) and changes nothing.
func TestKVValueOverBucketRefused(t *testing.T) {
	if !onPostgres() {
		return
	}
	for _, be := range backends {
		db := be.raw(t, be.loc(t))
		defer db.Close()
		err := db.Update(func(tx kvTx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("x"))
			if err != nil {
				return err
			}
			if _, err := b.CreateBucketIfNotExists([]byte("y")); err != nil {
				return err
			}
			return b.Put([]byte("z"), []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
		for name, fn := range map[string]func(b kvBucket) error{
			"put over a bucket":  func(b kvBucket) error { return b.Put([]byte("y"), []byte("v")) },
			"delete of a bucket": func(b kvBucket) error { return b.Delete([]byte("y")) },
		} {
			err := db.Update(func(tx kvTx) error {
				b := tx.Bucket([]byte("x"))
				if err := b.Put([]byte("z"), []byte("changed")); err != nil {
					return err
				}
				return fn(b)
			})
			if err == nil {
				t.Errorf("%s, %s: the transaction committed", be.name, name)
			}
			db.View(func(tx kvTx) error {
				b := tx.Bucket([]byte("x"))
				if b.Bucket([]byte("y")) == nil || string(b.Get([]byte("z"))) != "v" {
					t.Errorf("%s, %s: the store changed: y is a bucket: %v, z = %q", be.name, name, b.Bucket([]byte("y")) != nil, b.Get([]byte("z")))
				}
				return nil
			})
		}
	}
}

// A leader frozen or cut off after its write transaction sent its writes, with the fence's read,
// but before its COMMIT (a SIGSTOP, a VM paused, a network partition that leaves the server's end of the TCP connection
// open) holds row locks on the keys it wrote, the audit bucket's among them. The server ends
// that session after pgWriteIdle so the next leader's writes go on instead of waiting behind it
// (until TCP keepalive notices, hours later).
func TestPostgresFrozenWriterReleasesLocks(t *testing.T) {
	if !onPostgres() {
		return
	}
	defer func(d time.Duration) { pgWriteIdle = d }(pgWriteIdle)
	pgWriteIdle = 500 * time.Millisecond
	loc := testPath(t)
	frozen, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	old, err := OpenPostgres(context.Background(), loc, PostgresOptions{Fence: func(ctx context.Context, tx pgx.Tx) error {
		// A fence reads the lease in the transaction, as lead.Elector.Fence does; the writes go
		// to the server with that read. Then the process freezes.
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			return err
		}
		once.Do(func() { close(frozen); <-release })
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldDone := make(chan error, 1)
	go func() { _, err := old.CreateRequest(sampleRequest(), ev("request.created")); oldDone <- err }()
	<-frozen
	defer close(release)

	next, err := OpenPostgres(context.Background(), loc, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	done := make(chan error, 1)
	go func() { _, err := next.CreateRequest(sampleRequest(), ev("request.created")); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the next leader's write: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the next leader's write still waits for the frozen writer's row locks after 20s (its session was never ended)")
	}
	release <- struct{}{}
	if err := <-oldDone; err == nil {
		t.Fatal("the frozen writer's transaction committed after its session was ended")
	}
	if n, err := next.VerifyAudit(); err != nil || n != 1 {
		t.Errorf("VerifyAudit = %d, %v; want the next leader's one record", n, err)
	}
}

// A database off this machine without a verified certificate is warned about; the warning never
// shows the password.
func TestPostgresTLSWarning(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, c := range []struct {
		url  string
		env  string
		warn bool
	}{
		{"postgres://u:pw@db.postgres.database.azure.com:5432/elevate?sslmode=verify-full", "", false},
		{"postgres://u:pw@db.postgres.database.azure.com:5432/elevate?sslmode=verify-ca", "", false},
		{"postgres://u:pw@db.postgres.database.azure.com:5432/elevate", "", true},
		{"postgres://u:pw@db.postgres.database.azure.com:5432/elevate", "verify-full", false},
		{"postgres://u:pw@db.postgres.database.azure.com:5432/elevate?sslmode=prefer", "", true},
		{"postgres://u:pw@db.postgres.database.azure.com:5432/elevate?sslmode=disable", "verify-full", true},
		{"postgres://u:pw@db.postgres.database.azure.com:5432/elevate?sslmode=require", "", true},
		{"postgres://u:pw@db.postgres.database.azure.com/elevate?sslmode=require&sslrootcert=/etc/ca.pem", "", false},
		{"postgresql://u:pw@10.0.0.5/elevate?sslmode=allow", "", true},
		{"postgres://u:pw@127.0.0.1:5432/elevate?sslmode=disable", "", false},
		{"postgres://u:pw@[::1]:5432/elevate?sslmode=disable", "", false},
		{"postgres://u:pw@localhost/elevate", "", false},
		{"postgres://u:pw@/elevate?host=/var/run/postgresql", "", false},
		{"postgres://u:pw@localhost,db.example.com/elevate?sslmode=prefer", "", true},
		{"postgres://u:pw@/elevate?host=db.example.com&sslmode=disable", "", true},
	} {
		env := noEnv
		if c.env != "" {
			env = func(k string) string {
				if k == "PGSSLMODE" {
					return c.env
				}
				return ""
			}
		}
		w := PostgresTLSWarning(c.url, env)
		if (w != "") != c.warn {
			t.Errorf("PostgresTLSWarning(%s, PGSSLMODE=%q) = %q, want a warning: %v", c.url, c.env, w, c.warn)
		}
		if strings.Contains(w, ":pw@") {
			t.Errorf("the warning shows the password: %s", w)
		}
		if c.warn && !strings.Contains(w, "verify-full") {
			t.Errorf("the warning does not say what to set: %s", w)
		}
	}
}

// A group commit the fence refuses fails every write in it at once: none is run again alone,
// each in a transaction the fence would refuse too.
func TestPostgresFenceRefusesGroupOnce(t *testing.T) {
	if !onPostgres() {
		return
	}
	loc := testPath(t)
	release := make(chan struct{})
	var mu sync.Mutex
	fenced := 0
	s, err := OpenPostgres(context.Background(), loc, PostgresOptions{Fence: func(ctx context.Context, tx pgx.Tx) error {
		mu.Lock()
		fenced++
		first := fenced == 1
		mu.Unlock()
		if first {
			<-release // hold the group's first commit while the others queue behind it
		}
		return errors.New("lease held by node-b")
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 5
	errs := make(chan error, n+1)
	write := func(key string) {
		_, err := s.FirstSeen(key, t0, time.Minute)
		errs <- err
	}
	go write("first")
	for {
		mu.Lock()
		started := fenced == 1
		mu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i := range n {
		go write(fmt.Sprintf("queued%d", i))
	}
	for {
		s.groupMu.Lock()
		queued := len(s.groupQueue)
		s.groupMu.Unlock()
		if queued == n {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range n + 1 {
		if err := <-errs; !errors.Is(err, ErrNotLeader) {
			t.Errorf("FirstSeen under a refusing fence = %v; want ErrNotLeader", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if fenced != 2 {
		t.Errorf("the fence ran %d times; want 2 (the first write, then the queued ones together, not again each alone)", fenced)
	}
}

// A write the leadership fence refuses says "not the leader" once, with the fence's cause, and is
// both store.ErrNotLeader and lead.ErrNotLeader.
func TestPostgresFenceRefusalSaysItOnce(t *testing.T) {
	if !onPostgres() {
		return
	}
	loc := testPath(t)
	// Opened (and its schema made) without a fence, as serve does once it leads.
	if s, err := OpenPostgres(context.Background(), loc, PostgresOptions{}); err != nil {
		t.Fatal(err)
	} else {
		s.Close()
	}
	el := lead.New(loc, lead.Config{Holder: "never-led"})
	defer el.Close()
	s, err := OpenPostgres(context.Background(), loc, PostgresOptions{Fence: el.Fence})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.CreateRequest(sampleRequest(), ev("request.created"))
	if !errors.Is(err, ErrNotLeader) || !errors.Is(err, lead.ErrNotLeader) {
		t.Fatalf("CreateRequest of a process that never led = %v; want store.ErrNotLeader and lead.ErrNotLeader", err)
	}
	if n := strings.Count(err.Error(), "not the leader"); n != 1 {
		t.Errorf("the refusal %q says %q %d times, want once", err, "not the leader", n)
	}
}

// A write transaction's writes go to the server with the fence's read of the lease: writes the
// server takes but the store refuses (a value over a nested bucket) fail the transaction with
// that cause, not as a fence refusal, and change nothing.
func TestPostgresRefusedWriteUnderFence(t *testing.T) {
	if !onPostgres() {
		return
	}
	db := current.raw(t, testPath(t)).(*pgBackend)
	defer db.Close()
	fenced := 0
	db.fence = func(ctx context.Context, tx pgx.Tx) error {
		fenced++
		var one int
		return tx.QueryRow(ctx, "SELECT 1").Scan(&one)
	}
	if err := db.Update(func(tx kvTx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("x"))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucketIfNotExists([]byte("y")); err != nil {
			return err
		}
		return b.Put([]byte("z"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	err := db.Update(func(tx kvTx) error {
		b := tx.Bucket([]byte("x"))
		if err := b.Put([]byte("z"), []byte("changed")); err != nil {
			return err
		}
		return b.Put([]byte("y"), []byte("v"))
	})
	if err == nil || errors.Is(err, ErrNotLeader) || !strings.Contains(err.Error(), "nested bucket") || fenced != 2 {
		t.Fatalf("a put over a bucket under a fence = %v (fence ran %d times); want the write's refusal, not ErrNotLeader", err, fenced)
	}
	db.View(func(tx kvTx) error {
		b := tx.Bucket([]byte("x"))
		if b.Bucket([]byte("y")) == nil || string(b.Get([]byte("z"))) != "v" {
			t.Errorf("the store changed: y is a bucket: %v, z = %q", b.Bucket([]byte("y")) != nil, b.Get([]byte("z")))
		}
		return nil
	})
}

// roundTrips counts what a connection sends to the server and waits for: each query or batch.
type roundTrips struct{ n atomic.Int64 }

func (c *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (c *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (c *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// A fenced write transaction sends its BEGIN with its first read and its writes with the fence's
// read of the lease: a request created as `elevate serve` creates it costs four round trips
// (BEGIN and the top-level buckets, the audit log's last record, the writes and the fence, the
// COMMIT), not six; a replay key five, not nine.
func TestPostgresWriteRoundTrips(t *testing.T) {
	if !onPostgres() {
		return
	}
	loc := testPath(t)
	el := lead.New(loc, lead.Config{Holder: "rt"})
	defer el.Close()
	if _, err := el.Campaign(t.Context()); err != nil {
		t.Fatal(err)
	}
	s0, err := OpenPostgres(t.Context(), loc, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s0.Close()
	cfg, err := pgxpool.ParseConfig(loc)
	if err != nil {
		t.Fatal(err)
	}
	rt := &roundTrips{}
	cfg.ConnConfig.Tracer = rt
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{db: &pgBackend{pool: pool, fence: el.Fence}, now: time.Now}
	defer s.Close()
	mustCreate(t, s, sampleRequest()) // the connection prepares its statements once
	before := rt.n.Load()
	r := mustCreate(t, s, sampleRequest())
	if n := rt.n.Load() - before; n != 4 {
		t.Errorf("a fenced CreateRequest took %d round trips, want 4", n)
	}
	if got, err := s.Request(r.ID); err != nil || got.ID != r.ID {
		t.Fatalf("the request written: %v, %v", got.ID, err)
	}
	// A replay key (every acknowledgement records one): its buckets come with the top-level
	// ones, then the expired keys to prune and the key itself are read, then the writes with
	// the fence, then the COMMIT: five round trips, not nine.
	if _, err := s.FirstSeen("slack:warm", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	before = rt.n.Load()
	if first, err := s.FirstSeen("slack:evt", time.Now(), time.Minute); err != nil || !first {
		t.Fatalf("FirstSeen = %v, %v", first, err)
	}
	if n := rt.n.Load() - before; n != 5 {
		t.Errorf("a fenced FirstSeen took %d round trips, want 5", n)
	}
}
