package pgtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

// Two tests' databases are distinct, empty and writable.
func TestURLFreshDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := URL(t), URL(t)
	if a == b {
		t.Fatalf("URL returned %s twice", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE x (v int); INSERT INTO x VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("second database has %d tables, want 0", n)
	}
	var fsync string
	if err := cb.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil {
		t.Fatal(err)
	}
	if fsync != "on" {
		t.Errorf("fsync = %s, want on", fsync)
	}
}

// A process that started a cluster and was killed leaves no server running: the watchdog stops it.
func TestStartStoppedWhenOwnerKilled(t *testing.T) {
	dir, err := os.MkdirTemp("", dirPrefix) // as root, the postgres user must reach it
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildStart$")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD_START="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var u string
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "URL "); ok {
			u = rest
			break
		}
	}
	go func() { // keep the pipe drained
		for sc.Scan() {
		}
	}()
	if u == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child printed no URL")
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect to the child's server: %v", err)
	}
	c.Close(ctx)
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			break
		}
		c.Close(ctx)
		if time.Now().After(deadline) {
			t.Fatal("server still accepts connections a minute after its owner was killed")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestChildStart is the child of TestStartStoppedWhenOwnerKilled: it starts a cluster and waits to be killed.
func TestChildStart(t *testing.T) {
	dir := os.Getenv("PGTEST_CHILD_START")
	if dir == "" {
		return
	}
	u, _, err := Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("URL " + u)
	time.Sleep(10 * time.Minute)
}
