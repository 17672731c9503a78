package chaos

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

// Planted credentials: the harness gives them to every process it starts,
// so any output can be searched for them (see Secrets).
const (
	PlantedAK            = "CHAOSAKPLANTED0000001"
	PlantedSK            = "chaos-sk-planted-7f3a9c1e5b2d4f6a8c0e"
	PlantedProject       = "0chaosproject0000000000000000001"
	PlantedSecurityToken = "chaos-security-token-planted-q8w7e6r5t4y3"
	PlantedSigningSecret = "chaos-signing-secret-planted-a1s2d3f4g5h6"
	PlantedSlackToken    = "xoxb-chaos-planted-slack-token-z9x8c7v6b5"
	PlantedIngestToken   = "chaos-ingest-token-planted-m3n4b5v6c7x8"
	PlantedIngestToken2  = "chaos-ingest-token-rotated-p0o9i8u7y6t5"
)

// Secrets lists every planted secret value.
func Secrets() []string {
	return []string{PlantedAK, PlantedSK, PlantedSecurityToken, PlantedSigningSecret, PlantedSlackToken,
		PlantedIngestToken, PlantedIngestToken2}
}

// BinaryEnv names an already built dlibot binary to use instead of
// building one (`make chaos` sets it to bin/dlibot).
const BinaryEnv = "DLIBOT_BIN"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the dlibot binary: $DLIBOT_BIN when set, else one built
// once per test process with `go build` into dir (cached by the go build
// cache, so a rebuild of an unchanged tree takes seconds; -trimpath like
// `make build`, so the two share the cache).
func Binary(dir string) (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinaryEnv, p, err)
		}
		return abs, nil
	}
	buildOnce.Do(func() {
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		out := filepath.Join(dir, "dlibot")
		cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, "github.com/dlibot/dlibot/cmd/dlibot")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/dlibot: %v\n%s", err, b)
			return
		}
		buildPath = out
	})
	return buildPath, buildErr
}

// Options configures Start.
type Options struct {
	// Binary is the dlibot binary; required (see Binary).
	Binary string
	// Replicas is the number of `dlibot serve` processes; default 3.
	Replicas int
	// Functions are the functions served (serve's arguments); empty runs
	// every registered one.
	Functions []string
	// Env adds or overrides environment variables (KEY=VALUE).
	Env []string
	// Timing shortens the emulator's job lifecycles; zero fields keep the
	// emulator's defaults.
	Timing dlitest.Timing
	// Queues are created in the emulator before the replicas start.
	Queues []dlitest.QueueSpec
	// Seed, if set, fills the emulator (jobs, queues) before the replicas
	// start, so their first poll already sees it.
	Seed func(*dlitest.Emulator) error
}

// Cluster is a running system under test: an embedded NATS server, the
// DLI emulator, the Slack fake and the replicas.
type Cluster struct {
	// NATS is the embedded server; Restart keeps its port and store.
	NATS *natstest.Server
	// Emulator is the DLI emulator (real-time clock), served at
	// EmulatorURL.
	Emulator    *dlitest.Emulator
	EmulatorURL string
	// Slack is the Slack fake.
	Slack *slacktest.Server
	// Replicas are the dlibot serve processes.
	Replicas []*Replica
	// JS is the harness's own JetStream connection (reconnects forever).
	JS jetstream.JetStream
	// Conn is the harness's NATS connection.
	Conn *nats.Conn

	tb  testing.TB
	env []string
}

// SlackChannel is the channel notifications go to unless a route says
// otherwise.
const SlackChannel = "C0CHAOS"

// Start brings a cluster up and registers its teardown with tb.Cleanup.
func Start(tb testing.TB, o Options) *Cluster {
	tb.Helper()
	if o.Replicas <= 0 {
		o.Replicas = 3
	}
	c := &Cluster{tb: tb}
	c.NATS = natstest.Start(tb)
	c.Conn, c.JS = c.NATS.Connect()

	emu, err := dlitest.New(dlitest.Options{ProjectID: PlantedProject, AK: PlantedAK, SK: PlantedSK,
		SecurityToken: PlantedSecurityToken, RealTime: true, Timing: o.Timing})
	if err != nil {
		tb.Fatalf("emulator: %v", err)
	}
	for _, q := range o.Queues {
		if err := emu.AddQueue(q); err != nil {
			tb.Fatalf("emulator queue %s: %v", q.Name, err)
		}
	}
	if o.Seed != nil {
		if err := o.Seed(emu); err != nil {
			tb.Fatalf("emulator seed: %v", err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("emulator listen: %v", err)
	}
	hs := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	tb.Cleanup(func() { _ = hs.Close() })
	c.Emulator, c.EmulatorURL = emu, "http://"+ln.Addr().String()

	c.Slack = slacktest.Start(tb, slacktest.WithToken(PlantedSlackToken))

	c.env = c.baseEnv(o.Env)
	args := append([]string{"serve"}, o.Functions...)
	for i := range o.Replicas {
		c.Replicas = append(c.Replicas, newReplica(tb, fmt.Sprintf("r%d", i), o.Binary, args, c.env))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.Replicas))
	for i, r := range c.Replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.Start()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// Env is the environment every replica runs with.
func (c *Cluster) Env() []string { return append([]string(nil), c.env...) }

func (c *Cluster) baseEnv(extra []string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"NATS_URL=" + c.NATS.URL(),
		"HTTP_ADDR=127.0.0.1:0",
		"LOG_LEVEL=info",
		"HUAWEICLOUD_SDK_AK=" + PlantedAK,
		"HUAWEICLOUD_SDK_SK=" + PlantedSK,
		"HUAWEICLOUD_SDK_PROJECT_ID=" + PlantedProject,
		"HUAWEICLOUD_SDK_SECURITY_TOKEN=" + PlantedSecurityToken,
		"DLI_REGION=cn-north-4",
		"DLI_ENDPOINT=" + c.EmulatorURL,
		"SLACK_BOT_TOKEN=" + PlantedSlackToken,
		"SLACK_SIGNING_SECRET=" + PlantedSigningSecret,
		"SLACK_API_URL=" + c.Slack.URL(),
		"SLACK_CHANNEL=" + SlackChannel,
	}
	// Later entries win in os/exec (the last value of a duplicate key is
	// used), so extra overrides the defaults.
	return append(env, extra...)
}

// Live returns the base URLs of the running replicas (paused ones
// included: a client cannot tell a paused process from a slow one).
func (c *Cluster) Live() []string {
	var urls []string
	for _, r := range c.Replicas {
		if u := r.URL(); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

// StreamEvents reads every message stored on DLIBOT_IN (or another
// stream) under subject filter and returns the CloudEvent ids with how
// many times each is stored. Undecodable messages are counted under
// "<undecodable>".
func (c *Cluster) StreamEvents(ctx context.Context, stream, filter string) (map[string]int, error) {
	ids := map[string]int{}
	es, bad, err := c.StreamEventList(ctx, stream, filter)
	if err != nil {
		return nil, err
	}
	for _, e := range es {
		ids[e.ID()]++
	}
	if bad > 0 {
		ids["<undecodable>"] += bad
	}
	return ids, nil
}

// StreamEventList reads every message stored on stream under subject
// filter, in stream order, and returns the decoded CloudEvents and how
// many messages did not decode.
func (c *Cluster) StreamEventList(ctx context.Context, stream, filter string) ([]events.Event, int, error) {
	s, err := c.JS.Stream(ctx, stream)
	if err != nil {
		return nil, 0, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, 0, err
	}
	want := uint64(0)
	for subj, n := range info.State.Subjects {
		if subjectMatches(filter, subj) {
			want += n
		}
	}
	var out []events.Event
	bad := 0
	if want == 0 {
		return out, 0, nil
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		return nil, 0, err
	}
	got := uint64(0)
	for got < want {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, 0, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			got++
			e, err := events.Decode(m.Headers(), m.Data())
			if err != nil {
				bad++
				continue
			}
			out = append(out, e)
		}
		if err := batch.Error(); err != nil && n == 0 {
			return nil, 0, fmt.Errorf("fetch %s after %d/%d messages: %w", stream, got, want, err)
		}
		if n == 0 {
			return nil, 0, fmt.Errorf("fetch %s: stalled after %d/%d messages", stream, got, want)
		}
	}
	return out, bad, nil
}

// subjectMatches matches a NATS subject against a filter with * and >.
func subjectMatches(filter, subj string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subj, ".")
	for i, tok := range f {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(f) == len(s)
}

// Registered asks the binary which functions it registers (from the
// error `dlibot serve` gives for an unknown function name).
func Registered(bin string) ([]string, error) {
	out, err := RunOnce(bin, []string{"serve", "chaos-probe-no-such-function"},
		[]string{"PATH=" + os.Getenv("PATH"), "HTTP_ADDR=127.0.0.1:0"}, 30*time.Second)
	if err == nil {
		return nil, fmt.Errorf("dlibot serve accepted an unknown function; output:\n%s", out)
	}
	i := strings.Index(out, "(registered: [")
	if i < 0 {
		return nil, fmt.Errorf("cannot find the registered functions in:\n%s", out)
	}
	rest := out[i+len("(registered: ["):]
	j := strings.Index(rest, "]")
	if j < 0 {
		return nil, fmt.Errorf("cannot parse the registered functions in:\n%s", out)
	}
	return strings.Fields(rest[:j]), nil
}
