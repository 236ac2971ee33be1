package crashrun

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeServeEnv makes the test binary act as `elevate serve`: it answers /healthz on -listen's
// address and writes a log line to stderr every millisecond until killed.
const fakeServeEnv = "CRASHRUN_FAKE_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeServeEnv) == "1" {
		fakeServe()
		return
	}
	os.Exit(m.Run())
}

func fakeServe() {
	addr := ""
	for i, a := range os.Args {
		if a == "-listen" && i+1 < len(os.Args) {
			addr = os.Args[i+1]
		}
	}
	go http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	for i := 0; ; i++ {
		fmt.Fprintf(os.Stderr, `{"msg":"line %d"}`+"\n", i)
		time.Sleep(time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Logs can be read while the process writes its stderr (go test -race found Logs reading the
// buffer exec's goroutine was writing).
func TestLogsWhileTheProcessWrites(t *testing.T) {
	s := &Server{Bin: os.Args[0], Addr: freeAddr(t), Metrics: freeAddr(t), Env: append(os.Environ(), fakeServeEnv+"=1")}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Kill()
	deadline := time.Now().Add(time.Minute)
	for strings.Count(s.Logs(), "\n") < 50 {
		if time.Now().After(deadline) {
			t.Fatalf("the process's stderr never reached 50 lines: %q", s.Logs())
		}
		time.Sleep(time.Millisecond)
	}
	if logs := s.Logs(); !strings.HasPrefix(logs, `{"msg":"line 0"}`) {
		t.Errorf("Logs starts %.40q, want the process's first line", logs)
	}
}
