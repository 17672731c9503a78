//go:build linux

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/host/slacksig"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

// The DLI emulator's credentials and project, passed to the bootstrap as
// the SDK's variables.
const (
	projectID     = "0123456789abcdef0123456789abcdef"
	dliAK         = "E2EAKEXAMPLE"
	dliSK         = "e2e-secret-key-example"
	signingSecret = "e2e-slack-signing-secret"
	// ingestToken is the DLIBOT_INGEST_TOKENS entry senders of POST
	// /events and POST /webhooks/obs present (template.yaml gives it to
	// autoscale and obsimport).
	ingestToken = "e2e-ingest-token-5d0c8a7e41b2"
	e2eQueue    = "e2e_etl"
	slackUser   = "U0E2EVIEW"
)

var (
	buildOnce             sync.Once
	bootstrapPath, rieBin string
	buildErr              error
	buildDir              string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// programs builds the bootstrap (this tree) and the pinned RIE once per
// test binary.
func programs(t testing.TB) (bootstrap, rie string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the bootstrap and the RIE; skipped with -short")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "dlibot-e2e-")
		if buildErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		var wg sync.WaitGroup
		var rieErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			rieBin, rieErr = BuildRIE(ctx, buildDir)
		}()
		bootstrapPath, buildErr = BuildBootstrap(ctx, "..", buildDir)
		wg.Wait()
		if buildErr == nil {
			buildErr = rieErr
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v", buildErr)
	}
	return bootstrapPath, rieBin
}

// world is what a function talks to: the DLI emulator, the Slack fake and
// an embedded NATS server, all on random loopback ports.
type world struct {
	dli   *dlitest.Server
	slack *slacktest.Server
	nats  *natstest.Server
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{
		dli:   dlitest.NewServer(t, dlitest.Options{ProjectID: projectID, AK: dliAK, SK: dliSK, RealTime: true}),
		slack: slacktest.Start(t),
		nats:  natstest.Start(t),
	}
	if err := w.dli.AddQueue(dlitest.QueueSpec{Name: e2eQueue, Type: "sql", CUCount: 16}); err != nil {
		t.Fatal(err)
	}
	return w
}

// env is the Lambda environment a template deployment would give the
// function, pointed at the world.
func (w *world) env(extra ...string) []string {
	return append([]string{
		"NATS_URL=" + w.nats.URL(),
		"DLI_ENDPOINT=" + w.dli.URL,
		"DLI_REGION=ap-southeast-1",
		"HUAWEICLOUD_SDK_PROJECT_ID=" + projectID,
		"HUAWEICLOUD_SDK_AK=" + dliAK,
		"HUAWEICLOUD_SDK_SK=" + dliSK,
		"SLACK_BOT_TOKEN=" + w.slack.Token(),
		"SLACK_API_URL=" + w.slack.URL(),
		"SLACK_CHANNEL=#dlibot",
		"LOG_LEVEL=info",
	}, extra...)
}

// startFunction runs handler under the RIE and makes a first invocation
// with payload. A function not registered in cmd/dlibot yet fails its init
// with "unknown Lambda handler"; the test is then skipped, naming it.
func startFunction(t testing.TB, handler string, env []string, payload []byte) (*RIE, int, []byte) {
	t.Helper()
	bs, rieBin := programs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	r, err := Start(ctx, Options{RIE: rieBin, Bootstrap: bs, Handler: handler, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Stop()
		if t.Failed() {
			t.Logf("RIE and bootstrap output:\n%s", r.Output())
		}
	})
	status, body, err := r.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("invoke %s: %v", handler, err)
	}
	if status != http.StatusOK {
		unknown := `unknown Lambda handler "` + handler + `"`
		if out, ok := r.WaitOutput(2*time.Second, func(o string) bool { return strings.Contains(o, unknown) }); ok {
			t.Skipf("function %s is not registered in cmd/dlibot yet: the bootstrap refuses Handler %q (%s)",
				handler, handler, lineWith(out, "unknown Lambda handler"))
		}
	}
	return r, status, body
}

// lineWith returns the first line of out containing substr, trimmed.
func lineWith(out, substr string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, substr) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func invoke(t testing.TB, r *RIE, payload []byte) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, body, err := r.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	return status, body
}

// slashCommand is an API Gateway HTTP API (payload 2.0) request carrying a
// Slack slash command, body base64-encoded as API Gateway sends form posts,
// signed with secret; a result that takes longer than the ack budget goes
// to responseURL.
func slashCommand(t testing.TB, text, secret string, now time.Time, responseURL string) []byte {
	t.Helper()
	form := url.Values{
		"token": {"legacy"}, "team_id": {"T0E2E"}, "team_domain": {"e2e"},
		"channel_id": {"C0E2E"}, "channel_name": {"ops"},
		"user_id": {slackUser}, "user_name": {"e2e"},
		"command": {"/dli"}, "text": {text},
		"response_url": {responseURL},
		"trigger_id":   {strconv.FormatInt(now.UnixNano(), 10) + ".e2e"}, // unique: chatops refuses replays
	}
	body := []byte(form.Encode())
	h := http.Header{}
	slacksig.SetHeaders(h, secret, now, body)
	req := awsevents.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /slack/commands", RawPath: "/slack/commands",
		Headers: map[string]string{
			"content-type":              "application/x-www-form-urlencoded",
			"host":                      "e2e.execute-api.eu-west-1.amazonaws.com",
			"user-agent":                "Slackbot 1.0 (+https://api.slack.com/robots)",
			"x-slack-request-timestamp": h.Get(slacksig.HeaderTimestamp),
			"x-slack-signature":         h.Get(slacksig.HeaderSignature),
		},
		RequestContext: awsevents.APIGatewayV2HTTPRequestContext{
			AccountID: "123456789012", APIID: "e2e", DomainName: "e2e.execute-api.eu-west-1.amazonaws.com",
			RequestID: "e2e-" + now.Format("150405.000000000"), RouteKey: "POST /slack/commands", Stage: "$default",
			HTTP: awsevents.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: "POST", Path: "/slack/commands", Protocol: "HTTP/1.1", SourceIP: "3.4.5.6",
				UserAgent: "Slackbot 1.0 (+https://api.slack.com/robots)",
			},
		},
		Body:            base64.StdEncoding.EncodeToString(body),
		IsBase64Encoded: true,
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func apiResponse(t testing.TB, status int, body []byte) awsevents.APIGatewayV2HTTPResponse {
	t.Helper()
	if status != http.StatusOK {
		t.Fatalf("RIE answered %d: %s", status, body)
	}
	var resp awsevents.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("not an API Gateway v2 response: %v: %s", err, body)
	}
	return resp
}

func writePolicy(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "chatops-policy.yaml")
	pol := "roles:\n  viewer: {commands: [help, whoami, queues, queue]}\ngrants:\n  - {user: " + slackUser + ", role: viewer}\n"
	if err := os.WriteFile(p, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// chatopsEnv is chatops's environment: the signing secret, a policy
// granting the test user the viewer role, the longest ack budget (a loaded
// machine still answers inline) and response URLs allowed on the Slack
// fake (where a slower answer goes).
func (w *world) chatopsEnv(t testing.TB) []string {
	return w.env("SLACK_SIGNING_SECRET="+signingSecret, "CHATOPS_POLICY="+writePolicy(t),
		"CHATOPS_ACK_BUDGET=2500ms", "CHATOPS_RESPONSE_URL_HOSTS=127.0.0.1", "CHATOPS_RESPONSE_URL_ALLOW_HTTP=true")
}

// queuesAnswer returns chatops's answer to /dli queues: the inline body, or,
// when the command outlasted the ack budget, what it posted to the
// response URL named name on the Slack fake.
func queuesAnswer(t testing.TB, w *world, name string, resp awsevents.APIGatewayV2HTTPResponse) string {
	t.Helper()
	if strings.Contains(resp.Body, e2eQueue) {
		return resp.Body
	}
	var all []string
	for _, r := range w.slack.WaitResponses(name, 1, 10*time.Second) {
		all = append(all, r.Text, string(r.Blocks))
	}
	return resp.Body + "\n" + strings.Join(all, "\n")
}

// TestChatopsSlashCommand: a signed `/dli queues` through API Gateway v2 →
// 200 with the DLI emulator's queues; a bad signature → 401 (same warm
// function).
func TestChatopsSlashCommand(t *testing.T) {
	w := newWorld(t)
	r, status, body := startFunction(t, "chatops", w.chatopsEnv(t),
		slashCommand(t, "queues", signingSecret, time.Now(), w.slack.ResponseURL("queues")))
	resp := apiResponse(t, status, body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/dli queues: status %d, body %s", resp.StatusCode, resp.Body)
	}
	if answer := queuesAnswer(t, w, "queues", resp); !strings.Contains(answer, e2eQueue) {
		t.Errorf("/dli queues answer does not list the emulator's queue %q: %s", e2eQueue, answer)
	}
	var listed bool
	for _, rq := range w.dli.Requests() {
		listed = listed || (rq.Method == http.MethodGet && strings.HasSuffix(rq.Path, "/queues") && rq.AuthOK)
	}
	if !listed {
		t.Errorf("no signed GET .../queues reached the DLI emulator: %+v", w.dli.Requests())
	}
	if out, ok := r.WaitOutput(5*time.Second, func(o string) bool { _, ok := InitDuration(o); return ok }); ok {
		d, _ := InitDuration(out)
		t.Logf("chatops init duration %v", d)
	} else {
		t.Errorf("no Init Duration in the RIE's REPORT line:\n%s", r.Output())
	}

	status, body = invoke(t, r, slashCommand(t, "queues", "not-the-secret", time.Now(), w.slack.ResponseURL("bad")))
	bad := apiResponse(t, status, body)
	if bad.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad signature: status %d, want 401; body %s", bad.StatusCode, bad.Body)
	}
	r.Stop() // all output collected
	if out := r.Output(); strings.Contains(out, signingSecret) || strings.Contains(out, dliSK) {
		t.Error("a secret appears in the function's output")
	}
}

func scheduledEvent(t testing.TB, rule string, at time.Time) []byte {
	t.Helper()
	b, err := json.Marshal(awsevents.EventBridgeEvent{
		Version: "0", ID: "e2e-" + at.Format("150405.000000000"), DetailType: "Scheduled Event",
		Source: "aws.events", AccountID: "123456789012", Time: at.UTC(), Region: "eu-west-1",
		Resources: []string{"arn:aws:events:eu-west-1:123456789012:rule/" + rule},
		Detail:    json.RawMessage("{}"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dliRequests returns the emulator's recorded requests matching keep.
func dliRequests(w *world, keep func(dlitest.RequestRecord) bool) []dlitest.RequestRecord {
	var out []dlitest.RequestRecord
	for _, r := range w.dli.Requests() {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// TestJobwatchScheduledPoll: an EventBridge scheduled event → jobwatch polls
// DLI's job lists (visible in the emulator's request log).
func TestJobwatchScheduledPoll(t *testing.T) {
	w := newWorld(t)
	_, status, body := startFunction(t, "jobwatch", w.env(), scheduledEvent(t, "dlibot-jobwatch-tick", time.Now()))
	if status != http.StatusOK {
		t.Fatalf("tick: RIE answered %d: %s", status, body)
	}
	if strings.Contains(string(body), "errorMessage") {
		t.Fatalf("tick failed: %s", body)
	}
	polls := dliRequests(w, func(r dlitest.RequestRecord) bool {
		return r.Method == http.MethodGet && r.AuthOK &&
			(strings.Contains(r.Path, "/streaming/jobs") || strings.Contains(r.Path, "/batches") || strings.HasSuffix(r.Path, "/jobs"))
	})
	if len(polls) == 0 {
		t.Fatalf("the tick polled no DLI job list; requests: %+v", w.dli.Requests())
	}
	t.Logf("jobwatch tick polled %d job lists, e.g. %s %s", len(polls), polls[0].Method, polls[0].Path)
}

func s3Put(t testing.TB, bucket, key string, at time.Time) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
		"eventTime": at.UTC().Format(time.RFC3339Nano), "eventName": "ObjectCreated:Put",
		"s3": map[string]any{
			"s3SchemaVersion": "1.0", "configurationId": "dlibot-obsimport",
			"bucket": map[string]any{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object": map[string]any{"key": url.QueryEscape(key), "size": 1024,
				"eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0A1B2C3D4E5F678901"},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// obsimportEnv is obsimport's environment with rules mapping
// raw-data/landing/events/dt={dt}/*.csv to analytics.events.
func (w *world) obsimportEnv(t testing.TB) []string {
	t.Helper()
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rules, []byte(`rules:
  - name: events
    bucket: raw-data
    key: "landing/events/dt={dt}/*.csv"
    database: analytics
    table: events
    partition: {dt: "{dt}"}
    queue: `+e2eQueue+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	return w.env("OBSIMPORT_RULES="+rules, "DLIBOT_INGEST_TOKENS="+ingestToken)
}

// autoscaleEnv is autoscale's environment managing the test queue.
func (w *world) autoscaleEnv() []string {
	return w.env("AUTOSCALE_QUEUES="+e2eQueue, "AUTOSCALE_MODE=recommend", "AUTOSCALE_INTERVAL=60m", "DLIBOT_INGEST_TOKENS="+ingestToken)
}

// loadSample is a structured CloudEvent carrying one Cloud Eye style load
// sample of the test queue.
func loadSample(id string, at time.Time) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"/e2e/cloudeye","type":"dlibot.metrics.sample",` +
		`"datacontenttype":"application/json","data":{"namespace":"SYS.DLI","metric_name":"queue_job_launching_num",` +
		`"dimensions":[{"name":"queue_name","value":"` + e2eQueue + `"}],"value":3,"unit":"Count",` +
		`"timestamp":"` + at.UTC().Format(time.RFC3339) + `"}}`
}

// TestObsimportS3Notification: an S3 object-created notification → an
// import at the DLI emulator (on the invocation, or at the latest on the
// next scheduled tick, which is how Lambda drives obsimport's queues).
func TestObsimportS3Notification(t *testing.T) {
	w := newWorld(t)
	const key = "landing/events/dt=2026-11-26/part 1.csv"
	r, status, body := startFunction(t, "obsimport", w.obsimportEnv(t), s3Put(t, "raw-data", key, time.Now()))
	if status != http.StatusOK || strings.Contains(string(body), "errorMessage") {
		t.Fatalf("S3 notification: RIE answered %d: %s", status, body)
	}
	imports := func() []dlitest.RequestRecord {
		return dliRequests(w, func(r dlitest.RequestRecord) bool {
			return r.Method == http.MethodPost && r.AuthOK &&
				(strings.HasSuffix(r.Path, "/jobs/import-table") || strings.HasSuffix(r.Path, "/jobs/submit-job"))
		})
	}
	if len(imports()) == 0 {
		status, body = invoke(t, r, scheduledEvent(t, "dlibot-obsimport-tick", time.Now()))
		if status != http.StatusOK || strings.Contains(string(body), "errorMessage") {
			t.Fatalf("tick: RIE answered %d: %s", status, body)
		}
	}
	got := imports()
	if len(got) == 0 {
		t.Fatalf("no import reached the DLI emulator; requests: %+v", w.dli.Requests())
	}
	if !strings.Contains(got[0].Body, "raw-data") || !strings.Contains(got[0].Body, "dt=2026-11-26") {
		t.Errorf("import does not name the object: %s", got[0].Body)
	}

	// The same function through its HTTP route: a native OBS notification
	// (what an SMN subscription posts) via API Gateway v2 to /webhooks/obs.
	obs := `{"Records":[{"eventVersion":"3.0","eventSource":"OBS","eventRegion":"eu-de",` +
		`"eventTime":"2026-11-27T08:15:00.123Z","eventName":"ObjectCreated:Put",` +
		`"obs":{"Version":"1.0","bucket":{"name":"raw-data","bucket":"raw-data"},` +
		`"object":{"key":"landing%2Fevents%2Fdt%3D2026-11-27%2Fpart-2.csv","eTag":"0cc175b9c0f1b6a831c399e269772661",` +
		`"size":1024,"versionId":"null","sequencer":"0000000018F1A2B3C4D5E6F8"}}}]}`
	// Without the ingest token: 401, nothing imported. With it in the
	// query string, as an SMN subscription URL carries it: handled.
	before := len(dliRequests(w, func(r dlitest.RequestRecord) bool { return strings.Contains(r.Body, "dt=2026-11-27") }))
	status, body = invoke(t, r, apiGatewayRequest(t, "/webhooks/obs", "", "", "application/json", obs))
	if resp := apiResponse(t, status, body); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /webhooks/obs without a token: status %d: %s", resp.StatusCode, resp.Body)
	}
	status, body = invoke(t, r, apiGatewayRequest(t, "/webhooks/obs", "access_token=wrong-e2e-token-000000", "", "application/json", obs))
	if resp := apiResponse(t, status, body); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /webhooks/obs with a wrong token: status %d: %s", resp.StatusCode, resp.Body)
	}
	if n := len(dliRequests(w, func(r dlitest.RequestRecord) bool { return strings.Contains(r.Body, "dt=2026-11-27") })); n != before {
		t.Fatalf("refused notifications reached DLI (%d requests)", n-before)
	}
	status, body = invoke(t, r, apiGatewayRequest(t, "/webhooks/obs", "access_token="+ingestToken, "", "application/json", obs))
	resp := apiResponse(t, status, body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST /webhooks/obs: status %d: %s", resp.StatusCode, resp.Body)
	}
	if len(dliRequests(w, func(r dlitest.RequestRecord) bool { return strings.Contains(r.Body, "dt=2026-11-27") })) == 0 {
		// Queued behind the table's running import (one import per table
		// at a time): let DLI finish it; the next tick submits the queue.
		w.dli.Advance(time.Hour)
		status, body = invoke(t, r, scheduledEvent(t, "dlibot-obsimport-tick", time.Now().Add(2*time.Minute)))
		if status != http.StatusOK || strings.Contains(string(body), "errorMessage") {
			t.Fatalf("tick: RIE answered %d: %s", status, body)
		}
	}
	if len(dliRequests(w, func(r dlitest.RequestRecord) bool {
		return r.Method == http.MethodPost && strings.Contains(r.Body, "dt=2026-11-27")
	})) == 0 {
		t.Errorf("the OBS webhook's object was not imported; requests: %+v", w.dli.Requests())
	}
}

// apiGatewayPost is an API Gateway HTTP API (payload 2.0) POST of body to
// path, carrying the ingest token as Authorization: Bearer.
func apiGatewayPost(t testing.TB, path, contentType, body string) []byte {
	t.Helper()
	return apiGatewayRequest(t, path, "", "Bearer "+ingestToken, contentType, body)
}

// apiGatewayRequest is an API Gateway HTTP API (payload 2.0) POST of body
// to path?query with an Authorization header (none when auth is empty).
func apiGatewayRequest(t testing.TB, path, query, auth, contentType, body string) []byte {
	t.Helper()
	headers := map[string]string{"content-type": contentType, "host": "e2e.execute-api.eu-west-1.amazonaws.com"}
	if auth != "" {
		headers["authorization"] = auth
	}
	b, err := json.Marshal(awsevents.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST " + path, RawPath: path, RawQueryString: query,
		Headers: headers,
		RequestContext: awsevents.APIGatewayV2HTTPRequestContext{
			AccountID: "123456789012", APIID: "e2e", RequestID: "e2e-obs", RouteKey: "POST " + path, Stage: "$default",
			HTTP: awsevents.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: path, Protocol: "HTTP/1.1", SourceIP: "192.0.2.10"},
		},
		Body: body,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAutoscaleSamplesAndTick: a queue load sample as a CloudEvent on
// POST /events (API Gateway v2) → autoscale stores it in its KV history;
// an EventBridge scheduled event → its re-planning tick is handled.
func TestAutoscaleSamplesAndTick(t *testing.T) {
	w := newWorld(t)
	// First without the ingest token: 401, and nothing reaches autoscale
	// (no KV bucket is written).
	r, status, body := startFunction(t, "autoscale", w.autoscaleEnv(),
		apiGatewayRequest(t, "/events", "", "", "application/cloudevents+json", loadSample("e2e-sample-0", time.Now())))
	if resp := apiResponse(t, status, body); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /events without a token: status %d: %s", resp.StatusCode, resp.Body)
	}
	status, body = invoke(t, r, apiGatewayRequest(t, "/events", "", "Bearer wrong-e2e-token-000000", "application/cloudevents+json", loadSample("e2e-sample-0", time.Now())))
	if resp := apiResponse(t, status, body); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /events with a wrong token: status %d: %s", resp.StatusCode, resp.Body)
	}
	_, js := w.nats.Connect()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if kv, err := js.KeyValue(ctx, "dlibot_autoscale"); err == nil {
		if keys, _ := kv.Keys(ctx); len(keys) > 0 {
			t.Fatalf("refused samples were stored: %v", keys)
		}
	}
	if strings.Contains(r.Output(), "wrong-e2e-token") || strings.Contains(r.Output(), ingestToken) {
		t.Errorf("the function's output shows a token:\n%s", r.Output())
	}
	status, body = invoke(t, r, apiGatewayPost(t, "/events", "application/cloudevents+json", loadSample("e2e-sample-1", time.Now())))
	resp := apiResponse(t, status, body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"ack"`) {
		t.Fatalf("POST /events (load sample): status %d: %s", resp.StatusCode, resp.Body)
	}
	kv, err := js.KeyValue(ctx, "dlibot_autoscale")
	if err != nil {
		t.Fatalf("autoscale's KV bucket: %v", err)
	}
	keys, err := kv.Keys(ctx)
	if err != nil || len(keys) == 0 {
		t.Fatalf("no load history stored in dlibot_autoscale (keys %v, err %v)", keys, err)
	}

	status, body = invoke(t, r, scheduledEvent(t, "dlibot-autoscale-tick", time.Now()))
	if status != http.StatusOK || strings.Contains(string(body), "errorMessage") {
		t.Fatalf("tick: RIE answered %d: %s", status, body)
	}
	if _, ok := r.WaitOutput(5*time.Second, func(o string) bool { return acked(o, "autoscale", "dlibot.tick") }); !ok {
		t.Errorf("the tick was not handled (acked) by autoscale")
	}
}

// acked reports whether the function's JSON log in out has an "event
// handled" line with outcome ack for an event of type ceType.
func acked(out, function, ceType string) bool {
	for _, line := range strings.Split(out, "\n") {
		var l struct {
			Msg      string `json:"msg"`
			Function string `json:"function"`
			CEType   string `json:"ce_type"`
			Outcome  string `json:"outcome"`
		}
		if json.Unmarshal([]byte(strings.TrimSpace(line)), &l) == nil &&
			l.Msg == "event handled" && l.Function == function && l.CEType == ceType && l.Outcome == "ack" {
			return true
		}
	}
	return false
}

// TestUnknownHandlerFailsInit: a Handler naming no function fails the
// Lambda init with a message naming it (what a typo in template.yaml does).
func TestUnknownHandlerFailsInit(t *testing.T) {
	bs, rieBin := programs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Start(ctx, Options{RIE: rieBin, Bootstrap: bs, Handler: "nosuch"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	status, body, err := r.Invoke(ctx, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if status == http.StatusOK {
		t.Errorf("invoke with an unknown handler answered 200: %s", body)
	}
	if out, ok := r.WaitOutput(5*time.Second, func(o string) bool { return strings.Contains(o, `unknown Lambda handler "nosuch"`) }); !ok {
		t.Errorf("init failure does not name the handler:\n%s", out)
	}
}
