package host

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/internal/testsync"
)

const (
	plantedToken  = "xoxb-host-security-planted-token-9q8w7e"
	plantedSecret = "host-security-planted-signing-secret-5t4r"
)

// servePanicking serves a server whose one route panics, on a real
// listener with the server's own http.Server (timeouts, error log).
func servePanicking(t *testing.T, log io.Writer) string {
	t.Helper()
	srv, err := NewServer(ServerOptions{
		Logger:  slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: NewMetrics(),
		Routes: []Route{{Method: "POST", Path: "/boom", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			panic("handler bug")
		})}},
		SlackSecrets: []string{plantedSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, ln, time.Second)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

func postBoom(base string) (*http.Response, error) {
	req, _ := http.NewRequest("POST", base+"/boom", strings.NewReader("token="+plantedToken))
	req.Header.Set("Authorization", "Bearer "+plantedToken)
	req.Header.Set("X-Slack-Signature", "v0="+plantedSecret)
	return (&http.Client{Timeout: 5 * time.Second}).Do(req)
}

// TestPanicPathLogsNoSecret: a handler panic on a request carrying a token
// and a signature must not put them in the logs.
func TestPanicPathLogsNoSecret(t *testing.T) {
	var log testsync.Buffer
	base := servePanicking(t, &log)
	if resp, err := postBoom(base); err == nil {
		resp.Body.Close()
	}
	// The panic is logged (through the server's ErrorLog) once the
	// connection is torn down; wait for it.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(log.String(), "handler bug") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	out := log.String()
	if !strings.Contains(out, "handler bug") {
		t.Fatalf("the panic is not visible in the log:\n%s", out)
	}
	for _, s := range []string{plantedToken, plantedSecret} {
		if strings.Contains(out, s) {
			t.Errorf("log after a panic contains a planted secret %q:\n%s", s, out)
		}
	}
}

// TestPanicAnswers500: a handler panic should answer 500 (and count in
// dlibot_http_requests_total) rather than drop the connection: Slack shows
// a dropped connection as a generic dispatch failure and the sender cannot
// tell it from a network fault.
func TestPanicAnswers500(t *testing.T) {
	var log testsync.Buffer
	base := servePanicking(t, &log)
	resp, err := postBoom(base)
	if err != nil {
		t.Fatalf("a handler panic dropped the connection (%v) instead of answering 500", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("a panicking handler answered %d, want 500", resp.StatusCode)
	}
}

// TestHTTPServerLimits pins the hardening of the service's http.Server:
// every timeout set and bounded, a header limit, and the body limit
// applied by the middleware.
func TestHTTPServerLimits(t *testing.T) {
	srv, err := NewServer(ServerOptions{Metrics: NewMetrics()})
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.HTTPServer()
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": hs.ReadHeaderTimeout, "ReadTimeout": hs.ReadTimeout,
		"WriteTimeout": hs.WriteTimeout, "IdleTimeout": hs.IdleTimeout,
	} {
		if d <= 0 || d > 2*time.Minute {
			t.Errorf("%s = %s, want set and at most 2m", name, d)
		}
	}
	if hs.ReadHeaderTimeout > 10*time.Second {
		t.Errorf("ReadHeaderTimeout = %s, want ≤ 10s (slowloris)", hs.ReadHeaderTimeout)
	}
	if hs.MaxHeaderBytes <= 0 || hs.MaxHeaderBytes > 1<<20 {
		t.Errorf("MaxHeaderBytes = %d, want set and ≤ 1 MiB", hs.MaxHeaderBytes)
	}
	if hs.ErrorLog == nil {
		t.Errorf("ErrorLog unset: net/http's own errors (TLS, panics) would bypass slog")
	}
}

// TestIngestTokenNeverLeaks sends the planted ingest token every way a
// sender can (header, Basic, query), right and wrong, to /events and to a
// webhook route whose handler panics, and requires that it appears in no
// log line, metric or answer.
func TestIngestTokenNeverLeaks(t *testing.T) {
	var log testsync.Buffer
	m := NewMetrics()
	srv, err := NewServer(ServerOptions{
		Logger:       slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:      m,
		IngestTokens: []string{plantedIngestToken},
		Routes: []Route{{Method: "POST", Path: "/webhooks/obs", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			panic("webhook bug at " + r.URL.String())
		})}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ctx, ln, time.Second) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second}
	var answers strings.Builder
	for _, tc := range []struct{ path, auth string }{
		{"/events", "Bearer " + plantedIngestToken},
		{"/events", "Bearer " + plantedIngestToken + "-wrong"},
		{"/events?access_token=" + plantedIngestToken, ""},
		{"/events", basic("u", plantedIngestToken)},
		{"/webhooks/obs?access_token=" + plantedIngestToken, ""},
		{"/webhooks/obs?access_token=" + plantedIngestToken + "-wrong", ""},
		{"/webhooks/obs", "Bearer " + plantedIngestToken},
	} {
		req, _ := http.NewRequest("POST", base+tc.path, strings.NewReader(`{"specversion":"1.0"`))
		req.Header.Set("Content-Type", "application/cloudevents+json")
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		answers.Write(b)
		for k, vs := range resp.Header {
			answers.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
	}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(log.String(), "webhook bug") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(log.String(), "webhook bug at /webhooks/obs") {
		t.Fatalf("the webhook panic is not in the log (the scan proves little):\n%s", log.String())
	}
	for name, text := range map[string]string{"log": log.String(), "metrics": string(metrics), "answers": answers.String()} {
		if strings.Contains(text, plantedIngestToken) {
			t.Errorf("%s contain the planted ingest token:\n%s", name, text)
		}
	}
}
