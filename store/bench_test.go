package store

import (
	"testing"
)

// The ack path persists a request before answering Slack (DESIGN §7): these
// show what one durable write costs, on each backend (TestMain runs them once
// per backend; the sub-benchmark is named after it). Run with
// go test -run '^$' -bench . ./store (-backend bolt or postgres for one).

func BenchmarkCreateRequest(b *testing.B) {
	b.Run(current.name, func(b *testing.B) {
		s := newTestStore(b)
		r := sampleRequest()
		e := ev("request.created")
		for b.Loop() {
			if _, err := s.CreateRequest(r, e); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkUpdate(b *testing.B) {
	b.Run(current.name, func(b *testing.B) {
		s := newTestStore(b)
		r := mustCreate(b, s, sampleRequest())
		e := ev("request.note")
		fn := func(r *Request) error { r.GraphStatus = "Provisioned"; return nil }
		for b.Loop() {
			if _, err := s.Update(r.ID, e, fn); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateRequestParallel: many writers at once, as under load, where group commit shares
// one transaction (one fsync, one PostgreSQL commit) among the writers that queued meanwhile.
func BenchmarkCreateRequestParallel(b *testing.B) {
	b.Run(current.name, func(b *testing.B) {
		s := newTestStore(b)
		e := ev("request.created")
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			r := sampleRequest()
			for pb.Next() {
				if _, err := s.CreateRequest(r, e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
