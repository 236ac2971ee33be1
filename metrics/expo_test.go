package metrics

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/elevate-pim/elevate/store"
)

// parse reads a whole /metrics answer with the Prometheus parser (a test-only dependency).
func parse(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	if got, want := rec.Header().Get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	if got := expfmt.ResponseFormat(rec.Header()); got.FormatType() != expfmt.TypeTextPlain {
		t.Errorf("Prometheus reads the Content-Type as %v, not the text format", got)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatalf("the Prometheus parser rejects /metrics: %v\n%s", err, rec.Body)
	}
	return fams
}

func labels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

const odd = "a \"quoted\" back\\slash\nand a new line"

func TestExpositionParsesWithPrometheus(t *testing.T) {
	m := New(func() (map[store.State]int, error) {
		return map[store.State]int{store.StateAwaitingApproval: 2, store.State(odd): 1}, nil
	})
	m.SetBuild(Build{Version: "v1.0.0", GoVersion: "go1.26.0", Commit: odd})
	m.Outbox(func() (OutboxStats, error) { return OutboxStats{Depth: 1}, nil })
	m.Commits(func() store.CommitStats { return store.CommitStats{Commits: 1} })
	for _, v := range []float64{0.5, 1, 3, 45, 5000} { // 1 is on a bound: le is inclusive
		m.activation.observe(v)
	}
	m.graphLatency.observe(0.02, "GET")
	m.graphLatency.observe(0.02, "POST")
	m.graphCalls.inc(odd, "2xx")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(http.ResponseWriter, *http.Request) {})
	m.Middleware(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/x", nil))

	fams := parse(t, m)
	types := map[string]dto.MetricType{
		"elevate_requests_open":             dto.MetricType_GAUGE,
		"elevate_request_transitions_total": dto.MetricType_COUNTER, // not yet: see below
		"elevate_activation_seconds":        dto.MetricType_HISTOGRAM,
		"elevate_approval_seconds":          dto.MetricType_HISTOGRAM,
		"elevate_graph_requests_total":      dto.MetricType_COUNTER,
		"elevate_graph_request_seconds":     dto.MetricType_HISTOGRAM,
		"elevate_graph_throttled_total":     dto.MetricType_COUNTER,
		"elevate_http_requests_total":       dto.MetricType_COUNTER,
		"elevate_http_request_seconds":      dto.MetricType_HISTOGRAM,
		"elevate_build_info":                dto.MetricType_GAUGE,
		"elevate_outbox_depth":              dto.MetricType_GAUGE,
		"elevate_outbox_failures_total":     dto.MetricType_COUNTER,
		"elevate_store_commits_total":       dto.MetricType_COUNTER,
		"go_goroutines":                     dto.MetricType_GAUGE,
		"go_memstats_alloc_bytes":           dto.MetricType_GAUGE,
		"go_memstats_heap_inuse_bytes":      dto.MetricType_GAUGE,
		"go_gc_duration_seconds":            dto.MetricType_SUMMARY,
	}
	if runtime.GOOS == "linux" {
		types["process_resident_memory_bytes"] = dto.MetricType_GAUGE
		types["process_cpu_seconds_total"] = dto.MetricType_COUNTER
		types["process_start_time_seconds"] = dto.MetricType_GAUGE
		types["process_open_fds"] = dto.MetricType_GAUGE
	}
	delete(types, "elevate_request_transitions_total") // no request has changed: a vector without series is not exposed
	if _, ok := fams["elevate_request_transitions_total"]; ok {
		t.Error("elevate_request_transitions_total exposed before any transition")
	}
	for name, typ := range types {
		f, ok := fams[name]
		if !ok {
			t.Errorf("/metrics lacks %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %v, want a %v", name, f.GetType(), typ)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
	}

	// Label values with quotes, backslashes and new lines come back as they went in.
	found := 0
	for _, mt := range fams["elevate_requests_open"].GetMetric() {
		if labels(mt)["state"] == odd && mt.GetGauge().GetValue() == 1 {
			found++
		}
	}
	for _, mt := range fams["elevate_graph_requests_total"].GetMetric() {
		if l := labels(mt); l["method"] == odd && l["status"] == "2xx" && mt.GetCounter().GetValue() == 1 {
			found++
		}
	}
	if b := fams["elevate_build_info"].GetMetric(); len(b) == 1 && labels(b[0])["commit"] == odd && labels(b[0])["version"] == "v1.0.0" {
		found++
	}
	if found != 3 {
		t.Errorf("%d of 3 odd label values came back intact", found)
	}
	if h := fams["elevate_http_requests_total"].GetMetric(); len(h) != 1 || labels(h[0])["handler"] != "GET /x" || labels(h[0])["code"] != "200" {
		t.Errorf("elevate_http_requests_total = %v", h)
	}

	// Histograms: cumulative buckets in order, each as today, +Inf equal to the count, and the sum.
	act := fams["elevate_activation_seconds"].GetMetric()
	if len(act) != 1 {
		t.Fatalf("elevate_activation_seconds has %d series", len(act))
	}
	h := act[0].GetHistogram()
	wantBounds := []float64{1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, math.Inf(+1)}
	wantCum := []uint64{2, 3, 3, 3, 4, 4, 4, 4, 4, 4, 5}
	if len(h.GetBucket()) != len(wantBounds) {
		t.Fatalf("buckets %v, want bounds %v ending with +Inf", h.GetBucket(), wantBounds)
	}
	for i, b := range h.GetBucket() {
		if b.GetUpperBound() != wantBounds[i] || b.GetCumulativeCount() != wantCum[i] {
			t.Errorf("bucket %d = le %v: %d, want le %v: %d", i, b.GetUpperBound(), b.GetCumulativeCount(), wantBounds[i], wantCum[i])
		}
	}
	if h.GetSampleCount() != 5 || h.GetSampleSum() != 5049.5 {
		t.Errorf("count %d, sum %v; want 5, 5049.5", h.GetSampleCount(), h.GetSampleSum())
	}
	if g := fams["elevate_graph_request_seconds"].GetMetric(); len(g) != 2 || len(g[0].GetHistogram().GetBucket()) != 12 {
		t.Errorf("elevate_graph_request_seconds: %v, want a series per method with the 11 default buckets and +Inf", g)
	}
	if g := fams["elevate_approval_seconds"].GetMetric(); len(g) != 1 || g[0].GetHistogram().GetSampleCount() != 0 {
		t.Errorf("elevate_approval_seconds = %v, want one empty series", g)
	}

	if v := fams["go_goroutines"].GetMetric()[0].GetGauge().GetValue(); v < 1 {
		t.Errorf("go_goroutines = %v", v)
	}
	if v := fams["go_memstats_heap_inuse_bytes"].GetMetric()[0].GetGauge().GetValue(); v <= 0 {
		t.Errorf("go_memstats_heap_inuse_bytes = %v", v)
	}
	if q := fams["go_gc_duration_seconds"].GetMetric()[0].GetSummary().GetQuantile(); len(q) != 5 || q[4].GetQuantile() != 1 {
		t.Errorf("go_gc_duration_seconds quantiles = %v", q)
	}
	if runtime.GOOS == "linux" {
		gaugeOf := func(n string) float64 { return fams[n].GetMetric()[0].GetGauge().GetValue() }
		if v := gaugeOf("process_resident_memory_bytes"); v < 1<<20 {
			t.Errorf("process_resident_memory_bytes = %v, less than a MiB", v)
		}
		if v := gaugeOf("process_open_fds"); v < 3 {
			t.Errorf("process_open_fds = %v", v)
		}
		now := float64(time.Now().Unix())
		if v := gaugeOf("process_start_time_seconds"); v > now+1 || v < now-24*3600 {
			t.Errorf("process_start_time_seconds = %v, now is %v", v, now)
		}
		if v := fams["process_cpu_seconds_total"].GetMetric()[0].GetCounter().GetValue(); v < 0 || math.IsNaN(v) {
			t.Errorf("process_cpu_seconds_total = %v", v)
		}
	}
}

// TestHelpEscaped writes a family whose HELP has a backslash and a new line.
func TestHelpEscaped(t *testing.T) {
	help := "first line\nsecond \\ line with \"quotes\""
	var buf bytes.Buffer
	write(&buf, []family{gauge("x_total", help, 1)})
	if strings.Count(buf.String(), "\n") != 3 {
		t.Errorf("a new line in HELP was not escaped:\n%s", buf.String())
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := fams["x_total"].GetHelp(); got != help {
		t.Errorf("HELP came back as %q, want %q", got, help)
	}
}

func TestScrapeFailsWithTheCause(t *testing.T) {
	m := New(func() (map[store.State]int, error) { return nil, context.DeadlineExceeded })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "elevate_requests_open: context deadline exceeded") {
		t.Errorf("/metrics with a failing store = %d %q", rec.Code, rec.Body)
	}
}

// TestConcurrentUse scrapes while requests are counted and timed (run with -race).
func TestConcurrentUse(t *testing.T) {
	m := New(nil)
	h := m.Middleware(http.NotFoundHandler())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
				m.RequestChanged(context.Background(), store.Request{ID: uint64(w*1000 + i), State: store.StateDenied})
				if i%25 == 0 {
					rec := httptest.NewRecorder()
					m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
					p := expfmt.NewTextParser(model.LegacyValidation)
					if _, err := p.TextToMetricFamilies(rec.Body); rec.Code != http.StatusOK || err != nil {
						t.Errorf("scrape during updates: %d %v", rec.Code, err)
					}
				}
			}
		}()
	}
	wg.Wait()
	fams := parse(t, m)
	if got := fams["elevate_requests_total"].GetMetric()[0].GetCounter().GetValue(); got != 400 {
		t.Errorf("elevate_requests_total = %v, want 400", got)
	}
	if got := fams["elevate_http_request_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); got != 400 {
		t.Errorf("elevate_http_request_seconds_count = %v, want 400", got)
	}
}
