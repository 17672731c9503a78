package host

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dlibot/dlibot/pkg/events"
)

// Metrics holds dlibot's Prometheus series, all named dlibot_*. Each host
// owns one (its own registry), so tests never share global state.
type Metrics struct {
	// Registry is where every series is registered; GET /metrics serves it.
	Registry *prometheus.Registry

	// EventsIn counts events handed to a function, by function and type.
	EventsIn *prometheus.CounterVec
	// EventsOut counts events a function published, by function and type.
	EventsOut *prometheus.CounterVec
	// EventsFailed counts handler outcomes other than Ack, by function,
	// type and outcome (retry, drop).
	EventsFailed *prometheus.CounterVec
	// HandlerSeconds is the handler latency, by function.
	HandlerSeconds *prometheus.HistogramVec
	// DLICalls counts DLI API calls by operation and outcome (ok, or the
	// error class).
	DLICalls *prometheus.CounterVec
	// DLISeconds is the DLI call latency by operation.
	DLISeconds *prometheus.HistogramVec
	// DLQ counts messages copied to dlibot.dlq.<function>, by function.
	DLQ *prometheus.CounterVec
	// Ingress counts events received over HTTP (POST /events, webhooks,
	// Lambda), by type and result (stored, malformed, too_large,
	// unavailable).
	Ingress *prometheus.CounterVec
	// IngressAuthAccepted counts authenticated requests on the ingest
	// routes, by route and via: token_<n> (the n-th token of
	// DLIBOT_INGEST_TOKENS, so a rotation shows when the old one is no
	// longer used), a handler's own scheme (smn_signature) or open (no
	// authentication configured).
	IngressAuthAccepted *prometheus.CounterVec
	// IngressAuthRefused counts requests refused on the ingest routes
	// (401), by route and reason: missing_token, invalid_token,
	// bad_signature, not_configured.
	IngressAuthRefused *prometheus.CounterVec
	// Ticks counts tick publishes by function and result (stored,
	// duplicate, error).
	Ticks *prometheus.CounterVec
	// HTTPRequests counts HTTP requests by route, method and status code.
	HTTPRequests *prometheus.CounterVec
	// HTTPSeconds is the HTTP request latency by route.
	HTTPSeconds *prometheus.HistogramVec
}

// NewMetrics returns Metrics on a fresh registry that also carries the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		EventsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_events_in_total", Help: "Events handed to a function's handler.",
		}, []string{"function", "type"}),
		EventsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_events_out_total", Help: "Events published by a function.",
		}, []string{"function", "type"}),
		EventsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_events_failed_total", Help: "Handler outcomes other than ack (retry, drop).",
		}, []string{"function", "type", "outcome"}),
		HandlerSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dlibot_handler_duration_seconds", Help: "Handler latency.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"function"}),
		DLICalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_dli_calls_total", Help: "DLI API calls by operation and outcome.",
		}, []string{"operation", "outcome"}),
		DLISeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dlibot_dli_call_duration_seconds", Help: "DLI API call latency (including retries).",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		DLQ: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_dlq_total", Help: "Messages dead-lettered to dlibot.dlq.<function>.",
		}, []string{"function"}),
		Ingress: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_ingress_events_total", Help: "Events received over HTTP by type and result.",
		}, []string{"type", "result"}),
		IngressAuthAccepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_ingress_auth_accepted_total", Help: "Authenticated requests on the ingest routes by route and how (token_<n>, smn_signature, open).",
		}, []string{"route", "via"}),
		IngressAuthRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_ingress_auth_refused_total", Help: "Requests refused (401) on the ingest routes by route and reason.",
		}, []string{"route", "reason"}),
		Ticks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_ticks_total", Help: "Tick publishes by function and result (stored, duplicate, error).",
		}, []string{"function", "result"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		HTTPSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dlibot_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	r.MustRegister(m.EventsIn, m.EventsOut, m.EventsFailed, m.HandlerSeconds, m.DLICalls, m.DLISeconds,
		m.DLQ, m.Ingress, m.IngressAuthAccepted, m.IngressAuthRefused, m.Ticks, m.HTTPRequests, m.HTTPSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveDLI records one DLI call; it has the shape of an observer hook so
// pkg/dli can report every call.
func (m *Metrics) ObserveDLI(operation, outcome string, d time.Duration) {
	m.DLICalls.WithLabelValues(operation, outcome).Inc()
	m.DLISeconds.WithLabelValues(operation).Observe(d.Seconds())
}

// Received implements events.Observer: an event was handed to function.
func (m *Metrics) Received(function, ceType string) {
	m.EventsIn.WithLabelValues(function, typeLabel(ceType)).Inc()
}

// Handled implements events.Observer: the handler finished with result.
func (m *Metrics) Handled(function, ceType string, result events.Result, took time.Duration) {
	m.HandlerSeconds.WithLabelValues(function).Observe(took.Seconds())
	switch result {
	case events.ResultAck, events.ResultDuplicate:
	default:
		m.EventsFailed.WithLabelValues(function, typeLabel(ceType), string(result)).Inc()
	}
}

// DeadLettered implements events.Observer: a copy went to the DLQ.
func (m *Metrics) DeadLettered(function, ceType, reason string) {
	m.DLQ.WithLabelValues(function).Inc()
}

var _ events.Observer = (*Metrics)(nil)

// typeLabel bounds the cardinality of the "type" label: dlibot's own types
// (dlibot.…, at most 64 bytes) are kept, anything else is "other".
func typeLabel(t string) string {
	if t == "" {
		return "unknown"
	}
	if len(t) > 64 || !strings.HasPrefix(t, "dlibot.") {
		return "other"
	}
	return t
}

// ingressTypeLabel keeps only the input event types (what POST /events
// accepts); a sender cannot create series at will.
func ingressTypeLabel(t string) string {
	switch t {
	case events.TypeObjectCreated, events.TypeMetricsSample, events.TypeTick:
		return t
	case "", "unknown":
		return "unknown"
	}
	return "other"
}
