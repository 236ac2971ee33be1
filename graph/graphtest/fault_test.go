package graphtest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

// Each injected fault does what it says to the matching request only, and PIM keeps refusing
// what real PIM refuses after a write it took without answering.
func TestInjectedFaults(t *testing.T) {
	tn, _ := newDemo(t)
	tok := userToken(t, tn, "alice@contoso.example")
	app := tn.AppToken()
	instances := func() int {
		t.Helper()
		return len(values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter=principalId%20eq%20'"+alice+"'", app, nil)))
	}

	// 503 with Retry-After, not processed; a read passes untouched.
	tn.Inject(graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Status: http.StatusServiceUnavailable, RetryAfter: "7"})
	if n := instances(); n != 0 {
		t.Fatalf("%d instances before any write", n)
	}
	r := call(t, tn, "POST", requestsPath, tok, activation(alice, exRole, "PT1H", "mail flow"))
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") != "7" {
		t.Fatalf("503 fault: %d %v %s", r.Status, r.Header, r.Raw)
	}
	if n := instances(); n != 0 {
		t.Fatalf("a refused write was processed: %d instances", n)
	}

	// Applied, answer lost: PIM has it, the client got a 504, and a retry meets RoleAssignmentExists.
	tn.Inject(graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfActivate", Apply: true})
	r = call(t, tn, "POST", requestsPath, tok, activation(alice, exRole, "PT1H", "mail flow"))
	if r.Status != http.StatusGatewayTimeout {
		t.Fatalf("lost answer: %d %s", r.Status, r.Raw)
	}
	if n := instances(); n != 1 {
		t.Fatalf("after a lost answer: %d instances, want 1", n)
	}
	r = call(t, tn, "POST", requestsPath, tok, activation(alice, exRole, "PT1H", "mail flow"))
	if r.Status != http.StatusBadRequest || errCode(r) != "RoleAssignmentExists" {
		t.Fatalf("retry after a lost answer: %d %s", r.Status, r.Raw)
	}

	// Applied, connection dropped: the client sees a transport error, not an answer.
	tn.Inject(graphtest.Fault{Method: "POST", Path: "roleAssignmentScheduleRequests", Body: "selfActivate", Apply: true, Drop: true})
	body, _ := json.Marshal(activation(dave, spRole, "PT1H", "sites"))
	req, _ := http.NewRequest("POST", tn.GraphURL()+requestsPath, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+userToken(t, tn, "dave@contoso.example"))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := tn.HTTPClient().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped connection answered %d", resp.StatusCode)
	}
	if vs := values(t, call(t, tn, "GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter=principalId%20eq%20'"+dave+"'", app, nil)); len(vs) != 1 {
		t.Fatalf("after a dropped connection: %d instances, want 1 (PIM took the write)", len(vs))
	}

	// Held: nothing is answered until released; then the request is served as usual.
	hold := make(chan struct{})
	tn.Inject(graphtest.Fault{Method: "GET", Path: "users", Hold: hold})
	got := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("GET", tn.GraphURL()+"/v1.0/users/"+alice, nil)
		req.Header.Set("Authorization", "Bearer "+app)
		resp, err := tn.HTTPClient().Do(req)
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	select {
	case s := <-got:
		t.Fatalf("held request answered %d before release", s)
	default:
	}
	close(hold)
	if s := <-got; s != http.StatusOK {
		t.Fatalf("held request then answered %d", s)
	}
	if n := tn.Faults(); n != 0 {
		t.Errorf("%d faults left", n)
	}
}
