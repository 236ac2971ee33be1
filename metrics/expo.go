package metrics

import (
	"bytes"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The Prometheus text exposition format, version 0.0.4, written by hand: Elevate's few counters,
// gauges and histograms do not need the Prometheus client and its protobuf dependencies (issue 13).

// contentType is what /metrics answers with.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// defBuckets are the Prometheus client's default histogram buckets.
var defBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// sample is one line of a family: its label pairs (names in the family's order) and value.
type sample struct {
	suffix string // "", "_bucket", "_sum", "_count"
	names  []string
	values []string
	value  float64
}

// family is one metric name with its HELP, TYPE and samples, ready to write.
type family struct {
	name, help, typ string
	samples         []sample
}

// collector yields families at scrape time; an error fails the scrape.
type collector interface {
	collect() ([]family, error)
}

// vec holds a counter or gauge per label-value combination. Safe for concurrent use.
type vec struct {
	name, help, typ string
	labels          []string
	constNames      []string
	constValues     []string

	mu     sync.Mutex
	series map[string]*vecSeries
}

type vecSeries struct {
	values []string
	v      float64
}

func newVec(typ, name, help string, labels ...string) *vec {
	return &vec{name: name, help: help, typ: typ, labels: labels, series: map[string]*vecSeries{}}
}

func seriesKey(values []string) string { return strings.Join(values, "\xff") }

// add adds d to the series of the label values lv (one per label, in order).
func (c *vec) add(d float64, lv ...string) {
	if len(lv) != len(c.labels) {
		panic("metrics: " + c.name + " takes " + strconv.Itoa(len(c.labels)) + " label values")
	}
	k := seriesKey(lv)
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.series[k]
	if !ok {
		s = &vecSeries{values: slices.Clone(lv)}
		c.series[k] = s
	}
	s.v += d
}

func (c *vec) inc(lv ...string) { c.add(1, lv...) }

func (c *vec) collect() ([]family, error) {
	f := family{name: c.name, help: c.help, typ: c.typ}
	names := append(slices.Clone(c.constNames), c.labels...)
	c.mu.Lock()
	for _, s := range c.series {
		f.samples = append(f.samples, sample{names: names, values: append(slices.Clone(c.constValues), s.values...), value: s.v})
	}
	c.mu.Unlock()
	return []family{f}, nil
}

// histogram counts observations into cumulative buckets per label-value combination. Safe for
// concurrent use.
type histogram struct {
	name, help string
	labels     []string
	buckets    []float64 // upper bounds, ascending, without +Inf

	mu     sync.Mutex
	series map[string]*histSeries
}

type histSeries struct {
	values []string
	counts []uint64 // per bucket, not cumulative; the last is the +Inf overflow
	sum    float64
	count  uint64
}

func newHistogram(name, help string, buckets []float64, labels ...string) *histogram {
	return &histogram{name: name, help: help, labels: labels, buckets: buckets, series: map[string]*histSeries{}}
}

func (h *histogram) observe(v float64, lv ...string) {
	if len(lv) != len(h.labels) {
		panic("metrics: " + h.name + " takes " + strconv.Itoa(len(h.labels)) + " label values")
	}
	i, _ := slices.BinarySearch(h.buckets, v) // the first bound ≥ v: le is inclusive
	k := seriesKey(lv)
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.series[k]
	if !ok {
		s = &histSeries{values: slices.Clone(lv), counts: make([]uint64, len(h.buckets)+1)}
		h.series[k] = s
	}
	s.counts[i]++
	s.sum += v
	s.count++
}

func (h *histogram) collect() ([]family, error) {
	f := family{name: h.name, help: h.help, typ: "histogram"}
	bnames := append(slices.Clone(h.labels), "le")
	h.mu.Lock()
	for _, s := range h.series {
		var cum uint64
		for i, c := range s.counts {
			cum += c
			le := "+Inf"
			if i < len(h.buckets) {
				le = formatFloat(h.buckets[i])
			}
			f.samples = append(f.samples, sample{suffix: "_bucket", names: bnames, values: append(slices.Clone(s.values), le), value: float64(cum)})
		}
		f.samples = append(f.samples,
			sample{suffix: "_sum", names: h.labels, values: s.values, value: s.sum},
			sample{suffix: "_count", names: h.labels, values: s.values, value: float64(s.count)})
	}
	h.mu.Unlock()
	return []family{f}, nil
}

// collectFunc is a collector computed at scrape time.
type collectFunc func() ([]family, error)

func (f collectFunc) collect() ([]family, error) { return f() }

// gauge and counter are single-sample families for collectFuncs.
func gauge(name, help string, v float64) family {
	return family{name: name, help: help, typ: "gauge", samples: []sample{{value: v}}}
}

func counter(name, help string, v float64) family {
	return family{name: name, help: help, typ: "counter", samples: []sample{{value: v}}}
}

// registry is the set of families /metrics serves. Safe for concurrent use.
type registry struct {
	mu         sync.Mutex
	collectors []collector
}

func (r *registry) register(cs ...collector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectors = append(r.collectors, cs...)
}

// gather collects every family, sorted by name, each family's samples sorted by label values
// (bucket order kept within a series). It fails on a collector's error or a name met twice.
func (r *registry) gather() ([]family, error) {
	r.mu.Lock()
	cs := slices.Clone(r.collectors)
	r.mu.Unlock()
	var all []family
	for _, c := range cs {
		fs, err := c.collect()
		if err != nil {
			return nil, err
		}
		all = append(all, fs...)
	}
	slices.SortStableFunc(all, func(a, b family) int { return strings.Compare(a.name, b.name) })
	for i := 1; i < len(all); i++ {
		if all[i].name == all[i-1].name {
			return nil, &dupError{all[i].name}
		}
	}
	for _, f := range all {
		slices.SortStableFunc(f.samples, func(a, b sample) int {
			if f.typ == "histogram" || f.typ == "summary" {
				// compare only the series' own labels, keeping le / quantile order
				return slices.Compare(seriesValues(a), seriesValues(b))
			}
			return slices.Compare(a.values, b.values)
		})
	}
	return all, nil
}

// seriesValues are a histogram or summary sample's label values without le or quantile.
func seriesValues(s sample) []string {
	if s.suffix == "_bucket" || s.suffix == "" && len(s.names) > 0 && s.names[len(s.names)-1] == "quantile" {
		return s.values[:len(s.values)-1]
	}
	return s.values
}

type dupError struct{ name string }

func (e *dupError) Error() string { return "metric " + e.name + " collected twice" }

// write writes families in the text format, version 0.0.4.
func write(buf *bytes.Buffer, fs []family) {
	for _, f := range fs {
		if len(f.samples) == 0 {
			continue // as the Prometheus client: a vector with no series yet is not exposed
		}
		buf.WriteString("# HELP ")
		buf.WriteString(f.name)
		buf.WriteByte(' ')
		buf.WriteString(escapeHelp(f.help))
		buf.WriteString("\n# TYPE ")
		buf.WriteString(f.name)
		buf.WriteByte(' ')
		buf.WriteString(f.typ)
		buf.WriteByte('\n')
		for _, s := range f.samples {
			buf.WriteString(f.name)
			buf.WriteString(s.suffix)
			writeLabels(buf, s.names, s.values)
			buf.WriteByte(' ')
			buf.WriteString(formatFloat(s.value))
			buf.WriteByte('\n')
		}
	}
}

// writeLabels writes {a="x",b="y"} with the names sorted, le and quantile last as the
// Prometheus client does; nothing when there are none.
func writeLabels(buf *bytes.Buffer, names, values []string) {
	if len(names) == 0 {
		return
	}
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	special := func(n string) bool { return n == "le" || n == "quantile" }
	slices.SortFunc(idx, func(a, b int) int {
		if sa, sb := special(names[a]), special(names[b]); sa != sb {
			if sa {
				return 1
			}
			return -1
		}
		return strings.Compare(names[a], names[b])
	})
	buf.WriteByte('{')
	for j, i := range idx {
		if j > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(names[i])
		buf.WriteString(`="`)
		buf.WriteString(escapeLabel(values[i]))
		buf.WriteByte('"')
	}
	buf.WriteByte('}')
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// escapeLabel escapes a label value: backslash, double quote and line feed.
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// formatFloat writes a value as the Prometheus client does.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, +1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	case math.IsNaN(f):
		return "NaN"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
