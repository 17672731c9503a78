package host

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

type serverFixture struct {
	nats *testNATS
	js   jetstream.JetStream
	srv  *httptest.Server
	m    *Metrics
	log  *testsync.Buffer
}

func newServerFixture(t *testing.T, mutate func(*ServerOptions)) *serverFixture {
	t.Helper()
	f := &serverFixture{nats: startTestNATS(t), m: NewMetrics(), log: &testsync.Buffer{}}
	nc, js := f.nats.connect(t)
	f.js = js
	logger := slog.New(slog.NewJSONHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts := ServerOptions{
		Logger:       logger,
		Metrics:      f.m,
		MaxBodyBytes: 4096,
		Ingest:       &Ingester{JS: js, Conn: nc, Metrics: f.m, Logger: logger},
		Ready:        NATSReady(nc, js),
		Owners:       KnownRouteOwners,
		// Ingest authentication has its own tests (ingestauth_test.go).
		IngestOpen: true,
	}
	if mutate != nil {
		mutate(&opts)
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(s)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *serverFixture) do(t *testing.T, method, path string, header http.Header, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (f *serverFixture) streamCount(t *testing.T) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := f.js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

const structuredObj = `{"specversion":"1.0","id":"obj-1","source":"/test/obs","type":"dlibot.obs.object.created",
 "datacontenttype":"application/json",
 "data":{"bucket":"raw-data","key":"landing/a.csv","size":10,"event_time":"2026-11-26T10:00:00Z"}}`

func TestEventsStoresStructuredAndBinary(t *testing.T) {
	f := newServerFixture(t, nil)
	tests := []struct {
		name    string
		header  http.Header
		body    string
		subject string
		id      string
	}{
		{
			name:    "structured object event",
			header:  http.Header{"Content-Type": {"application/cloudevents+json; charset=utf-8"}},
			body:    structuredObj,
			subject: "dlibot.in.obs.raw-data",
			id:      "obj-1",
		},
		{
			name: "binary metrics sample, lower-case and mixed-case ce headers",
			header: http.Header{
				"Ce-Specversion": {"1.0"}, "ce-id": {"m-1"}, "CE-SOURCE": {"/test/ces"},
				"Ce-Type": {"dlibot.metrics.sample"}, "Content-Type": {"application/json"},
			},
			body:    `{"namespace":"SYS.DLI","metric_name":"queue_cu_num","dimensions":[{"name":"queue_name","value":"etl"}],"value":3,"timestamp":1764150000000}`,
			subject: "dlibot.in.metrics.etl",
			id:      "m-1",
		},
		{
			name: "binary tick with function extension",
			header: http.Header{
				"Ce-Specversion": {"1.0"}, "Ce-Id": {"t-1"}, "Ce-Source": {"/test"},
				"Ce-Type": {"dlibot.tick"}, "Ce-Function": {"jobwatch"},
			},
			subject: "dlibot.in.tick.jobwatch",
			id:      "t-1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, "POST", "/events", tt.header, tt.body)
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var st Stored
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatal(err)
			}
			if st.Subject != tt.subject || st.Stream != events.StreamIn || st.Seq == 0 {
				t.Fatalf("stored %+v", st)
			}
			// Read it back from the stream.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stream, err := f.js.Stream(ctx, events.StreamIn)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := stream.GetMsg(ctx, st.Seq)
			if err != nil {
				t.Fatal(err)
			}
			if raw.Subject != tt.subject {
				t.Fatalf("subject %s, want %s", raw.Subject, tt.subject)
			}
			e, err := events.Decode(raw.Header, raw.Data)
			if err != nil {
				t.Fatal(err)
			}
			if e.ID() != tt.id {
				t.Fatalf("id %s, want %s", e.ID(), tt.id)
			}
		})
	}
	// A retried POST of the same event is acknowledged but stored once.
	before := f.streamCount(t)
	resp, body := f.do(t, "POST", "/events", http.Header{"Content-Type": {events.ContentType}}, structuredObj)
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, `"duplicate":true`) {
		t.Fatalf("retry: %d %s", resp.StatusCode, body)
	}
	if after := f.streamCount(t); after != before {
		t.Fatalf("retry stored again: %d → %d", before, after)
	}
}

func TestEventsRejects(t *testing.T) {
	f := newServerFixture(t, nil)
	ce := http.Header{"Content-Type": {events.ContentType}}
	tests := []struct {
		name   string
		method string
		header http.Header
		body   string
		status int
		want   string
	}{
		{"not json", "POST", ce, "{nope", 400, "malformed"},
		{"missing id", "POST", ce, `{"specversion":"1.0","source":"/x","type":"dlibot.tick"}`, 400, "id"},
		{"wrong specversion", "POST", ce, `{"specversion":"0.3","id":"1","source":"/x","type":"dlibot.tick"}`, 400, "specversion"},
		{"not an input type", "POST", ce, `{"specversion":"1.0","id":"1","source":"/x","type":"com.example.other"}`, 400, "not an input event"},
		{"object without bucket", "POST", ce, `{"specversion":"1.0","id":"1","source":"/x","type":"dlibot.obs.object.created","data":{"key":"k"}}`, 400, "bucket"},
		{"tick for a bad name", "POST", ce, `{"specversion":"1.0","id":"1","source":"/x","type":"dlibot.tick","data":{"function":"a.b"}}`, 400, "function"},
		{"over the body limit", "POST", ce, `{"specversion":"1.0","id":"1","source":"/x","type":"dlibot.tick","data":"` + strings.Repeat("x", 5000) + `"}`, 413, "limit"},
		{"wrong method", "GET", nil, "", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := f.do(t, tt.method, "/events", tt.header, tt.body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if !strings.Contains(body, tt.want) {
				t.Fatalf("body %q does not mention %q", body, tt.want)
			}
			if tt.status == 405 && !strings.Contains(resp.Header.Get("Allow"), "POST") {
				t.Fatalf("405 without Allow: POST (got %q)", resp.Header.Get("Allow"))
			}
		})
	}
	if n := f.streamCount(t); n != 0 {
		t.Fatalf("%d rejected events stored", n)
	}
}

func TestEventsUnavailableWhileNATSDownAndReadyzFlips(t *testing.T) {
	f := newServerFixture(t, nil)
	ce := http.Header{"Content-Type": {events.ContentType}}
	if resp, body := f.do(t, "GET", "/readyz", nil, ""); resp.StatusCode != 200 {
		t.Fatalf("readyz before outage: %d %s", resp.StatusCode, body)
	}
	f.nats.stop()
	resp, body := f.do(t, "POST", "/events", ce, structuredObj)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d while NATS is down, want 503: %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if resp, _ := f.do(t, "GET", "/readyz", nil, ""); resp.StatusCode != 503 {
		t.Fatalf("readyz during outage: %d", resp.StatusCode)
	}
	if resp, _ := f.do(t, "GET", "/healthz", nil, ""); resp.StatusCode != 200 {
		t.Fatalf("healthz during outage: %d (liveness must not depend on NATS)", resp.StatusCode)
	}
	f.nats.start()
	testsync.WaitFor(t, 15*time.Second, "readyz after restart", func() bool {
		resp, _ := f.do(t, "GET", "/readyz", nil, "")
		return resp.StatusCode == 200
	})
	// Nothing was stored by the refused request, not even later.
	if n := f.streamCount(t); n != 0 {
		t.Fatalf("stream holds %d messages after a refused request", n)
	}
	if resp, body := f.do(t, "POST", "/events", ce, structuredObj); resp.StatusCode != 202 {
		t.Fatalf("after restart: %d %s", resp.StatusCode, body)
	}
	if n := f.streamCount(t); n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
}

func TestMetricsAfterTraffic(t *testing.T) {
	f := newServerFixture(t, nil)
	f.do(t, "POST", "/events", http.Header{"Content-Type": {events.ContentType}}, structuredObj)
	f.do(t, "POST", "/events", http.Header{"Content-Type": {events.ContentType}}, "{")
	for i := range 3 { // senders cannot mint label values
		f.do(t, "POST", "/events", http.Header{"Content-Type": {events.ContentType}},
			`{"specversion":"1.0","id":"x","source":"/x","type":"attacker.`+strconv.Itoa(i)+`"}`)
	}
	f.do(t, "BREW", "/events", nil, "") // methods are bounded too
	f.m.ObserveDLI("ListQueues", "ok", 10*time.Millisecond)
	f.m.Received("obsimport", events.TypeObjectCreated)
	f.m.Handled("obsimport", events.TypeObjectCreated, events.ResultRetry, time.Millisecond)
	f.m.DeadLettered("obsimport", events.TypeObjectCreated, "bad")
	resp, body := f.do(t, "GET", "/metrics", nil, "")
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	for _, want := range []string{
		`dlibot_http_requests_total{code="202",method="POST",route="POST /events"} 1`,
		`dlibot_http_requests_total{code="400",method="POST",route="POST /events"} 4`,
		`dlibot_ingress_events_total{result="stored",type="dlibot.obs.object.created"} 1`,
		`dlibot_ingress_events_total{result="malformed",type="unknown"} 1`,
		`dlibot_ingress_events_total{result="malformed",type="other"} 3`,
		`dlibot_dli_calls_total{operation="ListQueues",outcome="ok"} 1`,
		`dlibot_events_in_total{function="obsimport",type="dlibot.obs.object.created"} 1`,
		`dlibot_events_failed_total{function="obsimport",outcome="retry",type="dlibot.obs.object.created"} 1`,
		`dlibot_dlq_total{function="obsimport"} 1`,
		`dlibot_handler_duration_seconds_count{function="obsimport"} 1`,
		`dlibot_http_request_duration_seconds_count{route="POST /events"} 5`,
		`dlibot_http_requests_total{code="405",method="other",route="other"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRequestIDAndAccessLog(t *testing.T) {
	f := newServerFixture(t, nil)
	resp, _ := f.do(t, "POST", "/events", http.Header{"Content-Type": {events.ContentType}, "X-Request-Id": {"req-42"}}, structuredObj)
	if got := resp.Header.Get("X-Request-Id"); got != "req-42" {
		t.Fatalf("X-Request-Id %q, want req-42", got)
	}
	resp, _ = f.do(t, "GET", "/healthz", http.Header{"X-Request-Id": {"bad id with spaces"}}, "")
	if got := resp.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Fatalf("generated X-Request-Id %q", got)
	}
	var line map[string]any
	for _, l := range strings.Split(f.log.String(), "\n") {
		if strings.Contains(l, `"req-42"`) && strings.Contains(l, "http request") {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatalf("no access log line for req-42 in:\n%s", f.log.String())
	}
	if line["ce_id"] != "obj-1" || line["status"] != float64(202) || line["route"] != "POST /events" {
		t.Fatalf("access log line %v", line)
	}
}

func TestFunctionRoutesAndOwners(t *testing.T) {
	const secret, previous = "s3cr3t-current-value", "s3cr3t-previous-value"
	var got []byte
	f := newServerFixture(t, func(o *ServerOptions) {
		o.SlackSecrets = []string{secret, previous}
		o.Routes = []Route{{Method: "POST", Path: "/slack/commands", SlackSigned: true,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, _ = io.ReadAll(r.Body)
				io.WriteString(w, "ok")
			})}}
	})
	body := "command=%2Fdli&text=queues&user_id=U1&token=do-not-log-me"
	signed := func(s string) http.Header {
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		slacksig.SetHeaders(h, s, time.Now(), []byte(body))
		return h
	}
	if resp, b := f.do(t, "POST", "/slack/commands", signed(secret), body); resp.StatusCode != 200 || b != "ok" || string(got) != body {
		t.Fatalf("signed: %d %q, handler saw %q", resp.StatusCode, b, got)
	}
	if resp, b := f.do(t, "POST", "/slack/commands", signed(previous), body); resp.StatusCode != 200 {
		t.Fatalf("previous secret: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "POST", "/slack/commands", signed("wrong"), body); resp.StatusCode != 401 {
		t.Fatalf("bad signature: %d %s", resp.StatusCode, b)
	}
	// Not running here: 404 naming the function.
	resp, b := f.do(t, "POST", "/webhooks/obs", nil, "{}")
	if resp.StatusCode != 404 || !strings.Contains(b, `"function":"obsimport"`) {
		t.Fatalf("webhook: %d %s", resp.StatusCode, b)
	}
	if resp, _ := f.do(t, "GET", "/slack/commands", nil, ""); resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET on a POST route: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp, b := f.do(t, "GET", "/nope", nil, ""); resp.StatusCode != 404 || !strings.Contains(b, `"no route for GET /nope"`) {
		t.Fatalf("unknown path: %d %s", resp.StatusCode, b)
	}
	if resp, _ := f.do(t, "DELETE", "/healthz", nil, ""); resp.StatusCode != 405 || !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Fatalf("DELETE /healthz: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	logs := f.log.String()
	for _, leak := range []string{secret, previous, "do-not-log-me", "queues"} {
		if strings.Contains(logs, leak) {
			t.Fatalf("log contains %q:\n%s", leak, logs)
		}
	}
}

func TestSlackRouteWithoutSecretIs503(t *testing.T) {
	f := newServerFixture(t, func(o *ServerOptions) {
		o.Routes = []Route{{Method: "POST", Path: "/slack/commands", SlackSigned: true, Handler: http.NotFoundHandler()}}
	})
	if resp, b := f.do(t, "POST", "/slack/commands", nil, "x=1"); resp.StatusCode != 503 || !strings.Contains(b, "SLACK_SIGNING_SECRET") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestHandlerPanicAnswers500AndCounts(t *testing.T) {
	f := newServerFixture(t, func(o *ServerOptions) {
		o.Routes = []Route{{Method: "POST", Path: "/webhooks/obs", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			panic("webhook bug")
		})}}
	})
	resp, body := f.do(t, "POST", "/webhooks/obs", http.Header{"X-Request-Id": {"req-panic"}}, "{}")
	if resp.StatusCode != 500 || !strings.Contains(body, "req-panic") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if _, m := f.do(t, "GET", "/metrics", nil, ""); !strings.Contains(m, `dlibot_http_requests_total{code="500",method="POST",route="POST /webhooks/obs"} 1`) {
		t.Fatal("the 500 is not counted")
	}
	if !strings.Contains(f.log.String(), "webhook bug") {
		t.Fatal("the panic is not logged")
	}
}
