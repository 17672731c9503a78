package host

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/nats-io/nats.go"

	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/events"
)

const fixtureSecret = "fixture-signing-secret"

// fixtureIngestToken is the ingest token the API Gateway fixtures of
// POST /events carry (testdata/apigw-v2-events-structured.json).
const fixtureIngestToken = "fixture-ingest-token-0123456789"

// fixtureNow is when the fixtures were "sent" (their Slack timestamp).
var fixtureNow = time.Date(2026, 11, 26, 10, 7, 0, 0, time.UTC)

// probe is the trivial test function: it records what it gets and answers
// with a settable outcome.
type probe struct {
	mu       sync.Mutex
	events   []events.Event
	bodies   []string
	outcome  events.Outcome
	needNATS bool
}

func (p *probe) registry() *Registry {
	reg := &Registry{}
	reg.Register(Registration{Name: "probe", Routes: []string{"POST /slack/commands"}, New: func(ctx context.Context, env Env) (*Function, error) {
		return &Function{
			Subjects:  []string{events.SubjectsObs},
			Tick:      5 * time.Minute,
			NeedsNATS: p.needNATS,
			Handler: func(ctx context.Context, e events.Event) events.Outcome {
				p.mu.Lock()
				defer p.mu.Unlock()
				p.events = append(p.events, e)
				return p.outcome
			},
			Routes: []Route{{Method: "POST", Path: "/slack/commands", SlackSigned: true,
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					p.mu.Lock()
					p.bodies = append(p.bodies, string(b))
					p.mu.Unlock()
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"response_type":"ephemeral","text":"queues: etl"}`)
				})}},
		}, nil
	}})
	return reg
}

func (p *probe) got() []events.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]events.Event(nil), p.events...)
}

func newTestLambda(t testing.TB, p *probe, nc *nats.Conn, log io.Writer) *Lambda {
	t.Helper()
	if log == nil {
		log = io.Discard
	}
	l, err := NewLambda(context.Background(), LambdaOptions{
		Config:   &Config{SlackSigningSecret: fixtureSecret, IngestTokens: fixtureIngestToken, HTTPMaxBodyBytes: DefaultMaxBodyBytes},
		Handler:  "probe",
		DLI:      testDLI(t),
		Registry: p.registry(),
		Logger:   slog.New(slog.NewJSONHandler(log, nil)),
		NATS:     nc,
		Console:  io.Discard,
		Now:      func() time.Time { return fixtureNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func invokeAPIGW(t *testing.T, l *Lambda, payload []byte) awsevents.APIGatewayV2HTTPResponse {
	t.Helper()
	out, err := l.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var resp awsevents.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

func TestLambdaAPIGatewaySlackCommandBase64(t *testing.T) {
	p := &probe{}
	l := newTestLambda(t, p, nil, nil)
	payload := fixture(t, "apigw-v2-slack-command-base64.json")
	resp := invokeAPIGW(t, l, payload)
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, "queues: etl") {
		t.Fatalf("response %+v", resp)
	}
	if resp.Headers["X-Request-Id"] != "Bq1xTi-LjoEEJ3w=" {
		t.Fatalf("request id %q, want the API Gateway request id", resp.Headers["X-Request-Id"])
	}
	if len(p.bodies) != 1 || !strings.HasPrefix(p.bodies[0], "token=legacy&team_id=T0001") {
		t.Fatalf("handler got %q, want the decoded form body", p.bodies)
	}
	// The same request with one byte of the (encoded) body changed fails
	// the signature check.
	var ev map[string]any
	_ = json.Unmarshal(payload, &ev)
	raw, _ := base64.StdEncoding.DecodeString(ev["body"].(string))
	ev["body"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), "text=queues", "text=scale+etl+64", 1)))
	tampered, _ := json.Marshal(ev)
	if resp := invokeAPIGW(t, l, tampered); resp.StatusCode != 401 {
		t.Fatalf("tampered: %d %s", resp.StatusCode, resp.Body)
	}
	// Not base64 although it says so → 400.
	ev["body"] = "%%%"
	bad, _ := json.Marshal(ev)
	if resp := invokeAPIGW(t, l, bad); resp.StatusCode != 400 || !strings.Contains(resp.Body, "base64") {
		t.Fatalf("bad base64: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestLambdaAPIGatewayEventsDirect(t *testing.T) {
	p := &probe{}
	l := newTestLambda(t, p, nil, nil)
	resp := invokeAPIGW(t, l, fixture(t, "apigw-v2-events-structured.json"))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"outcome":"ack"`) {
		t.Fatalf("response %+v", resp)
	}
	got := p.got()
	if len(got) != 1 || got[0].ID() != "obj-77" {
		t.Fatalf("handler got %v", got)
	}
	// A route of a function this Lambda does not run: 404 naming it.
	var ev awsevents.APIGatewayV2HTTPRequest
	_ = json.Unmarshal(fixture(t, "apigw-v2-events-structured.json"), &ev)
	ev.RawPath, ev.RequestContext.HTTP.Path = "/webhooks/obs", "/webhooks/obs"
	payload, _ := json.Marshal(ev)
	if resp := invokeAPIGW(t, l, payload); resp.StatusCode != 404 || !strings.Contains(resp.Body, "obsimport") {
		t.Fatalf("webhook: %d %s", resp.StatusCode, resp.Body)
	}
	// Retry → 503, Drop → 422.
	p.outcome = events.Retry(time.Second)
	if resp := invokeAPIGW(t, l, fixture(t, "apigw-v2-events-structured.json")); resp.StatusCode != 503 {
		t.Fatalf("retry: %d %s", resp.StatusCode, resp.Body)
	}
	p.outcome = events.Drop("bad row")
	if resp := invokeAPIGW(t, l, fixture(t, "apigw-v2-events-structured.json")); resp.StatusCode != 422 || !strings.Contains(resp.Body, "bad row") {
		t.Fatalf("drop: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestLambdaScheduledEventIsATick(t *testing.T) {
	p := &probe{}
	l := newTestLambda(t, p, nil, nil)
	out, err := l.Invoke(context.Background(), fixture(t, "eventbridge-scheduled.json"))
	if err != nil || out != nil {
		t.Fatalf("Invoke: %s %v", out, err)
	}
	got := p.got()
	if len(got) != 1 || got[0].Type() != events.TypeTick || got[0].ID() != "probe/2026-11-26T10:05:00Z" {
		t.Fatalf("handler got %v", got)
	}
	var tick events.Tick
	if err := json.Unmarshal(got[0].Data(), &tick); err != nil || tick.Function != "probe" || !tick.PeriodStart.Equal(time.Date(2026, 11, 26, 10, 5, 0, 0, time.UTC)) {
		t.Fatalf("tick %+v %v", tick, err)
	}
}

func TestLambdaS3Put(t *testing.T) {
	p := &probe{}
	l := newTestLambda(t, p, nil, nil)
	if _, err := l.Invoke(context.Background(), fixture(t, "s3-put.json")); err != nil {
		t.Fatal(err)
	}
	got := p.got()
	if len(got) != 1 || got[0].Type() != events.TypeObjectCreated {
		t.Fatalf("handler got %v", got)
	}
	var o events.ObjectCreated
	if err := json.Unmarshal(got[0].Data(), &o); err != nil {
		t.Fatal(err)
	}
	want := events.ObjectCreated{Bucket: "raw-data", Key: "landing/events/dt=2026-11-26/part 1.csv", Size: 1024,
		ETag: "d41d8cd98f00b204e9800998ecf8427e", EventName: "ObjectCreated:Put",
		EventTime: time.Date(2026, 11, 26, 10, 6, 58, 123_000_000, time.UTC), Region: "eu-west-1"}
	if o != want {
		t.Fatalf("object %+v\nwant   %+v", o, want)
	}
	if got[0].ID() != "s3:raw-data/landing/events/dt=2026-11-26/part 1.csv@0A1B2C3D4E5F678901" {
		t.Fatalf("id %s", got[0].ID())
	}
	// Retry → an error so Lambda retries the notification.
	p.outcome = events.Retry(time.Second)
	if _, err := l.Invoke(context.Background(), fixture(t, "s3-put.json")); !errors.Is(err, ErrRetry) {
		t.Fatalf("retry: %v", err)
	}
}

func TestLambdaDropGoesToDLQWithNATS(t *testing.T) {
	n := startTestNATS(t)
	nc, js := n.connect(t)
	p := &probe{outcome: events.Drop("row 3: bad date")}
	l := newTestLambda(t, p, nc, nil)
	if _, err := l.Invoke(context.Background(), fixture(t, "s3-put.json")); err != nil {
		t.Fatalf("a drop must not fail the invocation: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(ctx, events.DLQSubject("probe"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Get(events.HeaderDLQReason) != "row 3: bad date" || m.Header.Get(events.HeaderDLQSubject) != "dlibot.in.obs.raw-data" {
		t.Fatalf("dead letter headers %v", m.Header)
	}
}

func TestLambdaDropWithoutNATSIsLogged(t *testing.T) {
	p := &probe{outcome: events.Drop("row 3: bad date")}
	var log testsync.Buffer
	l := newTestLambda(t, p, nil, &log)
	if _, err := l.Invoke(context.Background(), fixture(t, "s3-put.json")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "row 3: bad date") || !strings.Contains(log.String(), `"level":"ERROR"`) {
		t.Fatalf("log %s", log.String())
	}
}

func TestLambdaStartErrors(t *testing.T) {
	p := &probe{needNATS: true}
	base := LambdaOptions{Config: &Config{HTTPMaxBodyBytes: DefaultMaxBodyBytes}, DLI: testDLI(t), Registry: p.registry(),
		Logger: slog.New(slog.DiscardHandler), Console: io.Discard}
	o := base
	o.Handler = "nosuch"
	if _, err := NewLambda(context.Background(), o); !errors.Is(err, ErrUnknownHandler) || !strings.Contains(err.Error(), "probe") {
		t.Fatalf("unknown handler: %v", err)
	}
	o.Handler = ""
	if _, err := NewLambda(context.Background(), o); !errors.Is(err, ErrUnknownHandler) {
		t.Fatalf("empty handler: %v", err)
	}
	o.Handler = "probe"
	if _, err := NewLambda(context.Background(), o); err == nil || !strings.Contains(err.Error(), "NATS_URL") {
		t.Fatalf("stateful function without NATS: %v", err)
	}
}

func TestLambdaUnrecognizedEvent(t *testing.T) {
	l := newTestLambda(t, &probe{}, nil, nil)
	for _, payload := range []string{`{"hello":"world"}`, `[1,2]`, `{"Records":[{"eventSource":"aws:sqs"}]}`} {
		if _, err := l.Invoke(context.Background(), []byte(payload)); !errors.Is(err, ErrUnrecognizedEvent) {
			t.Errorf("%s: %v", payload, err)
		}
	}
}

func TestSubjectMatches(t *testing.T) {
	tests := []struct {
		filter, subject string
		want            bool
	}{
		{"dlibot.in.obs.*", "dlibot.in.obs.raw", true},
		{"dlibot.in.obs.*", "dlibot.in.obs.raw.x", false},
		{"dlibot.in.>", "dlibot.in.obs.raw", true},
		{"dlibot.in.>", "dlibot.in", false},
		{"dlibot.in.tick.probe", "dlibot.in.tick.probe", true},
		{"dlibot.in.tick.probe", "dlibot.in.tick.other", false},
	}
	for _, tt := range tests {
		if got := SubjectMatches(tt.filter, tt.subject); got != tt.want {
			t.Errorf("SubjectMatches(%q, %q) = %v", tt.filter, tt.subject, got)
		}
	}
}

func TestLambdaDeduplicatesRetriedInvocationsWithNATS(t *testing.T) {
	n := startTestNATS(t)
	nc, _ := n.connect(t)
	p := &probe{}
	l := newTestLambda(t, p, nc, nil)
	for range 2 { // Lambda retrying the same S3 notification
		if _, err := l.Invoke(context.Background(), fixture(t, "s3-put.json")); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.got(); len(got) != 1 {
		t.Fatalf("handled %d times, want 1", len(got))
	}
	// A retryable outcome is not remembered: the retry runs the handler.
	p.outcome = events.Retry(time.Second)
	if _, err := l.Invoke(context.Background(), fixture(t, "eventbridge-scheduled.json")); !errors.Is(err, ErrRetry) {
		t.Fatalf("retry: %v", err)
	}
	p.outcome = events.Ack()
	if _, err := l.Invoke(context.Background(), fixture(t, "eventbridge-scheduled.json")); err != nil {
		t.Fatal(err)
	}
	if got := p.got(); len(got) != 3 {
		t.Fatalf("handled %d times, want 3 (object once, tick twice)", len(got))
	}
}

func TestLambdaHandlerPanicIsRetried(t *testing.T) {
	reg := &Registry{}
	reg.Register(Registration{Name: "boom", New: func(ctx context.Context, env Env) (*Function, error) {
		return &Function{Tick: time.Minute, Handler: func(ctx context.Context, e events.Event) events.Outcome { panic("kaboom") }}, nil
	}})
	l, err := NewLambda(context.Background(), LambdaOptions{Config: &Config{HTTPMaxBodyBytes: DefaultMaxBodyBytes}, Handler: "boom",
		DLI: testDLI(t), Registry: reg, Logger: slog.New(slog.DiscardHandler), Console: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Invoke(context.Background(), fixture(t, "eventbridge-scheduled.json")); !errors.Is(err, ErrRetry) {
		t.Fatalf("panic: %v", err)
	}
}

// apigwEvents is the POST /events fixture with its Authorization header
// replaced (removed when auth is empty) and the query string set.
func apigwEvents(t *testing.T, path, auth, query string) []byte {
	t.Helper()
	var ev awsevents.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(fixture(t, "apigw-v2-events-structured.json"), &ev); err != nil {
		t.Fatal(err)
	}
	delete(ev.Headers, "authorization")
	if auth != "" {
		ev.Headers["authorization"] = auth
	}
	ev.RawPath, ev.RequestContext.HTTP.Path, ev.RawQueryString = path, path, query
	b, _ := json.Marshal(ev)
	return b
}

// TestLambdaIngestAuth: in Lambda the ingest routes take a request only
// with a configured token (the handler never runs otherwise); without
// DLIBOT_INGEST_TOKENS they refuse everything (and warn at start) unless
// DLIBOT_INGEST_AUTH=none.
func TestLambdaIngestAuth(t *testing.T) {
	var hooks []string
	var mu sync.Mutex
	p := &probe{}
	reg := p.registry()
	reg.Register(Registration{Name: "hooked", Routes: []string{"POST /webhooks/obs"}, New: func(ctx context.Context, env Env) (*Function, error) {
		return &Function{Subjects: []string{events.SubjectsObs}, Handler: func(ctx context.Context, e events.Event) events.Outcome {
			return events.Ack()
		}, Routes: []Route{{Method: "POST", Path: "/webhooks/obs", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hooks = append(hooks, r.URL.String())
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		})}}}, nil
	}})
	newL := func(cfg Config, handler string, log io.Writer) *Lambda {
		cfg.HTTPMaxBodyBytes = DefaultMaxBodyBytes
		l, err := NewLambda(context.Background(), LambdaOptions{Config: &cfg, Handler: handler, DLI: testDLI(t), Registry: reg,
			Logger: slog.New(slog.NewJSONHandler(log, nil)), Console: io.Discard, Now: func() time.Time { return fixtureNow }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	var log testsync.Buffer
	tokens := Config{IngestTokens: fixtureIngestToken + "," + plantedIngestToken}
	l := newL(tokens, "probe", &log)
	for _, tt := range []struct {
		name, auth, query string
		status            int
	}{
		{"fixture token", "Bearer " + fixtureIngestToken, "", 200},
		{"second token", "Bearer " + plantedIngestToken, "", 200},
		{"no token", "", "", 401},
		{"rotated out", "Bearer " + plantedIngestRetired, "", 401},
		{"query token is not for /events", "", "access_token=" + fixtureIngestToken, 401},
	} {
		before := len(p.got())
		resp := invokeAPIGW(t, l, apigwEvents(t, "/events", tt.auth, tt.query))
		if resp.StatusCode != tt.status {
			t.Errorf("%s: %d %s", tt.name, resp.StatusCode, resp.Body)
		}
		if ran := len(p.got()) - before; (tt.status == 200) != (ran == 1) {
			t.Errorf("%s: the handler ran %d times", tt.name, ran)
		}
	}
	// A webhook route: the token also works as ?access_token=, which the
	// handler never sees.
	hl := newL(tokens, "hooked", &log)
	if resp := invokeAPIGW(t, hl, apigwEvents(t, "/webhooks/obs", "", "access_token="+plantedIngestToken+"&x=1")); resp.StatusCode != 202 {
		t.Errorf("webhook with a query token: %d %s", resp.StatusCode, resp.Body)
	}
	if resp := invokeAPIGW(t, hl, apigwEvents(t, "/webhooks/obs", "", "")); resp.StatusCode != 401 {
		t.Errorf("webhook without a token: %d %s", resp.StatusCode, resp.Body)
	}
	mu.Lock()
	if len(hooks) != 1 || strings.Contains(hooks[0], "access_token") {
		t.Errorf("webhook handler calls %v, want one without the token", hooks)
	}
	mu.Unlock()

	// No tokens: refused, with a warning at start naming the variable.
	var warn testsync.Buffer
	nl := newL(Config{}, "probe", &warn)
	if resp := invokeAPIGW(t, nl, apigwEvents(t, "/events", "Bearer "+fixtureIngestToken, "")); resp.StatusCode != 401 {
		t.Errorf("no tokens configured: %d %s", resp.StatusCode, resp.Body)
	}
	if !strings.Contains(warn.String(), "DLIBOT_INGEST_TOKENS is unset") {
		t.Errorf("no start warning:\n%s", warn.String())
	}
	// DLIBOT_INGEST_AUTH=none: open.
	ol := newL(Config{IngestAuth: IngestAuthNone}, "probe", &log)
	if resp := invokeAPIGW(t, ol, apigwEvents(t, "/events", "", "")); resp.StatusCode != 200 {
		t.Errorf("DLIBOT_INGEST_AUTH=none: %d %s", resp.StatusCode, resp.Body)
	}
	// A request line that cannot be parsed: the error names the path, not
	// the query (it may carry the token).
	var ev awsevents.APIGatewayV2HTTPRequest
	_ = json.Unmarshal(apigwEvents(t, "/webhooks/obs", "", "access_token="+plantedIngestToken), &ev)
	ev.RequestContext.HTTP.Method = "BAD METHOD"
	bad, _ := json.Marshal(ev)
	resp := invokeAPIGW(t, hl, bad)
	if resp.StatusCode != 400 || strings.Contains(resp.Body, plantedIngestToken) {
		t.Errorf("bad request line: %d %s", resp.StatusCode, resp.Body)
	}
	for _, s := range []string{fixtureIngestToken, plantedIngestToken, plantedIngestRetired} {
		if strings.Contains(log.String()+warn.String(), s) {
			t.Errorf("Lambda log contains a token %q", s)
		}
	}
}

// newEMFLambda is newTestLambda with the EMF lines on (as in Lambda by
// default) written to out, and cfg's secrets.
func newEMFLambda(t *testing.T, p *probe, cfg Config, out io.Writer) *Lambda {
	t.Helper()
	cfg.HTTPMaxBodyBytes, cfg.EMF, cfg.EMFNamespace = DefaultMaxBodyBytes, true, "dlibot"
	l, err := NewLambda(context.Background(), LambdaOptions{
		Config: &cfg, Handler: "probe", DLI: testDLI(t), Registry: p.registry(),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Console: io.Discard,
		Now: func() time.Time { return fixtureNow }, EMFOutput: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// apigwBody is the POST /events fixture with the fixture token and body.
func apigwBody(t *testing.T, body string) []byte {
	t.Helper()
	var ev awsevents.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(apigwEvents(t, "/events", "Bearer "+fixtureIngestToken, ""), &ev); err != nil {
		t.Fatal(err)
	}
	ev.Body, ev.IsBase64Encoded = body, false
	b, _ := json.Marshal(ev)
	return b
}

// TestLambdaEMFMalformedEvent: in Lambda, where nothing scrapes /metrics,
// a malformed event is counted in the EMF lines written before the
// invocation returns — over API Gateway (400) and invoked directly (an
// error) — once each, never again in a later invocation.
func TestLambdaEMFMalformedEvent(t *testing.T) {
	var out bytes.Buffer
	l := newEMFLambda(t, &probe{}, Config{IngestTokens: fixtureIngestToken}, &out)
	malformed := map[string]string{"function": "probe", "type": "unknown", "result": "malformed"}
	// Nothing scrapes the Go runtime and process collectors in Lambda:
	// they are not gathered after every invocation.
	mfs, _ := l.m.Registry.Gather()
	for _, mf := range mfs {
		if n := mf.GetName(); strings.HasPrefix(n, "go_") || strings.HasPrefix(n, "process_") {
			t.Fatalf("runtime collector still registered: %s", n)
		}
	}

	if resp := invokeAPIGW(t, l, apigwBody(t, `{"specversion":"1.0","id":`)); resp.StatusCode != 400 {
		t.Fatalf("malformed POST /events: %d %s", resp.StatusCode, resp.Body)
	}
	docs := parseEMF(t, out.String())
	if v, ok := find(docs, "dlibot_ingress_events_total", malformed); !ok || v != 1 {
		t.Fatalf("after a malformed POST /events: ingress malformed %v %v, want 1\n%s", v, ok, out.String())
	}
	if v, _ := find(docs, "dlibot_http_requests_total", map[string]string{"function": "probe", "route": "POST /events", "method": "POST", "code": "400"}); v != 1 {
		t.Errorf("http 400 %v, want 1\n%s", v, out.String())
	}

	out.Reset()
	if _, err := l.Invoke(context.Background(), []byte(`{"specversion":"0.3","id":"x"}`)); !errors.Is(err, events.ErrMalformed) {
		t.Fatalf("direct malformed CloudEvent: %v", err)
	}
	docs = parseEMF(t, out.String())
	if v, _ := find(docs, "dlibot_ingress_events_total", malformed); v != 1 || len(docs) != 1 {
		t.Errorf("after a malformed direct invocation: %d documents, ingress malformed %v, want one document, 1 (not 2)\n%s", len(docs), v, out.String())
	}

	out.Reset()
	if _, err := l.Invoke(context.Background(), []byte(`[1,2]`)); !errors.Is(err, ErrUnrecognizedEvent) {
		t.Fatalf("not an object: %v", err)
	}
	if v, _ := find(parseEMF(t, out.String()), "dlibot_ingress_events_total", malformed); v != 1 {
		t.Errorf("unrecognized event: ingress malformed %v, want 1\n%s", v, out.String())
	}

	// An event handled and dropped: the DLQ-less drop and the outcome show.
	out.Reset()
	p := &probe{outcome: events.Drop("bad row")}
	dl := newEMFLambda(t, p, Config{IngestTokens: fixtureIngestToken}, &out)
	if resp := invokeAPIGW(t, dl, fixture(t, "apigw-v2-events-structured.json")); resp.StatusCode != 422 {
		t.Fatalf("drop: %d %s", resp.StatusCode, resp.Body)
	}
	if v, _ := find(parseEMF(t, out.String()), "dlibot_events_failed_total",
		map[string]string{"function": "probe", "type": "dlibot.obs.object.created", "outcome": "drop"}); v != 1 {
		t.Errorf("dropped event: events_failed %v, want 1\n%s", v, out.String())
	}
}

// TestLambdaEMFOff: DLIBOT_EMF=false writes nothing.
func TestLambdaEMFOff(t *testing.T) {
	var out bytes.Buffer
	cfg := Config{IngestTokens: fixtureIngestToken, HTTPMaxBodyBytes: DefaultMaxBodyBytes, EMF: false}
	l, err := NewLambda(context.Background(), LambdaOptions{Config: &cfg, Handler: "probe", DLI: testDLI(t), Registry: (&probe{}).registry(),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Console: io.Discard, EMFOutput: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	invokeAPIGW(t, l, apigwBody(t, "{"))
	_, _ = l.Invoke(context.Background(), []byte("{"))
	if out.Len() != 0 {
		t.Errorf("DLIBOT_EMF=false, but written:\n%s", out.String())
	}
	mfs, _ := l.m.Registry.Gather()
	var goSeries bool
	for _, mf := range mfs {
		goSeries = goSeries || strings.HasPrefix(mf.GetName(), "go_")
	}
	if !goSeries {
		t.Errorf("DLIBOT_EMF=false: the Go runtime collector was removed")
	}
}

// TestLambdaEMFNeverShowsSecrets: the planted ingest tokens and Slack
// signing secret, sent every way a request can carry them, right and
// wrong, never appear in the EMF lines (labels are route patterns and
// enumerations, never request data).
func TestLambdaEMFNeverShowsSecrets(t *testing.T) {
	var out bytes.Buffer
	l := newEMFLambda(t, &probe{}, Config{IngestTokens: plantedIngestToken + "," + plantedIngestPrev,
		SlackSigningSecret: plantedSecret, SlackSigningSecretPrevious: fixtureSecret}, &out)
	for _, req := range []struct{ path, auth, query string }{
		{"/events", "Bearer " + plantedIngestToken, ""},
		{"/events", "Bearer " + plantedIngestPrev, ""},
		{"/events", "Bearer " + plantedIngestRetired, ""},
		{"/events", "", "access_token=" + plantedIngestToken},
		{"/events", basic("u", plantedIngestToken), ""},
		{"/webhooks/obs", "", "access_token=" + plantedIngestToken},
		{"/" + plantedIngestToken, "Bearer " + plantedIngestToken, ""},
		{"/slack/commands", "Bearer " + plantedSecret, ""},
	} {
		invokeAPIGW(t, l, apigwEvents(t, req.path, req.auth, req.query))
	}
	// A signed Slack command (the previous secret signs the fixture).
	invokeAPIGW(t, l, fixture(t, "apigw-v2-slack-command-base64.json"))
	if !strings.Contains(out.String(), "dlibot_ingress_auth_refused_total") || !strings.Contains(out.String(), "dlibot_ingress_auth_accepted_total") {
		t.Fatalf("no auth metrics in the EMF lines:\n%s", out.String())
	}
	parseEMF(t, out.String())
	for _, s := range []string{plantedIngestToken, plantedIngestPrev, plantedIngestRetired, plantedSecret, fixtureSecret, fixtureIngestToken} {
		if strings.Contains(out.String(), s) {
			t.Errorf("EMF lines contain the secret %q:\n%s", s, out.String())
		}
	}
}
