package graphtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
)

// A tenant can keep what PIM changed in a file, so that a process using it can be killed and
// restarted without PIM forgetting (bench/crash: a double write in PIM must stay visible). Like
// PIM, a write is durable before it is answered: the file is written, synced and renamed before
// the answer goes out.

// WithStateFile loads the tenant's PIM state (eligibilities, assignments, schedule requests,
// approvals, PIM for Groups, directory audits) from path when it exists, and saves it there
// after every write.
func WithStateFile(path string) Option { return func(t *Tenant) { t.stateFile = path } }

// persisted is what WithStateFile keeps: the parts of the state that Graph writes change.
type persisted struct {
	Elig       []*eligibility
	Assign     []*assignment
	Requests   map[string]*scheduleRequest
	Approvals  map[string]*approval
	GElig      []*groupElig
	GAssign    []*groupAssign
	GRequests  map[string]*groupRequest
	GApprovals map[string]*approval
	Audits     []*auditRec
}

// loadState reads the state file into t.st, if there is one.
func (t *Tenant) loadState() error {
	b, err := os.ReadFile(t.stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("graphtest: state file %s: %w", t.stateFile, err)
	}
	st := t.st
	st.elig, st.assign, st.gElig, st.gAssign, st.audits = p.Elig, p.Assign, p.GElig, p.GAssign, p.Audits
	for k, v := range p.Requests {
		st.requests[k] = v
	}
	for k, v := range p.Approvals {
		st.approvals[k] = v
	}
	for k, v := range p.GRequests {
		st.gRequests[k] = v
	}
	for k, v := range p.GApprovals {
		st.gApprovals[k] = v
	}
	return nil
}

// saveState writes the state file (temporary file, fsync, rename); t.mu is held.
func (t *Tenant) saveState() error {
	st := t.st
	b, err := json.Marshal(persisted{Elig: st.elig, Assign: st.assign, Requests: st.requests, Approvals: st.approvals,
		GElig: st.gElig, GAssign: st.gAssign, GRequests: st.gRequests, GApprovals: st.gApprovals, Audits: st.audits})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(t.stateFile), ".graphtest-state-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), t.stateFile)
}

// routeDurably routes a write with its answer held back until the state file has it.
func (t *Tenant) routeDurably(c *gctx) {
	w := c.w
	rec := httptest.NewRecorder()
	c.w = rec
	t.route(c)
	c.w = w
	t.mu.Lock()
	err := t.saveState()
	t.mu.Unlock()
	if err != nil {
		c.fail(http.StatusInternalServerError, "InternalServerError", "The simulated tenant could not save its state: "+err.Error())
		return
	}
	for k, vs := range rec.Header() {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}
