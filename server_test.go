package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestPublicServerCutsSlowBodies: a client that sends its headers and then trickles its body
// (or stops) is cut off at ReadTimeout instead of holding a connection and a handler forever,
// and a header block over the limit is refused.
func TestPublicServerCutsSlowBodies(t *testing.T) {
	old := serverReadTimeout
	serverReadTimeout = 300 * time.Millisecond
	defer func() { serverReadTimeout = old }()

	handlerDone := make(chan error, 1)
	srv := publicServer("", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		handlerDone <- err
		if err != nil {
			http.Error(w, "slow body", http.StatusRequestTimeout)
		}
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /slack/commands HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nten bytes."); err != nil {
		t.Fatal(err)
	}
	// The rest of the body never comes. The handler's read must fail, not wait for it.
	select {
	case err := <-handlerDone:
		if err == nil {
			t.Fatal("the handler read a whole body that was never sent")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a body that stopped arriving held the handler for 10 s: no ReadTimeout")
	}

	// A header block over the limit is refused (431) before any handler runs.
	conn2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	_ = conn2.SetDeadline(time.Now().Add(10 * time.Second))
	big := "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", serverMaxHeaderBytes+8192) + "\r\n\r\n"
	go func() { _, _ = io.WriteString(conn2, big) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn2), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d-byte header block answered %d, want 431", len(big), resp.StatusCode)
	}
	select {
	case err := <-handlerDone:
		t.Errorf("the handler ran for an oversized header block (%v)", err)
	default:
	}
}
