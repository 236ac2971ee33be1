// Package oncalltest is a fake of the parts of the PagerDuty REST API v2 and the Opsgenie REST API
// that Elevate reads: who is on call in a schedule or escalation policy, and open incidents on a
// service. It checks each API's authentication header and answers in its documented format,
// including its error bodies.
package oncalltest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Tokens the fakes accept.
const (
	PagerDutyToken = "pd-test-token"
	OpsgenieKey    = "og-test-key"
)

// Incident is an open (or resolved) incident on a service.
type Incident struct {
	Number  int    // PagerDuty incident_number / Opsgenie tinyId
	Service string // service id
	Status  string // PagerDuty: triggered, acknowledged, resolved; Opsgenie: open, resolved, closed
}

// Server is the fake; both APIs are served from one httptest server, PagerDuty under /pagerduty
// and Opsgenie under /opsgenie.
type Server struct {
	srv *httptest.Server

	mu        sync.Mutex
	schedules map[string][]string // PagerDuty schedule or escalation policy id, or Opsgenie schedule name → on-call emails
	services  map[string]string   // service id → name
	incidents []Incident
	fail      int // the next fail calls answer failStatus
	failCode  int
	calls     []string
}

// New starts a fake; Close it when done.
func New() *Server {
	s := &Server{schedules: map[string][]string{}, services: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pagerduty/oncalls", s.pdOnCalls)
	mux.HandleFunc("GET /pagerduty/incidents", s.pdIncidents)
	mux.HandleFunc("GET /opsgenie/v2/schedules/{id}/on-calls", s.ogOnCalls)
	mux.HandleFunc("GET /opsgenie/v1/incidents", s.ogIncidents)
	mux.HandleFunc("GET /pagerduty/schedules/{id}", s.pdObject("schedule"))
	mux.HandleFunc("GET /pagerduty/escalation_policies/{id}", s.pdObject("escalation_policy"))
	mux.HandleFunc("GET /pagerduty/services/{id}", s.pdObject("service"))
	mux.HandleFunc("GET /opsgenie/v2/schedules/{id}", s.ogSchedule)
	mux.HandleFunc("GET /opsgenie/v1/services/{id}", s.ogService)
	s.srv = httptest.NewServer(s.wrap(mux))
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// PagerDutyURL and OpsgenieURL are the APIs' base URLs.
func (s *Server) PagerDutyURL() string { return s.srv.URL + "/pagerduty" }
func (s *Server) OpsgenieURL() string  { return s.srv.URL + "/opsgenie" }

// OnCall sets who is on call now in a schedule or escalation policy.
func (s *Server) OnCall(schedule string, emails ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedules[schedule] = emails
}

// AddService adds a service incidents can be open on.
func (s *Server) AddService(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.services[id] = name
}

// AddIncident adds an incident.
func (s *Server) AddIncident(i Incident) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.incidents = append(s.incidents, i)
}

// Fail makes the next n calls answer status.
func (s *Server) Fail(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail, s.failCode = n, status
}

// Calls returns the paths and queries called, oldest first.
func (s *Server) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *Server) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls = append(s.calls, r.URL.RequestURI())
		fail := s.fail > 0
		code := s.failCode
		if fail {
			s.fail--
		}
		s.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"error":{"message":%q,"code":2001},"message":%q}`, http.StatusText(code), http.StatusText(code))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// pdAuth checks PagerDuty's "Authorization: Token token=…" and its versioned Accept header.
func pdAuth(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Token token="+PagerDutyToken {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{"message": "Authentication failed", "code": 2006}})
		return false
	}
	if !strings.Contains(r.Header.Get("Accept"), "application/vnd.pagerduty+json;version=2") {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "Invalid Input Provided", "code": 2001,
			"errors": []string{"Accept header must request version 2"}}})
		return false
	}
	return true
}

func (s *Server) pdOnCalls(w http.ResponseWriter, r *http.Request) {
	if !pdAuth(w, r) {
		return
	}
	q := r.URL.Query()
	ids := append(q["schedule_ids[]"], q["escalation_policy_ids[]"]...)
	if len(ids) == 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "Invalid Input Provided", "code": 2001}})
		return
	}
	withUsers := slices.Contains(q["include[]"], "users")
	s.mu.Lock()
	var oncalls []map[string]any
	for _, id := range ids {
		for i, e := range s.schedules[id] {
			user := map[string]any{"id": fmt.Sprintf("PU%04d", i), "type": "user_reference", "summary": e}
			if withUsers {
				user = map[string]any{"id": fmt.Sprintf("PU%04d", i), "type": "user", "name": e, "email": e}
			}
			oncalls = append(oncalls, map[string]any{"user": user, "escalation_level": 1,
				"schedule": map[string]any{"id": id, "type": "schedule_reference"}})
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"oncalls": oncalls, "limit": 100, "offset": 0, "more": false, "total": nil})
}

func (s *Server) pdIncidents(w http.ResponseWriter, r *http.Request) {
	if !pdAuth(w, r) {
		return
	}
	q := r.URL.Query()
	services, statuses := q["service_ids[]"], q["statuses[]"]
	s.mu.Lock()
	var out []map[string]any
	for _, i := range s.incidents {
		if (len(services) == 0 || slices.Contains(services, i.Service)) && (len(statuses) == 0 || slices.Contains(statuses, i.Status)) {
			out = append(out, map[string]any{"id": "Q" + strconv.Itoa(i.Number), "type": "incident", "incident_number": i.Number,
				"status": i.Status, "service": map[string]any{"id": i.Service, "type": "service_reference"}})
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"incidents": out, "limit": 25, "offset": 0, "more": false})
}

// ogAuth checks Opsgenie's "Authorization: GenieKey …".
func ogAuth(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "GenieKey "+OpsgenieKey {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Could not authenticate", "took": 0.001, "requestId": "r-401"})
		return false
	}
	return true
}

func (s *Server) ogOnCalls(w http.ResponseWriter, r *http.Request) {
	if !ogAuth(w, r) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	emails, ok := s.schedules[id]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": fmt.Sprintf("Schedule with identifier [%s] not found.", id), "took": 0.001, "requestId": "r-404"})
		return
	}
	data := map[string]any{"_parent": map[string]any{"id": "d875e654-9b4e-4219-a803-0c26ca4b5fd4", "name": id, "enabled": true}}
	if r.URL.Query().Get("flat") == "true" {
		data["onCallRecipients"] = emails
	} else {
		var ps []map[string]any
		for _, e := range emails {
			ps = append(ps, map[string]any{"name": e, "type": "user"})
		}
		data["onCallParticipants"] = ps
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "took": 0.002, "requestId": "r-200"})
}

func (s *Server) ogIncidents(w http.ResponseWriter, r *http.Request) {
	if !ogAuth(w, r) {
		return
	}
	onlyOpen := strings.Contains(r.URL.Query().Get("query"), "status:open")
	s.mu.Lock()
	var out []map[string]any
	for _, i := range s.incidents {
		if onlyOpen && i.Status != "open" {
			continue
		}
		out = append(out, map[string]any{"id": fmt.Sprintf("inc-%d", i.Number), "tinyId": strconv.Itoa(i.Number), "status": i.Status,
			"impactedServices": []string{i.Service}})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "took": 0.003, "requestId": "r-200"})
}

// pdObject answers GET /{schedules,escalation_policies,services}/{id} as {"<kind>": {...}}, or
// PagerDuty's 404 body.
func (s *Server) pdObject(kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !pdAuth(w, r) {
			return
		}
		id := r.PathValue("id")
		s.mu.Lock()
		_, isSchedule := s.schedules[id]
		name, isService := s.services[id]
		s.mu.Unlock()
		if kind == "service" && !isService || kind != "service" && !isSchedule {
			writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"message": "Not Found", "code": 2100}})
			return
		}
		if name == "" {
			name = "Schedule " + id
		}
		writeJSON(w, http.StatusOK, map[string]any{kind: map[string]any{"id": id, "type": kind, "name": name, "summary": name}})
	}
}

func (s *Server) ogSchedule(w http.ResponseWriter, r *http.Request) {
	if !ogAuth(w, r) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	_, ok := s.schedules[id]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": fmt.Sprintf("Schedule with identifier [%s] not found.", id), "took": 0.001, "requestId": "r-404"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": "d875e654-9b4e-4219-a803-0c26ca4b5fd4", "name": id, "enabled": true, "timezone": "Europe/London"}, "took": 0.002, "requestId": "r-200"})
}

func (s *Server) ogService(w http.ResponseWriter, r *http.Request) {
	if !ogAuth(w, r) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	name, ok := s.services[id]
	s.mu.Unlock()
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Service not found", "took": 0.001, "requestId": "r-404"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": id, "name": name}, "took": 0.002, "requestId": "r-200"})
}
