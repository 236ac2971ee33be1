package store

import (
	"encoding/json"
	"testing"
	"time"
)

// TestMigrationV4 opens a v3 file with a request and audit records in it: Open
// migrates it, and SyncEvents indexes what the old log holds.
func TestMigrationV4(t *testing.T) {
	r := sampleRequest()
	r.ID, r.State, r.UserID, r.UPN, r.Version = 7, StateActive, "oid-alice", "alice@contoso.example", 3
	r.ActivatedAt, r.GraphRequestID = t0, "g-7"
	path := buildFile(t, 3, func(tx kvTx) error {
		v, _ := json.Marshal(r)
		if err := tx.Bucket(bucketRequests).Put(u64(r.ID), v); err != nil {
			return err
		}
		_, err := appendAudit(tx, AuditRecord{At: t0, Action: "request.active", RequestID: 7})
		return err
	})
	s, err := openAt(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.SyncEvents()
	if err != nil || n != 1 {
		t.Errorf("SyncEvents = %d, %v; want 1 event from the v3 log", n, err)
	}
	if ok, err := s.ClaimRun("digest", t0, t0); !ok || err != nil {
		t.Errorf("ClaimRun after migration = %v, %v", ok, err)
	}
	s.Close()
	if v := fileVersion(t, path); v != latestVersion {
		t.Errorf("version = %d, want %d", v, latestVersion)
	}
}

func TestClaimRun(t *testing.T) {
	s := newTestStore(t)
	mon := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		slot time.Time
		want bool
	}{
		{mon, true},
		{mon, false},                          // the same slot again: a restart, a second replica
		{mon.Add(-7 * 24 * time.Hour), false}, // an older slot never runs after a newer one
		{mon.Add(7 * 24 * time.Hour), true},
	} {
		got, err := s.ClaimRun("digest", tc.slot, tc.slot)
		if err != nil || got != tc.want {
			t.Errorf("ClaimRun(%s) = %v, %v; want %v", tc.slot, got, err, tc.want)
		}
	}
	run, ok, err := s.LastRun("digest")
	if err != nil || !ok || !run.Slot.Equal(mon.Add(7*24*time.Hour)) {
		t.Errorf("LastRun = %+v %v %v", run, ok, err)
	}
	if _, ok, _ := s.LastRun("review"); ok {
		t.Error("LastRun of a job that never ran says it ran")
	}
}

func TestOnceAndAlerts(t *testing.T) {
	s := newTestStore(t)
	if ok, _ := s.Once("remind/1", t0); !ok {
		t.Error("first Once = false")
	}
	if ok, _ := s.Once("remind/1", t0); ok {
		t.Error("second Once = true")
	}
	if done, _ := s.Done("remind/1"); !done {
		t.Error("Done = false")
	}
	steps := []struct {
		active, changed bool
	}{{true, true}, {true, false}, {false, true}, {false, false}, {true, true}}
	for i, st := range steps {
		_, changed, err := s.SetAlert("drift/mfa", st.active, "MFA off", t0)
		if err != nil || changed != st.changed {
			t.Errorf("step %d: SetAlert(%v) changed = %v, %v; want %v", i, st.active, changed, err, st.changed)
		}
	}
	as, err := s.Alerts()
	if err != nil || len(as) != 1 || !as[0].Active {
		t.Errorf("Alerts = %+v, %v", as, err)
	}
	if _, err := s.VerifyAudit(); err != nil {
		t.Error(err)
	}
}
