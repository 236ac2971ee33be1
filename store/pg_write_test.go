package store

import (
	"context"
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
