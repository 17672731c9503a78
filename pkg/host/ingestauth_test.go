package host

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/events"
)

// Planted ingest tokens: current, previous (still accepted while senders
// move) and one rotated out (no longer accepted).
const (
	plantedIngestToken   = "ingest-planted-current-7f3a9c2e51"
	plantedIngestPrev    = "ingest-planted-previous-0b8d4e6a"
	plantedIngestRetired = "ingest-planted-retired-5c1f9e7d3a"
)

// webhookProbe is a webhook ingest route's handler: it stores the object
// event it is given through the Ingester (as obsimport's webhook does),
// records the URL it saw and verifies a fake signature header when asked.
type webhookProbe struct {
	in   *Ingester
	mu   sync.Mutex
	urls []string
	// signed makes VerifyIngest look at X-Test-Signature: "good"
	// authenticates, anything else is a bad signature, absent is
	// ErrNotSigned.
	signed bool
}

func (p *webhookProbe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeBodyError(w, err)
		return
	}
	p.mu.Lock()
	p.urls = append(p.urls, r.URL.String()+" "+r.RequestURI)
	p.mu.Unlock()
	e, err := events.Decode(http.Header{"Content-Type": {events.ContentType}}, body)
	if err != nil {
		writeJSON(w, 400, map[string]string{"error": err.Error()})
		return
	}
	if _, err := p.in.Store(r.Context(), events.ObsSubject("raw-data"), e); err != nil {
		writeJSON(w, 503, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"stored": e.ID()})
}

func (p *webhookProbe) VerifyIngest(ctx context.Context, h http.Header, body []byte) (string, error) {
	if !p.signed {
		return "", ErrNotSigned
	}
	switch h.Get("X-Test-Signature") {
	case "":
		return "", ErrNotSigned
	case "good":
		return "test_signature", nil
	}
	return "", errors.New("test signature does not verify")
}

func (p *webhookProbe) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.urls...)
}

// newAuthFixture is a server requiring the current and previous planted
// tokens, with a webhook route at POST /webhooks/obs (an ingest route by
// IngestRoutes, without setting Route.Ingest).
func newAuthFixture(t *testing.T, mutate func(*ServerOptions)) (*serverFixture, *webhookProbe) {
	t.Helper()
	wp := &webhookProbe{}
	f := newServerFixture(t, func(o *ServerOptions) {
		o.IngestOpen = false
		o.IngestTokens = []string{plantedIngestToken, plantedIngestPrev}
		wp.in = o.Ingest
		o.Routes = []Route{{Method: "POST", Path: "/webhooks/obs", Handler: wp}}
		if mutate != nil {
			mutate(o)
		}
	})
	return f, wp
}

func objBody(id string) string {
	return strings.Replace(structuredObj, `"obj-1"`, `"`+id+`"`, 1)
}

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// TestIngestAuth: with DLIBOT_INGEST_TOKENS set, POST /events and POST
// /webhooks/obs store an event only for a request with a configured token;
// every other answers 401 with the same body and stores nothing.
func TestIngestAuth(t *testing.T) {
	f, wp := newAuthFixture(t, nil)
	ce := func(auth string) http.Header {
		h := http.Header{"Content-Type": {events.ContentType}}
		if auth != "" {
			h.Set("Authorization", auth)
		}
		return h
	}
	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
	}{
		{"events: bearer current", "/events", ce("Bearer " + plantedIngestToken), 202},
		{"events: bearer previous", "/events", ce("Bearer " + plantedIngestPrev), 202},
		{"events: scheme case-insensitive", "/events", ce("bearer " + plantedIngestToken), 202},
		{"events: basic, token as password", "/events", ce(basic("obs", plantedIngestToken)), 202},
		{"events: no token", "/events", ce(""), 401},
		{"events: wrong token", "/events", ce("Bearer " + strings.Repeat("x", 32)), 401},
		{"events: rotated-out token", "/events", ce("Bearer " + plantedIngestRetired), 401},
		{"events: token prefix", "/events", ce("Bearer " + plantedIngestToken[:20]), 401},
		{"events: token with a suffix", "/events", ce("Bearer " + plantedIngestToken + "x"), 401},
		{"events: empty bearer", "/events", ce("Bearer "), 401},
		{"events: other scheme", "/events", ce("Token " + plantedIngestToken), 401},
		{"events: basic, token as user", "/events", ce(basic(plantedIngestToken, "")), 401},
		{"events: query token not accepted on /events", "/events?access_token=" + plantedIngestToken, ce(""), 401},
		{"webhook: bearer", "/webhooks/obs", ce("Bearer " + plantedIngestToken), 202},
		{"webhook: query token", "/webhooks/obs?access_token=" + plantedIngestPrev + "&keep=1", ce(""), 202},
		{"webhook: no token", "/webhooks/obs", ce(""), 401},
		{"webhook: wrong query token", "/webhooks/obs?access_token=" + plantedIngestRetired, ce(""), 401},
		{"webhook: query token twice", "/webhooks/obs?access_token=" + plantedIngestToken + "&access_token=" + plantedIngestToken, ce(""), 401},
		{"webhook: wrong header wins over a good query", "/webhooks/obs?access_token=" + plantedIngestToken, ce("Bearer " + plantedIngestRetired), 401},
	}
	accepted := uint64(0)
	var refusedBody string
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.streamCount(t)
			resp, body := f.do(t, "POST", tt.path, tt.header, objBody("auth-"+string(rune('a'+i))))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			after := f.streamCount(t)
			if tt.status == 202 {
				accepted++
				if after != before+1 {
					t.Fatalf("accepted, but %d events stored, want 1", after-before)
				}
				return
			}
			if after != before {
				t.Fatalf("refused, but %d events stored", after-before)
			}
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			if refusedBody == "" {
				refusedBody = body
			} else if body != refusedBody {
				t.Errorf("401 bodies differ (they must not say why): %q vs %q", body, refusedBody)
			}
			for _, tok := range []string{plantedIngestToken, plantedIngestPrev, plantedIngestRetired} {
				if strings.Contains(body, tok) {
					t.Errorf("401 body echoes a token: %s", body)
				}
			}
		})
	}
	if n := f.streamCount(t); n != accepted {
		t.Fatalf("%d events stored, want %d (the accepted ones)", n, accepted)
	}
	// The handler never sees the query token.
	for _, u := range wp.seen() {
		if strings.Contains(u, "access_token") || strings.Contains(u, plantedIngestPrev) {
			t.Errorf("handler saw the token in its URL: %s", u)
		}
		if strings.Contains(u, "?") && !strings.Contains(u, "keep=1") {
			t.Errorf("other query parameters must survive: %s", u)
		}
	}
	// Metrics: accepted by position, refused by reason; no token in them.
	_, metrics := f.do(t, "GET", "/metrics", nil, "")
	for _, want := range []string{
		`dlibot_ingress_auth_accepted_total{route="POST /events",via="token_1"} 3`,
		`dlibot_ingress_auth_accepted_total{route="POST /events",via="token_2"} 1`,
		`dlibot_ingress_auth_accepted_total{route="POST /webhooks/obs",via="token_2"} 1`,
		`dlibot_ingress_auth_refused_total{reason="missing_token",route="POST /events"} 2`,
		`dlibot_ingress_auth_refused_total{reason="invalid_token",route="POST /events"} 7`,
		`dlibot_ingress_auth_refused_total{reason="missing_token",route="POST /webhooks/obs"} 1`,
		`dlibot_ingress_auth_refused_total{reason="invalid_token",route="POST /webhooks/obs"} 3`,
		`dlibot_ingress_auth_refused_total{reason="not_configured",route="POST /events"} 0`,
		`dlibot_http_requests_total{code="401",method="POST",route="POST /events"} 9`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The access log line says how (or why not), never with the token.
	logs := f.log.String()
	for _, want := range []string{`"auth":"token_1"`, `"auth":"refused:invalid_token"`, `"auth":"refused:missing_token"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s", want)
		}
	}
	for _, s := range []string{plantedIngestToken, plantedIngestPrev, plantedIngestRetired, "access_token"} {
		if strings.Contains(logs+metrics, s) {
			t.Errorf("logs or metrics contain %q", s)
		}
	}
}

// TestIngestAuthNotConfigured: no tokens and not open (a Lambda without
// DLIBOT_INGEST_TOKENS) refuses everything, reason not_configured.
func TestIngestAuthNotConfigured(t *testing.T) {
	f, _ := newAuthFixture(t, func(o *ServerOptions) { o.IngestTokens = nil })
	for _, p := range []string{"/events", "/webhooks/obs"} {
		resp, body := f.do(t, "POST", p, http.Header{"Content-Type": {events.ContentType}}, objBody("nc"))
		if resp.StatusCode != 401 {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	if n := f.streamCount(t); n != 0 {
		t.Fatalf("%d events stored", n)
	}
	_, metrics := f.do(t, "GET", "/metrics", nil, "")
	if !strings.Contains(metrics, `dlibot_ingress_auth_refused_total{reason="not_configured",route="POST /events"} 1`) {
		t.Errorf("no not_configured refusal counted:\n%s", grepLines(metrics, "auth"))
	}
}

// TestIngestAuthHandlerVerifier: a webhook handler implementing
// IngestVerifier authenticates token-less requests it can verify; a bad
// signature is refused (bad_signature); an unsigned one needs the token.
func TestIngestAuthHandlerVerifier(t *testing.T) {
	f, wp := newAuthFixture(t, nil)
	wp.signed = true
	h := func(sig, auth string) http.Header {
		x := http.Header{"Content-Type": {events.ContentType}}
		if sig != "" {
			x.Set("X-Test-Signature", sig)
		}
		if auth != "" {
			x.Set("Authorization", auth)
		}
		return x
	}
	for _, tt := range []struct {
		name   string
		header http.Header
		status int
	}{
		{"good signature, no token", h("good", ""), 202},
		{"bad signature, no token", h("forged", ""), 401},
		{"unsigned, no token", h("", ""), 401},
		{"unsigned, token", h("", "Bearer "+plantedIngestToken), 202},
		{"good signature, wrong token", h("good", "Bearer "+plantedIngestRetired), 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := f.streamCount(t)
			resp, body := f.do(t, "POST", "/webhooks/obs", tt.header, objBody("sig-"+strings.ReplaceAll(tt.name, " ", "")))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if got := f.streamCount(t) - before; (tt.status == 202) != (got == 1) {
				t.Fatalf("%d events stored", got)
			}
		})
	}
	// /events never asks a handler: a signature header does nothing there.
	if resp, _ := f.do(t, "POST", "/events", h("good", ""), objBody("sig-events")); resp.StatusCode != 401 {
		t.Errorf("/events with a handler signature only: %d, want 401", resp.StatusCode)
	}
	_, metrics := f.do(t, "GET", "/metrics", nil, "")
	for _, want := range []string{
		`dlibot_ingress_auth_accepted_total{route="POST /webhooks/obs",via="test_signature"} 1`,
		`dlibot_ingress_auth_refused_total{reason="bad_signature",route="POST /webhooks/obs"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestIngestAuthOpen: IngestOpen (loopback without tokens, or
// DLIBOT_INGEST_AUTH=none) stores without a token, and says so.
func TestIngestAuthOpen(t *testing.T) {
	f, _ := newAuthFixture(t, func(o *ServerOptions) { o.IngestTokens, o.IngestOpen = nil, true })
	for _, p := range []string{"/events", "/webhooks/obs"} {
		if resp, body := f.do(t, "POST", p, http.Header{"Content-Type": {events.ContentType}}, objBody("open"+p)); resp.StatusCode != 202 {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	_, metrics := f.do(t, "GET", "/metrics", nil, "")
	if !strings.Contains(metrics, `dlibot_ingress_auth_accepted_total{route="POST /events",via="open"} 1`) {
		t.Errorf("open acceptance not counted:\n%s", grepLines(metrics, "auth"))
	}
}

// TestIngestAuthOtherRoutesUntouched: Slack, health and function routes
// that are not ingest routes need no ingest token.
func TestIngestAuthOtherRoutesUntouched(t *testing.T) {
	f, _ := newAuthFixture(t, func(o *ServerOptions) {
		o.Routes = append(o.Routes, Route{Method: "POST", Path: "/other", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 200, map[string]string{"ok": "1"})
		})})
	})
	for _, tt := range []struct{ method, path string }{{"GET", "/healthz"}, {"GET", "/metrics"}, {"POST", "/other"}} {
		if resp, body := f.do(t, tt.method, tt.path, nil, ""); resp.StatusCode != 200 {
			t.Errorf("%s %s: %d %s", tt.method, tt.path, resp.StatusCode, body)
		}
	}
}

func TestRouteIngestFlag(t *testing.T) {
	f, _ := newAuthFixture(t, func(o *ServerOptions) {
		o.Routes = append(o.Routes, Route{Method: "POST", Path: "/webhooks/other", Ingest: true,
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })})
	})
	if resp, _ := f.do(t, "POST", "/webhooks/other", nil, ""); resp.StatusCode != 401 {
		t.Errorf("Route.Ingest without a token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := f.do(t, "POST", "/webhooks/other?access_token="+plantedIngestToken, nil, ""); resp.StatusCode != 204 {
		t.Errorf("Route.Ingest with a query token: %d, want 204", resp.StatusCode)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestParseIngestTokens(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    int
		wantErr string
	}{
		{"", 0, ""},
		{"   ", 0, ""},
		{plantedIngestToken, 1, ""},
		{" " + plantedIngestToken + " , " + plantedIngestPrev + " ", 2, ""},
		{"0123456789abcdef0123456789abcdef", 1, ""},
		{"aB3-._~+/=aB3-._~+/=", 1, ""},
		{plantedIngestToken + ",", 0, "entry 2 is empty"},
		{plantedIngestToken + ",,", 0, "entry 2 is empty"},
		{"short-secret-1", 0, "token 1 is shorter than 16"},
		{plantedIngestToken + ",bad token with spaces!", 0, "token 2 has a character outside"},
		{plantedIngestToken + "ä", 0, "token 1 has a character outside"},
	} {
		got, err := ParseIngestTokens(tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || len(got) != tt.want):
			t.Errorf("%q: %v %v, want %d tokens", tt.in, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.wantErr)
		case err != nil && strings.Contains(err.Error(), plantedIngestToken):
			t.Errorf("error echoes the token: %v", err)
		}
	}
}

// TestIngestConfig: the variables load, validate and never show their
// tokens in errors or `config check`.
func TestIngestConfig(t *testing.T) {
	ctx := context.Background()
	load := func(env map[string]string) (*Config, error) {
		return LoadConfigFrom(ctx, envconfig.MapLookuper(env))
	}
	c, err := load(map[string]string{"DLIBOT_INGEST_TOKENS": plantedIngestToken + "," + plantedIngestPrev})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.IngestTokenList(); len(got) != 2 || got[0] != plantedIngestToken || c.IngestAuth != IngestAuthToken {
		t.Fatalf("tokens %d, auth %q", len(got), c.IngestAuth)
	}
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DLIBOT_INGEST_TOKENS": "abc," + plantedIngestToken}, "DLIBOT_INGEST_TOKENS: token 1 is shorter"},
		{map[string]string{"DLIBOT_INGEST_TOKENS": plantedIngestToken + ",x y" + plantedIngestPrev}, "DLIBOT_INGEST_TOKENS: token 2 has a character"},
		{map[string]string{"DLIBOT_INGEST_AUTH": "off"}, `DLIBOT_INGEST_AUTH: "off" is not one of token, none`},
		{map[string]string{"DLIBOT_INGEST_AUTH": "none", "DLIBOT_INGEST_TOKENS": plantedIngestToken}, "DLIBOT_INGEST_AUTH: is none but DLIBOT_INGEST_TOKENS is set"},
	} {
		_, err := load(tt.env)
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q", tt.env, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), plantedIngestToken) || strings.Contains(err.Error(), plantedIngestPrev)) {
			t.Errorf("error shows a token: %v", err)
		}
	}
	// config check: <set>, a problem named, no token.
	var out strings.Builder
	rep := CheckConfig(ctx, envconfig.MapLookuper(map[string]string{
		"DLIBOT_INGEST_TOKENS": plantedIngestToken + ",short" + plantedIngestPrev[:5]}))
	_ = rep.Write(&out)
	if !strings.Contains(out.String(), "DLIBOT_INGEST_TOKENS=<set>") || !strings.Contains(out.String(), "DLIBOT_INGEST_TOKENS: token 2") {
		t.Errorf("config check:\n%s", out.String())
	}
	if strings.Contains(out.String(), plantedIngestToken) || strings.Contains(out.String(), plantedIngestPrev[:5]) {
		t.Errorf("config check shows a token:\n%s", out.String())
	}
}

func TestIngestPolicy(t *testing.T) {
	tokens := &Config{IngestTokens: plantedIngestToken}
	none := &Config{IngestAuth: IngestAuthNone}
	unset := &Config{}
	for _, tt := range []struct {
		cfg      *Config
		addr     string
		open     bool
		refusing bool
	}{
		{unset, "127.0.0.1:8080", true, false},
		{unset, "127.0.0.1:0", true, false},
		{unset, "127.1.2.3:0", true, false},
		{unset, "[::1]:8080", true, false},
		{unset, "localhost:8080", true, false},
		{unset, ":8080", false, true},
		{unset, "0.0.0.0:8080", false, true},
		{unset, "[::]:8080", false, true},
		{unset, "10.1.2.3:8080", false, true},
		{unset, "dlibot.internal:8080", false, true},
		{unset, "", false, true},
		{tokens, "127.0.0.1:8080", false, false},
		{tokens, ":8080", false, false},
		{none, ":8080", true, false},
		{none, "127.0.0.1:8080", true, false},
	} {
		open, err := IngestPolicy(tt.cfg, tt.addr)
		if open != tt.open || (err != nil) != tt.refusing || (err != nil && !errors.Is(err, ErrIngestAuth)) {
			t.Errorf("tokens %v auth %q addr %q: open %v err %v; want open %v refusing %v",
				tt.cfg.IngestTokens != "", tt.cfg.IngestAuth, tt.addr, open, err, tt.open, tt.refusing)
		}
		if err != nil && (!strings.Contains(err.Error(), "DLIBOT_INGEST_TOKENS") || !strings.Contains(err.Error(), "DLIBOT_INGEST_AUTH=none")) {
			t.Errorf("the refusal does not say what to set: %v", err)
		}
	}
}

// TestRunIngestAuth: `dlibot serve` refuses to start beyond loopback
// without tokens (before connecting to anything); with tokens it requires
// them on a loopback listener too; DLIBOT_INGEST_AUTH=none warns.
func TestRunIngestAuth(t *testing.T) {
	n := startTestNATS(t)
	ctx := context.Background()
	err := Run(ctx, Options{Config: &Config{NATSURL: "nats://127.0.0.1:1", HTTPAddr: "0.0.0.0:0", HTTPMaxBodyBytes: DefaultMaxBodyBytes},
		Registry: &Registry{}, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, ErrIngestAuth) {
		t.Fatalf("serve on 0.0.0.0 without tokens: %v, want ErrIngestAuth", err)
	}

	var log testsync.Buffer
	url, _ := runService(t, Options{Config: &Config{NATSURL: n.url(), HTTPMaxBodyBytes: DefaultMaxBodyBytes, IngestTokens: plantedIngestToken},
		Registry: &Registry{}, Logger: slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	post := func(auth string) int {
		req, _ := http.NewRequest("POST", url+"/events", strings.NewReader(objBody("run-"+auth[:min(len(auth), 3)])))
		req.Header.Set("Content-Type", events.ContentType)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != 401 {
		t.Errorf("no token on a loopback listener with tokens configured: %d, want 401", code)
	}
	if code := post("Bearer " + plantedIngestToken); code != 202 {
		t.Errorf("with the token: %d, want 202", code)
	}
	if strings.Contains(log.String(), plantedIngestToken) {
		t.Errorf("the log shows the token:\n%s", log.String())
	}

	var warn testsync.Buffer
	url, _ = runService(t, Options{Config: &Config{NATSURL: n.url(), HTTPMaxBodyBytes: DefaultMaxBodyBytes, IngestAuth: IngestAuthNone},
		Registry: &Registry{}, Logger: slog.New(slog.NewJSONHandler(&warn, nil))})
	if code := post(""); code != 202 {
		t.Errorf("DLIBOT_INGEST_AUTH=none: %d, want 202", code)
	}
	if !strings.Contains(warn.String(), `"level":"WARN","msg":"DLIBOT_INGEST_AUTH=none`) {
		t.Errorf("no warning for DLIBOT_INGEST_AUTH=none:\n%s", warn.String())
	}
}

func TestIngestTokenMatchPositions(t *testing.T) {
	a := newIngestAuth([]string{plantedIngestToken, plantedIngestPrev}, false)
	for tok, want := range map[string]int{plantedIngestToken: 1, plantedIngestPrev: 2, plantedIngestRetired: 0, "": 0} {
		if got := a.match(tok); got != want {
			t.Errorf("match(%q) = %d, want %d", tok, got, want)
		}
	}
}

// BenchmarkIngestGuard measures what the ingest check adds to a request
// (no-op handler, in-process): open, a Bearer token (third of three
// configured) and a query token (stripped from the URL).
func BenchmarkIngestGuard(b *testing.B) {
	noop := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	for _, bc := range []struct {
		name, target, auth string
		open               bool
	}{
		{"open", "/webhooks/obs", "", true},
		{"bearer", "/webhooks/obs", "Bearer " + plantedIngestToken, false},
		{"query", "/webhooks/obs?access_token=" + plantedIngestToken, "", false},
		{"refused", "/webhooks/obs", "Bearer " + plantedIngestRetired, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv, err := NewServer(ServerOptions{Metrics: NewMetrics(), Logger: slog.New(slog.DiscardHandler), IngestOpen: bc.open,
				IngestTokens: []string{plantedIngestPrev, plantedIngestRetired + "-x", plantedIngestToken},
				Routes:       []Route{{Method: "POST", Path: "/webhooks/obs", Handler: noop}}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest("POST", bc.target, nil)
				if bc.auth != "" {
					req.Header.Set("Authorization", bc.auth)
				}
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				if (rec.Code == http.StatusAccepted) == (bc.name == "refused") {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
