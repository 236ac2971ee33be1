package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgWriteTx is a write transaction on one connection that sends fewer round trips than a
// pgx.Tx: its BEGIN goes with its first statement, and its writes, which flush queues, go with
// the statement after them: the fence's read of the lease (or, without a fence, alone before the
// COMMIT). So a fenced write that reads one key costs three round trips (BEGIN and its first
// read, the writes and the fence, the COMMIT) instead of five. The statements run in the order
// they were issued, as with a pgx.Tx; only their sending is joined.
//
// The writes' own failure (a refused row, a constraint) is told apart from the statement they
// went with: it is kept in werr, and the caller reports it rather than, say, the fence's
// refusal that the failed read would otherwise look like.
type pgWriteTx struct {
	conn    *pgx.Conn
	begun   bool
	done    bool                         // committed or rolled back
	pending []*pgx.QueuedQuery           // the writes, to go with the next statement
	check   func(pgx.BatchResults) error // reads the writes' results, in order
	werr    error                        // what check found when the writes were sent
}

// A refusal check finds in the client (a row the ON CONFLICT clause skipped) is no error to the
// server, whose transaction goes on with the other writes applied: after werr, nothing more is
// sent but the ROLLBACK, and Commit returns werr, so no later statement or Commit can commit them.

var _ pgx.Tx = (*pgWriteTx)(nil)

const pgBeginWrite = "BEGIN ISOLATION LEVEL READ COMMITTED"

// queue keeps b's statements to be sent with the next statement; check reads their results.
func (w *pgWriteTx) queue(b *pgx.Batch, check func(pgx.BatchResults) error) {
	w.pending, w.check = b.QueuedQueries, check
}

// send sends what must come first (BEGIN, the queued writes) with b's statements, in one round
// trip, and returns the results positioned at b's first statement.
func (w *pgWriteTx) send(ctx context.Context, b *pgx.Batch) (pgx.BatchResults, error) {
	if w.done {
		return nil, pgx.ErrTxClosed
	}
	if w.werr != nil {
		return nil, w.werr
	}
	full := &pgx.Batch{}
	begin := !w.begun
	if begin {
		full.Queue(pgBeginWrite)
		w.begun = true
	}
	pending, check := w.pending, w.check
	w.pending, w.check = nil, nil
	full.QueuedQueries = append(full.QueuedQueries, pending...)
	full.QueuedQueries = append(full.QueuedQueries, b.QueuedQueries...)
	br := w.conn.SendBatch(ctx, full)
	if begin {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	if len(pending) > 0 {
		if err := check(br); err != nil {
			w.werr = err
			br.Close()
			return nil, err
		}
	}
	return br, nil
}

func (w *pgWriteTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br, err := w.send(ctx, b)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &pgBatchRows{Rows: rows, br: br}, nil
}

func (w *pgWriteTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := w.Query(ctx, sql, args...)
	return &pgOneRow{rows: rows, err: err}
}

func (w *pgWriteTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	br, err := w.send(ctx, b)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (w *pgWriteTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	br, err := w.send(ctx, b)
	if err != nil {
		return pgFailedBatch{err}
	}
	return br
}

// Commit sends COMMIT. Writes still queued (no fence took them) are sent first, on their own:
// some of their checks are read here, not by the server (a put the ON CONFLICT clause skipped is
// no error to it), so they must pass before COMMIT is sent. A transaction that sent nothing and
// queued nothing costs no round trip.
func (w *pgWriteTx) Commit(ctx context.Context) error {
	if w.done {
		return pgx.ErrTxClosed
	}
	if w.werr != nil {
		w.Rollback(ctx)
		return w.werr
	}
	if !w.begun && len(w.pending) == 0 {
		w.done = true
		return nil
	}
	if len(w.pending) > 0 {
		br, err := w.send(ctx, &pgx.Batch{})
		if err != nil {
			if w.werr != nil {
				w.Rollback(ctx)
			}
			return err
		}
		if err := br.Close(); err != nil {
			return err
		}
	}
	tag, err := w.Exec(ctx, "COMMIT")
	w.done = true
	if err != nil {
		return err
	}
	if tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback // the transaction had failed
	}
	return nil
}

// Rollback ends the transaction unless it was committed; safe to call more than once.
func (w *pgWriteTx) Rollback(ctx context.Context) error {
	if w.done {
		return nil
	}
	w.done = true
	if !w.begun {
		return nil
	}
	_, err := w.conn.Exec(ctx, "ROLLBACK")
	return err
}

func (w *pgWriteTx) Begin(context.Context) (pgx.Tx, error) {
	return nil, errors.New("store: no nested transactions")
}

func (w *pgWriteTx) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errors.New("store: no COPY in a write transaction")
}

func (w *pgWriteTx) LargeObjects() pgx.LargeObjects { return pgx.LargeObjects{} }

func (w *pgWriteTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return w.conn.Prepare(ctx, name, sql)
}

func (w *pgWriteTx) Conn() *pgx.Conn { return w.conn }

// pgFailedBatch is the results of a batch that could not be sent.
type pgFailedBatch struct{ err error }

func (f pgFailedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f pgFailedBatch) Query() (pgx.Rows, error)         { return nil, f.err }
func (f pgFailedBatch) QueryRow() pgx.Row                { return &pgOneRow{err: f.err} }
func (f pgFailedBatch) Close() error                     { return f.err }
func (f pgFailedBatch) Tx() pgx.Tx                       { return nil }
