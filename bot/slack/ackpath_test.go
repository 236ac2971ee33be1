package slack_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/slack"
	"github.com/elevate-pim/elevate/bot/slack/slacktest"
	"github.com/elevate-pim/elevate/store"
)

// countingReplays is a store's Replays that keeps the keys it was asked about.
type countingReplays struct {
	s    *store.Store
	mu   sync.Mutex
	keys []string
}

func (c *countingReplays) FirstSeen(key string, at time.Time, window time.Duration) (bool, error) {
	c.mu.Lock()
	c.keys = append(c.keys, key)
	c.mu.Unlock()
	return c.s.FirstSeen(key, at, window)
}

// TestOneReplayWritePerCommand: a slash command records one replay key before it is
// acknowledged (each is an fsync'd write that the acknowledgement waits for), the command's own
// when it has a trigger_id, the signed request's when it has none; and a replay of either is
// still ignored.
func TestOneReplayWritePerCommand(t *testing.T) {
	e := start(t, false)
	s, err := store.Open(filepath.Join(t.TempDir(), "replays.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep := &countingReplays{s: s}
	a, err := slack.New(slack.Options{Core: e.w.Core, BotToken: slacktest.BotToken, SigningSecret: secret,
		APIURL: e.fake.APIURL(), HomeDelay: 20 * time.Millisecond, Replays: rep})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Commands())
	defer srv.Close()
	post := func(body []byte, h http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(body))
		req.Header = h.Clone()
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		a.Wait()
		e.settle()
	}
	withTrigger := e.commandForm("alice", "exchange 1h fixing mail flow", "trig-one-write")
	without := e.commandForm("alice", "exchange 2h fixing mail flow again", "")
	for _, body := range [][]byte{withTrigger, without} {
		h := sign(body, time.Now())
		post(body, h)
		post(body, h) // a replay
	}
	if n := len(e.requests(t)); n != 2 {
		t.Errorf("%d requests after two commands and their replays, want 2", n)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if len(rep.keys) != 4 {
		t.Fatalf("replay keys recorded: %q; want one per HTTP request (4)", rep.keys)
	}
	for i, prefix := range []string{"slack:cmd:", "slack:cmd:", "slack:req:", "slack:req:"} {
		if len(rep.keys[i]) < len(prefix) || rep.keys[i][:len(prefix)] != prefix {
			t.Errorf("key %d = %q, want a %s key", i, rep.keys[i], prefix)
		}
	}
}
