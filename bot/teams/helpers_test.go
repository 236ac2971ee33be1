package teams_test

import (
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
