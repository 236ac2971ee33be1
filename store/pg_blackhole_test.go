package store

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// holeProxy is a TCP proxy in front of the test server that, once frozen, forwards nothing in
// either direction but keeps every connection open: a network that went silent (a partition, a
// peer gone without a reset), where a write succeeds and its answer never comes.
type holeProxy struct {
	ln     net.Listener
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newHoleProxy(t *testing.T, dbURL string) (*holeProxy, string) {
	t.Helper()
	cc, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	network, target := "tcp", net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port)))
	if len(cc.Host) > 0 && cc.Host[0] == '/' {
		network, target = "unix", cc.Host+"/.s.PGSQL."+strconv.Itoa(int(cc.Port))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holeProxy{ln: ln}
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && !p.frozen.Load() {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial(network, target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.cut() })
	return p, pgtest.Via(t, dbURL, ln.Addr().String())
}

// cut closes every connection through the proxy.
func (p *holeProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A transaction that ends in an error after the network to the server went silent gives up its
// ROLLBACK within the transaction's bound (pgTxTimeout) instead of waiting for an answer until the
// kernel gives up on the connection (a quarter of an hour), holding the process's write lock, and
// so every write, all the while. The connection is dropped, which ends the transaction on the
// server.
func TestPostgresRollbackIntoSilence(t *testing.T) {
	if !onPostgres() {
		return
	}
	defer func(d time.Duration) { pgTxTimeout = d }(pgTxTimeout)
	pgTxTimeout = 2 * time.Second
	loc := testPath(t)
	s, err := OpenPostgres(context.Background(), loc, PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	errRefused := errors.New("refused")
	for _, c := range []struct {
		name string
		run  func(db *pgBackend, fn func(kvTx) error) error
	}{
		{"write", (*pgBackend).Update},
		{"read", (*pgBackend).View},
	} {
		px, viaProxy := newHoleProxy(t, loc)
		db := current.raw(t, viaProxy).(*pgBackend)
		done := make(chan error, 1)
		go func() {
			done <- c.run(db, func(tx kvTx) error {
				if tx.Bucket(bucketMeta) == nil { // the transaction begins with this read
					return errors.New("no meta bucket")
				}
				px.frozen.Store(true)
				return errRefused
			})
		}()
		select {
		case err := <-done:
			if !errors.Is(err, errRefused) {
				t.Errorf("%s: = %v, want fn's error", c.name, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: still waiting for the ROLLBACK's answer 30 s after the network went silent", c.name)
		}
		px.cut()
		go db.pool.Close() // it waits for the dropped connection's cancel request, up to 15 s
	}
}
