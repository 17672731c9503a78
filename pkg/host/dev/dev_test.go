package dev

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/host"
	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

// testFunctions registers three trivial functions: one ticking, one
// consuming object events, one serving a Slack route.
func testFunctions(handled *atomic.Int32) *host.Registry {
	reg := &host.Registry{}
	h := func(ctx context.Context, e events.Event) events.Outcome { handled.Add(1); return events.Ack() }
	reg.Register(host.Registration{Name: "ticking", New: func(ctx context.Context, env host.Env) (*host.Function, error) {
		if env.DLI == nil || env.Notifier == nil || env.JS == nil {
			panic("dev env is missing DLI, notifier or JetStream")
		}
		return &host.Function{Tick: time.Hour, Handler: h}, nil
	}})
	reg.Register(host.Registration{Name: "objects", New: func(ctx context.Context, env host.Env) (*host.Function, error) {
		return &host.Function{Subjects: []string{events.SubjectsObs}, Handler: h}, nil
	}})
	reg.Register(host.Registration{Name: "slashy", New: func(ctx context.Context, env host.Env) (*host.Function, error) {
		return &host.Function{
			Routes: []host.Route{{Method: "POST", Path: "/slack/commands", SlackSigned: true,
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					handled.Add(1)
					io.WriteString(w, `{"text":"queues: default"}`)
				})}},
			Try: &host.Try{Slack: "/dli queues"},
		}, nil
	}})
	return reg
}

type devRun struct {
	info   Info
	out    *testsync.Buffer
	cancel context.CancelFunc
	done   chan error
}

func startDev(t *testing.T, dir string, reg *host.Registry) *devRun {
	t.Helper()
	return startDevEnv(t, dir, reg, map[string]string{})
}

func startDevEnv(t *testing.T, dir string, reg *host.Registry, env map[string]string) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &devRun{out: &testsync.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan Info, 1)
	go func() {
		d.done <- Run(ctx, Options{Dir: dir, HTTPAddr: "127.0.0.1:0", Env: envconfig.MapLookuper(env),
			Registry: reg, Stdout: d.out, Logger: slog.New(slog.DiscardHandler), OnReady: func(i Info) { ready <- i }})
	}()
	select {
	case d.info = <-ready:
	case err := <-d.done:
		t.Fatalf("dev.Run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("dev did not start")
	}
	t.Cleanup(func() { d.stop(t) })
	return d
}

func (d *devRun) stop(t *testing.T) {
	if d.cancel == nil {
		return
	}
	d.cancel()
	d.cancel = nil
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("dev.Run: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Error("dev did not stop")
	}
}

func TestDevPrintedCommandsWork(t *testing.T) {
	dir := t.TempDir()
	var handled atomic.Int32
	d := startDev(t, dir, testFunctions(&handled))
	banner := d.out.String()
	for _, want := range []string{d.info.HTTP, d.info.NATS, d.info.Emulator, "console notifier", SecretFile, "objects, slashy, ticking"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	names := map[string]bool{}
	for _, c := range d.info.Commands {
		names[c.Name] = true
		if !strings.Contains(banner, c.Line) {
			t.Errorf("command %s not printed as %q", c.Name, c.Line)
		}
	}
	for _, n := range []string{"ticking", "objects", "slashy", "emulator"} {
		if !names[n] {
			t.Errorf("no command for %s", n)
		}
	}
	secretPath := filepath.Join(dir, SecretFile)
	st, err := os.Stat(secretPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file: %v %v", st, err)
	}
	secret, _ := os.ReadFile(secretPath)
	_, curlErr := exec.LookPath("curl")
	for _, c := range d.info.Commands {
		t.Run(c.Name, func(t *testing.T) {
			if len(c.Args) > 0 {
				// `dlibot slack` lines: send what that command sends (cmd/dlibot
				// tests the command itself against dev).
				if c.Args[0] != "slack" || c.Args[2] != d.info.HTTP {
					t.Fatalf("args %v", c.Args)
				}
				body := "command=%2Fdli&text=queues&user_id=U1&channel_id=C1&team_id=T1"
				req, _ := http.NewRequest("POST", d.info.HTTP+"/slack/commands", strings.NewReader(body))
				slacksig.SetHeaders(req.Header, strings.TrimSpace(string(secret)), time.Now(), []byte(body))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("signed slash command: %d", resp.StatusCode)
				}
				return
			}
			req, _ := http.NewRequest(c.Method, c.URL, strings.NewReader(c.Body))
			for k, v := range c.Header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("%s: status %d", c.Line, resp.StatusCode)
			}
			if curlErr == nil {
				// The printed line itself, through a shell.
				out, err := exec.Command("sh", "-c", c.Line+" -o /dev/null -w '%{http_code}'").CombinedOutput()
				if err != nil || out[0] != '2' {
					t.Fatalf("%s: %s %v", c.Line, out, err)
				}
			}
		})
	}
	// ticking got its start-up tick and the example; objects its example(s);
	// slashy its command.
	testsync.WaitFor(t, 20*time.Second, "handlers", func() bool { return handled.Load() >= 4 })
}

func TestDevKeepsStateAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	var handled atomic.Int32
	d := startDev(t, dir, testFunctions(&handled))
	secret1, _ := os.ReadFile(filepath.Join(dir, SecretFile))
	var obj Command
	for _, c := range d.info.Commands {
		if c.Name == "objects" {
			obj = c
		}
	}
	resp, err := http.Post(obj.URL, obj.Header.Get("Content-Type"), strings.NewReader(obj.Body))
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("%v %v", resp, err)
	}
	resp.Body.Close()
	d.stop(t)

	d2 := startDev(t, dir, testFunctions(&handled))
	secret2, _ := os.ReadFile(filepath.Join(dir, SecretFile))
	if string(secret1) != string(secret2) || len(secret1) == 0 {
		t.Fatal("the signing secret changed across restarts")
	}
	nc, err := nats.Connect(d2.info.NATS)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.SubjectsObs))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[events.ObsSubject("demo-bucket")]; n != 1 {
		for i := uint64(1); i <= info.State.LastSeq; i++ {
			m, err := st.GetMsg(ctx, i)
			if err == nil {
				t.Logf("%d %s %s %s", i, m.Subject, m.Header, m.Data)
			}
		}
		t.Fatalf("%d object events after restart, want the 1 stored before", n)
	}
}

// TestDevWithRealDLICredentials: with HUAWEICLOUD_SDK_AK set, dev uses that
// DLI (here an emulator standing in for it) instead of starting its own, and
// DLI calls show in /metrics.
func TestDevWithRealDLICredentials(t *testing.T) {
	real := dlitest.NewServer(t, dlitest.Options{ProjectID: "p-real", AK: "real-ak", SK: "real-sk", Seed: "demo"})
	reg := &host.Registry{}
	reg.Register(host.Registration{Name: "lister", New: func(ctx context.Context, env host.Env) (*host.Function, error) {
		if _, err := env.DLI.ListQueues(ctx, ""); err != nil {
			return nil, err
		}
		return &host.Function{}, nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testsync.Buffer{}
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Dir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Registry: reg, Stdout: out,
			Logger: slog.New(slog.DiscardHandler), OnReady: func(i Info) { ready <- i },
			Env: envconfig.MapLookuper(map[string]string{"HUAWEICLOUD_SDK_AK": "real-ak", "HUAWEICLOUD_SDK_SK": "real-sk",
				"HUAWEICLOUD_SDK_PROJECT_ID": "p-real", "DLI_ENDPOINT": real.URL, "SLACK_SIGNING_SECRET": "given"})})
	}()
	var info Info
	select {
	case info = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(60 * time.Second):
		t.Fatal("dev did not start")
	}
	if info.Emulator != "" || !strings.Contains(out.String(), "real DLI") || info.SecretFile != "" {
		t.Fatalf("info %+v\n%s", info, out.String())
	}
	for _, c := range info.Commands {
		if c.Name == "emulator" {
			t.Fatal("emulator command printed with real DLI")
		}
	}
	if strings.Contains(out.String(), "real-sk") {
		t.Fatal("banner shows the SK")
	}
	resp, err := http.Get(info.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `dlibot_dli_calls_total{operation=`) {
		t.Fatalf("no DLI call metrics:\n%s", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestDevWithIngestTokens: with DLIBOT_INGEST_TOKENS set, dev requires the
// token and its printed curl lines send the first one by expanding the
// variable (the token itself is never printed).
func TestDevWithIngestTokens(t *testing.T) {
	const tok1, tok2 = "dev-ingest-token-one-0123456789", "dev-ingest-token-two-0123456789"
	t.Setenv("DLIBOT_INGEST_TOKENS", tok1+","+tok2) // what the printed lines expand
	var handled atomic.Int32
	d := startDevEnv(t, t.TempDir(), testFunctions(&handled), map[string]string{"DLIBOT_INGEST_TOKENS": tok1 + "," + tok2})
	banner := d.out.String()
	if strings.Contains(banner, tok1) || strings.Contains(banner, tok2) {
		t.Fatalf("the banner prints a token:\n%s", banner)
	}
	_, curlErr := exec.LookPath("curl")
	n := 0
	for _, c := range d.info.Commands {
		if c.Method != "POST" {
			continue
		}
		n++
		if !strings.Contains(c.Line, `"Authorization: Bearer ${DLIBOT_INGEST_TOKENS%%,*}"`) {
			t.Errorf("%s: the line sends no token: %s", c.Name, c.Line)
		}
		// Without the token: 401.
		resp, err := http.Post(c.URL, c.Header.Get("Content-Type"), strings.NewReader(c.Body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d, want 401", c.Name, resp.StatusCode)
		}
		if curlErr == nil {
			out, err := exec.Command("sh", "-c", c.Line+" -o /dev/null -w '%{http_code}'").CombinedOutput()
			if err != nil || len(out) == 0 || out[0] != '2' {
				t.Errorf("%s: %s %v", c.Line, out, err)
			}
		} else {
			req, _ := http.NewRequest(c.Method, c.URL, strings.NewReader(c.Body))
			req.Header = c.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Errorf("%s with the token: %d", c.Name, resp.StatusCode)
			}
		}
	}
	if n == 0 {
		t.Fatal("no POST command printed")
	}
}

// TestDevRefusesOpenNonLoopback: dev on all interfaces without a token
// stops before starting anything, saying what to set.
func TestDevRefusesOpenNonLoopback(t *testing.T) {
	var handled atomic.Int32
	err := Run(context.Background(), Options{Dir: t.TempDir(), HTTPAddr: "0.0.0.0:0", Env: envconfig.MapLookuper(map[string]string{}),
		Registry: testFunctions(&handled), Stdout: io.Discard, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, host.ErrIngestAuth) || !strings.Contains(err.Error(), "DLIBOT_INGEST_TOKENS") {
		t.Fatalf("dev on 0.0.0.0 without a token: %v", err)
	}
}
