package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/events/natstest"
)

// TestServeCommand runs `dlibot serve --http 127.0.0.1:0` in-process against
// an embedded NATS server: it stores a CloudEvent and stops on cancel.
func TestServeCommand(t *testing.T) {
	ns := natstest.Start(t)
	for _, k := range []string{"SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "LOG_LEVEL", "HTTP_ADDR", "NATS_CREDS", "DLIBOT_INGEST_TOKENS", "DLIBOT_INGEST_AUTH"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("NATS_URL", ns.URL())
	// No function named: an ingest-only replica (no DLI configuration needed).
	addr, _, stop := startServe(t, "--http", "127.0.0.1:0", "--ingest-only")
	body := `{"specversion":"1.0","id":"serve-1","source":"/test","type":"dlibot.tick","data":{"function":"jobwatch"}}`
	resp, err := http.Post("http://"+addr+"/events", "application/cloudevents+json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /events: %d", resp.StatusCode)
	}
	stop() // fails the test if serve does not stop cleanly within 35 s
}

// startServe runs `dlibot serve args…` in-process and returns the HTTP
// address, the captured stderr and a stop function.
func startServe(t *testing.T, args ...string) (string, *testsync.Buffer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut testsync.Buffer
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, args, &out, &errOut) }()
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" {
		for _, line := range strings.Split(errOut.String(), "\n") {
			var l struct {
				Msg  string `json:"msg"`
				HTTP string `json:"http"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "dlibot running" {
				addr = l.HTTP
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(35 * time.Second):
			t.Error("serve did not stop within 35s")
		}
	}
	t.Cleanup(stop)
	return addr, &errOut, stop
}

// TestServeIngestAuth: `dlibot serve` with DLIBOT_INGEST_TOKENS stores an
// event only with a token, and neither its output nor its metrics show the
// token; on all interfaces without a token it refuses to start, naming
// what to set.
func TestServeIngestAuth(t *testing.T) {
	const token = "serve-planted-ingest-token-4e9a1c"
	ns := natstest.Start(t)
	for _, k := range []string{"SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "HTTP_ADDR", "NATS_CREDS", "DLIBOT_INGEST_AUTH"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("NATS_URL", ns.URL())
	t.Setenv("LOG_LEVEL", "debug")

	// Beyond loopback without a token: no start.
	t.Setenv("DLIBOT_INGEST_TOKENS", "")
	os.Unsetenv("DLIBOT_INGEST_TOKENS")
	var out, errOut testsync.Buffer
	err := runServe(context.Background(), []string{"--http", "0.0.0.0:0", "--ingest-only"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "DLIBOT_INGEST_TOKENS") || !strings.Contains(err.Error(), "DLIBOT_INGEST_AUTH=none") {
		t.Fatalf("serve on 0.0.0.0 without a token: %v", err)
	}

	t.Setenv("DLIBOT_INGEST_TOKENS", token+",serve-previous-ingest-token-77")
	addr, errLog, stop := startServe(t, "--http", "127.0.0.1:0", "--ingest-only")
	post := func(id, auth string) int {
		body := `{"specversion":"1.0","id":"` + id + `","source":"/test","type":"dlibot.tick","data":{"function":"jobwatch"}}`
		req, _ := http.NewRequest("POST", "http://"+addr+"/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/cloudevents+json")
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
	if code := post("a1", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	if code := post("a2", "Bearer "+token+"-old"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", code)
	}
	if code := post("a3", "Bearer "+token); code != http.StatusAccepted {
		t.Errorf("token: %d, want 202", code)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	_, _ = metrics.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(metrics.String(), `dlibot_ingress_auth_refused_total{reason="invalid_token",route="POST /events"} 1`) {
		t.Errorf("no refusal counted")
	}
	stop()
	if s := errLog.String() + metrics.String(); strings.Contains(s, token) {
		t.Errorf("output or metrics show the token")
	}
}
