package chatops

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/host"
)

func TestLoadConfig(t *testing.T) {
	c, err := LoadConfig(context.Background(), mapLookuper{"CHATOPS_CONFIRM_TTL": "5m", "CHATOPS_RESPONSE_URL_HOSTS": "hooks.slack.com, Example.COM"})
	if err != nil {
		t.Fatal(err)
	}
	if c.ConfirmTTL != 5*time.Minute || c.AckBudget != 2*time.Second || c.ResponseBudget != 5 || c.CUPrice != 0.36 ||
		strings.Join(c.ResponseURLHosts, ",") != "hooks.slack.com,example.com" {
		t.Errorf("config %+v", c)
	}
	for env, want := range map[string]string{
		"CHATOPS_CONFIRM_TTL":        "CHATOPS_CONFIRM_TTL",
		"CHATOPS_ACK_BUDGET":         "CHATOPS_ACK_BUDGET",
		"CHATOPS_RESPONSE_URL_HOSTS": "CHATOPS_RESPONSE_URL_HOSTS",
		"CHATOPS_TABLE_ROWS":         "CHATOPS_TABLE_ROWS",
	} {
		bad := map[string]string{"CHATOPS_CONFIRM_TTL": "2h", "CHATOPS_ACK_BUDGET": "5s", "CHATOPS_RESPONSE_URL_HOSTS": "http://x/", "CHATOPS_TABLE_ROWS": "0"}[env]
		_, err := LoadConfig(context.Background(), mapLookuper{env: bad})
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%s: %v", env, bad, err)
		}
	}
	if _, err := LoadConfig(context.Background(), mapLookuper{"CHATOPS_TICK": "often"}); err == nil {
		t.Error("unparsable duration accepted")
	}
}

func hostEnv(t *testing.T, mode host.Mode) host.Env {
	emu := dlitest.NewServer(t, dlitest.Options{Seed: "demo", Start: testStart})
	o := emu.Options()
	client, err := dli.New(dli.Config{AK: o.AK, SK: o.SK, ProjectID: o.ProjectID, Endpoint: emu.URL, Timeout: 5 * time.Second, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return host.Env{Mode: mode, Config: &host.Config{SlackSigningSecret: testSecret}, Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)), DLI: client}
}

func TestNewFunction(t *testing.T) {
	// service without CHATOPS_POLICY refuses to start
	t.Setenv("CHATOPS_POLICY", "")
	if _, err := NewFunction(context.Background(), hostEnv(t, host.ModeService)); err == nil || !strings.Contains(err.Error(), "CHATOPS_POLICY") {
		t.Errorf("no policy: %v", err)
	}
	// a bad policy names file and line
	bad := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(bad, []byte("roles:\n  v:\n    commands: [queus]\n"), 0o644)
	t.Setenv("CHATOPS_POLICY", bad)
	if _, err := NewFunction(context.Background(), hostEnv(t, host.ModeService)); err == nil || !strings.Contains(err.Error(), bad+":3") {
		t.Errorf("bad policy: %v", err)
	}
	if _, err := CheckConfig(context.Background(), mapLookuper{"CHATOPS_POLICY": bad}); err == nil {
		t.Error("config check passed a bad policy")
	}
	for _, l := range []mapLookuper{{"CHATOPS_TICK": "often"}, {}, {"CHATOPS_POLICY": "testdata/policy.yaml"}} {
		c, err := CheckConfig(context.Background(), l)
		settings := host.Settings(c)
		if len(settings) < 15 || settings[0].Name != "CHATOPS_ACK_BUDGET" {
			t.Errorf("%v: settings %v", l, settings)
		}
		if (err == nil) != (l["CHATOPS_POLICY"] != "") {
			t.Errorf("%v: err %v", l, err)
		}
	}
	// dev without a policy: the dev user is admin, read-only without NATS
	t.Setenv("CHATOPS_POLICY", "")
	f, err := NewFunction(context.Background(), hostEnv(t, host.ModeDev))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(context.Background())
	if f.Name != "chatops" || len(f.Routes) != 2 || f.NeedsNATS || f.Try == nil || f.Try.Slack != "/dli queues" || f.Tick != 30*time.Second {
		t.Errorf("function %+v", f)
	}
	// it answers a signed command on its route
	srv := httptest.NewServer(f.Routes[0].Handler)
	defer srv.Close()
	form := "user_id=" + DevUser + "&channel_id=C1&text=whoami&response_url=http%3A%2F%2F127.0.0.1%3A1%2Fr"
	req := signedReq("/slack/commands", form, testSecret, time.Now())
	req.RequestURI = ""
	req.URL, _ = req.URL.Parse(srv.URL + "/slack/commands")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(b.String(), "admin") {
		t.Errorf("dev whoami: %d %s", resp.StatusCode, b.String())
	}
	reg := Registration()
	if reg.Name != "chatops" || len(reg.Routes) != 2 || reg.New == nil || reg.Config == nil {
		t.Errorf("registration %+v", reg)
	}
}

func TestSlackGroups(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !strings.HasSuffix(r.URL.Path, "/usergroups.list") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":true,"usergroups":[{"id":"S0456EFGH","users":["U0GROUPIE"]}]}`))
	}))
	defer srv.Close()
	cfg := &Config{GroupCacheTTL: time.Minute}
	ck := &clock{t: testStart}
	g := NewSlackGroups(cfg, "xoxb-test", srv.URL+"/", ck.Now, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	if got := g.Groups(context.Background(), "U0GROUPIE"); len(got) != 1 || got[0] != "S0456EFGH" {
		t.Errorf("groups %v", got)
	}
	g.Groups(context.Background(), "U0OTHER")
	if calls.Load() != 1 {
		t.Errorf("%d calls, want 1 (cached)", calls.Load())
	}
	ck.Advance(2 * time.Minute)
	g.Groups(context.Background(), "U0GROUPIE")
	if calls.Load() != 2 {
		t.Errorf("%d calls, want 2 after the TTL", calls.Load())
	}
	// through the service: a group grant gives operator
	e := newEnv(t, envOpts{noNATS: true, groups: map[string][]string{"U0GROUPIE": {"S0456EFGH"}}})
	_, a := e.run(t, "U0GROUPIE", "whoami")
	if !strings.Contains(a.Text, "operator") {
		t.Errorf("group member: %q", a.Text)
	}
}

// TestSecretsNotLogged runs refused and accepted requests and checks that
// neither the signing secret nor a response_url reaches the log.
func TestSecretsNotLogged(t *testing.T) {
	var buf bytes.Buffer
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.AckBudget = 20 * time.Millisecond }})
	e.svc.log = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	form := e.commandForm(uViewer, "queues", "logged").Encode()
	for _, secret := range []string{"wrong", testSecret, testSecret} { // bad, good, replay
		rec := httptest.NewRecorder()
		e.svc.ServeCommand(rec, signedReq("/slack/commands", form, secret, e.clock.Now()))
	}
	e.svc.resp.post(context.Background(), "http://127.0.0.1:1/capability-token", message{Text: "x"}, true)
	_, a := e.run(t, uOperator, "scale etl 128")
	e.click(t, uOperator2, actionConfirm, confirmationID(t, a.Blocks, actionConfirm), "c")
	e.slack.WaitResponses("c", 1, 5*time.Second)
	for _, s := range []string{testSecret, testSecretPrev, "capability-token", e.slack.ResponseURL("logged")} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log contains %q", s)
		}
	}
	if !strings.Contains(buf.String(), "request refused") {
		t.Error("refusals are not logged")
	}
}
