package chaos

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

// findSecrets returns the planted secrets that appear in out.
func findSecrets(out string) []string {
	var found []string
	for _, s := range Secrets() {
		if strings.Contains(out, s) {
			found = append(found, s)
		}
	}
	return found
}

// plantedEnv is an environment with every secret planted and no NATS.
func plantedEnv(extra ...string) []string {
	env := []string{
		"PATH=/usr/bin:/bin",
		"HTTP_ADDR=127.0.0.1:0",
		"HUAWEICLOUD_SDK_AK=" + PlantedAK,
		"HUAWEICLOUD_SDK_SK=" + PlantedSK,
		"HUAWEICLOUD_SDK_PROJECT_ID=" + PlantedProject,
		"HUAWEICLOUD_SDK_SECURITY_TOKEN=" + PlantedSecurityToken,
		"DLI_REGION=cn-north-4",
		"SLACK_BOT_TOKEN=" + PlantedSlackToken,
		"SLACK_SIGNING_SECRET=" + PlantedSigningSecret,
		"SLACK_SIGNING_SECRET_PREVIOUS=" + PlantedSigningSecret + "-prev",
		"DLIBOT_INGEST_TOKENS=" + PlantedIngestToken + "," + PlantedIngestToken2,
	}
	return append(env, extra...)
}

// TestSecretsNeverPrinted runs dlibot's commands and error paths with
// every secret planted in the environment (and planted where a user might
// mistype one into a non-secret variable) and requires that no secret
// appears in anything the process prints.
func TestSecretsNeverPrinted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the dlibot binary")
	}
	t.Parallel()
	bin := binary(t)
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	for _, tc := range []struct {
		name string
		args []string
		env  []string
	}{
		{"config check", []string{"config", "check"}, nil},
		{"config check, secret typed into a number variable", []string{"config", "check"},
			[]string{"HTTP_MAX_BODY_BYTES=" + PlantedSK}},
		{"config check, malformed Slack token", []string{"config", "check"},
			[]string{"SLACK_BOT_TOKEN=bad-" + PlantedSlackToken}},
		{"config check, credentials in NATS_URL", []string{"config", "check"},
			[]string{"NATS_URL=nats://user:" + PlantedSK + "@" + closedPort}},
		{"serve, NATS unreachable with credentials in the URL", []string{"serve", "jobwatch"},
			[]string{"NATS_URL=nats://user:" + PlantedSK + "@" + closedPort}},
		{"serve, no NATS", []string{"serve"}, nil},
		{"serve --help", []string{"serve", "--help"}, nil},
		{"emulator --help", []string{"emulator", "--help"}, nil},
		{"emulator, bad listen address", []string{"emulator", "--listen", "256.0.0.1:bad"}, nil},
		{"usage", nil, nil},
		{"unknown command", []string{"no-such-command"}, nil},
		{"slack --help", []string{"slack", "--help"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := RunOnce(bin, tc.args, plantedEnv(tc.env...), 60*time.Second)
			if found := findSecrets(out); len(found) > 0 {
				t.Errorf("dlibot %s printed planted secrets %q:\n%s", strings.Join(tc.args, " "), found, out)
			}
		})
	}
}

// TestSecretsNeverPrintedWhileServing runs `dlibot serve` with the secrets
// planted, against a DLI endpoint that refuses connections and a Slack API
// that does not exist, sends it bad requests (malformed events, forged and
// stale Slack signatures, oversized bodies), scrapes /metrics and stops it,
// then searches its output and the metrics for the secrets.
func TestSecretsNeverPrintedWhileServing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the dlibot binary")
	}
	t.Parallel()
	bin := binary(t)
	ns := natstest.Start(t)
	dead := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(dead.Close)
	env := plantedEnv("NATS_URL="+ns.URL(), "DLI_ENDPOINT="+dead.URL, "SLACK_API_URL="+dead.URL+"/api/",
		"SLACK_CHANNEL=C0SEC", "LOG_LEVEL=debug", "JOBWATCH_INTERVAL=5s", "JOBWATCH_MAX_BACKOFF=10s",
		"CHATOPS_POLICY="+mustAbs(t, "testdata/policy.yaml"))
	registered, err := Registered(bin)
	if err != nil {
		t.Fatal(err)
	}
	served, fenv := functionEnv(t, registered)
	r := newReplica(t, "sec", bin, append([]string{"serve"}, served...), append(env, fenv...))
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	base := r.URL()
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path, ctype string, body string, hdr map[string]string) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Logf("%s %s: %v", method, path, err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// A secret the client itself sent may be quoted back to it (a
		// decoder's error context); any other is a leak.
		sentByClient := body
		for _, v := range hdr {
			sentByClient += " " + v
		}
		leaked := func(text string) []string {
			var l []string
			for _, s := range findSecrets(text) {
				if !strings.Contains(sentByClient, s) {
					l = append(l, s)
				}
			}
			return l
		}
		if found := leaked(string(b)); len(found) > 0 {
			t.Errorf("%s %s answered with planted secrets %q: %s", method, path, found, b)
		}
		for k, vs := range resp.Header {
			if found := leaked(strings.Join(vs, " ")); len(found) > 0 {
				t.Errorf("%s %s: header %s carries planted secrets", method, path, k)
			}
		}
	}
	do("POST", "/events", "application/cloudevents+json", `{"specversion":"1.0","id":"`+PlantedSK+`"`, nil)
	do("POST", "/events", "application/json", `not json`, map[string]string{"Authorization": "Bearer " + PlantedSlackToken})
	do("POST", "/events", "application/cloudevents+json", strings.Repeat("x", 2<<20), nil)
	form := url.Values{"command": {"/dli"}, "text": {"queues"}, "user_id": {"U0CHAOSADMIN"}, "channel_id": {"C0SEC"},
		"team_id": {"T0"}, "response_url": {"http://127.0.0.1:9/not-a-slack-host"}, "trigger_id": {"1.2.3"}}.Encode()
	do("POST", "/slack/commands", "application/x-www-form-urlencoded", form, map[string]string{
		"X-Slack-Request-Timestamp": fmt.Sprint(time.Now().Unix()), "X-Slack-Signature": "v0=" + strings.Repeat("0", 64)})
	stale := time.Now().Add(-time.Hour)
	h := http.Header{}
	slacksig.SetHeaders(h, PlantedSigningSecret, stale, []byte(form))
	do("POST", "/slack/commands", "application/x-www-form-urlencoded", form, map[string]string{
		"X-Slack-Request-Timestamp": h.Get("X-Slack-Request-Timestamp"), "X-Slack-Signature": h.Get("X-Slack-Signature")})
	h = http.Header{}
	slacksig.SetHeaders(h, PlantedSigningSecret, time.Now(), []byte(form))
	do("POST", "/slack/commands", "application/x-www-form-urlencoded", form, map[string]string{
		"X-Slack-Request-Timestamp": h.Get("X-Slack-Request-Timestamp"), "X-Slack-Signature": h.Get("X-Slack-Signature")})
	do("POST", "/slack/interactions", "application/x-www-form-urlencoded", "payload=%7B%22type%22%3A1%7D", nil)
	do("POST", "/webhooks/obs", "application/json", `{"Records":[{"s3":{}}]}`, nil)
	// The ingest routes with the planted tokens: accepted ones reach the
	// decoders (malformed bodies), refused ones are answered 401; the
	// token must not come back in an answer, the log or /metrics.
	bearer := map[string]string{"Authorization": "Bearer " + PlantedIngestToken}
	do("POST", "/events", "application/cloudevents+json", `{"specversion":"1.0","id":`, bearer)
	do("POST", "/events", "application/json", `not json`, map[string]string{"Authorization": "Bearer " + PlantedIngestToken2})
	do("POST", "/events", "application/json", `{}`, map[string]string{"Authorization": "Bearer " + PlantedIngestToken + "x"})
	do("POST", "/webhooks/obs", "application/json", `{"Records":[{"s3":{}}]}`, bearer)
	do("POST", "/webhooks/obs?access_token="+PlantedIngestToken, "application/json", `{"Records":[`, nil)
	do("POST", "/webhooks/obs?access_token="+PlantedIngestToken2+"-wrong", "application/json", `{}`, nil)
	do("POST", "/events?access_token="+PlantedIngestToken, "application/json", `{}`, nil)

	// Let DLI and Slack calls fail for a while (jobwatch polls every 5 s).
	if err := Eventually(30*time.Second, func() error {
		if !strings.Contains(r.Output(), `"level":"WARN"`) && !strings.Contains(r.Output(), `"level":"ERROR"`) {
			return fmt.Errorf("no warning or error logged yet")
		}
		return nil
	}); err != nil {
		t.Logf("%v (the scan still runs)", err)
	}
	code, metrics, err := Get(base, "/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	if found := findSecrets(metrics); len(found) > 0 {
		t.Errorf("/metrics shows planted secrets %q", found)
	}
	graceful, _ := r.Stop(35 * time.Second)
	out := r.Output()
	if found := findSecrets(out); len(found) > 0 {
		for _, l := range scanLines(out) {
			if len(findSecrets(l)) > 0 {
				t.Errorf("log line with a planted secret: %s", l)
			}
		}
	}
	if !graceful {
		t.Errorf("serve did not stop gracefully on SIGTERM")
	}
	if n := len(scanLines(out)); n < 5 {
		t.Errorf("only %d output lines captured: the scan proves little", n)
	}
}

func mustAbs(t testing.TB, p string) string {
	t.Helper()
	abs, err := absPath(p)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// httpHardening checks a running replica's HTTP server: timeouts, size
// limits, method checks, no directory listing, request ids. It returns the
// row's detail.
func httpHardening(t *testing.T, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	client := &http.Client{Timeout: 10 * time.Second}
	var checks []string
	check := func(name string, ok bool, format string, args ...any) {
		if !ok {
			t.Errorf("%s: "+format, append([]any{name}, args...)...)
			return
		}
		checks = append(checks, name)
	}
	req := func(method, path string, body io.Reader, hdr http.Header) (*http.Response, string) {
		r, _ := http.NewRequest(method, base+path, body)
		for k, v := range hdr {
			r.Header[k] = v
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return &http.Response{Header: http.Header{}}, ""
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	// Slowloris: headers never finished → the server hangs up after
	// ReadHeaderTimeout (5 s).
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fmt.Fprintf(conn, "POST /events HTTP/1.1\r\nHost: %s\r\nX-Slow: ", u.Host)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, rerr := io.ReadAll(bufio.NewReader(conn))
	held := time.Since(start)
	conn.Close()
	check("read-header timeout", rerr == nil && held < 15*time.Second, "unfinished headers held the connection %s (err %v), want closed within ~5 s", held.Round(time.Second), rerr)

	// Slow body: headers done, body trickles → cut by ReadTimeout (30 s) in
	// the long form only.
	if full() {
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		fmt.Fprintf(conn, "POST /events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", u.Host)
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		b, _ := io.ReadAll(bufio.NewReader(conn))
		held := time.Since(start)
		conn.Close()
		check("read timeout", held < 45*time.Second, "a body that never finishes held the connection %s (answer %q), want cut near 30 s", held.Round(time.Second), firstLine(string(b)))
	}

	big := http.Header{"X-Big": {strings.Repeat("a", 80<<10)}}
	resp, _ := req("GET", "/healthz", nil, big)
	check("header limit", resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge, "80 KiB of headers answered %d, want 431", resp.StatusCode)

	resp, _ = req("POST", "/events", strings.NewReader(strings.Repeat("x", 1<<20+1)), http.Header{"Content-Type": {"application/cloudevents+json"}})
	check("body limit", resp.StatusCode == http.StatusRequestEntityTooLarge, "1 MiB + 1 body answered %d, want 413", resp.StatusCode)
	resp, _ = req("POST", "/events", io.MultiReader(strings.NewReader(strings.Repeat("x", 2<<20))), http.Header{"Content-Type": {"application/cloudevents+json"}})
	check("chunked body limit", resp.StatusCode == http.StatusRequestEntityTooLarge, "2 MiB chunked body answered %d, want 413", resp.StatusCode)

	resp, _ = req("GET", "/events", nil, nil)
	check("method check /events", resp.StatusCode == http.StatusMethodNotAllowed && strings.Contains(resp.Header.Get("Allow"), "POST"),
		"GET /events answered %d Allow=%q, want 405 with Allow: POST", resp.StatusCode, resp.Header.Get("Allow"))
	resp, _ = req("DELETE", "/metrics", nil, nil)
	check("method check /metrics", resp.StatusCode == http.StatusMethodNotAllowed, "DELETE /metrics answered %d, want 405", resp.StatusCode)
	resp, _ = req("PUT", "/slack/commands", nil, nil)
	check("method check /slack/commands", resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotFound, "PUT /slack/commands answered %d", resp.StatusCode)

	for _, p := range []string{"/", "/docs/", "/static/", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/.git/config"} {
		resp, body := req("GET", p, nil, nil)
		listing := strings.Contains(body, "<pre>") || strings.Contains(strings.ToLower(body), "index of") || strings.Contains(body, "root:")
		check("no listing "+p, resp.StatusCode == http.StatusNotFound && !listing, "GET %s answered %d %q, want 404 and no listing", p, resp.StatusCode, firstLine(body))
	}

	resp, _ = req("GET", "/healthz", nil, http.Header{"X-Request-Id": {"chaos-req-42"}})
	check("request id echoed", resp.Header.Get("X-Request-Id") == "chaos-req-42", "X-Request-Id answered %q, want chaos-req-42", resp.Header.Get("X-Request-Id"))
	resp, _ = req("GET", "/healthz", nil, nil)
	check("request id generated", resp.Header.Get("X-Request-Id") != "", "no X-Request-Id on a request without one")
	resp, _ = req("GET", "/healthz", nil, http.Header{"X-Request-Id": {"bad id\twith spaces"}})
	check("bad request id replaced", resp.Header.Get("X-Request-Id") != "" && !strings.Contains(resp.Header.Get("X-Request-Id"), " "), "X-Request-Id %q", resp.Header.Get("X-Request-Id"))

	resp, _ = req("POST", "/slack/commands", strings.NewReader("command=%2Fdli&text=help"), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	check("unsigned Slack request refused", resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusNotFound, "answered %d, want 401", resp.StatusCode)
	return strings.Join(checks, ", ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// responseURLRestricted sends a correctly signed /dli command whose
// response_url points at a local canary server (not a Slack host) and
// requires that dlibot never calls it.
func responseURLRestricted(t *testing.T, c *Cluster) string {
	t.Helper()
	var hits atomic.Int64
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer canary.Close()
	before := len(c.Emulator.Requests())
	var sent []string
	for i, target := range []string{canary.URL + "/hook", strings.Replace(canary.URL, "127.0.0.1", "localhost", 1) + "/hook",
		"https://hooks.slack.com.evil.example/x", "https://hooks.slack.com@" + strings.TrimPrefix(canary.URL, "http://") + "/x"} {
		form := url.Values{"command": {"/dli"}, "text": {"queues"}, "user_id": {"U0CHAOSADMIN"}, "user_name": {"chaos"},
			"channel_id": {SlackChannel}, "team_id": {"T0CHAOS"}, "response_url": {target},
			"trigger_id": {fmt.Sprintf("chaos.%d", i)}}.Encode()
		h := http.Header{}
		slacksig.SetHeaders(h, PlantedSigningSecret, time.Now(), []byte(form))
		req, _ := http.NewRequestWithContext(context.Background(), "POST", c.Live()[0]+"/slack/commands", strings.NewReader(form))
		req.Header = h
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("POST /slack/commands: %v", err)
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sent = append(sent, fmt.Sprintf("%d", resp.StatusCode))
	}
	// The commands ran (they read queues from DLI); give any follow-up
	// through the response_url time to arrive.
	_ = Eventually(10*time.Second, func() error {
		if len(c.Emulator.Requests()) == before {
			return fmt.Errorf("no DLI call yet")
		}
		return nil
	})
	time.Sleep(3 * time.Second) // a window for a forbidden follow-up POST to show up
	if n := hits.Load(); n > 0 {
		t.Errorf("dlibot POSTed %d time(s) to a response_url outside Slack's hosts", n)
	}
	return fmt.Sprintf("4 signed /dli commands with response_url on 127.0.0.1, localhost, hooks.slack.com.evil.example, hooks.slack.com@127.0.0.1 (answers %s): canary hit %d times", strings.Join(sent, ","), hits.Load())
}

func absPath(p string) (string, error) { return filepath.Abs(p) }
