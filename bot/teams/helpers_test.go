package teams_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/bot/teams"
	"github.com/elevate-pim/elevate/bot/teams/teamstest"
	"github.com/elevate-pim/elevate/store"
)

type countingTransport struct {
	n    *atomic.Int32
	next http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// countingClient counts the requests it makes to fake (https, its certificate trusted).
func countingClient(n *atomic.Int32, fake *teamstest.Server) *http.Client {
	return &http.Client{Transport: countingTransport{n, fake.Client().Transport}}
}

// allowFake is the service URL allowlist of the fake's host.
func allowFake(t testing.TB, fake *teamstest.Server) *teams.ServiceURLs {
	t.Helper()
	s, err := teams.NewServiceURLs([]string{fake.Host()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lateStore is the conversation store of a demo.World that is started after the adapter.
type lateStore struct{ s *store.Store }

func (l *lateStore) PutConversation(c store.Conversation) error { return l.s.PutConversation(c) }
func (l *lateStore) Conversation(p, k string) (store.Conversation, error) {
	return l.s.Conversation(p, k)
}
func (l *lateStore) Conversations(p string) ([]store.Conversation, error) {
	return l.s.Conversations(p)
}

// lateReplays is the replay store of a demo.World started after the adapter.
type lateReplays struct{ s *store.Store }

func (l *lateReplays) FirstSeen(key string, at time.Time, window time.Duration) (bool, error) {
	return l.s.FirstSeen(key, at, window)
}
