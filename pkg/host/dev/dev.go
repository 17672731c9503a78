// Package dev runs `dlibot dev`: every registered function in one process on
// an embedded NATS server (JetStream on, state under .dlibot/nats so restarts
// keep it), the DLI emulator seeded with demo data in real time (or real DLI
// when HUAWEICLOUD_SDK_AK is set), a console notifier when SLACK_BOT_TOKEN is
// unset and a generated Slack signing secret. It prints where everything
// listens and a ready-to-paste command per function.
package dev

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/host"
)

// StateDir is where dev keeps its state, under the working directory.
const StateDir = ".dlibot"

// SecretFile is the generated Slack signing secret, relative to the
// working directory (mode 0600).
const SecretFile = StateDir + "/slack-signing-secret"

// Emulator identity in dev mode.
const (
	EmulatorProject = "dev-project"
	EmulatorAK      = "dev-ak"
)

// Options configures Run.
type Options struct {
	// Dir is the working directory holding StateDir; default ".".
	Dir string
	// HTTPAddr is the HTTP listen address; default 127.0.0.1:8080.
	HTTPAddr string
	// NATSPort is the embedded NATS port; 0 picks a free one.
	NATSPort int
	// Env reads configuration; default the process environment.
	Env envconfig.Lookuper
	// Registry holds the functions; default host.DefaultRegistry.
	Registry *host.Registry
	// Functions names the functions to run; empty runs all registered.
	Functions []string
	// Stdout receives the banner and the console notifier's messages.
	Stdout io.Writer
	// Logger is the process logger; default JSON on LogOutput at LOG_LEVEL.
	Logger *slog.Logger
	// LogOutput is where the default logger writes; default os.Stderr.
	LogOutput io.Writer
	// Bin is how the banner spells the dlibot binary; default "dlibot".
	Bin string
	// OnReady, if set, is called with what the banner shows.
	OnReady func(Info)
}

// Info is where dev listens and what to try.
type Info struct {
	// HTTP is the base URL of dlibot's HTTP server.
	HTTP string
	// NATS is the embedded server's client URL.
	NATS string
	// Emulator is the DLI emulator's base URL; empty with real DLI.
	Emulator string
	// SecretFile is the Slack signing secret file (absolute), or empty when
	// SLACK_SIGNING_SECRET is set.
	SecretFile string
	// Functions are the running functions.
	Functions []string
	// Commands are the ready-to-paste commands, one per function plus the
	// emulator's state.
	Commands []Command
}

// Command is a printed example, in a form tests can also execute.
type Command struct {
	// Name labels it (a function name, or "emulator").
	Name string
	// Line is the printed, ready-to-paste shell command.
	Line string
	// Method, URL, Header and Body describe an HTTP request (curl lines).
	Method string
	URL    string
	Header http.Header
	Body   string
	// Args are the dlibot arguments (for `dlibot slack` lines), without
	// the binary.
	Args []string
}

// Run runs dev mode until ctx is done.
func Run(ctx context.Context, o Options) error {
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:8080"
	}
	if o.Env == nil {
		o.Env = envconfig.OsLookuper()
	}
	if o.Registry == nil {
		o.Registry = host.DefaultRegistry
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Bin == "" {
		o.Bin = "dlibot"
	}
	cfg, err := host.LoadConfigFrom(ctx, o.Env)
	if err != nil {
		return err
	}
	if o.Logger == nil {
		if o.LogOutput == nil {
			o.LogOutput = os.Stderr
		}
		o.Logger = cfg.NewLogger(o.LogOutput)
	}
	// Refuse an unauthenticated non-loopback listener before starting
	// anything (host.Run decides again on the real listener).
	if _, err := host.IngestPolicy(cfg, o.HTTPAddr); err != nil {
		return err
	}
	state := filepath.Join(o.Dir, StateDir)
	if err := os.MkdirAll(filepath.Join(state, "nats"), 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}

	// Embedded NATS with JetStream, state kept across restarts.
	ns, err := startNATS(filepath.Join(state, "nats"), o.NATSPort)
	if err != nil {
		return err
	}
	defer func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	}()
	cfg.NATSURL = ns.ClientURL()
	nc, err := nats.Connect(cfg.NATSURL, cfg.NATSOptions("dlibot dev", o.Logger)...)
	if err != nil {
		return fmt.Errorf("connect to the embedded NATS server: %w", err)
	}
	defer func() {
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
		for i := 0; i < 250 && !nc.IsClosed(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// DLI: real when credentials are set, else the emulator.
	var dliCfg dli.Config
	var emulatorURL string
	if v, _ := o.Env.Lookup("HUAWEICLOUD_SDK_AK"); v != "" {
		if dliCfg, err = dli.ConfigFromLookuper(ctx, host.NonEmpty(o.Env)); err != nil {
			return err
		}
	} else {
		sk := randomHex(16)
		em, err := dlitest.New(dlitest.Options{ProjectID: EmulatorProject, AK: EmulatorAK, SK: sk, Seed: "demo", RealTime: true})
		if err != nil {
			return fmt.Errorf("DLI emulator: %w", err)
		}
		eln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		es := &http.Server{Handler: em, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = es.Serve(eln) }()
		defer es.Close()
		emulatorURL = "http://" + eln.Addr().String()
		dliCfg = dli.Config{AK: EmulatorAK, SK: sk, ProjectID: EmulatorProject, Endpoint: emulatorURL}
	}

	// Slack signing secret: configured, saved, or generated and saved.
	secretFile := ""
	if cfg.SlackSigningSecret == "" {
		secretFile, err = filepath.Abs(filepath.Join(o.Dir, SecretFile))
		if err != nil {
			return err
		}
		if cfg.SlackSigningSecret, err = loadOrCreateSecret(secretFile); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", o.HTTPAddr)
	if err != nil {
		return fmt.Errorf("--http %s: %w", o.HTTPAddr, err)
	}
	return host.Run(ctx, host.Options{
		Config: cfg, DLI: &dliCfg, Registry: o.Registry, Functions: o.Functions, Mode: host.ModeDev,
		Logger: o.Logger, Listener: ln, NATS: nc, Console: o.Stdout,
		OnReady: func(addr net.Addr, fns []*host.Function) {
			info := Info{HTTP: "http://" + addr.String(), NATS: cfg.NATSURL, Emulator: emulatorURL, SecretFile: secretFile}
			// With ingest tokens configured, the printed curl lines send
			// the first one, read from the shell's environment (the token
			// itself is never printed).
			var auth ingestAuth
			if tokens := cfg.IngestTokenList(); len(tokens) > 0 && cfg.IngestAuth != host.IngestAuthNone {
				auth = ingestAuth{header: "Bearer " + tokens[0], line: `Authorization: Bearer ${DLIBOT_INGEST_TOKENS%%,*}`}
			}
			for _, f := range fns {
				info.Functions = append(info.Functions, f.Name)
				if c, ok := tryCommand(o.Bin, info.HTTP, f, auth); ok {
					info.Commands = append(info.Commands, c)
				}
			}
			if emulatorURL != "" {
				u := emulatorURL + "/_emulator/state"
				info.Commands = append(info.Commands, Command{Name: "emulator", Method: "GET", URL: u, Line: "curl -s " + u})
			}
			printBanner(o.Stdout, info, cfg, state)
			if o.OnReady != nil {
				o.OnReady(info)
			}
		},
	})
}

func startNATS(dir string, port int) (*server.Server, error) {
	if port == 0 {
		port = -1
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "dlibot-dev", Host: "127.0.0.1", Port: port,
		JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("embedded NATS server did not start (is --nats-port in use?)")
	}
	return ns, nil
}

func loadOrCreateSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
	}
	s := randomHex(32)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("saving the generated Slack signing secret: %w", err)
	}
	return s, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ingestAuth is what the printed ingest commands send: header is the
// Authorization value the Command carries, line how the printed line
// spells the header (a shell expansion of DLIBOT_INGEST_TOKENS). Zero: no
// token.
type ingestAuth struct {
	header, line string
}

// tryCommand renders f's Try (or a derived one) as a command.
func tryCommand(bin, base string, f *host.Function, auth ingestAuth) (Command, bool) {
	t := f.Try
	if t == nil {
		t = defaultTry(f)
	}
	if t == nil {
		return Command{}, false
	}
	switch {
	case t.Slack != "":
		args := []string{"slack", "--url", base, t.Slack}
		return Command{Name: f.Name, Args: args, Line: bin + " slack --url " + base + " " + shellQuote(t.Slack)}, true
	case t.Event != nil:
		body, err := events.Marshal(*t.Event)
		if err != nil {
			return Command{}, false
		}
		return curlPost(f.Name, base+"/events", events.ContentType, string(body), auth), true
	case t.Post != nil:
		return curlPost(f.Name, base+t.Post.Path, t.Post.ContentType, t.Post.Body, auth), true
	}
	return Command{}, false
}

func curlPost(name, url, contentType, body string, auth ingestAuth) Command {
	c := Command{
		Name: name, Method: "POST", URL: url, Header: http.Header{"Content-Type": {contentType}}, Body: body,
		Line: "curl -s -X POST " + url + " -H " + shellQuote("Content-Type: "+contentType),
	}
	if auth.header != "" {
		c.Header.Set("Authorization", auth.header)
		// Double quotes: the shell expands the variable.
		c.Line += ` -H "` + auth.line + `"`
	}
	c.Line += " -d " + shellQuote(body)
	return c
}

// defaultTry derives an example event from what f consumes.
func defaultTry(f *host.Function) *host.Try {
	id := "try-" + f.Name + "-" + strconv.FormatInt(time.Now().Unix(), 10)
	var e events.Event
	var err error
	switch {
	case f.Tick > 0:
		start := time.Now().UTC().Truncate(f.Tick)
		e, err = events.NewEvent(id, "/dlibot/dev/try", events.TypeTick, events.Tick{Function: f.Name, PeriodStart: start})
	case consumes(f, events.ObsSubject("demo-bucket")):
		e, err = events.NewEvent(id, "/dlibot/dev/try", events.TypeObjectCreated, events.ObjectCreated{
			Bucket: "demo-bucket", Key: "landing/events/dt=2026-11-26/part-0.csv", Size: 1024, EventTime: time.Now().UTC()})
	case consumes(f, events.MetricsSubject("default")):
		e, err = events.NewEvent(id, "/dlibot/dev/try", events.TypeMetricsSample, events.MetricSample{
			Namespace: events.NamespaceDLI, MetricName: "queue_job_launching_num",
			Dimensions: []events.Dimension{{Name: "queue_name", Value: "default"}}, Value: 3, Timestamp: time.Now().UTC()})
	default:
		return nil
	}
	if err != nil {
		return nil
	}
	return &host.Try{Event: &e}
}

func consumes(f *host.Function, subject string) bool {
	for _, s := range f.AllSubjects() {
		if host.SubjectMatches(s, subject) {
			return true
		}
	}
	return false
}

// shellQuote quotes s for POSIX shells.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// printBanner writes the banner in one Write, so messages the console
// notifier prints meanwhile never land inside it.
func printBanner(out io.Writer, info Info, cfg *host.Config, state string) {
	var b strings.Builder
	w := &b
	defer func() { _, _ = io.WriteString(out, b.String()) }()
	fmt.Fprintln(w, "dlibot dev is running (Ctrl-C to stop)")
	fmt.Fprintf(w, "  HTTP       %s  (POST /events, /slack/commands, /slack/interactions, /webhooks/obs; GET /healthz, /readyz, /metrics)\n", info.HTTP)
	fmt.Fprintf(w, "  NATS       %s  (JetStream, state in %s)\n", info.NATS, filepath.Join(state, "nats"))
	if info.Emulator != "" {
		fmt.Fprintf(w, "  DLI        emulator at %s  (project %s, demo data, real time)\n", info.Emulator, EmulatorProject)
	} else {
		fmt.Fprintln(w, "  DLI        real DLI (HUAWEICLOUD_SDK_AK is set)")
	}
	if cfg.SlackBotToken == "" {
		fmt.Fprintln(w, "  Slack      console notifier (SLACK_BOT_TOKEN is unset): messages print here")
	} else {
		fmt.Fprintln(w, "  Slack      posting with SLACK_BOT_TOKEN")
	}
	if info.SecretFile != "" {
		fmt.Fprintf(w, "  signing    Slack signing secret in %s\n", info.SecretFile)
	}
	if len(info.Functions) == 0 {
		fmt.Fprintln(w, "  functions  none registered yet")
	} else {
		fmt.Fprintf(w, "  functions  %s\n", strings.Join(info.Functions, ", "))
	}
	fmt.Fprintln(w, "\nTry:")
	slack := false
	for _, c := range info.Commands {
		fmt.Fprintf(w, "  # %s\n  %s\n", c.Name, c.Line)
		slack = slack || len(c.Args) > 0 && c.Args[0] == "slack"
	}
	if slack {
		fmt.Fprintln(w, "  # to click a button in an answer: dlibot slack --click <action_id> --value <value>")
	}
	fmt.Fprintln(w)
}
