// Package pgtest gives tests a real PostgreSQL server: the one named by
// ELEVATE_TEST_POSTGRES_URL, or else a throwaway cluster that it starts itself
// (initdb + pg_ctl in a temporary directory) from the PostgreSQL server binaries
// on PATH or under /usr/lib/postgresql/*/bin. Each test gets a fresh, empty
// database of its own.
//
// When neither is possible a test fails (it never skips) with a message naming
// the package to install.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable with the URL of an existing server to
// use instead of starting one. Its role must be allowed to CREATE DATABASE.
const EnvURL = "ELEVATE_TEST_POSTGRES_URL"

// installHint is what to do when no server can be had.
const installHint = "install the PostgreSQL server (apt-get install postgresql) or set " + EnvURL

var (
	serverOnce sync.Once
	serverURL  string
	serverStop func()
	serverErr  error
)

// server returns the admin URL of the server shared by this test binary.
func server() (string, error) {
	serverOnce.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			serverURL, serverStop = u, func() {}
			return
		}
		dir, err := os.MkdirTemp("", dirPrefix)
		if err != nil {
			serverErr = err
			return
		}
		serverURL, serverStop, serverErr = Start(dir)
		if serverErr != nil {
			os.RemoveAll(dir)
		}
	})
	return serverURL, serverErr
}

// Main runs the tests of a package and then stops the cluster they started,
// if any. Use it as TestMain's body: func TestMain(m *testing.M) { pgtest.Main(m) }.
// Without it the cluster is still stopped, a second after the test binary exits.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the cluster that URL started, if any; for a TestMain that runs the tests itself.
func Stop() {
	if serverStop != nil {
		serverStop()
	}
}

var dbSeq struct {
	sync.Mutex
	n int
}

// URL returns the URL of a new, empty database on the test server, dropped
// when the test ends. It fails the test when no server can be had.
func URL(t testing.TB) string {
	t.Helper()
	admin, err := server()
	if err != nil {
		t.Fatalf("pgtest: no PostgreSQL server for the test: %v (%s)", err, installHint)
	}
	dbSeq.Lock()
	dbSeq.n++
	n := dbSeq.n
	dbSeq.Unlock()
	var rnd [4]byte
	rand.Read(rnd[:])
	name := fmt.Sprintf("elevate_test_%d_%d_%s", os.Getpid(), n, hex.EncodeToString(rnd[:]))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect to the test server: %v (%s)", err, installHint)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// withDatabase returns the URL u naming database name instead.
func withDatabase(u, name string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "postgres" && p.Scheme != "postgresql") {
		return "", fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	p.Path = "/" + name
	p.RawPath = ""
	return p.String(), nil
}

// Via returns dbURL reaching its server through addr (host:port) instead, as a test's proxy in
// front of the server needs: the URL's host and any host or port parameters are replaced.
func Via(t testing.TB, dbURL, addr string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	q := u.Query()
	q.Del("host")
	q.Del("port")
	u.RawQuery = q.Encode()
	u.Host = addr
	return u.String()
}

// dirPrefix starts the names of the cluster directories under os.TempDir, so
// that a later start can find and stop the clusters of killed test binaries.
const dirPrefix = "elevate-pgtest-"

// Start initialises a new cluster in dir (which must be empty or absent) and
// starts it on a free port of 127.0.0.1, with its unix socket in dir and
// fsync on. It returns the URL of its "postgres" database, for the superuser
// "postgres" without a password, and stop, which stops the server and removes
// dir. A watchdog process stops the server too if this process dies without
// calling stop. As root, the server runs as the "postgres" user, which must be
// able to reach dir (os.MkdirTemp("", ...) gives such a directory).
func Start(dir string) (dbURL string, stop func(), err error) {
	bin, err := binDir()
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	reapStale(bin)

	asUser, err := runAs(dir)
	if err != nil {
		return "", nil, err
	}
	data := filepath.Join(dir, "data")
	if out, err := command(asUser, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C").CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	// Trust for everyone (the superuser the tests use) but the members of PasswordGroup, whose
	// passwords are checked: Role's roles, for the tests of password and token authentication.
	hba := filepath.Join(data, "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		return "", nil, err
	}
	checked := fmt.Sprintf("local all +%[1]s scram-sha-256\nhost all +%[1]s 127.0.0.1/32 scram-sha-256\nhost all +%[1]s ::1/128 scram-sha-256\n", PasswordGroup)
	if err := os.WriteFile(hba, append([]byte(checked), old...), 0o600); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", nil, err
	}

	var port int
	for attempt := 0; ; attempt++ {
		port, err = freePort()
		if err != nil {
			return "", nil, err
		}
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=32MB", port, dir)
		out, err := command(asUser, filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "server.log"),
			"-w", "-t", "60", "-o", opts, "start").CombinedOutput()
		if err == nil {
			break
		}
		if attempt == 2 {
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			return "", nil, fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
		}
	}

	pgCtlStop := func() {
		command(asUser, filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run()
	}
	if err := watchdog(asUser, filepath.Join(bin, "pg_ctl"), data, dir); err != nil {
		pgCtlStop()
		return "", nil, fmt.Errorf("pgtest: start watchdog: %w", err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			pgCtlStop()
			os.RemoveAll(dir)
		})
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop, nil
}

// binDir finds the directory of initdb and pg_ctl.
func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first.
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	return "", errors.New("no initdb and pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// runAs returns the user to run the server as: "" for the current one, or
// "postgres" when running as root (PostgreSQL refuses to run as root), in
// which case dir is handed to that user.
func runAs(dir string) (string, error) {
	if os.Geteuid() != 0 {
		return "", nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return "", fmt.Errorf("running as root and there is no postgres user to run the server as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return "", err
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		return "", errors.New("running as root and runuser is missing")
	}
	return "postgres", nil
}

func command(asUser, name string, args ...string) *exec.Cmd {
	if asUser == "" {
		return exec.Command(name, args...)
	}
	return exec.Command("runuser", append([]string{"-u", asUser, "--", name}, args...)...)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// watchdog starts a detached shell that stops the server and removes dir once
// this process is gone: a test binary killed by a timeout or a signal runs no
// cleanup of its own.
func watchdog(asUser, pgCtl, data, dir string) error {
	stopCmd := fmt.Sprintf("%s -D %s -m immediate -w stop", shellQuote(pgCtl), shellQuote(data))
	if asUser != "" {
		stopCmd = "runuser -u " + asUser + " -- " + stopCmd
	}
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; %s >/dev/null 2>&1; rm -rf %s",
		os.Getpid(), stopCmd, shellQuote(dir))
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // survives a signal to our process group
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it if we outlive it
	return nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// reapStale stops and removes the clusters under os.TempDir whose owner
// process is gone (a watchdog that was itself killed leaves one behind).
func reapStale(bin string) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue // being set up, or not ours
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM) {
			continue // owner alive
		}
		asUser := ""
		if os.Geteuid() == 0 {
			asUser = "postgres"
		}
		command(asUser, filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(d, "data"), "-m", "immediate", "-w", "stop").Run()
		os.RemoveAll(d)
	}
}

// PasswordGroup is the role whose members' passwords the throwaway cluster checks (everyone
// else is trusted).
const PasswordGroup = "pgtest_password"

// Role creates a login role with password on the server of dbURL (a URL from URL), able to
// create tables in dbURL's database and nothing more, as an application's role is, and returns
// its name and dbURL for it without a password. The server must check its password: a server
// from ELEVATE_TEST_POSTGRES_URL whose pg_hba.conf trusts the role fails the test. The role is
// dropped when the test ends.
func Role(t testing.TB, dbURL, password string) (name, roleURL string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var rnd [4]byte
	rand.Read(rnd[:])
	name = "pgtest_role_" + hex.EncodeToString(rnd[:])
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: connect to the test database: %v", err)
	}
	defer admin.Close(ctx)
	id := pgx.Identifier{name}.Sanitize()
	for _, q := range []string{
		// Several test binaries may create the group at once.
		`DO $$ BEGIN CREATE ROLE ` + PasswordGroup + ` NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`,
		`CREATE ROLE ` + id + ` LOGIN IN ROLE ` + PasswordGroup + ` PASSWORD ` + quote(password),
		`GRANT USAGE, CREATE ON SCHEMA public TO ` + id,
	} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatalf("pgtest: creating the role: %v", err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Errorf("pgtest: drop role %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		for _, q := range []string{
			`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ` + quote(name),
			`DROP OWNED BY ` + id, `DROP ROLE ` + id,
		} {
			if _, err := c.Exec(ctx, q); err != nil {
				t.Errorf("pgtest: drop role %s: %v", name, err)
				return
			}
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.User = url.User(name)
	roleURL = u.String()
	// A server that does not check the password would make every test of it pass for nothing.
	wrong := *u
	wrong.User = url.UserPassword(name, "not-"+password)
	if c, err := pgx.Connect(ctx, wrong.String()); err == nil {
		c.Close(ctx)
		t.Fatalf("pgtest: the server lets role %s in with a wrong password: its pg_hba.conf must check passwords (scram-sha-256 or md5) for members of %s", name, PasswordGroup)
	}
	return name, roleURL
}

// SetPassword changes role name's password on the server of dbURL.
func SetPassword(t testing.TB, dbURL, name, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: connect to the test database: %v", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `ALTER ROLE `+pgx.Identifier{name}.Sanitize()+` PASSWORD `+quote(password)); err != nil {
		t.Fatalf("pgtest: set the password of %s: %v", name, err)
	}
}

// quote is s as an SQL string literal (standard_conforming_strings, PostgreSQL's default).
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
