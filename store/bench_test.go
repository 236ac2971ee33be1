package store

import (
	"testing"
)

// The ack path persists a request before answering Slack (DESIGN §7): these
// show what one fsynced write costs. Run with go test -bench . ./store.

func BenchmarkCreateRequest(b *testing.B) {
	s := newTestStore(b)
	r := sampleRequest()
	e := ev("request.created")
	for b.Loop() {
		if _, err := s.CreateRequest(r, e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdate(b *testing.B) {
	s := newTestStore(b)
	r := mustCreate(b, s, sampleRequest())
	e := ev("request.note")
	fn := func(r *Request) error { r.GraphStatus = "Provisioned"; return nil }
	for b.Loop() {
		if _, err := s.Update(r.ID, e, fn); err != nil {
			b.Fatal(err)
		}
	}
}
