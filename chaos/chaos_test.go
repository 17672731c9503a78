package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dlibot-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// full reports the long form (`make chaos`).
func full() bool { return os.Getenv("CHAOS_FULL") == "1" }

// sizes returns the short or the long figure.
func sizes[T any](short, long T) T {
	if full() {
		return long
	}
	return short
}

func binary(t *testing.T) string {
	t.Helper()
	bin, err := Binary(binDir)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// objectEvents builds n object-created CloudEvents for bucket, ids
// "<bucket>-<i>".
func objectEvents(t *testing.T, bucket string, n int) []Request {
	t.Helper()
	reqs := make([]Request, n)
	for i := range n {
		id := fmt.Sprintf("%s-%05d", bucket, i)
		e, err := events.NewEvent(id, "/chaos/"+bucket, events.TypeObjectCreated, events.ObjectCreated{
			Bucket: bucket, Key: fmt.Sprintf("landing/part-%05d.csv", i), Size: 100, EventTime: time.Now().UTC(),
		})
		if err != nil {
			t.Fatal(err)
		}
		b, err := events.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		reqs[i] = Request{Key: id, Path: "/events", ContentType: "application/cloudevents+json", Body: b}
	}
	return reqs
}

// strike runs attack once `after` requests have been accepted, while the
// burst goes on; it returns the Observe hook and a wait function that
// returns the attack's error.
func strike(after int64, attack func() error) (func(int, bool), func() error) {
	var accepted atomic.Int64
	fired := make(chan struct{})
	done := make(chan error, 1)
	var once atomic.Bool
	observe := func(_ int, ok bool) {
		if ok && accepted.Add(1) >= after && once.CompareAndSwap(false, true) {
			close(fired)
			go func() { done <- attack() }()
		}
	}
	return observe, func() error {
		select {
		case <-fired:
			return <-done
		default:
			return fmt.Errorf("attack never fired (fewer than %d requests accepted)", after)
		}
	}
}

// table is the run's results; printed at the end of TestChaos and written
// to $CHAOS_REPORT when set.
var table Table

func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts dlibot processes")
	}
	bin := binary(t)
	registered, err := Registered(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("functions registered in the binary: %v", registered)
	t.Cleanup(func() {
		var b strings.Builder
		fmt.Fprintf(&b, "chaos results (%s form, functions registered: %v)\n\n", sizes("short", "long"), registered)
		table.WriteMarkdown(&b)
		t.Log("\n" + b.String())
		if p := os.Getenv("CHAOS_REPORT"); p != "" {
			if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
				t.Errorf("writing %s: %v", p, err)
			}
		}
	})

	served, env := functionEnv(t, registered)
	env = append(env, "DLI_TIMEOUT=15s") // below OBSIMPORT_RECOVER_AFTER, above the 10 s latency fault
	if len(served) == 0 && len(registered) > 0 {
		t.Fatalf("none of the registered functions %v is configured by the harness", registered)
	}
	c := Start(t, Options{Binary: bin, Replicas: 3, Functions: served, Env: env,
		Timing: dlitest.Timing{SQLLaunch: 200 * time.Millisecond, SQLRun: time.Second, ImportRun: time.Second},
		Queues: []dlitest.QueueSpec{{Name: "etl", CUCount: 16}}})
	ctx := context.Background()

	scenario := func(name, attack string, fn func(t *testing.T) string) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			detail := "stopped early (see the test log)"
			defer func() {
				st := Pass
				if t.Failed() {
					st = Fail
				}
				table.Add(Row{Scenario: name, Attack: attack, Status: st, Detail: detail, Took: time.Since(start)})
			}()
			detail = fn(t)
		})
	}

	// Ingestion: POST /events → JetStream under load, with a replica
	// killed, NATS restarted, a replica paused, a replica stopped.
	n := sizes(300, 2000)
	// Each burst lasts about 4 s (short) or 25 s (long) so the attack lands
	// mid-burst whatever the machine's speed.
	pace := sizes(100*time.Millisecond, 100*time.Millisecond)

	scenario("ingest/kill-9", "kill -9 one replica mid-burst, restart it", func(t *testing.T) string {
		bucket := "chaos-kill9"
		victim := c.Replicas[1]
		observe, attacked := strike(int64(n/3), func() error {
			victim.Kill()
			return victim.Start()
		})
		res := Send(ctx, c.Live, objectEvents(t, bucket, n), LoadOptions{Observe: observe, Pace: pace})
		if err := attacked(); err != nil {
			t.Error(err)
		}
		return checkIngest(t, c, bucket, n, res)
	})

	scenario("ingest/nats-restart", "NATS server shut down mid-burst for ~2 s, restarted on the same store", func(t *testing.T) string {
		bucket := "chaos-natsrestart"
		var unavailable atomic.Int64
		observe, attacked := strike(int64(n/3), func() error {
			c.NATS.Shutdown()
			// Keep it down until a replica has answered 503 (or 3 s).
			_ = Eventually(3*time.Second, func() error {
				if unavailable.Load() == 0 {
					return fmt.Errorf("no 503 yet")
				}
				return nil
			})
			c.NATS.Restart()
			return nil
		})
		before := sumMetric(t, c, "dlibot_ingress_events_total", `result="unavailable"`)
		res := Send(ctx, c.Live, objectEvents(t, bucket, n), LoadOptions{Pace: pace, Observe: func(s int, ok bool) {
			if s == 503 {
				unavailable.Add(1)
			}
			observe(s, ok)
		}})
		if err := attacked(); err != nil {
			t.Error(err)
		}
		detail := checkIngest(t, c, bucket, n, res)
		// Every failure is visible: the 503s the senders saw are counted.
		after := sumMetric(t, c, "dlibot_ingress_events_total", `result="unavailable"`)
		if res.Statuses[503] > 0 && after-before < 1 {
			t.Errorf("senders got %d× 503 but dlibot_ingress_events_total{result=\"unavailable\"} did not move", res.Statuses[503])
		}
		// Every replica is ready again.
		for _, r := range c.Replicas {
			if err := Eventually(30*time.Second, func() error {
				code, body, err := Get(r.URL(), "/readyz")
				if err != nil || code != 200 {
					return fmt.Errorf("%s /readyz: %d %v %s", r.Name, code, err, body)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
		}
		return fmt.Sprintf("%s; 503s seen %d, unavailable metric +%.0f; all replicas ready again", detail, res.Statuses[503], after-before)
	})

	pause := sizes(5*time.Second, 35*time.Second)
	scenario("ingest/pause", fmt.Sprintf("SIGSTOP one replica for %s mid-burst (AckWait is 30 s), then SIGCONT", pause), func(t *testing.T) string {
		bucket := "chaos-pause"
		victim := c.Replicas[2]
		resumed := make(chan struct{})
		observe, attacked := strike(int64(n/4), func() error {
			defer close(resumed)
			if err := victim.Pause(); err != nil {
				return err
			}
			time.Sleep(pause) // the attack itself: how long the process is frozen
			return victim.Resume()
		})
		reqs := objectEvents(t, bucket, n)
		res := Send(ctx, c.Live, reqs, LoadOptions{Observe: observe, Pace: pace})
		if err := attacked(); err != nil {
			t.Error(err)
		}
		<-resumed
		if err := Eventually(30*time.Second, func() error {
			code, _, err := Get(victim.URL(), "/healthz")
			if err != nil || code != 200 {
				return fmt.Errorf("%s /healthz after SIGCONT: %d %v", victim.Name, code, err)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		return checkIngest(t, c, bucket, n, res)
	})

	scenario("ingest/sigterm", "SIGTERM one replica mid-burst (graceful stop), restart it", func(t *testing.T) string {
		bucket := "chaos-sigterm"
		victim := c.Replicas[0]
		var graceful bool
		var took time.Duration
		observe, attacked := strike(int64(n/3), func() error {
			graceful, took = victim.Stop(35 * time.Second)
			return victim.Start()
		})
		res := Send(ctx, c.Live, objectEvents(t, bucket, n), LoadOptions{Observe: observe, Pace: pace})
		if err := attacked(); err != nil {
			t.Error(err)
		}
		if !graceful {
			t.Errorf("replica did not exit 0 within 35 s of SIGTERM (took %s)", took)
		}
		if took > 30*time.Second {
			t.Errorf("graceful stop took %s, the contract is 30 s", took)
		}
		return fmt.Sprintf("%s; exit 0 after SIGTERM in %s", checkIngest(t, c, bucket, n, res), took.Round(10*time.Millisecond))
	})

	functionScenarios(t, c, registered, scenario)

	scenario("security/http-hardening", "slowloris, 80 KiB headers, oversized and chunked bodies, wrong methods, path traversal, request ids against a replica", func(t *testing.T) string {
		return httpHardening(t, c.Live()[0])
	})
	if slices.Contains(served, "chatops") {
		scenario("security/response-url", "signed slash commands whose response_url is not a Slack host (SSRF)", func(t *testing.T) string {
			return responseURLRestricted(t, c)
		})
	} else {
		table.Add(Row{Scenario: "security/response-url", Attack: "signed slash commands whose response_url is not a Slack host (SSRF)", Status: NotRun, Detail: "chatops not served"})
	}
	// Last: everything every replica printed during the attacks above, and
	// its metrics, must be free of the planted secrets.
	scenario("security/no-secrets-in-output", "grep every replica's output and /metrics for the planted AK/SK, security token, Slack token and signing secret", func(t *testing.T) string {
		lines := 0
		for _, r := range c.Replicas {
			out := r.Output()
			lines += len(scanLines(out))
			for _, l := range scanLines(out) {
				if found := findSecrets(l); len(found) > 0 {
					t.Errorf("%s printed a planted secret: %s", r.Name, l)
				}
			}
			if code, m, err := Get(r.URL(), "/metrics"); err == nil && code == 200 {
				if found := findSecrets(m); len(found) > 0 {
					t.Errorf("%s /metrics shows planted secrets %q", r.Name, found)
				}
			}
		}
		return fmt.Sprintf("%d output lines of %d replicas (%d incarnations) and their /metrics: no secret", lines, len(c.Replicas), c.Replicas[0].Incarnation()+c.Replicas[1].Incarnation()+c.Replicas[2].Incarnation())
	})
}

// checkIngest asserts every request was accepted and every accepted event
// is stored on DLIBOT_IN exactly once, and returns the row's detail.
func checkIngest(t *testing.T, c *Cluster, bucket string, n int, res *LoadResult) string {
	t.Helper()
	if len(res.Failed) > 0 {
		t.Errorf("%d/%d events never accepted: %v (statuses %v)", len(res.Failed), n, head(res.Failed, 10), res.Statuses)
	}
	var stored map[string]int
	err := Eventually(30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var err error
		stored, err = c.StreamEvents(ctx, events.StreamIn, events.ObsSubject(bucket))
		return err
	})
	if err != nil {
		t.Fatalf("reading DLIBOT_IN: %v", err)
	}
	if err := CheckExactlyOnce(res.Accepted, stored); err != nil {
		t.Error(err)
	}
	return fmt.Sprintf("%d/%d accepted, %d stored once, 0 lost, 0 doubled required; %d retried; answers %v; %.0f ev/s, p99 %s",
		len(res.Accepted), n, len(stored), res.Retried, statusList(res.Statuses),
		float64(len(res.Accepted))/res.Took.Seconds(), res.Percentile(99).Round(time.Millisecond))
}

func statusList(m map[int]int) string {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		name := fmt.Sprint(k)
		if k == 0 {
			name = "conn-error"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, m[k]))
	}
	return strings.Join(parts, " ")
}

func sumMetric(t *testing.T, c *Cluster, name string, labels ...string) float64 {
	t.Helper()
	total := 0.0
	for _, u := range c.Live() {
		v, err := MetricSum(u, name, labels...)
		if err != nil {
			t.Logf("scraping %s: %v", u, err)
			continue
		}
		total += v
	}
	return total
}

// functionEnv returns the registered functions the harness knows how to
// configure, with the configuration they need to start (rules and policy
// files, intervals). A function registered later than this harness is
// left out (and reported) until its configuration is added here.
func functionEnv(t *testing.T, registered []string) (fns, env []string) {
	t.Helper()
	for _, f := range registered {
		switch f {
		case "jobwatch":
			env = append(env, jobwatchEnv...)
		case "obsimport":
			env = append(env, obsimportEnv(t)...)
		case "chatops":
			p, err := filepath.Abs("testdata/policy.yaml")
			if err != nil {
				t.Fatal(err)
			}
			env = append(env, "CHATOPS_POLICY="+p)
		default:
			t.Logf("function %s is registered but the harness does not configure it yet: not served", f)
			continue
		}
		fns = append(fns, f)
	}
	return fns, env
}

// functionScenarios runs each function's scenarios, or reports them not
// run when the function is not registered in the binary.
func functionScenarios(t *testing.T, c *Cluster, registered []string, scenario func(string, string, func(*testing.T) string)) {
	has := func(f string) bool { return slices.Contains(registered, f) }
	// implemented lists the functions that have scenarios in this harness.
	implemented := map[string]bool{"jobwatch": true, "obsimport": true}
	for _, s := range []struct{ name, attack, fn string }{
		{"obsimport/kill-9+pause", "object events while a replica is killed and another paused", "obsimport"},
		{"obsimport/dli-faults", "DLI 500s, 429 + Retry-After, connection resets, 10 s latency on import submits", "obsimport"},
		{"jobwatch/kill-9+faults", "Flink jobs fail under kill -9, DLI and Slack faults", "jobwatch"},
		{"jobwatch/dli-outage", "DLI outage (503 on every call) across ticks, then recovery", "jobwatch"},
		{"autoscale/kill-9", "kill -9 a replica while it changes plans / scales", "autoscale"},
		{"chatops/slack-retries", "Slack retries of one slash command; response_url limited to Slack hosts", "chatops"},
	} {
		switch {
		case has(s.fn) && implemented[s.fn]:
			continue // the function's own scenario runs below
		case has(s.fn):
			table.Add(Row{Scenario: s.name, Attack: s.attack, Status: NotRun, Detail: s.fn + " is registered; its scenario is not written yet"})
		default:
			table.Add(Row{Scenario: s.name, Attack: s.attack, Status: NotRun, Detail: s.fn + " not registered in cmd/dlibot"})
		}
	}
	if has("jobwatch") {
		jobwatchScenarios(t, c, scenario)
	}
	if has("obsimport") {
		obsimportScenarios(t, c, scenario)
	}
}
