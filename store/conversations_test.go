package store

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMigrationV3AddsConversations opens a v2 file with a request in it:
// Open migrates it to v3, the request is intact and conversations work.
func TestMigrationV3AddsConversations(t *testing.T) {
	path := buildFile(t, 2, func(tx kvTx) error {
		if tx.Bucket(bucketConversations) != nil {
			t.Errorf("bucket %s exists at v2", bucketConversations)
		}
		return nil
	})
	s, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.PutConversation(Conversation{Platform: "teams", Key: "19:a@thread.tacv2", ServiceURL: "https://smba.example/emea/"})
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if v := fileVersion(t, path); v != latestVersion {
		t.Errorf("version = %d, want %d", v, latestVersion)
	}
}

func TestConversations(t *testing.T) {
	s := openTest(t, testPath(t))
	if _, err := s.Conversation("teams", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing conversation: %v, want ErrNotFound", err)
	}
	if err := s.PutConversation(Conversation{Key: "x"}); err == nil {
		t.Error("a conversation without platform was stored")
	}
	ch := Conversation{Platform: "teams", Key: "19:a@thread.tacv2", ConversationID: "19:a@thread.tacv2", ServiceURL: "https://smba.example/emea/",
		TenantID: "tid", Type: "channel", Name: "pim-approvals", TeamID: "19:team", UpdatedAt: t0}
	if err := s.PutConversation(ch); err != nil {
		t.Fatal(err)
	}
	// A later activity that says less keeps what the first one said.
	if err := s.PutConversation(Conversation{Platform: "teams", Key: ch.Key, ServiceURL: "https://smba.example/emea2/", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Conversation("teams", ch.Key)
	if err != nil {
		t.Fatal(err)
	}
	want := ch
	want.ServiceURL = "https://smba.example/emea2/"
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("conversation (-want +got):\n%s", d)
	}
	if err := s.PutConversation(Conversation{Platform: "teams", Key: "user:29:bob", UserID: "29:bob", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutConversation(Conversation{Platform: "slack", Key: "C1", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	all, err := s.Conversations("teams")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Key == all[1].Key || all[0].Platform != "teams" || all[1].Platform != "teams" {
		t.Errorf("teams conversations = %+v", all)
	}
}
