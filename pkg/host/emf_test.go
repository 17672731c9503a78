package host

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/internal/golden"
	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/events"
)

// emfDoc is one parsed EMF document.
type emfDoc struct {
	Namespace string
	Dims      map[string]string  // dimension key → value
	Metrics   map[string]float64 // metric name → value
	Units     map[string]string  // metric name → unit
	Timestamp int64
}

// parseEMF checks every line of out against the EMF specification
// (a JSON object; _aws with an integer Timestamp and one MetricDirective
// with Namespace, one DimensionSet of at most 30 keys that are root string
// members, at most 100 metrics that are root numbers, no metric named
// twice) and returns the documents.
func parseEMF(t *testing.T, out string) []emfDoc {
	t.Helper()
	var docs []emfDoc
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var root map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &root); err != nil {
			t.Fatalf("not a JSON object: %v\n%s", err, line)
		}
		var meta struct {
			Timestamp         *int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		}
		if err := json.Unmarshal(root["_aws"], &meta); err != nil || meta.Timestamp == nil || len(meta.CloudWatchMetrics) != 1 {
			t.Fatalf("bad _aws (%v):\n%s", err, line)
		}
		md := meta.CloudWatchMetrics[0]
		if md.Namespace == "" || len(md.Dimensions) != 1 || len(md.Dimensions[0]) > EMFMaxDimensions ||
			len(md.Metrics) == 0 || len(md.Metrics) > EMFMaxMetrics {
			t.Fatalf("bad MetricDirective (%d dimension sets, %d metrics):\n%s", len(md.Dimensions), len(md.Metrics), line)
		}
		d := emfDoc{Namespace: md.Namespace, Dims: map[string]string{}, Metrics: map[string]float64{}, Units: map[string]string{}, Timestamp: *meta.Timestamp}
		for _, k := range md.Dimensions[0] {
			var v string
			if err := json.Unmarshal(root[k], &v); err != nil || v == "" {
				t.Fatalf("dimension %q is not a root string member:\n%s", k, line)
			}
			d.Dims[k] = v
		}
		for _, m := range md.Metrics {
			var v float64
			if err := json.Unmarshal(root[m.Name], &v); err != nil {
				t.Fatalf("metric %q is not a root number:\n%s", m.Name, line)
			}
			if _, dup := d.Metrics[m.Name]; dup {
				t.Fatalf("metric %q defined twice:\n%s", m.Name, line)
			}
			d.Metrics[m.Name], d.Units[m.Name] = v, m.Unit
		}
		if want := 1 + len(d.Dims) + len(d.Metrics); len(root) != want {
			t.Fatalf("%d root members, want %d (_aws, dimensions, metrics):\n%s", len(root), want, line)
		}
		docs = append(docs, d)
	}
	return docs
}

// find returns the value of metric name in the document with exactly dims.
func find(docs []emfDoc, name string, dims map[string]string) (float64, bool) {
	for _, d := range docs {
		if fmt.Sprint(d.Dims) != fmt.Sprint(dims) {
			continue
		}
		if v, ok := d.Metrics[name]; ok {
			return v, true
		}
	}
	return 0, false
}

var emfNow = time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)

func newTestEMF(g prometheus.Gatherer, out *bytes.Buffer) *EMF {
	return NewEMF(EMFOptions{Gatherer: g, Out: out, Namespace: "dlibot-test",
		Dimensions: map[string]string{"function": "probe"}, Now: func() time.Time { return emfNow }})
}

// TestEMFGolden: a known set of counter changes gives the golden lines
// (testdata/emf-golden.jsonl; -update rewrites it).
func TestEMFGolden(t *testing.T) {
	m := NewMetrics()
	m.Received("probe", events.TypeObjectCreated)
	m.Received("probe", events.TypeObjectCreated)
	m.Handled("probe", events.TypeObjectCreated, events.ResultAck, 250*time.Millisecond)
	m.Handled("probe", events.TypeObjectCreated, events.ResultDrop, 500*time.Millisecond)
	m.DeadLettered("probe", events.TypeObjectCreated, "bad row")
	m.Ingress.WithLabelValues("unknown", "malformed").Add(3)
	m.IngressAuthRefused.WithLabelValues("POST /events", "missing_token").Inc()
	m.ObserveDLI("ListQueues", "ok", 125*time.Millisecond)
	m.ObserveDLI("ListQueues", "throttled", 2*time.Second)
	m.Ticks.WithLabelValues("probe", "stored").Inc()
	m.HTTPRequests.WithLabelValues("POST /events", "POST", "400").Inc()
	m.DLQ.WithLabelValues("never-incremented") // a series at 0: no line
	// A function's own series without a function label, one with a label
	// that is not exported (summed), a gauge and a foreign series (neither
	// exported).
	objects := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dlibot_obsimport_objects_total", Help: "h"}, []string{"result"})
	perJob := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dlibot_test_job_runs_total", Help: "h"}, []string{"job", "outcome"})
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "dlibot_test_backlog", Help: "h"})
	foreign := prometheus.NewCounter(prometheus.CounterOpts{Name: "other_events_total", Help: "h"})
	m.Registry.MustRegister(objects, perJob, gauge, foreign)
	objects.WithLabelValues("no_rule").Add(2)
	objects.WithLabelValues("ignored_test_event").Inc()
	perJob.WithLabelValues("nightly-2026-11-27", "failed").Inc()
	perJob.WithLabelValues("hourly-2026-11-27T01", "failed").Inc()
	gauge.Set(42)
	foreign.Inc()

	var out bytes.Buffer
	var log testsync.Buffer
	e := NewEMF(EMFOptions{Gatherer: m.Registry, Out: &out, Namespace: "dlibot-test",
		Dimensions: map[string]string{"function": "probe"}, Now: func() time.Time { return emfNow },
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	docs := parseEMF(t, out.String())
	for _, d := range docs {
		if d.Timestamp != emfNow.UnixMilli() || d.Namespace != "dlibot-test" {
			t.Errorf("document %+v: want Timestamp %d, namespace dlibot-test", d, emfNow.UnixMilli())
		}
	}
	if v, ok := find(docs, "dlibot_test_job_runs_total", map[string]string{"function": "probe", "outcome": "failed"}); !ok || v != 2 {
		t.Errorf("series differing only by an unexported label: %v %v, want them summed to 2", v, ok)
	}
	if !strings.Contains(log.String(), "label=job") {
		t.Errorf("the dropped label is not logged:\n%s", log.String())
	}
	for _, absent := range []string{"dlibot_test_backlog", "other_events_total", "go_", "process_", `"never-incremented"`} {
		if strings.Contains(out.String(), absent) {
			t.Errorf("output contains %s:\n%s", absent, out.String())
		}
	}
	golden.Check(t, "emf-golden.jsonl", out.Bytes())
}

// TestEMFDeltas: each Flush reports only what changed since the previous
// one, so two invocations never count the same event twice; nothing
// changed, nothing written.
func TestEMFDeltas(t *testing.T) {
	m := NewMetrics()
	var out bytes.Buffer
	e := newTestEMF(m.Registry, &out)
	malformed := map[string]string{"function": "probe", "type": "unknown", "result": "malformed"}

	m.Ingress.WithLabelValues("unknown", "malformed").Inc()
	m.ObserveDLI("ListQueues", "ok", 250*time.Millisecond)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	docs := parseEMF(t, out.String())
	if v, ok := find(docs, "dlibot_ingress_events_total", malformed); !ok || v != 1 {
		t.Fatalf("first invocation: malformed %v %v, want 1\n%s", v, ok, out.String())
	}

	out.Reset()
	m.Ingress.WithLabelValues("unknown", "malformed").Add(2)
	m.ObserveDLI("ListQueues", "ok", 500*time.Millisecond)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	docs = parseEMF(t, out.String())
	if v, _ := find(docs, "dlibot_ingress_events_total", malformed); v != 2 {
		t.Errorf("second invocation: malformed %v, want 2 (the increase, not the total 3)\n%s", v, out.String())
	}
	op := map[string]string{"function": "probe", "operation": "ListQueues"}
	if c, _ := find(docs, "dlibot_dli_call_duration_seconds_count", op); c != 1 {
		t.Errorf("histogram count %v, want 1", c)
	}
	if s, _ := find(docs, "dlibot_dli_call_duration_seconds_sum", op); s != 0.5 {
		t.Errorf("histogram sum %v, want 0.5", s)
	}
	for _, d := range docs {
		if u := d.Units["dlibot_dli_call_duration_seconds_sum"]; u != "" && u != "Seconds" {
			t.Errorf("sum unit %q, want Seconds", u)
		}
	}

	out.Reset()
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("no change, but written:\n%s", out.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("stdout closed") }

// TestEMFWriteFailureReportsAgain: changes a failed write did not carry are
// reported by the next Flush.
func TestEMFWriteFailureReportsAgain(t *testing.T) {
	m := NewMetrics()
	var out bytes.Buffer
	e := newTestEMF(m.Registry, &out)
	m.DLQ.WithLabelValues("probe").Inc()
	e.o.Out = failWriter{}
	if err := e.Flush(); err == nil || !strings.Contains(err.Error(), "stdout closed") {
		t.Fatalf("Flush: %v, want the write error", err)
	}
	e.o.Out = &out
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if v, _ := find(parseEMF(t, out.String()), "dlibot_dlq_total", map[string]string{"function": "probe"}); v != 1 {
		t.Errorf("after a failed write: dlq %v, want 1\n%s", v, out.String())
	}
}

// TestEMFSplitsPast100Metrics: 250 metrics with the same dimensions go out
// as documents of 100, 100 and 50, each metric once.
func TestEMFSplitsPast100Metrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	for i := range 250 {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: fmt.Sprintf("dlibot_split_%03d_total", i), Help: "h"}, []string{"route"})
		reg.MustRegister(c)
		c.WithLabelValues("/events").Add(float64(i + 1))
	}
	var out bytes.Buffer
	if err := newTestEMF(reg, &out).Flush(); err != nil {
		t.Fatal(err)
	}
	docs := parseEMF(t, out.String())
	var sizes []int
	seen := map[string]float64{}
	for _, d := range docs {
		sizes = append(sizes, len(d.Metrics))
		if fmt.Sprint(d.Dims) != fmt.Sprint(map[string]string{"function": "probe", "route": "/events"}) {
			t.Errorf("dimensions %v", d.Dims)
		}
		for k, v := range d.Metrics {
			if _, dup := seen[k]; dup {
				t.Errorf("%s in two documents", k)
			}
			seen[k] = v
		}
	}
	if fmt.Sprint(sizes) != "[100 100 50]" {
		t.Errorf("document sizes %v, want [100 100 50]", sizes)
	}
	for i := range 250 {
		if v := seen[fmt.Sprintf("dlibot_split_%03d_total", i)]; v != float64(i+1) {
			t.Errorf("metric %d: %v, want %d", i, v, i+1)
		}
	}
}

// TestEMFDimensionLimits: at most 30 dimensions, values made valid (ASCII,
// trimmed, at most 255 bytes; an empty value is no dimension).
func TestEMFDimensionLimits(t *testing.T) {
	reg := prometheus.NewRegistry()
	labels := map[string]bool{}
	var names []string
	for i := range 35 {
		n := fmt.Sprintf("l%02d", i)
		labels[n], names = true, append(names, n)
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dlibot_wide_total", Help: "h"}, names)
	reg.MustRegister(c)
	vals := make([]string, 35)
	for i := range vals {
		vals[i] = "v"
	}
	vals[0], vals[1], vals[2], vals[3] = "caf\u00e9\n", strings.Repeat("x", 300), "", `a"b<c>&d\e`
	c.WithLabelValues(vals...).Inc()
	var out bytes.Buffer
	e := NewEMF(EMFOptions{Gatherer: reg, Out: &out, Labels: labels, Now: func() time.Time { return emfNow }})
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	docs := parseEMF(t, out.String())
	if len(docs) != 1 || len(docs[0].Dims) != EMFMaxDimensions {
		t.Fatalf("%d documents, dimensions %v: want one with %d", len(docs), docs, EMFMaxDimensions)
	}
	d := docs[0].Dims
	if d["l00"] != "caf___" || len(d["l01"]) != EMFMaxDimensionValue {
		t.Errorf("values l00=%q len(l01)=%d", d["l00"], len(d["l01"]))
	}
	if d["l03"] != `a"b<c>&d\e` {
		t.Errorf("value needing JSON escapes: %q", d["l03"])
	}
	if _, ok := d["l02"]; ok {
		t.Errorf("empty label value became a dimension")
	}
	if docs[0].Namespace != DefaultEMFNamespace {
		t.Errorf("namespace %q, want the default", docs[0].Namespace)
	}
}

func TestValidEMFNamespace(t *testing.T) {
	for _, tt := range []struct {
		ns string
		ok bool
	}{
		{"", true}, {"dlibot", true}, {"Team/dlibot prod#1:eu-west_1.x", true},
		{"AWS/Lambda", false}, {"   ", false}, {"dli\u00e9", false}, {"a{b}", false}, {strings.Repeat("n", 256), false},
	} {
		if err := ValidEMFNamespace(tt.ns); (err == nil) != tt.ok {
			t.Errorf("ValidEMFNamespace(%q) = %v, want ok=%v", tt.ns, err, tt.ok)
		}
	}
}

// TestEMFConfig: on by default with namespace dlibot; DLIBOT_EMF=false
// turns it off; a bad namespace stops the start naming the variable.
func TestEMFConfig(t *testing.T) {
	load := func(env map[string]string) (*Config, error) {
		return LoadConfigFrom(context.Background(), envconfig.MapLookuper(env))
	}
	c, err := load(nil)
	if err != nil || !c.EMF || c.EMFNamespace != "dlibot" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	if c, err := load(map[string]string{"DLIBOT_EMF": "false", "DLIBOT_EMF_NAMESPACE": "ops/dlibot"}); err != nil || c.EMF || c.EMFNamespace != "ops/dlibot" {
		t.Fatalf("DLIBOT_EMF=false: %+v %v", c, err)
	}
	if _, err := load(map[string]string{"DLIBOT_EMF_NAMESPACE": "AWS/dlibot"}); err == nil || !strings.Contains(err.Error(), "DLIBOT_EMF_NAMESPACE") {
		t.Fatalf("reserved namespace: %v", err)
	}
}

// BenchmarkEMFFlush is the cost an invocation pays for its EMF lines: a
// registry as in Lambda (dlibot's series; newLambdaEMF removes the Go and
// process collectors)
// with a few dozen series, three of which change per invocation.
// EMF_BENCH_RUNTIME=1 keeps the Go and process collectors (for comparison).
func BenchmarkEMFFlush(b *testing.B) {
	m := NewMetrics()
	for _, op := range []string{"ListQueues", "ShowQueue", "ListJobs", "ListFlinkJobs"} {
		m.ObserveDLI(op, "ok", 20*time.Millisecond)
	}
	for _, r := range []string{"malformed", "stored", "too_large"} {
		m.Ingress.WithLabelValues("unknown", r).Inc()
	}
	if os.Getenv("EMF_BENCH_RUNTIME") == "" { // as newLambdaEMF does
		dropRuntimeCollectors(m.Registry)
	}
	e := NewEMF(EMFOptions{Gatherer: m.Registry, Out: io.Discard, Dimensions: map[string]string{"function": "probe"}})
	if err := e.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Received("probe", events.TypeTick)
		m.Handled("probe", events.TypeTick, events.ResultAck, time.Millisecond)
		m.ObserveDLI("ListQueues", "ok", 20*time.Millisecond)
		if err := e.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}
