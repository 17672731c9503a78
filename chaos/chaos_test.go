package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// eventRequest is a POST /events of the CloudEvent id from source, of
// type typ, carrying data (structured mode).
func eventRequest(tb testing.TB, id, source, typ string, data any) Request {
	tb.Helper()
	e, err := events.NewEvent(id, source, typ, data)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := events.Marshal(e)
	if err != nil {
		tb.Fatal(err)
	}
	return Request{Key: id, Path: "/events", ContentType: "application/cloudevents+json", Body: b}
}

// objectEvents builds n object-created CloudEvents for bucket, ids
// "<bucket>-<i>".
func objectEvents(t testing.TB, bucket string, n int) []Request {
	t.Helper()
	reqs := make([]Request, n)
	for i := range n {
		id := fmt.Sprintf("%s-%05d", bucket, i)
		reqs[i] = eventRequest(t, id, "/chaos/"+bucket, events.TypeObjectCreated, events.ObjectCreated{
			Bucket: bucket, Key: fmt.Sprintf("landing/part-%05d.csv", i), Size: 100, EventTime: time.Now().UTC(),
		})
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

// bugReasons holds, by subtest name, why a scenario skipped itself as a
// known bug (its row's detail).
var bugReasons sync.Map

// skipBug records reason as the row's detail and skips the scenario: it
// found a bug that is reported, and the build stays green.
func skipBug(t *testing.T, reason string) {
	t.Helper()
	bugReasons.Store(t.Name(), reason)
	t.Skip("bug: " + reason)
}

// scenario runs fn as a subtest and records its row in the table.
func scenario(t *testing.T, name, attack string, fn func(t *testing.T) string) {
	t.Run(name, func(t *testing.T) {
		start := time.Now()
		detail := "stopped early (see the test log)"
		defer func() {
			st := Pass
			switch {
			case t.Failed():
				st = Fail
			case t.Skipped():
				st = KnownBug
				if v, ok := bugReasons.Load(t.Name()); ok {
					detail = v.(string)
				}
			}
			table.Add(Row{Scenario: name, Attack: attack, Status: st, Detail: detail, Took: time.Since(start)})
		}()
		detail = fn(t)
	})
}

// TestChaos runs the scenario groups concurrently, each on its own cluster
// (three replicas, NATS, emulator, Slack fake): ingestion + security +
// chatops, jobwatch (faults; outage), autoscale, obsimport (kill/pause;
// DLI faults). Most of their time is spent waiting (poll intervals,
// AckWait), not computing.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts dlibot processes")
	}
	t.Parallel()
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
	if len(served) == 0 && len(registered) > 0 {
		t.Fatalf("none of the registered functions %v is configured by the harness", registered)
	}
	env = append(env, "DLI_TIMEOUT=15s") // below OBSIMPORT_RECOVER_AFTER, above the 10 s latency fault
	start := func(t *testing.T, fns []string, extra ...string) *Cluster {
		return Start(t, Options{Binary: bin, Replicas: 3, Functions: fns, Env: append(slices.Clip(env), extra...),
			Timing: dlitest.Timing{SQLLaunch: 200 * time.Millisecond, SQLRun: time.Second, ImportRun: time.Second},
			Queues: []dlitest.QueueSpec{{Name: "etl", CUCount: 16}}})
	}
	has := func(f string) bool { return slices.Contains(served, f) }
	notRunRows(registered, has)

	// group runs fn on a cluster of its own serving fns, concurrently with
	// the other groups (t.Run from goroutines: not bound by -parallel,
	// the groups mostly wait on poll intervals and AckWait), and ends with
	// the no-secrets scan of that cluster.
	var groups sync.WaitGroup
	defer groups.Wait()
	group := func(name string, fns []string, extra []string, fn func(t *testing.T, c *Cluster)) {
		groups.Add(1)
		go func() {
			defer groups.Done()
			t.Run(name, func(t *testing.T) {
				c := start(t, fns, extra...)
				fn(t, c)
				noSecretsScenario(t, c, name)
			})
		}()
	}
	group("ingest", served, nil, func(t *testing.T, c *Cluster) {
		ingestScenarios(t, c)
		securityScenarios(t, c, has("chatops"))
		if has("chatops") {
			chatopsScenarios(t, c)
		}
	})
	if has("jobwatch") {
		group("jobwatch-faults", []string{"jobwatch"}, nil, jobwatchFaults)
		group("jobwatch-outage", []string{"jobwatch"}, nil, jobwatchOutage)
	}
	if has("autoscale") {
		group("autoscale", []string{"autoscale"}, autoscaleEnv, autoscaleScenarios)
		group("autoscale-plans", []string{"autoscale"}, autoscaleEnv, autoscalePlans)
		if full() {
			group("autoscale-plans-concurrent", []string{"autoscale"}, autoscaleEnv, autoscaleConcurrentTicks)
		}
	}
	if has("jobwatch") && has("obsimport") && has("autoscale") {
		group("dli-outage", []string{"jobwatch", "obsimport", "autoscale"}, outageEnv(), dliOutage)
	}
	if has("obsimport") {
		group("obsimport", []string{"obsimport"}, nil, func(t *testing.T, c *Cluster) {
			obsimportKillPause(t, c)
			obsimportPoison(t, c)
			obsimportPastRecoverAfter(t, start)
		})
		group("obsimport-faults", []string{"obsimport"}, nil, obsimportDLIFaults)
	}
}

// ingestScenarios attack POST /events → JetStream under load: a replica
// killed, NATS restarted, a replica paused, a replica stopped.
func ingestScenarios(t *testing.T, c *Cluster) {
	ctx := context.Background()
	n := sizes(200, 2000)
	// Each burst lasts about 2.5 s (short) or 25 s (long) so the attack
	// lands mid-burst whatever the machine's speed.
	pace := 100 * time.Millisecond

	scenario(t, "ingest/kill-9", "kill -9 one replica mid-burst, restart it", func(t *testing.T) string {
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

	scenario(t, "ingest/nats-restart", "NATS server shut down mid-burst until a replica answers 503 (≤ 3 s), restarted on the same store", func(t *testing.T) string {
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

	pause := sizes(4*time.Second, 35*time.Second)
	scenario(t, "ingest/pause", fmt.Sprintf("SIGSTOP one replica for %s mid-burst (senders time out after 2 s; long form: past the 30 s AckWait), then SIGCONT", pause), func(t *testing.T) string {
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
		res := Send(ctx, c.Live, objectEvents(t, bucket, n), LoadOptions{Observe: observe, Pace: pace})
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

	scenario(t, "ingest/sigterm", "SIGTERM one replica mid-burst (graceful stop), restart it", func(t *testing.T) string {
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
}

// securityScenarios attack a running cluster's HTTP surface.
func securityScenarios(t *testing.T, c *Cluster, chatops bool) {
	scenario(t, "security/http-hardening", "slowloris, 80 KiB headers, oversized and chunked bodies, wrong methods, path traversal, request ids against a replica", func(t *testing.T) string {
		return httpHardening(t, c.Live()[0])
	})
	const ssrf = "signed slash commands whose response_url is not a Slack host (SSRF)"
	if !chatops {
		table.Add(Row{Scenario: "security/response-url", Attack: ssrf, Status: NotRun, Detail: "chatops not served"})
		return
	}
	scenario(t, "security/response-url", ssrf, func(t *testing.T) string {
		return responseURLRestricted(t, c)
	})
}

// noSecretsScenario greps everything every replica of c printed during the
// attacks, and its metrics, for the planted secrets.
func noSecretsScenario(t *testing.T, c *Cluster, group string) {
	scenario(t, "security/no-secrets-in-output/"+group, "grep every replica's output and /metrics for the planted AK/SK, security token, Slack token and signing secret", func(t *testing.T) string {
		lines, incarnations := 0, 0
		var rss []string
		for _, r := range c.Replicas {
			rss = append(rss, fmt.Sprintf("%.0f", float64(r.PeakRSS())/(1<<20)))
			out := r.Output()
			incarnations += r.Incarnation()
			for _, l := range scanLines(out) {
				lines++
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
		return fmt.Sprintf("%d output lines of %d replicas (%d incarnations) and their /metrics: no secret; peak RSS of the current incarnations %s MiB", lines, len(c.Replicas), incarnations, strings.Join(rss, "/"))
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

func sumMetric(t testing.TB, c *Cluster, name string, labels ...string) float64 {
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
func functionEnv(t testing.TB, registered []string) (fns, env []string) {
	t.Helper()
	for _, f := range registered {
		switch f {
		case "jobwatch":
			env = append(env, jobwatchEnv...)
		case "obsimport":
			env = append(env, obsimportEnv(t)...)
		case "autoscale":
			// Served with its defaults (recommend mode) by the ingestion
			// cluster; the autoscale cluster adds autoscaleEnv.
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

// notRunRows records the function scenarios that cannot run: their
// function is not registered, or the harness has no scenario for it yet.
func notRunRows(registered []string, served func(string) bool) {
	implemented := map[string]bool{"jobwatch": true, "obsimport": true, "chatops": true, "autoscale": true}
	for _, s := range []struct{ name, attack, fn string }{
		{"obsimport/*", "object events under kill -9, SIGSTOP and DLI faults", "obsimport"},
		{"jobwatch/*", "failing jobs under kill -9, DLI and Slack faults, a DLI outage", "jobwatch"},
		{"autoscale/*", "backlog samples under kill -9 (net scale-out); weekly plans reconciled next to a foreign plan while the reconciling replica is killed", "autoscale"},
		{"chatops/confirm-clicks", "one confirmed change clicked many times across replicas while one dies; one DLI action", "chatops"},
	} {
		switch {
		case served(s.fn) && implemented[s.fn]:
			// its scenarios run
		case slices.Contains(registered, s.fn) && !served(s.fn):
			table.Add(Row{Scenario: s.name, Attack: s.attack, Status: NotRun, Detail: s.fn + " is registered but the harness does not configure it yet"})
		case served(s.fn):
			table.Add(Row{Scenario: s.name, Attack: s.attack, Status: NotRun, Detail: s.fn + " is registered; its scenario is not written yet"})
		default:
			table.Add(Row{Scenario: s.name, Attack: s.attack, Status: NotRun, Detail: s.fn + " not registered in cmd/dlibot"})
		}
	}
}
