package crashrun

import (
	"bytes"
	"fmt"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Server is one `elevate serve -sandbox -sandbox-state State` process, started again after each
// kill with the same flags.
type Server struct {
	Name                                  string // in errors; "the server" when empty
	Bin, Addr, Metrics, DB, State, Config string
	Latency                               time.Duration
	Args                                  []string // more flags for serve
	Env                                   []string
	FreshLogs                             bool // each start's stderr alone, not every start's

	mu     sync.Mutex
	cmd    *exec.Cmd
	logs   *logBuffer
	starts int
	up     bool
}

// Start starts the process and waits until it answers /healthz.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	args := []string{"serve", "-sandbox", "-sandbox-state", s.State, "-config", s.Config,
		"-sandbox-graph-latency", s.Latency.String(), "-sandbox-min-active", "1s", "-listen", s.Addr, "-db", s.DB,
		"-metrics-addr", s.Metrics}
	s.cmd = exec.Command(s.Bin, append(args, s.Args...)...)
	s.cmd.Env = s.Env
	if s.logs == nil || s.FreshLogs {
		s.logs = &logBuffer{}
	}
	s.cmd.Stderr = s.logs
	s.starts++
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + s.Addr + "/healthz"); err == nil {
			resp.Body.Close()
			s.up = true
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	name := s.Name
	if name == "" {
		name = "the server"
	}
	return fmt.Errorf("%s did not come up:\n%s", name, s.logs.String())
}

// Kill stops the process with SIGKILL.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.up = false
}

// Stop stops the process as an operator would (SIGTERM), so a leader's last outbox pass runs.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.up = false
}

// Up says whether the process was started and not killed or stopped since.
func (s *Server) Up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up
}

// Starts is how many times the process was started.
func (s *Server) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// Logs is the process's stderr: since the first start, or the last with FreshLogs.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logs == nil {
		return ""
	}
	return s.logs.String()
}

// logBuffer is a process's stderr: written by exec's copying goroutine while the process runs,
// read by Logs and Start's error at any time.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
