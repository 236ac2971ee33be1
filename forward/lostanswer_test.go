package forward

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// loseProxy is a TCP proxy in front of a real PostgreSQL server that, once armed, loses the
// server's answer to the first statement whose text holds marker: the statement is delivered
// and runs (and commits), but the client never hears back, as when the network fails after the
// server committed. Every other connection and statement passes untouched.
type loseProxy struct {
	ln     net.Listener
	target string // host:port or a Unix socket path
	marker []byte
	armed  atomic.Bool
	lost   atomic.Bool // an answer was lost
	wg     sync.WaitGroup
}

func newLoseProxy(t *testing.T, dbURL string, marker string) (*loseProxy, string) {
	t.Helper()
	cc, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	target := net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
	if len(cc.Host) > 0 && cc.Host[0] == '/' {
		target = cc.Host + "/.s.PGSQL." + strconv.Itoa(int(cc.Port))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &loseProxy{ln: ln, target: target, marker: []byte(marker)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p, pgtest.Via(t, dbURL, ln.Addr().String())
}

func (p *loseProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		network := "tcp"
		if p.target[0] == '/' {
			network = "unix"
		}
		s, err := net.Dial(network, p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.wg.Add(2)
		var deaf atomic.Bool // this connection's answers are lost from now on
		go func() {          // client to server
			defer p.wg.Done()
			defer s.Close()
			buf := make([]byte, 64<<10)
			seen := false // the statement's text went by: its execution is the next write
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if seen {
						deaf.Store(true)
						p.lost.Store(true)
						seen = false
					}
					if p.armed.Load() && bytes.Contains(buf[:n], p.marker) {
						p.armed.Store(false)
						seen = true
					}
					if _, werr := s.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // server to client
			defer p.wg.Done()
			defer c.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := s.Read(buf)
				if n > 0 && !deaf.Load() {
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// The insert of a forwarded request commits but its answer is lost (the connection fails after
// the server committed): the leader may take the row, so the standby must not answer 503 ("nothing
// was done, try again") for a request that is being handled. It finds out what became of the row
// and answers with the leader's answer; the request is handled once.
func TestForwardInsertAnswerLost(t *testing.T) {
	direct := pgtest.URL(t)
	proxy, viaProxy := newLoseProxy(t, direct, "INSERT INTO elevate_inbox")
	e := setupAt(t, direct, Options{})
	var calls atomic.Int32
	e.leader(t, "leader-1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.WriteString(w, "handled")
	}), true)

	// The standby reaches the database through the proxy; the leader directly.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sdb, err := Open(ctx, viaProxy, Options{Deadline: 2 * time.Second, Grace: 5 * time.Second, Poll: 50 * time.Millisecond, Logger: e.db.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sdb.Close)
	e2 := &env{db: sdb}
	_, srv := e2.standby(t)

	proxy.armed.Store(true)
	resp, body := post(t, srv.URL+"/slack/commands", "text=once", nil)
	if !proxy.lost.Load() {
		t.Fatal("the proxy lost no answer: the test did not test anything")
	}
	if calls.Load() != 1 {
		t.Fatalf("the leader handled the request %d times, want 1", calls.Load())
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		t.Fatalf("answered 503 (%q) for a request the leader handled: the person retries and it happens twice", body)
	}
	if resp.StatusCode != http.StatusOK || body != "handled" {
		t.Errorf("answer %d %q, want the leader's", resp.StatusCode, body)
	}
	if n := e.rows(t); n != 0 {
		t.Errorf("%d rows left, want 0", n)
	}
}

// Registering a term whose answer is lost fails at the forwarding deadline, so that a new leader
// does not hang before it serves (main exits and its supervisor restarts it).
func TestRegisterAnswerLost(t *testing.T) {
	direct := pgtest.URL(t)
	setupAt(t, direct, Options{}) // the tables
	proxy, viaProxy := newLoseProxy(t, direct, "INSERT INTO elevate_inbox_leaders")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Open(ctx, viaProxy, Options{Deadline: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	proxy.armed.Store(true)
	if err := d.Register(context.Background(), "leader-1", 1); err == nil {
		t.Fatal("Register succeeded with its answer lost")
	}
	if !proxy.lost.Load() {
		t.Fatal("the proxy lost no answer: the test did not test anything")
	}
}
