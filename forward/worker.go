package forward

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Worker serves forwarded requests on the leader: it claims them and runs each through h, the
// handler the leader's own listener serves.
type Worker struct {
	db     *DB
	term   context.Context // ends with the leader's term: what it still handles is cancelled
	h      http.Handler
	holder string
	epoch  int64
	slot   chan struct{}
	wg     sync.WaitGroup // requests being handled
}

// Worker returns the leader's side for the term (holder, epoch); Register the term too. term is
// a context that ends when the term does (the lease lost): the requests the Worker is handling
// then are cancelled, as a listener's are when the process closes it.
func (d *DB) Worker(term context.Context, h http.Handler, holder string, epoch int64) *Worker {
	return &Worker{db: d, term: term, h: h, holder: holder, epoch: epoch, slot: make(chan struct{}, d.opt.Workers)}
}

// Run claims and serves forwarded requests until ctx ends. Requests it claimed go on being
// handled after that; Wait waits for them. Rows it did not claim stay for the next leader.
func (w *Worker) Run(ctx context.Context) {
	wake := make(chan struct{}, 1)
	poke := func(string) {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	go w.db.listen(ctx, chanInbox, poke)
	tick := time.NewTicker(w.db.opt.Poll)
	defer tick.Stop()
	sweep := time.NewTicker(30 * time.Second)
	defer sweep.Stop()
	w.sweep(ctx) // what senders that died under the previous leader left
	for {
		w.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		case <-sweep.C:
			w.sweep(ctx)
		}
	}
}

// Wait waits for the requests Run claimed to be answered.
func (w *Worker) Wait() { w.wg.Wait() }

// drain claims and starts rows while a slot is free and a row waits.
func (w *Worker) drain(ctx context.Context) {
	for {
		select {
		case w.slot <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil { // both were ready: the slot, and the end of the term
			<-w.slot
			return
		}
		row, ok := w.claim(ctx)
		if !ok {
			<-w.slot
			return
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer func() { <-w.slot }()
			w.serve(row)
		}()
	}
}

type claimed struct {
	id      int64
	method  string
	target  string
	headers []byte
	body    []byte
	remote  string
	left    time.Duration // until the sender stops waiting for the answer
}

// claim takes the oldest row still within its deadline, while this term holds the lease.
func (w *Worker) claim(ctx context.Context) (claimed, bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var c claimed
	var leftMS float64
	err := w.db.pool.QueryRow(ctx, `UPDATE elevate_inbox SET claimed_by = $1, claimed_epoch = $2
		WHERE id = (SELECT id FROM elevate_inbox
			WHERE claimed_by IS NULL AND deadline > clock_timestamp()
			ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
		AND EXISTS (SELECT 1 FROM elevate_leader WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_at > clock_timestamp())
		RETURNING id, method, target, headers, body, remote_addr,
			extract(epoch FROM deadline - clock_timestamp()) * 1000`,
		w.holder, w.epoch).Scan(&c.id, &c.method, &c.target, &c.headers, &c.body, &c.remote, &leftMS)
	if errors.Is(err, pgx.ErrNoRows) {
		return claimed{}, false
	}
	if err != nil {
		if ctx.Err() == nil {
			w.db.log.Warn("forward: claiming a forwarded request failed", "err", err)
		}
		return claimed{}, false
	}
	c.left = time.Duration(leftMS)*time.Millisecond + w.db.opt.Grace
	return c, true
}

// serve runs one claimed request through the handler and stores the answer. Its context is
// the term's, not Run's: a graceful stop lets it finish, the end of the term does not.
func (w *Worker) serve(c claimed) {
	ctx, cancel := context.WithTimeout(w.term, max(c.left, time.Second))
	defer cancel()
	start := time.Now()
	published := false
	rec := newRecorder(func(resp response) {
		published = true
		// Stored even when the term ended meanwhile: the answer tells what the handler did
		// (its store writes were fenced), sooner than the sender's 504 would.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		w.answer(actx, c.id, resp)
		w.db.log.Info("forward: answered a forwarded request", "id", c.id, "status", resp.Status, "ms", time.Since(start).Milliseconds())
	})
	r, err := toHTTP(WithForwarded(ctx), c.method, c.target, c.headers, c.body, c.remote)
	if err != nil {
		w.db.log.Warn("forward: a forwarded request could not be read; answered 400", "id", c.id, "err", err)
		http.Error(rec, "bad forwarded request", http.StatusBadRequest)
		rec.finish()
		return
	}
	defer func() {
		if p := recover(); p != nil {
			w.db.log.Error("forward: handler panicked on a forwarded request", "id", c.id, "path", r.URL.Path, "panic", fmt.Sprint(p))
			if !published {
				rec.header = http.Header{}
				rec.wrote, rec.resp = false, response{}
				http.Error(rec, "internal error", http.StatusInternalServerError)
			}
		}
		rec.finish()
	}()
	w.h.ServeHTTP(rec, r)
}

// answer stores a request's answer and tells its sender.
func (w *Worker) answer(ctx context.Context, id int64, resp response) {
	headers, err := jsonHeader(resp.Header)
	if err != nil {
		headers = []byte("{}")
	}
	body := resp.Body
	if body == nil {
		body = []byte{}
	}
	_, err = w.db.pool.Exec(ctx, `WITH u AS (
			UPDATE elevate_inbox SET status = $3, resp_headers = $4, resp_body = $5, done_at = clock_timestamp()
			WHERE id = $1 AND claimed_by = $2 RETURNING id)
		SELECT pg_notify('`+chanDone+`', id::text) FROM u`,
		id, w.holder, resp.Status, string(headers), body)
	if err != nil {
		w.db.log.Error("forward: storing the answer to a forwarded request failed; its sender will time out", "id", id, "err", err)
	}
}

// sweep deletes rows their senders left behind (a sender that died while waiting).
func (w *Worker) sweep(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _ = w.db.pool.Exec(ctx, `DELETE FROM elevate_inbox WHERE deadline < clock_timestamp() - $1 * interval '1 millisecond'`,
		(w.db.opt.Grace + time.Minute).Milliseconds())
}

type forwardedKey struct{}

// WithForwarded marks ctx as a forwarded request's, as a Worker does for each request it serves.
func WithForwarded(ctx context.Context) context.Context {
	return context.WithValue(ctx, forwardedKey{}, true)
}

// Forwarded reports whether a request's context is a forwarded request's, served by a Worker: a
// handler that would forward it again (a process not serving) must not, or it would loop.
func Forwarded(ctx context.Context) bool {
	v, _ := ctx.Value(forwardedKey{}).(bool)
	return v
}
