package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/internal/logbuf"
	"github.com/elevate-pim/elevate/store"
	bolt "go.etcd.io/bbolt"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("channels:\n  approvals: \"#pim\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runCLI(t, "check", "-config-only", "-config", good); err != nil || !strings.Contains(out, "OK") {
		t.Errorf("check good config: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("channels:\n  approvals: \"#pim\"\nrequest_expiry: 4x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runCLI(t, "check", "-config-only", "-config", bad)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:3") {
		t.Errorf("check bad config: %v, want an error at bad.yaml:3", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	out, err := runCLI(t, "frobnicate")
	if err == nil || !strings.Contains(out, "usage: elevate") {
		t.Errorf("unknown command: %v\n%s", err, out)
	}
}

// TestAuditExportVerifyBackup runs the demo into a store file, then the audit commands on it.
func TestAuditExportVerifyBackup(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "elevate.db")
	s, err := store.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.CreateRequest(store.Request{Platform: "slack", ChatUser: "U1", RoleName: "Exchange Administrator", Duration: time.Hour},
			store.AuditRecord{At: time.Date(2026, 1, 1+i, 9, 0, 0, 0, time.UTC), Actor: "slack:U1", Action: "request.created", Detail: "with, a comma"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	out, err := runCLI(t, "audit", "verify", "-db", db)
	if err != nil || !strings.Contains(out, "3 audit records, hash chain intact") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, err = runCLI(t, "audit", "export", "-db", db, "-since", "2026-01-02")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("jsonl export since Jan 2: %d lines, want 2:\n%s", len(lines), out)
	}
	var rec store.AuditRecord
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec.Seq != 2 || rec.Hash == "" || rec.PrevHash == "" {
		t.Errorf("first exported record %+v, %v", rec, err)
	}
	out, err = runCLI(t, "audit", "export", "-db", db, "-format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 4 || rows[1][5] != "with, a comma" {
		t.Errorf("csv export: %v rows %v", err, rows)
	}

	backupPath := filepath.Join(dir, "copy.db")
	if out, err := runCLI(t, "backup", "-db", db, backupPath); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "audit", "verify", "-db", backupPath); err != nil || !strings.Contains(out, "intact") {
		t.Errorf("verify backup: %v\n%s", err, out)
	}

	// Tamper with record 2 behind the store's back: verify must name it.
	bdb, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		v := bytes.Replace(b.Get(k), []byte("with, a comma"), []byte("with, a c0mma"), 1)
		return b.Put(k, v)
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "audit", "verify", "-db", db)
	if err == nil || !strings.Contains(err.Error(), "record 2") {
		t.Errorf("verify after tampering: %v, want it to name record 2", err)
	}
}

func TestExportRejectsBadFlags(t *testing.T) {
	db := filepath.Join(t.TempDir(), "elevate.db")
	if _, err := runCLI(t, "audit", "export", "-db", db, "-format", "xml"); err == nil || !strings.Contains(err.Error(), "jsonl or csv") {
		t.Errorf("bad format: %v", err)
	}
	if _, err := runCLI(t, "audit", "export", "-db", db, "-since", "last week"); err == nil || !strings.Contains(err.Error(), "2026-01-31") {
		t.Errorf("bad since: %v", err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestServeSandbox starts `elevate serve -sandbox` and checks its operational endpoints.
func TestServeSandbox(t *testing.T) {
	addr, metricsAddr := freePort(t), freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs logbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-sandbox", "-listen", addr, "-metrics-addr", metricsAddr, "-log-level", "warn",
			"-db", filepath.Join(t.TempDir(), "elevate.db")}, strings.NewReader(""), io.Discard, &logs)
	}()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %q", code, body)
	}
	// /metrics is on its own listener, with the build, and not on the public one.
	code, body := get(t, "http://"+metricsAddr+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, "elevate_http_requests_total") || !strings.Contains(body, `elevate_build_info{commit="`) {
		t.Errorf("/metrics on -metrics-addr = %d, lacks elevate_http_requests_total or elevate_build_info", code)
	}
	if code, _ := get(t, base+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the public listener = %d, want 404 without -metrics-on-main", code)
	}
	// The pages the Teams package links to exist.
	for _, p := range []string{"/privacy", "/terms"} {
		if code, body := get(t, base+p); code != http.StatusOK || !strings.Contains(body, "Elevate") {
			t.Errorf("%s = %d", p, code)
		}
	}
	if code, _ := get(t, base+"/sandbox/sign-in?to=https://evil.example/"); code != http.StatusBadRequest {
		t.Errorf("sandbox sign-in page accepted a foreign URL: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not shut down")
	}
	if strings.Contains(logs.String(), "eyJ") {
		t.Errorf("the log holds something token-shaped:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), `"level":"INFO"`) || !strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("-log-level warn: want warnings and no info records:\n%s", logs.String())
	}
}

// TestServeMetricsOnMain: -metrics-on-main keeps /metrics on the public listener. The default
// log level is info.
func TestServeMetricsOnMain(t *testing.T) {
	addr := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs logbuf.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-sandbox", "-listen", addr, "-metrics-on-main", "-db", filepath.Join(t.TempDir(), "elevate.db")},
			strings.NewReader(""), io.Discard, &logs)
	}()
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not come up: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get(t, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "elevate_build_info") {
		t.Errorf("/metrics with -metrics-on-main = %d", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v", err)
	}
	if !strings.Contains(logs.String(), `"level":"INFO"`) || strings.Contains(logs.String(), `"level":"DEBUG"`) {
		t.Errorf("the default level is info:\n%s", logs.String())
	}
}

// TestExitStatus: help is a success (0) printed on stdout, a usage error 2, a bad config or a
// failed check 1.
func TestExitStatus(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("request_expiry: 4x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args      []string
		status    int
		stdout    string // in stdout
		stderr    string // in stderr
		errSubstr string
	}{
		{[]string{"check", "--help"}, 0, "usage: elevate check", "", ""},
		{[]string{"check", "-h"}, 0, "-config-only", "", ""},
		{[]string{"serve", "-h"}, 0, "-metrics-addr", "", ""},
		{[]string{"demo", "-help"}, 0, "-interactive", "", ""},
		{[]string{"audit", "export", "-h"}, 0, "-format", "", ""},
		{[]string{"backup", "-h"}, 0, "usage: elevate backup", "", ""},
		{[]string{"manifest", "slack", "-h"}, 0, "-socket", "", ""},
		{[]string{"manifest", "teams", "-h"}, 0, "-privacy-url", "", ""},
		{[]string{"--help"}, 0, "usage: elevate <command>", "", ""},
		{[]string{}, 2, "", "usage: elevate <command>", "no command given"},
		{[]string{"frobnicate"}, 2, "", "usage: elevate <command>", `unknown command "frobnicate"`},
		{[]string{"check", "-no-such-flag"}, 2, "", "usage: elevate check", "flag provided but not defined: -no-such-flag"},
		{[]string{"serve", "-log-level", "loud"}, 2, "", "", `log level "loud"`},
		{[]string{"backup"}, 2, "", "", "usage: elevate backup"},
		{[]string{"audit", "export", "-format", "xml"}, 2, "", "", `-format "xml"`},
		{[]string{"manifest", "nope"}, 2, "", "", `no manifest for "nope"`},
		{[]string{"check", "-config-only", "-config", bad}, 1, "", "", "bad.yaml:1: request_expiry"},
		{[]string{"check", "-config-only", "-config", filepath.Join(dir, "missing.yaml")}, 1, "", "", "missing.yaml"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, strings.NewReader(""), &out, &errOut)
			if got := exitStatus(err); got != tt.status {
				t.Errorf("exit status %d (%v), want %d", got, err, tt.status)
			}
			if !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stdout %q lacks %q or stderr %q lacks %q", out.String(), tt.stdout, errOut.String(), tt.stderr)
			}
			if tt.errSubstr != "" && (err == nil || !strings.Contains(err.Error(), tt.errSubstr)) {
				t.Errorf("err %v, want %q", err, tt.errSubstr)
			}
			if strings.Contains(out.String()+errOut.String(), "flag: help requested") {
				t.Errorf("help printed as an error")
			}
		})
	}
}
