package autoscale

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

const testChannel = "C0AUTOSCALE"

// countingDLI counts successful scale-outs.
type countingDLI struct {
	*dli.Client
	scales atomic.Int64
}

func (c *countingDLI) ScaleQueue(ctx context.Context, name string, dir dli.ScaleDirection, cus int) error {
	err := c.Client.ScaleQueue(ctx, name, dir, cus)
	if err == nil {
		c.scales.Add(1)
	}
	return err
}

type fixture struct {
	t     testing.TB
	emu   *dlitest.Server
	dli   *countingDLI
	js    jetstream.JetStream
	slack *slacktest.Server
	n     notify.Notifier
	cfg   Config
	a     *Autoscaler

	mu        sync.Mutex
	decisions []events.Event
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newFixture: queue etl (256 CU, limits 16…512) on the emulator at Monday
// 2026-01-05 06:00 UTC, embedded JetStream, the Slack fake.
func newFixture(t *testing.T, tweak func(*Config)) *fixture { return newFixtureWith(t, tweak) }

func newFixtureTB(tb testing.TB) *fixture { return newFixtureWith(tb, nil) }

func newFixtureWith(t testing.TB, tweak func(*Config)) *fixture {
	t.Helper()
	emu := dlitest.NewServer(t, dlitest.Options{Start: monday0600})
	if err := emu.AddQueue(dlitest.QueueSpec{Name: "etl", CUCount: 256, MinCU: 16, MaxCU: 512}); err != nil {
		t.Fatal(err)
	}
	o := emu.Options()
	c, err := dli.New(dli.Config{AK: o.AK, SK: o.SK, ProjectID: o.ProjectID, Endpoint: emu.URL, Timeout: 5 * time.Second, MaxAttempts: 2},
		dli.WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }))
	if err != nil {
		t.Fatal(err)
	}
	_, js := natstest.StartJS(t)
	if err := events.EnsureStreams(context.Background(), js, events.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	sl := slacktest.Start(t)
	n, err := notify.NewSlack(notify.Config{Token: sl.Token(), APIURL: sl.URL(), Channel: testChannel},
		notify.WithChannelInterval(0), notify.WithMaxRetries(0), notify.WithMaxWait(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.SetQueue(QueueConfig{Name: "etl"})
	if tweak != nil {
		tweak(&cfg)
	}
	f := &fixture{t: t, emu: emu, dli: &countingDLI{Client: c}, js: js, slack: sl, n: n, cfg: cfg}
	f.a = f.replica()
	return f
}

// replica is another Autoscaler on the same KV, DLI and Slack (a replica,
// or a restarted process).
func (f *fixture) replica() *Autoscaler {
	f.t.Helper()
	a, err := New(context.Background(), Options{Config: f.cfg, DLI: f.dli, JS: f.js, Notifier: f.n, Logger: quietLogger(),
		Now: f.emu.Clock().Now, Publish: func(_ context.Context, subject string, e events.Event) error {
			if subject != DecisionSubject {
				f.t.Errorf("decision published on %s", subject)
			}
			f.mu.Lock()
			f.decisions = append(f.decisions, e)
			f.mu.Unlock()
			return nil
		}})
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *fixture) decided() []Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Decision
	for _, e := range f.decisions {
		var d Decision
		if err := json.Unmarshal(e.Data(), &d); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// businessDemand is the test queue's demand: 128 CU on weekdays 08–18,
// 16 CU otherwise.
func businessDemand(t time.Time) float64 {
	if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday && t.Hour() >= 8 && t.Hour() < 18 {
		return 128
	}
	return 16
}

func sample(q, metric string, v float64, at time.Time) events.MetricSample {
	return events.MetricSample{Namespace: events.NamespaceDLI, MetricName: metric,
		Dimensions: []events.Dimension{{Name: "queue_name", Value: q}}, Value: v, Unit: "Count", Timestamp: at}
}

// point is one sampling instant of queue q: size, allocation (= demand,
// capped by the size), running jobs and the backlog.
func point(q string, at time.Time, size, dem, launching float64) []events.MetricSample {
	alloc := min(dem, size)
	return []events.MetricSample{
		sample(q, demand.MetricCU, size, at),
		sample(q, demand.MetricAllocCU, alloc, at),
		sample(q, demand.MetricRunning, alloc/16, at),
		sample(q, demand.MetricLaunching, launching, at),
	}
}

// feedHistory stores weeks of business-hours history of queue etl ending
// at the emulator's now, one batch per day (no backlog: launching 0).
func (f *fixture) feedHistory(weeks int, end time.Time) {
	f.t.Helper()
	f.feed(end.Add(-time.Duration(weeks)*demand.Week), end, func(t time.Time) []events.MetricSample {
		return point("etl", t, 256, businessDemand(t), 0)
	})
}

// feed hands HandleSamples the samples of every bucket from start until
// end, a day's buckets per call.
func (f *fixture) feed(start, end time.Time, samples func(at time.Time) []events.MetricSample) {
	f.t.Helper()
	ctx := context.Background()
	var batch []events.MetricSample
	for t := start; t.Before(end); t = t.Add(BucketPeriod) {
		batch = append(batch, samples(t)...)
		if t.Add(BucketPeriod).Sub(start)%(24*time.Hour) == 0 {
			if err := f.a.HandleSamples(ctx, batch); err != nil {
				f.t.Fatal(err)
			}
			batch = nil
		}
	}
	if len(batch) > 0 {
		if err := f.a.HandleSamples(ctx, batch); err != nil {
			f.t.Fatal(err)
		}
	}
}

// planWrites are the emulator requests that change plans.
func (f *fixture) planWrites() []string {
	var out []string
	for _, r := range f.emu.Requests() {
		if strings.Contains(r.Path, "/plans") && r.Method != "GET" {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

func metricsEvent(t *testing.T, id string, ss []events.MetricSample) events.Event {
	t.Helper()
	e, err := events.NewEvent(id, "/cloudeye/SYS.DLI", events.TypeMetricsSample, ss)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
