package obsimport

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/eventstest"
	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/host"
	"github.com/dlibot/dlibot/pkg/notify"
)

// TestServiceEndToEnd runs obsimport as a service would: built by the
// host registration from OBSIMPORT_* variables, a notification POSTed to
// /webhooks/obs, stored in JetStream, consumed by a durable consumer,
// imported into the emulator by the background workers, the outcome
// published on dlibot.out.obsimport.import.
func TestServiceEndToEnd(t *testing.T) {
	t.Setenv("OBSIMPORT_RULES", "testdata/rules.yaml")
	t.Setenv("OBSIMPORT_POLL_INTERVAL", "20ms")
	t.Setenv("OBSIMPORT_SWEEP_INTERVAL", "200ms")
	srv := dlitest.NewServer(t, dlitest.Options{RealTime: true, SkipAuth: true,
		Timing: dlitest.Timing{SQLLaunch: 20 * time.Millisecond, ImportRun: 50 * time.Millisecond, SQLRun: 50 * time.Millisecond}})
	o := srv.Options()
	client, err := dli.New(dli.Config{AK: o.AK, SK: o.SK, ProjectID: o.ProjectID, Endpoint: srv.URL, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	ns := natstest.Start(t)
	nc, js := ns.Connect()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	console, _ := notify.NewConsole(io.Discard, "#imports")
	env := host.Env{Mode: host.ModeService, Logger: quietLogger(), Metrics: host.NewMetrics(), NATS: nc, JS: js, DLI: client,
		Notifier: console, Publish: func(ctx context.Context, subject string, e events.Event) error {
			_, err := events.Publish(ctx, js, subject, e)
			return err
		}}
	reg := &host.Registry{}
	reg.Register(Registration())
	fns, err := reg.Build(ctx, env, []string{Name})
	if err != nil {
		t.Fatal(err)
	}
	fn := fns[0]
	defer func() { _ = fn.Close(context.Background()) }()
	if !fn.NeedsNATS || len(fn.Routes) != 1 || fn.Routes[0].Pattern() != "POST /webhooks/obs" || fn.Subjects[0] != events.SubjectsObs {
		t.Fatalf("function %+v", fn)
	}
	ccfg := events.Config{Function: Name, Subjects: fn.AllSubjects(), Logger: quietLogger()}
	if fn.ConsumerConfig != nil {
		fn.ConsumerConfig(&ccfg)
	}
	cons, err := events.NewConsumer(ctx, js, ccfg, fn.Handler)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = cons.Run(ctx) }()

	web := httptest.NewServer(fn.Routes[0].Handler)
	defer web.Close()
	body, _ := os.ReadFile("testdata/events/smn-notification.json")
	for range 3 { // SMN retries: stored once, imported once
		if status, out := post(t, web.URL, map[string]string{"X-SMN-MESSAGE-TYPE": "Notification"}, body); status != 202 {
			t.Fatalf("webhook %d %v", status, out)
		}
	}
	// A raw notification published straight on NATS (the contract allows
	// it) is converted; a raw test event is acknowledged, not dead-lettered.
	raw, _ := os.ReadFile("testdata/events/fg-s3.json")
	test, _ := os.ReadFile("testdata/events/s3-test.json")
	for _, b := range [][]byte{raw, test, raw} {
		if _, err := js.Publish(ctx, events.ObsSubject("raw-data"), b); err != nil {
			t.Fatal(err)
		}
	}
	eventstest.Eventually(t, 15*time.Second, func() bool {
		n := 0
		for _, imp := range srv.Snapshot().Imports {
			if imp.Status == "FINISHED" {
				n++
			}
		}
		return n == 2
	}, "imports not finished: %+v", srv.Snapshot().Imports)
	out, err := js.Stream(ctx, events.StreamOut)
	if err != nil {
		t.Fatal(err)
	}
	var succeeded ImportEvent
	eventstest.Eventually(t, 10*time.Second, func() bool {
		m, err := out.GetLastMsgForSubject(ctx, ImportSubject)
		if err != nil {
			return false
		}
		e, err := events.Decode(m.Header, m.Data)
		if err != nil || e.Type() != events.TypeImportSucceeded {
			return false
		}
		return json.Unmarshal(e.Data(), &succeeded) == nil
	}, "no import.succeeded event")
	if !strings.HasSuffix(succeeded.Key, " file.csv") || succeeded.Table != "analytics.events" || succeeded.JobID == "" || succeeded.Rows == 0 {
		t.Errorf("succeeded %+v", succeeded)
	}
	paths := map[string]int{}
	for _, imp := range srv.Snapshot().Imports {
		paths[imp.DataPath]++
	}
	if len(paths) != 2 || paths["obs://raw-data/landing/events/dt=2026-11-26/smn file.csv"] != 1 || paths["obs://raw-data/landing/events/dt=2026-11-26/fg file.csv"] != 1 {
		t.Errorf("imports %v", paths)
	}
	dlq, err := js.Stream(ctx, events.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := dlq.Info(ctx); info.State.Msgs != 0 {
		t.Errorf("%d dead letters, want 0", info.State.Msgs)
	}
}

func TestConfig(t *testing.T) {
	look := envconfig.MapLookuper
	c, err := LoadConfig(context.Background(), (look(map[string]string{"OBSIMPORT_RULES": "testdata/rules.yaml"})))
	if err != nil || c.Backend != BackendImport || c.BatchMax != 256 || c.PollInterval != 5*time.Second || c.RecoverAfter != 2*time.Minute ||
		c.BatchGlob || !c.SMNConfirm || len(c.SMNHosts) != 1 {
		t.Fatalf("defaults %+v %v", c, err)
	}
	for env, want := range map[string]string{
		"":                         "OBSIMPORT_RULES is required",
		"OBSIMPORT_BACKEND=ftp":    "OBSIMPORT_BACKEND",
		"OBSIMPORT_BATCH_MAX=0":    "OBSIMPORT_BATCH_MAX",
		"OBSIMPORT_KV_REPLICAS=9":  "OBSIMPORT_KV_REPLICAS",
		"OBSIMPORT_POLL_INTERVAL=": "OBSIMPORT_POLL_INTERVAL",
	} {
		m := map[string]string{}
		if env != "" {
			m["OBSIMPORT_RULES"] = "x.yaml"
			k, v, _ := strings.Cut(env, "=")
			m[k] = v
			if v == "" {
				m[k] = "0s"
			}
		}
		if _, err := LoadConfig(context.Background(), (look(m))); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", env, err, want)
		}
	}
	if _, err := CheckConfig(context.Background(), (look(map[string]string{"OBSIMPORT_RULES": "testdata/missing.yaml"}))); err == nil {
		t.Error("missing rules file accepted")
	}
}

// TestDevRulesFallback: `dlibot dev` (host.ModeDev) starts without
// OBSIMPORT_RULES on the built-in dev rules, says so in one warning, and
// imports the example notification it prints into the emulator; a
// service or a Lambda still refuses to start without the rules.
func TestDevRulesFallback(t *testing.T) {
	t.Setenv("OBSIMPORT_RULES", "")
	os.Unsetenv("OBSIMPORT_RULES")
	t.Setenv("OBSIMPORT_POLL_INTERVAL", "20ms")
	srv := dlitest.NewServer(t, dlitest.Options{RealTime: true, SkipAuth: true, Seed: "demo",
		Timing: dlitest.Timing{SQLLaunch: 20 * time.Millisecond, ImportRun: 50 * time.Millisecond}})
	o := srv.Options()
	client, err := dli.New(dli.Config{AK: o.AK, SK: o.SK, ProjectID: o.ProjectID, Endpoint: srv.URL, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	ns := natstest.Start(t)
	nc, js := ns.Connect()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := events.EnsureStreams(ctx, js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	build := func(mode host.Mode, logs io.Writer) (*host.Function, error) {
		env := host.Env{Mode: mode, Logger: slog.New(slog.NewTextHandler(logs, nil)), Metrics: host.NewMetrics(),
			NATS: nc, JS: js, DLI: client, Publish: func(context.Context, string, events.Event) error { return nil }}
		reg := &host.Registry{}
		reg.Register(Registration())
		fns, err := reg.Build(ctx, env, []string{Name})
		if err != nil {
			return nil, err
		}
		return fns[0], nil
	}
	for _, mode := range []host.Mode{host.ModeService, host.ModeLambda} {
		var logs strings.Builder
		if _, err := build(mode, &logs); err == nil || !strings.Contains(err.Error(), "OBSIMPORT_RULES is required") {
			t.Errorf("mode %v without OBSIMPORT_RULES: %v, want OBSIMPORT_RULES is required", mode, err)
		}
	}

	var logs lockedLog
	fn, err := build(host.ModeDev, &logs)
	if err != nil {
		t.Fatalf("dev mode without OBSIMPORT_RULES: %v", err)
	}
	defer func() { _ = fn.Close(context.Background()) }()
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 || !strings.Contains(logs.String(), "OBSIMPORT_RULES unset; using the built-in dev rules") {
		t.Errorf("%d warnings, want 1 naming the built-in dev rules:\n%s", n, logs.String())
	}
	// The printed example, posted as `dlibot dev` prints it, is imported
	// by the built-in rules.
	if fn.Try == nil || fn.Try.Post == nil {
		t.Fatalf("no Try example: %+v", fn.Try)
	}
	// Handle the stored event directly (no consumer needed here).
	body := []byte(fn.Try.Post.Body)
	evs, err := ConvertRaw(events.ObsSubject("raw-data"), nil, body)
	if err != nil || len(evs) != 1 {
		t.Fatalf("convert %v %v", evs, err)
	}
	web := httptest.NewServer(fn.Routes[0].Handler)
	defer web.Close()
	if status, out := post(t, web.URL, nil, body); status != 202 {
		t.Fatalf("webhook %d %v", status, out)
	}
	if out := fn.Handler(ctx, evs[0]); out.Kind() != events.KindAck {
		t.Fatalf("outcome %v", out)
	}
	// The demo seed has imports of its own: look for this one.
	const path = "obs://raw-data/landing/events/dt=2026-11-26/part-0001.csv"
	var imp dlitest.ImportState
	eventstest.Eventually(t, 15*time.Second, func() bool {
		n := 0
		for _, i := range srv.Snapshot().Imports {
			if i.DataPath == path {
				imp = i
				n++
			}
		}
		return n == 1 && imp.Status == "FINISHED"
	}, "import of %s not finished: %+v", path, srv.Snapshot().Imports)
	if imp.DataType != "csv" || imp.Database != "analytics" || imp.Table != "events" || imp.Queue != "etl" || imp.PartitionSpec["dt"] != "2026-11-26" {
		t.Errorf("import %+v", imp)
	}
}

// lockedLog is a log sink safe for the importer's goroutines.
type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
