package graphtest_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

// TestStateFileSurvivesRestart: with a state file, an activation PIM granted is still there in a
// new tenant on the same file, and PIM refuses to activate the role a second time.
func TestStateFileSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenant.json")
	tn, _ := newDemo(t, graphtest.WithStateFile(path))
	r := call(t, tn, "POST", requestsPath, userToken(t, tn, "alice@contoso.example"), activation(alice, exRole, "PT4H", "mailbox restore"))
	if r.Status != http.StatusCreated || r.Body["status"] != "Granted" {
		t.Fatalf("%d %s", r.Status, r.Raw)
	}
	tn.Close()

	again, _ := newDemo(t, graphtest.WithStateFile(path))
	got := call(t, again, "GET", requestsPath+"/"+r.Body["id"].(string), userToken(t, again, "alice@contoso.example"), nil)
	if got.Status != http.StatusOK || got.Body["status"] != "Granted" {
		t.Fatalf("the request after a restart: %d %s", got.Status, got.Raw)
	}
	second := call(t, again, "POST", requestsPath, userToken(t, again, "alice@contoso.example"), activation(alice, exRole, "PT4H", "again"))
	if second.Status != http.StatusBadRequest {
		t.Errorf("a second activation after the restart: %d %s, want PIM's RoleAssignmentExists", second.Status, second.Raw)
	}
}
