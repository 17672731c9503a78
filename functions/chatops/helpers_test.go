package chatops

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/functions/chatops/policy"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/host/slacksig"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

var update = flag.Bool("update", false, "regenerate golden files in testdata/")

const (
	testSecret     = "8f742231b10e8888abcd99yyyzzz85a5"
	testSecretPrev = "previous-secret-0000000000000000"
)

// Users of testdata/policy.yaml.
const (
	uAdmin     = "U0123ABCD"
	uOperator  = "U0OPERATOR"
	uOperator2 = "U0OPERATOR2"
	uViewer    = "U0VIEWER"
	uAnalyst   = "U0ANALYST"
	uNobody    = "U0NOBODY"
	chanTeam   = "C0TEAM"
)

// testStart is the emulator's and the service's clock at the start of a
// test (Slack timestamps are signed and checked against the service clock).
var testStart = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

// clock is a settable clock shared by the service; it starts at the wall
// clock (Slack timestamps are checked against it).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// audits collects published audit events.
type audits struct {
	mu  sync.Mutex
	all []AuditRecord
}

func (a *audits) publish(_ context.Context, subject string, e events.Event) error {
	if subject != AuditSubject || e.Type() != events.TypeChatopsCommand {
		panic("unexpected audit subject/type " + subject + " " + e.Type())
	}
	var r AuditRecord
	if err := json.Unmarshal(e.Data(), &r); err != nil {
		return err
	}
	a.mu.Lock()
	a.all = append(a.all, r)
	a.mu.Unlock()
	return nil
}

func (a *audits) list() []AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AuditRecord(nil), a.all...)
}

func (a *audits) last(t *testing.T) AuditRecord {
	t.Helper()
	l := a.list()
	if len(l) == 0 {
		t.Fatal("no audit record")
	}
	return l[len(l)-1]
}

type env struct {
	svc   *Service
	emu   *dlitest.Server
	slack *slacktest.Server
	clock *clock
	aud   *audits
	cfg   *Config
	opts  Options // what the service was built with (to build a second one)
	nats  *natstest.Server
}

type envOpts struct {
	noNATS bool
	cfg    func(*Config)
	groups map[string][]string
	// lambda builds the service as in Lambda (Options.Lambda).
	lambda bool
}

// newEnv starts the emulator (demo seed), an embedded NATS server (unless
// noNATS), the Slack fake, and a Service on them.
func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	emu := dlitest.NewServer(t, dlitest.Options{Seed: "demo", Start: testStart})
	eo := emu.Options()
	client, err := dli.New(dli.Config{AK: eo.AK, SK: eo.SK, ProjectID: eo.ProjectID, Endpoint: emu.URL, Timeout: 5 * time.Second, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	sl := slacktest.Start(t)
	n, err := notify.NewSlack(notify.Config{Token: sl.Token(), APIURL: sl.URL(), Channel: chanTeam}, notify.WithChannelInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(context.Background(), mapLookuper(nil))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ResponseURLHosts = []string{"127.0.0.1"}
	cfg.ResponseURLAllowHTTP = true
	cfg.SQLPoll = 100 * time.Millisecond
	cfg.AckBudget = 2500 * time.Millisecond // the most allowed: inline answers even on a loaded machine
	if o.cfg != nil {
		o.cfg(cfg)
	}
	ck := &clock{t: testStart}
	aud := &audits{}
	opts := Options{Config: cfg, Policy: pol, DLI: client, Secrets: []string{testSecret, testSecretPrev}, Notifier: n,
		Publish: aud.publish, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: ck.Now}
	if o.groups != nil {
		opts.Groups = staticGroups(o.groups)
	}
	var ns *natstest.Server
	if !o.noNATS {
		ns = natstest.Start(t)
		_, opts.JS = ns.Connect()
	}
	opts.Lambda = o.lambda
	return &env{svc: startService(t, opts), emu: emu, slack: sl, clock: ck, aud: aud, cfg: cfg, opts: opts, nats: ns}
}

// startService builds a Service from opts and closes it when the test ends.
func startService(t testing.TB, opts Options) *Service {
	t.Helper()
	svc, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Close(ctx)
	})
	return svc
}

type mapLookuper map[string]string

func (m mapLookuper) Lookup(k string) (string, bool) { v, ok := m[k]; return v, ok }

var triggerSeq struct {
	sync.Mutex
	n int
}

// commandForm is a slash command's form body.
func (e *env) commandForm(user, text, responseName string) url.Values {
	triggerSeq.Lock()
	triggerSeq.n++
	n := triggerSeq.n
	triggerSeq.Unlock()
	return url.Values{
		"token": {"legacy"}, "team_id": {"T0TEST"}, "team_domain": {"test"}, "channel_id": {chanTeam}, "channel_name": {"team"},
		"user_id": {user}, "user_name": {strings.ToLower(user)}, "command": {"/dli"}, "text": {text},
		"response_url": {e.slack.ResponseURL(responseName)}, "trigger_id": {"trig." + strconv.Itoa(n)}, "api_app_id": {"A0TEST"},
	}
}

// signed builds a request signed with secret at ts.
func signedReq(path, body, secret string, ts time.Time) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slacksig.SetHeaders(r.Header, secret, ts, []byte(body))
	return r
}

// run sends a signed slash command and decodes the immediate answer.
// answer is an immediate answer as Slack receives it.
type answer struct {
	ResponseType, Text string
	Blocks             []byte
}

func (e *env) run(t testing.TB, user, text string) (int, answer) {
	t.Helper()
	return e.runForm(t, e.commandForm(user, text, "cmd"))
}

func (e *env) runForm(t testing.TB, form url.Values) (int, answer) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.svc.ServeCommand(rec, signedReq("/slack/commands", form.Encode(), testSecret, e.clock.Now()))
	var m answer
	if rec.Code == http.StatusOK && rec.Body.Len() > 0 {
		var raw map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, rec.Body)
		}
		m.ResponseType, _ = raw["response_type"].(string)
		m.Text, _ = raw["text"].(string)
		m.Blocks, _ = json.Marshal(raw["blocks"])
	}
	return rec.Code, m
}

// click sends a signed block_actions click and returns the status.
func (e *env) click(t testing.TB, user, action, value, responseName string) int {
	t.Helper()
	payload := map[string]any{
		"type": "block_actions", "user": map[string]string{"id": user, "username": strings.ToLower(user)},
		"team": map[string]string{"id": "T0TEST"}, "channel": map[string]string{"id": chanTeam},
		"response_url": e.slack.ResponseURL(responseName), "trigger_id": "click." + user,
		"actions": []map[string]string{{"action_id": action, "value": value, "block_id": "b"}},
	}
	b, _ := json.Marshal(payload)
	body := url.Values{"payload": {string(b)}}.Encode()
	rec := httptest.NewRecorder()
	e.svc.ServeInteraction(rec, signedReq("/slack/interactions", body, testSecret, e.clock.Now()))
	return rec.Code
}

// settle waits until no command or click is still running in the
// background (a slow machine may push one past the ack budget).
func (e *env) settle() { e.svc.inflight.Wait() }

// dliCalls returns the emulator's requests that change something (not
// GET).
func (e *env) dliCalls(method, pathPart string) []string {
	var out []string
	for _, r := range e.emu.Requests() {
		if r.Method == method && strings.Contains(r.Path, pathPart) {
			out = append(out, r.Method+" "+r.Path+" "+r.Body)
		}
	}
	return out
}

// mutations counts non-GET DLI requests.
func (e *env) mutations() int {
	n := 0
	for _, r := range e.emu.Requests() {
		if r.Method != http.MethodGet {
			n++
		}
	}
	return n
}

// confirmationID finds the value of the confirm/approve button in blocks.
func confirmationID(t testing.TB, blocks []byte, action string) string {
	t.Helper()
	var bs []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(blocks, &bs); err != nil {
		t.Fatalf("blocks: %v: %s", err, blocks)
	}
	for _, b := range bs {
		for _, el := range b.Elements {
			if el.ActionID == action {
				return el.Value
			}
		}
	}
	t.Fatalf("no %s button in %s", action, blocks)
	return ""
}

func dlitestDelay(ms int) dlitest.Fault { return dlitest.Fault{LatencyMS: ms, Count: 1} }

func dliQuery(status string) dli.SQLJobQuery {
	return dli.SQLJobQuery{PageSize: 100, Status: dli.SQLJobStatus(status)}
}
