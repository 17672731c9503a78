package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

// The token never shows in logs (debug level included), error messages, or Config printing, across
// successes, 429s, 5xx, auth failures, network failures and uploads.
func TestTokenNeverLoggedOrEchoed(t *testing.T) {
	const token = "xoxb-1234567890-0987654321-S3cr3tT0k3nV4lu3"
	srv := slacktest.Start(t, slacktest.WithToken(token))
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := newFakeClock()
	cfg := notify.Config{Token: token, APIURL: srv.URL(), Channel: alerts}
	n, err := notify.NewSlack(cfg, notify.WithLogger(logger), notify.WithClock(clock), notify.WithMaxRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var texts []string
	record := func(err error) {
		if err != nil {
			texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	_, err = n.Post(ctx, notify.Message{Text: "ok"})
	record(err)
	srv.Fail("chat.postMessage", 2, slacktest.RateLimited(time.Second)) // 1 try + 1 retry
	_, err = n.Post(ctx, notify.Message{Text: "limited"})
	record(err)
	srv.Fail("chat.postMessage", 1, slacktest.HTTPError(http.StatusBadGateway))
	_, err = n.Post(ctx, notify.Message{Text: "502"})
	record(err)
	srv.Fail("", 1, slacktest.SlackError("invalid_auth"))
	_, err = n.Post(ctx, notify.Message{Text: "auth"})
	record(err)
	_, err = n.Upload(ctx, notify.File{Name: "x.txt", Content: []byte("x")})
	record(err)

	// A wrong token the fake rejects, and an unreachable server.
	wrong, _ := notify.NewSlack(notify.Config{Token: token + "-old", APIURL: srv.URL(), Channel: alerts}, notify.WithLogger(logger))
	_, err = wrong.Post(ctx, notify.Message{Text: "x"})
	record(err)
	down := slacktest.New()
	downURL := down.URL()
	down.Close()
	dead, _ := notify.NewSlack(notify.Config{Token: token, APIURL: downURL, Channel: alerts}, notify.WithLogger(logger))
	_, err = dead.Post(ctx, notify.Message{Text: "x"})
	record(err)

	logger.Info("config", "cfg", cfg)
	js, _ := json.Marshal(cfg.LogValue().Resolve().Group())
	texts = append(texts, cfg.String(), fmt.Sprintf("%v %+v %s", cfg, cfg, cfg), string(js))

	if len(texts) < 10 || logs.Len() == 0 {
		t.Fatalf("the scenario produced too little to check (%d errors, %d log bytes)", len(texts), logs.Len())
	}
	for _, s := range append(texts, logs.String()) {
		if strings.Contains(s, "S3cr3tT0k3n") {
			t.Fatalf("token leaked in: %s", s)
		}
	}
	if !strings.Contains(logs.String(), "rate limit") {
		t.Fatalf("expected rate-limit log lines, got:\n%s", logs.String())
	}
}

func TestRef(t *testing.T) {
	for _, tc := range []struct {
		ref  notify.Ref
		str  string
		json string
	}{
		{notify.Ref{Channel: "C1", TS: "1700000000.000100"}, "C1/1700000000.000100", `{"channel":"C1","ts":"1700000000.000100"}`},
		{notify.Ref{Channel: "C1", TS: "2.0", ThreadTS: "1.0"}, "C1/1.0/2.0", `{"channel":"C1","ts":"2.0","thread_ts":"1.0"}`},
	} {
		if got := tc.ref.String(); got != tc.str {
			t.Errorf("String = %q, want %q", got, tc.str)
		}
		back, err := notify.ParseRef(tc.str)
		if err != nil || back != tc.ref {
			t.Errorf("ParseRef(%q) = %+v, %v", tc.str, back, err)
		}
		js, _ := json.Marshal(tc.ref)
		if string(js) != tc.json {
			t.Errorf("JSON %s, want %s", js, tc.json)
		}
		var dec notify.Ref
		if err := json.Unmarshal(js, &dec); err != nil || dec != tc.ref {
			t.Errorf("JSON round trip %+v", dec)
		}
	}
	for _, bad := range []string{"", "C1", "C1/", "/1.0", "a/b/c/d", "C1//2.0"} {
		if _, err := notify.ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) succeeded", bad)
		}
	}
	reply := notify.Ref{Channel: "C1", TS: "2.0", ThreadTS: "1.0"}
	if got := reply.Root(); got != (notify.Ref{Channel: "C1", TS: "1.0"}) {
		t.Errorf("Root = %+v", got)
	}
	if !(notify.Ref{}).IsZero() || reply.IsZero() {
		t.Error("IsZero")
	}
}
