package forward

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	pgxconn "github.com/jackc/pgx/v5/pgconn"
)

// Standby forwards requests to the leader and writes its answers back.
type Standby struct {
	db   *DB
	opt  Options
	slot chan struct{} // one per request in flight

	mu      sync.Mutex
	waiting map[int64]chan struct{} // closed when the row was answered (or may have been)
}

// Standby returns the sending side. Run must run for answers to arrive.
func (d *DB) Standby() *Standby {
	return &Standby{db: d, opt: d.opt, slot: make(chan struct{}, d.opt.MaxInFlight), waiting: map[int64]chan struct{}{}}
}

// Run listens for answers, and polls for those whose notification was missed, until ctx ends.
func (s *Standby) Run(ctx context.Context) {
	go s.db.listen(ctx, chanDone, func(payload string) {
		if payload == "" {
			s.wakeAll() // (re)connected: whatever was answered meanwhile is looked up by its waiter
			return
		}
		if id, err := strconv.ParseInt(payload, 10, 64); err == nil {
			s.wake(id)
		}
	})
	tick := time.NewTicker(s.opt.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.poll(ctx)
	}
}

// poll wakes the waiters whose rows were answered: the fallback for a lost notification.
func (s *Standby) poll(ctx context.Context) {
	s.mu.Lock()
	ids := make([]int64, 0, len(s.waiting))
	for id := range s.waiting {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.Poll*4)
	defer cancel()
	rows, err := s.db.pool.Query(ctx, `SELECT id FROM elevate_inbox WHERE id = ANY($1) AND done_at IS NOT NULL`, ids)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if rows.Scan(&id) == nil {
			s.wake(id)
		}
	}
}

func (s *Standby) wake(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.waiting[id]; ok {
		close(ch)
		delete(s.waiting, id)
	}
}

func (s *Standby) wakeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ch := range s.waiting {
		close(ch)
		delete(s.waiting, id)
	}
}

// await registers interest in id's answer; the channel is closed when it may have come.
func (s *Standby) await(id int64) <-chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	s.waiting[id] = ch
	s.mu.Unlock()
	return ch
}

func (s *Standby) forget(id int64) {
	s.mu.Lock()
	delete(s.waiting, id)
	s.mu.Unlock()
}

// ErrNoLeader is Ready's answer when no leader that serves forwarded requests holds the lease.
var ErrNoLeader = errors.New("no leader that serves forwarded requests holds the lease")

// Ready reports whether requests forwarded now would be served: the database answers and the
// current, unexpired lease belongs to a registered term.
func (s *Standby) Ready(ctx context.Context) error {
	var ok bool
	err := s.db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM elevate_leader l
		JOIN elevate_inbox_leaders r ON r.holder = l.holder AND r.epoch = l.epoch
		WHERE l.id = 1 AND l.expires_at > clock_timestamp())`).Scan(&ok)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNoLeader
	}
	return nil
}

// Forward sends r, with a body of at most maxBody bytes, to the leader and writes its answer.
// The caller has made the checks the leader would make first and that need nothing but the
// request (main's forwardChecks: the method, the platform's signature or token).
func (s *Standby) Forward(w http.ResponseWriter, r *http.Request, maxBody int64) {
	log := s.db.log.With("path", r.URL.Path) // never the query (OAuth codes) or headers (signatures, tokens)
	// The request is read before it takes a place: a client sending its body slowly holds none.
	body, err := readBody(r, maxBody)
	if errors.Is(err, errTooLarge) {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	q := fromHTTP(r, body)
	if n := headSize(q); n > maxHead {
		// The listener takes up to 1 MB of headers; a row need not (chat services and browsers
		// send a few kB).
		log.Warn("forward: request headers too large to forward; answered 431", "bytes", n)
		http.Error(w, "request headers too large", http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	select {
	case s.slot <- struct{}{}:
		defer func() { <-s.slot }()
	default:
		log.Warn("forward: too many requests in flight to the leader; answered 503", "in_flight", cap(s.slot))
		unavailable(w, "too many requests are waiting for the leader; try again")
		return
	}
	if id := w.Header().Get("X-Request-Id"); id != "" {
		// The leader's log lines carry the id this answer gets: this process's, which replaced
		// one the client sent that was not fit for logs.
		q.Header.Set("X-Request-Id", id)
	}
	headers, err := jsonHeader(q.Header)
	if err != nil {
		http.Error(w, "bad headers", http.StatusBadRequest)
		return
	}
	start := time.Now()
	id := newID()
	answered := s.await(id)
	defer s.forget(id)
	// The request's own context does not bound the database work that cleans up after it.
	ctx := context.WithoutCancel(r.Context())
	var inserted *int64
	var refusedBy *string
	ictx, cancel := context.WithTimeout(ctx, s.opt.Deadline)
	err = s.db.pool.QueryRow(ictx, `WITH l AS (
			SELECT l.holder, l.expires_at > clock_timestamp() AS live,
				EXISTS (SELECT 1 FROM elevate_inbox_leaders r WHERE r.holder = l.holder AND r.epoch = l.epoch) AS registered
			FROM elevate_leader l WHERE l.id = 1),
		ins AS (
			INSERT INTO elevate_inbox (id, method, target, headers, body, remote_addr, deadline)
			SELECT $1, $2, $3, $4, $5, $6, clock_timestamp() + $7 * interval '1 millisecond'
			WHERE NOT EXISTS (SELECT 1 FROM l WHERE live AND NOT registered)
			RETURNING id),
		n AS (SELECT pg_notify('`+chanInbox+`', '') FROM ins)
		SELECT (SELECT id FROM ins), (SELECT holder FROM l WHERE live AND NOT registered), (SELECT count(*) FROM n)`,
		id, q.Method, q.Target, string(headers), q.Body, q.RemoteAddr, s.opt.Deadline.Milliseconds()).Scan(&inserted, &refusedBy, nil)
	cancel()
	claimed := false
	wait := s.opt.Deadline
	switch {
	case err != nil && !notSent(err):
		// The insert may have committed though its answer was lost (the connection failed, or
		// the deadline passed, after the server ran it): a leader may have taken the row. Say
		// 503 (nothing done) only once the row is known never to be processed.
		never, gerr := s.withdrawOrClaimed(ctx, id)
		switch {
		case gerr != nil:
			log.Error("forward: the database failed while the request was written, and what became of it is unknown; answered 504 (it may have been handled)",
				"err", err, "then", gerr)
			http.Error(w, "the leader did not answer in time; the request may have been handled", http.StatusGatewayTimeout)
			return
		case never:
			log.Error("forward: cannot reach the database; answered 503, nothing was done", "err", err)
			unavailable(w, "Elevate cannot reach its database; try again")
			return
		}
		log.Warn("forward: the database failed as the request was written, but the leader took it; waiting for its answer", "err", err)
		claimed, wait = true, s.opt.Grace
	case err != nil:
		log.Error("forward: cannot reach the database; answered 503", "err", err)
		unavailable(w, "Elevate cannot reach its database; try again")
		return
	case inserted == nil:
		holder := ""
		if refusedBy != nil {
			holder = *refusedBy
		}
		log.Warn("forward: not forwarded, the leader does not take forwarded requests (an older version?); answered 503", "leader", holder)
		unavailable(w, "this Elevate process is a standby and the leader does not take forwarded requests; try again")
		return
	}

	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		select {
		case <-answered:
			if resp, ok := s.take(ctx, id); ok {
				resp.write(w)
				log.Info("forward: forwarded to the leader", "status", resp.Status, "ms", time.Since(start).Milliseconds())
				return
			}
			answered = s.await(id) // woken for a reconnection, or the row is not answered yet
		case <-r.Context().Done():
			// The client left: nobody reads the answer. An unclaimed row is withdrawn (never
			// processed); a claimed one is deleted too (its answer will find no row).
			if withdrawn, err := s.withdraw(ctx, id); err == nil && withdrawn {
				log.Warn("forward: the client went away before a leader took its request; withdrawn, nothing was done", "ms", time.Since(start).Milliseconds())
				return
			}
			s.drop(ctx, id)
			log.Warn("forward: the client went away while the leader had its request", "ms", time.Since(start).Milliseconds())
			return
		case <-deadline.C:
			if claimed {
				resp, done := s.abandon(ctx, id)
				if done {
					resp.write(w)
					log.Info("forward: forwarded to the leader", "status", resp.Status, "ms", time.Since(start).Milliseconds())
					return
				}
				log.Warn("forward: the leader took the request but did not answer in time; answered 504 (it may have been handled)",
					"ms", time.Since(start).Milliseconds())
				http.Error(w, "the leader did not answer in time; the request may have been handled", http.StatusGatewayTimeout)
				return
			}
			withdrawn, err := s.withdraw(ctx, id)
			if err != nil {
				log.Error("forward: deadline passed and the database did not answer; answered 504", "err", err)
				http.Error(w, "the leader did not answer in time; the request may have been handled", http.StatusGatewayTimeout)
				return
			}
			if withdrawn {
				log.Warn("forward: deadline passed with no leader taking the request; answered 503, nothing was done",
					"ms", time.Since(start).Milliseconds())
				unavailable(w, "no Elevate leader answered in time; nothing was done, try again")
				return
			}
			claimed = true // the leader is working on it
			deadline.Reset(s.opt.Grace)
		}
	}
}

// take reads id's answer and deletes the row, when it was answered.
func (s *Standby) take(ctx context.Context, id int64) (response, bool) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.Deadline)
	defer cancel()
	var resp response
	var h []byte
	err := s.db.pool.QueryRow(ctx, `DELETE FROM elevate_inbox WHERE id = $1 AND done_at IS NOT NULL
		RETURNING status, resp_headers, resp_body`, id).Scan(&resp.Status, &h, &resp.Body)
	if err != nil {
		return response{}, false
	}
	if json.Unmarshal(h, &resp.Header) != nil {
		resp.Header = nil
	}
	return resp, true
}

// withdrawOrClaimed settles a row whose insert may or may not have committed: it deletes id
// unless a leader claimed it. true: the request will never be processed (withdrawn, or never
// written); false: a leader has it.
func (s *Standby) withdrawOrClaimed(ctx context.Context, id int64) (bool, error) {
	withdrawn, err := s.withdraw(ctx, id)
	if err != nil || withdrawn {
		return withdrawn, err
	}
	// Not withdrawn: claimed, or never written. A claim that made the delete skip the row has
	// committed, so this later statement sees it.
	ctx, cancel := context.WithTimeout(ctx, s.opt.Deadline)
	defer cancel()
	var exists bool
	if err := s.db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM elevate_inbox WHERE id = $1)`, id).Scan(&exists); err != nil {
		return false, err
	}
	return !exists, nil
}

// notSent reports whether a failed statement certainly never reached the server: no connection
// could be made, or pgx says nothing was sent.
func notSent(err error) bool {
	var ce *pgxconn.ConnectError
	return errors.As(err, &ce) || pgxconn.SafeToRetry(err)
}

// withdraw deletes id unless a leader claimed it: true means it will never be processed.
func (s *Standby) withdraw(ctx context.Context, id int64) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.Deadline)
	defer cancel()
	tag, err := s.db.pool.Exec(ctx, `DELETE FROM elevate_inbox WHERE id = $1 AND claimed_by IS NULL`, id)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// abandon deletes id whatever its state, returning its answer if it came at the last moment.
func (s *Standby) abandon(ctx context.Context, id int64) (response, bool) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.Deadline)
	defer cancel()
	var resp response
	var status *int
	var h []byte
	err := s.db.pool.QueryRow(ctx, `DELETE FROM elevate_inbox WHERE id = $1 RETURNING status, resp_headers, resp_body`, id).
		Scan(&status, &h, &resp.Body)
	if err != nil || status == nil {
		return response{}, false
	}
	resp.Status = *status
	_ = json.Unmarshal(h, &resp.Header)
	return resp, true
}

func (s *Standby) drop(ctx context.Context, id int64) {
	ctx, cancel := context.WithTimeout(ctx, s.opt.Deadline)
	defer cancel()
	_, _ = s.db.pool.Exec(ctx, `DELETE FROM elevate_inbox WHERE id = $1`, id)
}

func unavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, msg, http.StatusServiceUnavailable)
}
