package chatops

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/host"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

// TestLambdaHostDeferredAnswer runs chatops under the real Lambda host: a
// slash command slower than the ack budget arrives as an API Gateway
// event, is stored before "working…", the environment stops (Close: its
// goroutine never finishes), and an EventBridge tick in another
// environment posts the answer once.
func TestLambdaHostDeferredAnswer(t *testing.T) {
	emu := dlitest.NewServer(t, dlitest.Options{Seed: "demo", Start: testStart})
	eo := emu.Options()
	ns := natstest.Start(t)
	sl := slacktest.Start(t)
	t.Setenv("CHATOPS_POLICY", "testdata/policy.yaml")
	t.Setenv("CHATOPS_ACK_BUDGET", "100ms")
	t.Setenv("CHATOPS_READ_CACHE_TTL", "0s")
	t.Setenv("CHATOPS_RESPONSE_URL_HOSTS", "127.0.0.1")
	t.Setenv("CHATOPS_RESPONSE_URL_ALLOW_HTTP", "true")
	cfg, err := host.LoadConfigFrom(context.Background(), mapLookuper{"SLACK_SIGNING_SECRET": testSecret, "DLIBOT_EMF": "false"})
	if err != nil {
		t.Fatal(err)
	}
	lambda := func() *host.Lambda {
		t.Helper()
		nc, _ := ns.Connect()
		reg := &host.Registry{}
		reg.Register(Registration())
		l, err := host.NewLambda(context.Background(), host.LambdaOptions{Config: cfg, Handler: "chatops", Registry: reg,
			DLI:    &dli.Config{AK: eo.AK, SK: eo.SK, ProjectID: eo.ProjectID, Endpoint: emu.URL, Timeout: 10 * time.Second, MaxAttempts: 1},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NATS: nc, Console: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return l
	}
	first := lambda()
	if err := emu.AddFault(dlitest.Fault{Method: http.MethodGet, PathRegex: `/queues$`, LatencyMS: 5000, Count: 1}); err != nil {
		t.Fatal(err)
	}
	body := url.Values{"team_id": {"T0TEST"}, "channel_id": {chanTeam}, "user_id": {uViewer}, "user_name": {"viewer"},
		"command": {"/dli"}, "text": {"queues"}, "response_url": {sl.ResponseURL("cmd")}, "trigger_id": {"trig.host"}}.Encode()
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	signedHeaders(h, body)
	ev := awsevents.APIGatewayV2HTTPRequest{RawPath: "/slack/commands", Body: body, Headers: map[string]string{}}
	ev.RequestContext.HTTP.Method = http.MethodPost
	for k := range h {
		ev.Headers[strings.ToLower(k)] = h.Get(k)
	}
	resp := first.ServeAPIGateway(context.Background(), ev)
	var m message
	if err := json.Unmarshal([]byte(resp.Body), &m); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if !strings.HasPrefix(m.Text, "⏳ working on it…") || !strings.Contains(m.Text, "saved") {
		t.Fatalf("answer %q", m.Text)
	}
	first.Close() // frozen for good: its background work never finishes

	// the lease runs in wall-clock time here: end it in the record
	_, js := ns.Connect()
	kv, err := js.KeyValue(context.Background(), Bucket)
	if err != nil {
		t.Fatal(err)
	}
	expireLeases(t, kv)
	if len(sl.Responses("cmd")) != 0 {
		t.Fatal("answered by the frozen environment")
	}
	second := lambda()
	tick, _ := json.Marshal(map[string]any{"source": "aws.events", "detail-type": "Scheduled Event", "id": "t1",
		"time": time.Now().UTC().Format(time.RFC3339), "detail": map[string]any{}})
	if _, err := second.Invoke(context.Background(), tick); err != nil {
		t.Fatal(err)
	}
	rs := sl.WaitResponses("cmd", 1, 5*time.Second)
	if len(rs) != 1 || !strings.Contains(rs[0].Text, "4 queues") || !rs[0].ReplaceOriginal {
		t.Fatalf("responses %+v", rs)
	}
	if n := len(sl.Responses("cmd")); n != 1 {
		t.Errorf("%d answers", n)
	}
}

func signedHeaders(h http.Header, body string) {
	r := signedReq("/slack/commands", body, testSecret, time.Now())
	for k, v := range r.Header {
		h[k] = v
	}
}

// expireLeases ends the lease of every stored deferred record.
func expireLeases(t *testing.T, kv jetstream.KeyValue) {
	t.Helper()
	ctx := context.Background()
	lister, err := kv.ListKeysFiltered(ctx, "deferred.>")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var d deferred
		if err := json.Unmarshal(e.Value(), &d); err != nil {
			t.Fatal(err)
		}
		d.Lease = time.Now().Add(-time.Second)
		b, _ := json.Marshal(&d)
		if _, err := kv.Update(ctx, k, b, e.Revision()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d deferred records, want 1", n)
	}
}
