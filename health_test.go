package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/internal/logbuf"
)

// TestHealth: `elevate health` finds the serve started with the same ELEVATE_LISTEN (exit 0),
// and fails (exit 1) on a dead port and on a server that is not healthy.
func TestHealth(t *testing.T) {
	addr := freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	t.Setenv("ELEVATE_LISTEN", ":"+port) // the wildcard address serve listens on in a container
	dbPath := filepath.Join(t.TempDir(), "from-env.db")
	t.Setenv("ELEVATE_DATABASE_URL", dbPath) // the store, when -db is not given
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs logbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-sandbox", "-log-level", "warn"},
			strings.NewReader(""), io.Discard, &logs)
	}()
	health := func(args ...string) (int, string) {
		var out, errs bytes.Buffer
		err := run(context.Background(), append([]string{"health"}, args...), strings.NewReader(""), &out, &errs)
		msg := out.String() + errs.String()
		if err != nil {
			msg += err.Error()
		}
		return exitStatus(err), msg
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, msg := health()
		if code == exitOK {
			if !strings.Contains(msg, "ok: http://127.0.0.1:"+port+"/healthz") {
				t.Errorf("health said %q", msg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health never succeeded against the running serve: %d %s\n%s", code, msg, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Errorf("serve without -db did not open the store ELEVATE_DATABASE_URL names: %v", err)
	}

	// The port serve listened on is dead now.
	if code, msg := health(); code != exitFail || !strings.Contains(msg, "connection refused") {
		t.Errorf("dead port: exit %d (%s), want 1", code, msg)
	}
	unhealthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer unhealthy.Close()
	if code, msg := health("-listen", unhealthy.Listener.Addr().String()); code != exitFail || !strings.Contains(msg, "503") {
		t.Errorf("503: exit %d (%s), want 1", code, msg)
	}
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer slow.Close()
	defer close(hang)
	if code, msg := health("-listen", slow.Listener.Addr().String(), "-timeout", "100ms"); code != exitFail || !strings.Contains(msg, "deadline exceeded") {
		t.Errorf("a server that never answers: exit %d (%s), want 1 after the timeout", code, msg)
	}
	if code, _ := health("-listen", "nonsense"); code != exitUsage {
		t.Errorf("-listen nonsense: exit %d, want 2", code)
	}
}
