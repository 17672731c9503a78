package dli

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

func submitPath(srv *dlitest.Server) string {
	return "/v1.0/" + srv.Options().ProjectID + "/jobs/submit-job"
}

func queuePath(srv *dlitest.Server, q string) string {
	return "/v1.0/" + srv.Options().ProjectID + "/queues/" + q
}

func addFault(t *testing.T, srv *dlitest.Server, f dlitest.Fault) {
	t.Helper()
	if err := srv.AddFault(f); err != nil {
		t.Fatal(err)
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		op     func(context.Context, *Client) error
		method string
		path   func(*dlitest.Server) string
	}{
		{"429 GetQueue", 429, func(ctx context.Context, c *Client) error { _, err := c.GetQueue(ctx, "etl"); return err },
			"GET", func(s *dlitest.Server) string { return queuePath(s, "etl") }},
		{"503 GetQueue", 503, func(ctx context.Context, c *Client) error { _, err := c.GetQueue(ctx, "etl"); return err },
			"GET", func(s *dlitest.Server) string { return queuePath(s, "etl") }},
		// 429 means DLI refused the request: even a submit is retried.
		{"429 SubmitSQL", 429, func(ctx context.Context, c *Client) error {
			_, err := c.SubmitSQL(ctx, SQLRequest{SQL: "select 1"})
			return err
		}, "POST", submitPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			addQueue(t, srv, "etl", "sql", 16)
			obs := &observed{}
			c, sl := newClient(t, srv, WithObserver(obs.observe))
			addFault(t, srv, dlitest.Fault{Status: tc.status, RetryAfterS: 3, Count: 2})
			if err := tc.op(context.Background(), c); err != nil {
				t.Fatalf("after two %d answers: %v", tc.status, err)
			}
			if w := sl.Waits(); !slices.Equal(w, []time.Duration{3 * time.Second, 3 * time.Second}) {
				t.Errorf("waits %v, want Retry-After twice (3s, 3s)", w)
			}
			if n := countRequests(srv, tc.method, tc.path(srv)); n != 3 {
				t.Errorf("%d requests, want 3", n)
			}
			if len(obs.reports) != 1 || !strings.HasSuffix(obs.reports[0], " "+OutcomeRecovered) {
				t.Errorf("observer reports %v, want one %s", obs.reports, OutcomeRecovered)
			}
		})
	}
}

func TestRetryBoundedAttempts(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 16)
	cfg := testConfig(srv)
	cfg.MaxAttempts = 3
	c, sl := newClientCfg(t, cfg)
	addFault(t, srv, dlitest.Fault{Status: 503}) // until cleared
	_, err := c.GetQueue(context.Background(), "etl")
	e := wantErr(t, err, nil, 503)
	if e.Attempts != 3 || !Retryable(err) {
		t.Errorf("error %v: attempts %d retryable %v, want 3 and true", err, e.Attempts, Retryable(err))
	}
	if n := countRequests(srv, "GET", queuePath(srv, "etl")); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	// No Retry-After: full jitter within the exponential cap.
	w := sl.Waits()
	if len(w) != 2 {
		t.Fatalf("waits %v, want 2", w)
	}
	for i, d := range w {
		if ceil := 200 * time.Millisecond << i; d < 0 || d > ceil {
			t.Errorf("wait %d = %v, want within [0, %v]", i, d, ceil)
		}
	}
}

func TestJitterCapped(t *testing.T) {
	for _, b := range []Backoff{{Base: time.Second, Max: 4 * time.Second}, {Base: time.Hour, Max: 2 * time.Hour}} {
		c := &Client{backoff: b}
		for attempt := 1; attempt < 70; attempt++ {
			ceil := min(b.Max, b.Base<<min(attempt-1, 10))
			if d := c.jitter(attempt); d < 0 || d > ceil {
				t.Fatalf("%+v: jitter(%d) = %v, want within [0, %v]", b, attempt, d, ceil)
			}
		}
	}
}

func TestNoRetryOf5xxForNonIdempotent(t *testing.T) {
	srv := newServer(t)
	c, sl := newClient(t, srv)
	addFault(t, srv, dlitest.Fault{Method: "POST", Status: 503, RetryAfterS: 1, Count: 1})
	_, err := c.SubmitSQL(context.Background(), SQLRequest{SQL: "select 1"})
	e := wantErr(t, err, nil, 503)
	if !e.Ambiguous || Retryable(err) {
		t.Errorf("a 503 on submit: ambiguous %v retryable %v, want true and false", e.Ambiguous, Retryable(err))
	}
	if n := countRequests(srv, "POST", submitPath(srv)); n != 1 || len(sl.Waits()) != 0 {
		t.Errorf("%d submits, waits %v; want exactly one submit", n, sl.Waits())
	}
}

// TestNoSecondSubmitAfterAmbiguousFailure: a submit whose answer never
// comes (timeout after the request was written, connection reset) is not
// sent again — DLI may already run the job.
func TestNoSecondSubmitAfterAmbiguousFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault dlitest.Fault
	}{
		{"timeout", dlitest.Fault{Method: "POST", LatencyMS: 5000, Count: 1}},
		{"reset", dlitest.Fault{Method: "POST", Reset: true, Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			cfg := testConfig(srv)
			cfg.Timeout = 200 * time.Millisecond
			obs := &observed{}
			c, sl := newClientCfg(t, cfg, WithObserver(obs.observe))
			addFault(t, srv, tc.fault)
			_, err := c.SubmitSQL(context.Background(), SQLRequest{SQL: "select 1"})
			e := wantErr(t, err, nil, 0)
			if !e.Ambiguous || Retryable(err) {
				t.Errorf("error %v: ambiguous %v retryable %v, want true and false", err, e.Ambiguous, Retryable(err))
			}
			if n := countRequests(srv, "POST", submitPath(srv)); n != 1 {
				t.Errorf("the emulator received %d submits, want exactly 1", n)
			}
			if len(sl.Waits()) != 0 {
				t.Errorf("waits %v: the submit was retried", sl.Waits())
			}
			if got := obs.last(); got != "SubmitSQL "+OutcomeNetwork {
				t.Errorf("observer: %q, want SubmitSQL network", got)
			}
		})
	}
}

// TestIdempotentRetryAfterAmbiguousFailure: a read is simply retried.
func TestIdempotentRetryAfterAmbiguousFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault dlitest.Fault
	}{
		{"timeout", dlitest.Fault{Method: "GET", LatencyMS: 5000, Count: 1}},
		{"reset", dlitest.Fault{Method: "GET", Reset: true, Count: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t)
			addQueue(t, srv, "etl", "sql", 16)
			cfg := testConfig(srv)
			cfg.Timeout = 200 * time.Millisecond
			c, sl := newClientCfg(t, cfg)
			addFault(t, srv, tc.fault)
			q, err := c.GetQueue(context.Background(), "etl")
			if err != nil || q.Name != "etl" {
				t.Fatalf("GetQueue = %+v, %v; want a retry to succeed", q, err)
			}
			if len(sl.Waits()) != 1 {
				t.Errorf("waits %v, want one retry", sl.Waits())
			}
		})
	}
}

// refusingTransport fails its first dial with "connection refused" (a
// closed listener), then dials the real address.
func refusingTransport(t *testing.T) (*http.Transport, *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	var dials atomic.Int32
	var d net.Dialer
	return &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			return d.DialContext(ctx, network, dead)
		}
		return d.DialContext(ctx, network, addr)
	}}, &dials
}

func TestRetryAfterConnectionRefused(t *testing.T) {
	srv := newServer(t)
	tr, dials := refusingTransport(t)
	c, sl := newClient(t, srv, WithHTTPTransport(tr))
	sub, err := c.SubmitSQL(context.Background(), SQLRequest{SQL: "select 1"})
	if err != nil {
		t.Fatalf("SubmitSQL after a refused connection: %v", err)
	}
	if sub.JobID == "" || dials.Load() != 2 || len(sl.Waits()) != 1 {
		t.Errorf("job %q, %d dials, waits %v; want a job after 2 dials and one wait", sub.JobID, dials.Load(), sl.Waits())
	}
	if n := countRequests(srv, "POST", submitPath(srv)); n != 1 {
		t.Errorf("%d submits reached the emulator, want 1", n)
	}

	// With one attempt only, the refusal is the answer: retryable, not
	// ambiguous, network outcome.
	tr, _ = refusingTransport(t)
	cfg := testConfig(srv)
	cfg.MaxAttempts = 1
	obs := &observed{}
	c, _ = newClientCfg(t, cfg, WithHTTPTransport(tr), WithObserver(obs.observe))
	_, err = c.SubmitSQL(context.Background(), SQLRequest{SQL: "select 1"})
	e := wantErr(t, err, nil, 0)
	if e.Ambiguous || !Retryable(err) || obs.last() != "SubmitSQL network" {
		t.Errorf("refused: %v ambiguous %v retryable %v observer %q", err, e.Ambiguous, Retryable(err), obs.last())
	}
}

// waitForRequest polls the emulator's log until a request to path has
// arrived, failing after a deadline.
func waitForRequest(t *testing.T, srv *dlitest.Server, method, path string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for countRequests(srv, method, path) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no %s %s within 5s", method, path)
		}
		<-tick.C
	}
}

func TestCancelReturnsPromptly(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 16)
	obs := &observed{}
	c, _ := newClient(t, srv, WithObserver(obs.observe))
	addFault(t, srv, dlitest.Fault{Method: "GET", LatencyMS: 20000})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		waitForRequest(t, srv, "GET", queuePath(srv, "etl"))
		cancel()
	}()
	start := time.Now()
	_, err := c.GetQueue(ctx, "etl")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("cancelled call took %v, want well under the 20s latency", took)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if Retryable(err) || obs.last() != "GetQueue canceled" {
		t.Errorf("retryable %v, observer %q; want false and canceled", Retryable(err), obs.last())
	}
}

func TestCallerDeadline(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 16)
	obs := &observed{}
	c, _ := newClient(t, srv, WithObserver(obs.observe))
	addFault(t, srv, dlitest.Fault{Method: "GET", LatencyMS: 20000})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetQueue(ctx, "etl")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("call past its deadline took %v", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || Retryable(err) || obs.last() != "GetQueue timeout" {
		t.Errorf("error %v (retryable %v, observer %q), want DeadlineExceeded, not retryable, timeout", err, Retryable(err), obs.last())
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waits []time.Duration
	c, err := New(testConfig(srv), WithSleep(func(sctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		cancel()                 // the caller gives up while the client waits …
		return sleepCtx(sctx, d) // … and the real sleep returns at once
	}))
	if err != nil {
		t.Fatal(err)
	}
	addFault(t, srv, dlitest.Fault{Status: 503, RetryAfterS: 20})
	start := time.Now()
	_, err = c.GetQueue(ctx, "etl")
	if time.Since(start) > 3*time.Second || !errors.Is(err, context.Canceled) || len(waits) != 1 {
		t.Errorf("error %v after %v with waits %v; want a prompt context.Canceled after one wait", err, time.Since(start), waits)
	}
}

func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Errorf("sleepCtx(cancelled, 1h) = %v after %v", err, time.Since(start))
	}
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleepCtx(1ms) = %v", err)
	}
}

// TestLongRetryAfterIsLeftToTheCaller: a Retry-After beyond MaxRetryAfter,
// or beyond the caller's deadline, ends the call at once with the wait in
// the error.
func TestLongRetryAfterIsLeftToTheCaller(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 16)
	c, sl := newClient(t, srv, WithBackoff(Backoff{MaxRetryAfter: 10 * time.Second}))
	addFault(t, srv, dlitest.Fault{Status: 429, RetryAfterS: 60, Count: 1})
	_, err := c.GetQueue(context.Background(), "etl")
	e := wantErr(t, err, ErrThrottled, 429)
	if e.RetryAfter != time.Minute || !Retryable(err) || len(sl.Waits()) != 0 {
		t.Errorf("RetryAfter %v retryable %v waits %v; want 1m, true, none", e.RetryAfter, Retryable(err), sl.Waits())
	}

	addFault(t, srv, dlitest.Fault{Status: 429, RetryAfterS: 5, Count: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.GetQueue(ctx, "etl")
	wantErr(t, err, ErrThrottled, 429)
	if len(sl.Waits()) != 0 {
		t.Errorf("waited %v beyond the caller's deadline", sl.Waits())
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"7":                             7 * time.Second,
		" 120 ":                         2 * time.Minute,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"Thu, 26 Nov 2026 12:00:30 GMT": 30 * time.Second,
		"Thu, 26 Nov 2026 11:59:00 GMT": 0,
		"99999999999999999999":          0, // overflows int64: unparsable
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRateLimit(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 16)
	cfg := testConfig(srv)
	cfg.QPS = 2 // burst 2
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	c, sl := newClientCfg(t, cfg, WithClock(func() time.Time { return now }))
	for range 4 {
		if _, err := c.GetQueue(context.Background(), "etl"); err != nil {
			t.Fatal(err)
		}
	}
	// The clock stands still: two calls use the burst, the next ones wait
	// for tokens at 2 per second.
	if w := sl.Waits(); !slices.Equal(w, []time.Duration{500 * time.Millisecond, time.Second}) {
		t.Errorf("rate limiter waits %v, want [500ms 1s]", w)
	}
}

// recordingTransport records the hosts requests go to.
type recordingTransport struct {
	base  http.RoundTripper
	mu    sync.Mutex
	hosts map[string]int
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.hosts[req.URL.Host]++
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

// TestOnlyTheEndpointIsContacted: the SDK never asks IAM for a project id
// (nor anything else) — every request goes to the DLI endpoint.
func TestOnlyTheEndpointIsContacted(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 16)
	rec := &recordingTransport{base: newTransport(), hosts: map[string]int{}}
	c, _ := newClient(t, srv, WithHTTPTransport(rec))
	for _, op := range allOps() {
		_ = op.call(context.Background(), c)
	}
	u, _ := url.Parse(srv.URL)
	if len(rec.hosts) != 1 || rec.hosts[u.Host] != len(allOps()) {
		t.Errorf("hosts contacted: %v, want only %s, once per operation", rec.hosts, u.Host)
	}
}

// TestRedirectIsAnError: a 3xx answer (a proxy or a wrong endpoint) is not
// decoded as an empty success.
func TestRedirectIsAnError(t *testing.T) {
	for _, body := range []string{"", `{}`} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if body == "" {
				http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound) // an HTML body
				return
			}
			w.Header().Set("Location", "https://elsewhere.example/")
			w.WriteHeader(http.StatusFound)
			_, _ = w.Write([]byte(body))
		}))
		c, sl := newClientCfg(t, Config{AK: testAK, SK: testSK, ProjectID: "p", Endpoint: ts.URL})
		_, err := c.ListQueues(context.Background(), "")
		e := wantErr(t, err, nil, http.StatusFound)
		if Retryable(err) || len(sl.Waits()) != 0 || !strings.Contains(e.Error(), "DLI_ENDPOINT") {
			t.Errorf("redirect with body %q: %v (retryable %v, waits %v)", body, err, Retryable(err), sl.Waits())
		}
		ts.Close()
	}
}

// TestRetryLogsWithoutSecrets: retries are logged at debug level, and the
// log never carries a credential.
func TestRetryLogsWithoutSecrets(t *testing.T) {
	srv := dlitest.NewServer(t, dlitest.Options{Start: testStart, AK: testAK, SK: testSK, SecurityToken: testToken})
	addQueue(t, srv, "etl", "sql", 16)
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, _ := newClient(t, srv, WithLogger(logger))
	addFault(t, srv, dlitest.Fault{Status: 503, ErrorMsg: "busy: " + testAK, Count: 1})
	if _, err := c.GetQueue(context.Background(), "etl"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "dli: retrying") || !strings.Contains(out, `"op":"GetQueue"`) {
		t.Errorf("log %q: want a retry line for GetQueue", out)
	}
	for _, s := range []string{testAK, testSK, testToken} {
		if strings.Contains(out, s) {
			t.Errorf("log %q contains a credential", out)
		}
	}
}

type lockedWriter struct {
	w  *strings.Builder
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// losingTransport forwards the first request matching method, then drops
// DLI's answer (the request took effect, the client never learns it).
type losingTransport struct {
	base   http.RoundTripper
	method string
	lost   atomic.Bool
}

func (l *losingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.base.RoundTrip(req)
	if err == nil && req.Method == l.method && l.lost.CompareAndSwap(false, true) {
		resp.Body.Close()
		return nil, io.ErrUnexpectedEOF
	}
	return resp, err
}

// TestDeleteWhoseAnswerWasLost: a delete retried after its answer was lost
// finds the plan gone, which is the success it was after.
func TestDeleteWhoseAnswerWasLost(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 16)
	c, _ := newClient(t, srv)
	ctx := context.Background()
	if err := c.CreatePlan(ctx, "etl", PlanSpec{Name: "p1", TargetCU: 32, StartHour: 3}); err != nil {
		t.Fatal(err)
	}
	plans, err := c.ListPlans(ctx, "etl")
	if err != nil || len(plans) != 1 {
		t.Fatalf("ListPlans = %v, %v", plans, err)
	}
	lossy, sl := newClient(t, srv, WithHTTPTransport(&losingTransport{base: newTransport(), method: "DELETE"}))
	if err := lossy.DeletePlan(ctx, "etl", plans[0].ID); err != nil {
		t.Fatalf("DeletePlan with a lost answer: %v", err)
	}
	if len(sl.Waits()) != 1 {
		t.Errorf("waits %v, want one retry", sl.Waits())
	}
	// Without an ambiguous attempt before it, not found stays an error.
	wantErr(t, c.DeletePlan(ctx, "etl", plans[0].ID), ErrNotFound, 0)
}
