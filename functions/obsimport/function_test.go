package obsimport

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"strings"
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
