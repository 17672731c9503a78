package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
)

// CloudWatch embedded metric format (EMF) limits, from the EMF
// specification and the CloudWatch Dimension API reference.
const (
	// EMFMaxMetrics is the most MetricDefinitions one MetricDirective may
	// hold; a larger set of changes is split over several documents.
	EMFMaxMetrics = 100
	// EMFMaxDimensions is the most dimension keys one DimensionSet may
	// hold (and the most dimensions a CloudWatch metric may have).
	EMFMaxDimensions = 30
	// EMFMaxDimensionValue is the length, in bytes, dimension values are
	// cut to (CloudWatch accepts up to 1024; label values are far
	// shorter).
	EMFMaxDimensionValue = 255
	// DefaultEMFNamespace is the CloudWatch namespace when
	// DLIBOT_EMF_NAMESPACE is unset.
	DefaultEMFNamespace = "dlibot"
	// emfPrefix selects the families exported: dlibot's own series and
	// the functions' (dlibot_obsimport_…), never the Go runtime's.
	emfPrefix = "dlibot_"
)

// emfDimensions are the label names exported as CloudWatch dimensions.
// Each has a value set bounded by code (function and route names, event
// types folded by typeLabel, outcome/result/reason/via enumerations, DLI
// operations, HTTP methods and status codes, import backends). A label not
// listed here is dropped and the series that differ only by it are summed,
// so a label added later with unbounded values (a job or object name)
// cannot multiply CloudWatch's custom metrics.
var emfDimensions = map[string]bool{
	"function": true, "type": true, "outcome": true, "result": true, "reason": true,
	"route": true, "method": true, "code": true, "via": true, "operation": true, "backend": true,
}

// ValidEMFNamespace checks a CloudWatch namespace: 1 to 255 characters of
// A-Z a-z 0-9 . - _ / # : and space, at least one not a space, not
// starting with "AWS/" (reserved for AWS). Empty is valid (the default
// applies).
func ValidEMFNamespace(ns string) error {
	if ns == "" {
		return nil
	}
	if len(ns) > 255 {
		return fmt.Errorf("%d characters, at most 255", len(ns))
	}
	if strings.TrimSpace(ns) == "" {
		return errors.New("only spaces")
	}
	if strings.HasPrefix(ns, "AWS/") {
		return errors.New(`starts with "AWS/", which is reserved for AWS's own namespaces`)
	}
	for _, r := range ns {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune(".-_/#: ", r):
		default:
			return fmt.Errorf("character %q not allowed (use A-Z a-z 0-9 . - _ / # : and space)", r)
		}
	}
	return nil
}

// EMFOptions configures NewEMF.
type EMFOptions struct {
	// Gatherer is read at every Flush: the host's Metrics.Registry.
	// Required.
	Gatherer prometheus.Gatherer
	// Out receives the documents, one JSON line each, in a single write
	// per Flush. Default os.Stdout (in Lambda, CloudWatch Logs).
	Out io.Writer
	// Namespace is the CloudWatch namespace; default DefaultEMFNamespace.
	Namespace string
	// Dimensions are added to every metric whose series lacks the label
	// (in Lambda: function=<handler>, so obsimport's and the ingress
	// series say which function counted them). Names not in Labels are
	// ignored.
	Dimensions map[string]string
	// Labels are the label names exported as dimensions; default the
	// bounded names dlibot's series use (function, type, outcome, result,
	// reason, route, method, code, via, operation, backend).
	Labels map[string]bool
	// Now stamps the documents; default time.Now.
	Now func() time.Time
	// Logger reports write failures and dropped labels; default discards.
	Logger *slog.Logger
}

// EMF turns the changes of the dlibot_* series of a Prometheus registry
// into CloudWatch embedded metric format documents: counters as their
// increase since the previous Flush (unit Count), histograms as the
// increase of their count (<name>_count, Count) and sum (<name>_sum,
// Seconds for *_seconds families, else None); gauges are not exported.
// Only non-zero changes are written. One document carries the metrics
// that share one set of dimension values, at most EMFMaxMetrics of them.
type EMF struct {
	o EMFOptions

	mu      sync.Mutex
	last    map[string]float64 // series key → value at the last Flush
	dropped map[string]bool    // family/label pairs already logged
}

// NewEMF returns an EMF whose first Flush reports everything counted
// since the registry was created.
func NewEMF(o EMFOptions) *EMF {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Namespace == "" {
		o.Namespace = DefaultEMFNamespace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Labels == nil {
		o.Labels = emfDimensions
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &EMF{o: o, last: map[string]float64{}, dropped: map[string]bool{}}
}

// emfMetric is one metric of a document.
type emfMetric struct {
	name, unit string
	value      float64
}

// emfGroup is the metrics sharing one set of dimension values.
type emfGroup struct {
	dims    [][2]string // sorted by name
	metrics map[string]*emfMetric
}

// Flush writes the changes since the previous Flush as EMF lines to Out
// and remembers the current values, so a change is reported once. When
// the write fails the values are not remembered (the next Flush reports
// the changes again) and the error is returned. A registry that gathers
// with an error still has its readable series reported.
func (e *EMF) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	mfs, gerr := e.o.Gatherer.Gather()
	docs, seen := e.documents(mfs)
	if len(docs) > 0 {
		var b bytes.Buffer
		for _, d := range docs {
			b.Write(d)
			b.WriteByte('\n')
		}
		if _, err := e.o.Out.Write(b.Bytes()); err != nil {
			return errors.Join(gerr, fmt.Errorf("host: writing EMF metrics: %w", err))
		}
	}
	for k, v := range seen {
		e.last[k] = v
	}
	if gerr != nil {
		return fmt.Errorf("host: gathering metrics for EMF: %w", gerr)
	}
	return nil
}

// documents builds the EMF documents for the changes in mfs against
// e.last and returns them with the values to remember.
func (e *EMF) documents(mfs []*dto.MetricFamily) ([][]byte, map[string]float64) {
	seen := map[string]float64{}
	groups := map[string]*emfGroup{}
	add := func(dims [][2]string, name, unit string, delta float64) {
		gk := dimsKey(dims)
		g := groups[gk]
		if g == nil {
			g = &emfGroup{dims: dims, metrics: map[string]*emfMetric{}}
			groups[gk] = g
		}
		m := g.metrics[name]
		if m == nil {
			m = &emfMetric{name: name, unit: unit}
			g.metrics[name] = m
		}
		m.value += delta
	}
	delta := func(key string, v float64) float64 {
		seen[key] = v
		d := v - e.last[key]
		if d < 0 { // a reset (a recreated collector): count from zero
			d = v
		}
		if math.IsNaN(d) || math.IsInf(d, 0) {
			return 0
		}
		return d
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, emfPrefix) {
			continue
		}
		for _, m := range mf.GetMetric() {
			key := seriesKey(name, m.GetLabel())
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				if d := delta(key, m.GetCounter().GetValue()); d > 0 {
					add(e.dims(name, m.GetLabel()), name, "Count", d)
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				dc := delta(key+"\x00count", float64(h.GetSampleCount()))
				ds := delta(key+"\x00sum", h.GetSampleSum())
				if dc > 0 {
					dims := e.dims(name, m.GetLabel())
					add(dims, name+"_count", "Count", dc)
					unit := "None"
					if strings.HasSuffix(name, "_seconds") {
						unit = "Seconds"
					}
					add(dims, name+"_sum", unit, ds)
				}
			}
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ts := e.o.Now().UnixMilli()
	var docs [][]byte
	for _, k := range keys {
		g := groups[k]
		ms := make([]*emfMetric, 0, len(g.metrics))
		for _, m := range g.metrics {
			ms = append(ms, m)
		}
		sort.Slice(ms, func(i, j int) bool { return ms[i].name < ms[j].name })
		for len(ms) > 0 {
			n := min(len(ms), EMFMaxMetrics)
			docs = append(docs, e.document(ts, g.dims, ms[:n]))
			ms = ms[n:]
		}
	}
	return docs, seen
}

// dims returns a series' dimensions: its exported labels (non-empty
// values, made ASCII and cut to EMFMaxDimensionValue) plus the default
// dimensions it lacks, sorted by name, at most EMFMaxDimensions.
func (e *EMF) dims(family string, labels []*dto.LabelPair) [][2]string {
	var d [][2]string
	has := map[string]bool{}
	for _, l := range labels {
		n := l.GetName()
		if !e.o.Labels[n] {
			if k := family + "/" + n; !e.dropped[k] {
				e.dropped[k] = true
				e.o.Logger.Info("metric label not exported as a CloudWatch dimension; its series are summed",
					"metric", family, "label", n)
			}
			continue
		}
		if v := dimensionValue(l.GetValue()); v != "" {
			d = append(d, [2]string{n, v})
			has[n] = true
		}
	}
	for n, v := range e.o.Dimensions {
		if v = dimensionValue(v); e.o.Labels[n] && !has[n] && v != "" {
			d = append(d, [2]string{n, v})
		}
	}
	sort.Slice(d, func(i, j int) bool { return d[i][0] < d[j][0] })
	if len(d) > EMFMaxDimensions {
		d = d[:EMFMaxDimensions]
	}
	return d
}

// dimensionValue makes v a valid dimension value: printable ASCII (other
// bytes become '_'), no surrounding spaces, at most EMFMaxDimensionValue
// bytes.
func dimensionValue(v string) string {
	b := []byte(v)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '_'
		}
	}
	s := strings.TrimSpace(string(b))
	if len(s) > EMFMaxDimensionValue {
		s = s[:EMFMaxDimensionValue]
	}
	return s
}

// document renders one EMF document: the _aws metadata, then the
// dimension values, then the metric values, each in a fixed order.
func (e *EMF) document(ts int64, dims [][2]string, ms []*emfMetric) []byte {
	var b bytes.Buffer
	str := func(s string) {
		if !plainJSON(s) {
			j, _ := json.Marshal(s)
			b.Write(j)
			return
		}
		b.WriteByte('"')
		b.WriteString(s)
		b.WriteByte('"')
	}
	b.WriteString(`{"_aws":{"Timestamp":`)
	b.WriteString(strconv.FormatInt(ts, 10))
	b.WriteString(`,"CloudWatchMetrics":[{"Namespace":`)
	str(e.o.Namespace)
	b.WriteString(`,"Dimensions":[[`)
	for i, d := range dims {
		if i > 0 {
			b.WriteByte(',')
		}
		str(d[0])
	}
	b.WriteString(`]],"Metrics":[`)
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"Name":`)
		str(m.name)
		b.WriteString(`,"Unit":`)
		str(m.unit)
		b.WriteByte('}')
	}
	b.WriteString(`]}]}`)
	for _, d := range dims {
		b.WriteByte(',')
		str(d[0])
		b.WriteByte(':')
		str(d[1])
	}
	for _, m := range ms {
		b.WriteByte(',')
		str(m.name)
		b.WriteByte(':')
		b.WriteString(strconv.FormatFloat(m.value, 'f', -1, 64))
	}
	b.WriteByte('}')
	return b.Bytes()
}

// plainJSON reports whether s is its own JSON string body: printable ASCII
// without a quote, a backslash or the characters encoding/json escapes for
// HTML.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// seriesKey identifies one series across Flushes (all its labels, also
// those not exported).
func seriesKey(name string, labels []*dto.LabelPair) string {
	var b strings.Builder
	b.WriteString(name)
	for _, l := range labels { // Gather sorts the labels by name
		b.WriteByte(0xff)
		b.WriteString(l.GetName())
		b.WriteByte('=')
		b.WriteString(l.GetValue())
	}
	return b.String()
}

// dimsKey identifies a set of dimension values.
func dimsKey(d [][2]string) string {
	var b strings.Builder
	for _, p := range d {
		b.WriteString(p[0])
		b.WriteByte('=')
		b.WriteString(p[1])
		b.WriteByte(0xff)
	}
	return b.String()
}

// newLambdaEMF returns the Lambda's EMF writer, nil when DLIBOT_EMF=false.
// It takes the Go runtime and process collectors out of the registry:
// nothing scrapes them in Lambda, EMF does not export them, and gathering
// them (the process collector reads /proc) would cost every invocation
// about a millisecond.
func newLambdaEMF(o LambdaOptions, function string, log *slog.Logger) *EMF {
	if !o.Config.EMF {
		return nil
	}
	dropRuntimeCollectors(o.Metrics.Registry)
	return NewEMF(EMFOptions{
		Gatherer: o.Metrics.Registry, Out: o.EMFOutput, Namespace: o.Config.EMFNamespace,
		Dimensions: map[string]string{"function": function}, Now: o.Now, Logger: log,
	})
}

// flushEMF writes the invocation's metric changes (a no-op without EMF).
// A failure is logged, never returned: metrics must not fail an event.
func (l *Lambda) flushEMF() {
	if l.emf == nil {
		return
	}
	if err := l.emf.Flush(); err != nil {
		l.log.Warn("EMF metrics not written", "err", err)
	}
}

// dropRuntimeCollectors unregisters the collectors NewMetrics adds for the
// Go runtime and the process (a collector is found by its descriptors).
func dropRuntimeCollectors(r *prometheus.Registry) {
	r.Unregister(collectors.NewGoCollector())
	r.Unregister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}
