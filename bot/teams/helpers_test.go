package teams_test

import (
	"github.com/elevate-pim/elevate/store"
	"net/http"
	"sync/atomic"
)

type countingTransport struct{ n *atomic.Int32 }

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

func countingClient(n *atomic.Int32) *http.Client {
	return &http.Client{Transport: countingTransport{n}}
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
