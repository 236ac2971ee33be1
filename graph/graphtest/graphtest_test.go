package graphtest_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elevate-pim/elevate/graph/graphtest"
)

// Demo tenant ids (examples/tenant.yaml).
const (
	alice  = "11111111-1111-4111-8111-111111111111"
	bob    = "22222222-2222-4222-8222-222222222222"
	carol  = "33333333-3333-4333-8333-333333333333"
	dave   = "44444444-4444-4444-8444-444444444444"
	erin   = "55555555-5555-4555-8555-555555555555"
	tier0  = "9a000000-0000-4000-8000-000000000001"
	exRole = graphtest.RoleExchangeAdministrator
	gaRole = graphtest.RoleGlobalAdministrator
	spRole = graphtest.RoleSharePointAdministrator
)

// clock is a settable clock for the tenant.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func demoSeed(t *testing.T) graphtest.Seed {
	t.Helper()
	data, err := os.ReadFile("../../examples/tenant.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := graphtest.ParseSeed(data)
	if err != nil {
		t.Fatalf("ParseSeed(examples/tenant.yaml): %v", err)
	}
	return s
}

func newDemo(t *testing.T, opts ...graphtest.Option) (*graphtest.Tenant, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	tn, err := graphtest.New(demoSeed(t), append([]graphtest.Option{graphtest.WithClock(c.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Close)
	return tn, c
}

type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    string
}

// call sends a Graph request; body is JSON-encoded unless it is already []byte.
func call(t *testing.T, tn *graphtest.Tenant, method, path, token string, body any, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, tn.GraphURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := tn.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v: %s", method, path, err, raw)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
		}
	}
	if resp.Header.Get("request-id") == "" {
		t.Errorf("%s %s: no request-id header", method, path)
	}
	return r
}

func userToken(t *testing.T, tn *graphtest.Tenant, user string, opts ...graphtest.BrowseOption) string {
	t.Helper()
	tok, err := tn.UserToken(user, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func errCode(r response) string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func errMessage(r response) string {
	e, _ := r.Body["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

func values(t *testing.T, r response) []map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	vs, ok := r.Body["value"].([]any)
	if !ok {
		t.Fatalf("no value array: %s", r.Raw)
	}
	out := make([]map[string]any, 0, len(vs))
	for _, v := range vs {
		out = append(out, v.(map[string]any))
	}
	return out
}

// shape describes a JSON value's keys and types: "string", "null", "number", "bool", "array",
// "object", so responses can be compared with the reference examples.
func shape(v map[string]any) map[string]string {
	out := map[string]string{}
	for k, x := range v {
		switch x.(type) {
		case string:
			out[k] = "string"
		case nil:
			out[k] = "null"
		case float64:
			out[k] = "number"
		case bool:
			out[k] = "bool"
		case []any:
			out[k] = "array"
		case map[string]any:
			out[k] = "object"
		}
	}
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkShape fails when got lacks a key of want or has it with another type (want "any" matches
// string or null).
func checkShape(t *testing.T, what string, got map[string]any, wantJSON string) {
	t.Helper()
	var want map[string]any
	if err := json.Unmarshal([]byte(wantJSON), &want); err != nil {
		t.Fatal(err)
	}
	gs, ws := shape(got), shape(want)
	for _, k := range keys(ws) {
		g, ok := gs[k]
		switch {
		case !ok:
			t.Errorf("%s: missing key %q (have %v)", what, k, keys(gs))
		case g != ws[k] && !(ws[k] == "null" && g == "string") && !(ws[k] == "string" && g == "null"):
			t.Errorf("%s: key %q is %s, want %s", what, k, g, ws[k])
		}
	}
}

func gz(t *testing.T, v any) []byte {
	t.Helper()
	j, _ := json.Marshal(v)
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(j)
	w.Close()
	return b.Bytes()
}
