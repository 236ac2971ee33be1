package store

import (
	"context"
	"strings"
	"testing"
)

// Writes the server took but the store refused (a put over a nested bucket: the ON CONFLICT
// clause skips the row, no server error) leave the server's transaction open and unaborted. A
// Commit after that refusal, or a second statement, must not commit the writes that did go in.
func TestPostgresWriteTxCommitAfterRefusedWrites(t *testing.T) {
	if !onPostgres() {
		return
	}
	db := current.raw(t, testPath(t)).(*pgBackend)
	defer db.Close()
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
	ctx := context.Background()
	for _, next := range []string{"a statement", "commit"} {
		conn, err := db.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx := &pgWriteTx{conn: conn.Conn()}
		pt := newPgTx(ctx, tx, true)
		b := pt.Bucket([]byte("x"))
		if err := b.Put([]byte("z"), []byte("changed")); err != nil {
			t.Fatal(err)
		}
		if err := b.Put([]byte("y"), []byte("v")); err != nil {
			t.Fatal(err)
		}
		if err := pt.flush(); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err == nil {
			t.Fatalf("%s: Commit with a refused put = nil", next)
		}
		if next == "a statement" {
			if _, err := tx.Exec(ctx, "SELECT 1"); err == nil {
				t.Errorf("a statement after the refused writes ran")
			}
		}
		if err := tx.Commit(ctx); err == nil {
			t.Errorf("%s: a second Commit after the refused writes = nil", next)
		}
		tx.Rollback(ctx)
		if s := conn.Conn().PgConn().TxStatus(); s != 'I' {
			t.Errorf("%s: the connection goes back to the pool in transaction state %q", next, s)
		}
		conn.Release()
		db.View(func(tx kvTx) error {
			if got := string(tx.Bucket([]byte("x")).Get([]byte("z"))); got != "v" {
				t.Errorf("%s: z = %q after the refused transaction, want %q", next, got, "v")
			}
			return nil
		})
	}
}

// Read-your-writes in one write transaction, on both backends: a Get after a Put sees the Put, a
// Get after a Delete sees nothing, a nested bucket made in the transaction holds what was put in
// it, and a cursor walks the pending writes merged with what was committed before.
func TestWriteTxReadsItsOwnWrites(t *testing.T) {
	s := newTestStore(t)
	if err := s.db.Update(func(tx kvTx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("ryw"))
		if err != nil {
			return err
		}
		for _, k := range []string{"a", "c", "e"} {
			if err := b.Put([]byte(k), []byte("old "+k)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	err := s.db.Update(func(tx kvTx) error {
		b := tx.Bucket([]byte("ryw"))
		if got := string(b.Get([]byte("a"))); got != "old a" {
			t.Errorf("Get(a) before the Put = %q", got)
		}
		if err := b.Put([]byte("a"), []byte("new a")); err != nil {
			return err
		}
		if got := string(b.Get([]byte("a"))); got != "new a" {
			t.Errorf("Get(a) after Put = %q, want %q", got, "new a")
		}
		if err := b.Put([]byte("b"), []byte("new b")); err != nil {
			return err
		}
		if err := b.Delete([]byte("c")); err != nil {
			return err
		}
		if v := b.Get([]byte("c")); v != nil {
			t.Errorf("Get(c) after Delete = %q, want nil", v)
		}
		n, err := b.CreateBucketIfNotExists([]byte("n"))
		if err != nil {
			return err
		}
		if err := n.Put([]byte("k"), []byte("nested")); err != nil {
			return err
		}
		if got := string(tx.Bucket([]byte("ryw")).Bucket([]byte("n")).Get([]byte("k"))); got != "nested" {
			t.Errorf("Get in a nested bucket made in the transaction = %q", got)
		}
		seq, err := n.NextSequence()
		if err != nil || seq != 1 || n.Sequence() != 1 {
			t.Errorf("NextSequence = %d, %v; Sequence = %d", seq, err, n.Sequence())
		}
		var walked []string
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			walked = append(walked, string(k)+"="+string(v))
		}
		if got, want := strings.Join(walked, ","), "a=new a,b=new b,e=old e,n="; got != want {
			t.Errorf("cursor in the transaction = %s, want %s", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
