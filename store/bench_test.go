package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/elevate-pim/elevate/lead"
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

// BenchmarkCreateRequestFenced is BenchmarkCreateRequest on PostgreSQL as `elevate serve` writes
// there: every write transaction fenced by a real leader's lease (lead.Elector.Fence).
func BenchmarkCreateRequestFenced(b *testing.B) {
	if current.name != "postgres" {
		return // a fence is PostgreSQL's
	}
	// One writer, and 16 per core at once (group commit shares a transaction among them).
	for _, par := range []int{0, 16} {
		b.Run(fmt.Sprintf("parallelism=%d", par), func(b *testing.B) {
			loc := testPath(b)
			el := lead.New(loc, lead.Config{Holder: "bench"})
			defer el.Close()
			if _, err := el.Campaign(context.Background()); err != nil {
				b.Fatal(err)
			}
			s, err := OpenPostgres(context.Background(), loc, PostgresOptions{Fence: el.Fence})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			e := ev("request.created")
			if par == 0 {
				r := sampleRequest()
				for b.Loop() {
					if _, err := s.CreateRequest(r, e); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(par)
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
}
