package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/events/natstest"
)

// TestServeCommand runs `dlibot serve --http 127.0.0.1:0` in-process against
// an embedded NATS server: it stores a CloudEvent and stops on cancel.
func TestServeCommand(t *testing.T) {
	ns := natstest.Start(t)
	for _, k := range []string{"SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "LOG_LEVEL", "HTTP_ADDR", "NATS_CREDS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("NATS_URL", ns.URL())
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	done := make(chan error, 1)
	// No function named: an ingest-only replica (no DLI configuration needed).
	go func() { done <- runServe(ctx, []string{"--http", "127.0.0.1:0", "--ingest-only"}, &out, &errOut) }()
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
	body := `{"specversion":"1.0","id":"serve-1","source":"/test","type":"dlibot.tick","data":{"function":"jobwatch"}}`
	resp, err := http.Post("http://"+addr+"/events", "application/cloudevents+json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /events: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(35 * time.Second):
		t.Fatal("serve did not stop within 35s")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
