package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMessageRefs(t *testing.T) {
	s := newTestStore(t)
	r := mustCreate(t, s, sampleRequest())
	other := mustCreate(t, s, sampleRequest())

	if got, err := s.MessageRefs(r.ID); err != nil || len(got) != 0 {
		t.Fatalf("MessageRefs before any = %v, %v", got, err)
	}
	card := MessageRef{Platform: "slack", Channel: "C-approvals", MessageID: "1700000000.000100", Kind: "approval", At: t0}
	dm := MessageRef{Platform: "slack", Channel: "D123", MessageID: "1700000000.000200", Kind: "requester", At: t0.Add(time.Second)}
	for _, ref := range []MessageRef{card, dm, card /* a retried handler */} {
		if err := s.AddMessageRef(r.ID, ref); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddMessageRef(other.ID, MessageRef{Platform: "teams", Channel: "19:x", MessageID: "1", Kind: "approval"}); err != nil {
		t.Fatal(err)
	}

	got, err := s.MessageRefs(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, []MessageRef{card, dm}); diff != "" {
		t.Errorf("MessageRefs (-got +want):\n%s", diff)
	}
	if got, _ := s.MessageRefs(other.ID); len(got) != 1 || got[0].At.IsZero() {
		t.Errorf("MessageRefs(other) = %+v, want one with a time", got)
	}
	if err := s.AddMessageRef(404, card); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddMessageRef to a missing request: err = %v, want ErrNotFound", err)
	}
}
