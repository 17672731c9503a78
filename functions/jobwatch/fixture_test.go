package jobwatch

import (
	"context"
	"encoding/json"
	"io"
	"iter"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
	"github.com/nats-io/nats.go/jetstream"
)

const testChannel = "C0ALERTS"

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// fixture is one test world: the DLI emulator on a manual clock, an embedded
// JetStream, the Slack fake and a Watcher (more with replica()).
type fixture struct {
	t     testing.TB
	emu   *dlitest.Server
	dli   *dli.Client
	js    jetstream.JetStream
	slack *slacktest.Server
	n     notify.Notifier
	cfg   Config
	w     *Watcher
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newFixture(t testing.TB, tweak func(*Config)) *fixture {
	t.Helper()
	emu := dlitest.NewServer(t, dlitest.Options{Start: t0})
	for _, q := range []dlitest.QueueSpec{{Name: "default", Type: "general"}, {Name: "etl", Type: "general"}, {Name: "sandbox", Type: "general"}} {
		if err := emu.AddQueue(q); err != nil {
			t.Fatal(err)
		}
	}
	o := emu.Options()
	client, err := dli.New(dli.Config{AK: o.AK, SK: o.SK, ProjectID: o.ProjectID, Endpoint: emu.URL, MaxAttempts: 2},
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
		notify.WithChannelInterval(0), notify.WithMaxRetries(0), notify.WithMaxWait(time.Millisecond),
		notify.WithClock(emuClock{emu.Clock()}))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Region = "ap-southeast-1"
	if tweak != nil {
		tweak(&cfg)
	}
	f := &fixture{t: t, emu: emu, dli: client, js: js, slack: sl, n: n, cfg: cfg}
	f.w = f.replica()
	return f
}

// replica is another Watcher on the same KV, DLI and Slack (a replica, or a
// restarted process).
func (f *fixture) replica() *Watcher {
	f.t.Helper()
	w, err := New(context.Background(), Options{Config: f.cfg, DLI: f.dli, JS: f.js, Notifier: f.n, Now: f.emu.Clock().Now, Logger: quietLogger()})
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

// poll runs one poll of w (f.w when nil) and fails the test on an error.
func (f *fixture) poll(w *Watcher) *Result {
	f.t.Helper()
	if w == nil {
		w = f.w
	}
	res, err := w.Poll(context.Background())
	if err != nil {
		f.t.Fatalf("poll: %v", err)
	}
	return res
}

// round advances the emulator clock by one interval and has every replica
// poll at once.
func (f *fixture) round(replicas []*Watcher) {
	f.t.Helper()
	f.emu.Advance(f.cfg.Interval)
	var wg sync.WaitGroup
	for _, w := range replicas {
		wg.Go(func() {
			if _, err := w.Poll(context.Background()); err != nil {
				f.t.Error(err)
			}
		})
	}
	wg.Wait()
}

// deliver hands w (f.w when nil) event e as JetStream delivery attempt of 5.
func (f *fixture) deliver(w *Watcher, e events.Event, attempt int) events.Outcome {
	if w == nil {
		w = f.w
	}
	return w.Handle(events.WithDelivery(context.Background(), events.Delivery{Function: Name, Attempt: attempt, MaxDeliver: 5}, nil), e)
}

// tick advances the emulator clock by one interval and polls.
func (f *fixture) tick() *Result {
	f.t.Helper()
	f.emu.Advance(f.cfg.Interval)
	return f.poll(nil)
}

func (f *fixture) flink(name, status string) int64 {
	f.t.Helper()
	id, err := f.emu.AddFlinkJob(dlitest.FlinkJobSpec{Name: name, Status: status, CreatedAt: f.emu.Clock().Now()})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *fixture) setFlink(id int64, status, desc string) {
	f.t.Helper()
	if err := f.emu.SetFlinkJobStatus(id, status, desc); err != nil {
		f.t.Fatal(err)
	}
}

// posts returns the root messages posted to the test channel.
func (f *fixture) posts() []slacktest.Message { return f.slack.Messages(testChannel) }

// events returns the incident events published so far, by type.
func (f *fixture) events() map[string][]IncidentEvent {
	f.t.Helper()
	ctx := context.Background()
	s, err := f.js.Stream(ctx, events.StreamOut)
	if err != nil {
		f.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string][]IncidentEvent{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		e, err := events.Decode(m.Header, m.Data)
		if err != nil {
			f.t.Fatal(err)
		}
		var ie IncidentEvent
		if err := json.Unmarshal(e.Data(), &ie); err != nil {
			f.t.Fatal(err)
		}
		out[e.Type()] = append(out[e.Type()], ie)
	}
	return out
}

func (f *fixture) wantCounts(posts, opened int) {
	f.t.Helper()
	if got := len(f.posts()); got != posts {
		f.t.Errorf("root Slack messages = %d, want %d", got, posts)
	}
	if got := len(f.events()[events.TypeIncidentOpened]); got != opened {
		f.t.Errorf("incident.opened events = %d, want %d", got, opened)
	}
}

// statusMap is a DLI wrapper that rewrites statuses (to make DLI answer a
// status the emulator does not know).
type statusMap struct {
	DLI
	mu sync.Mutex
	m  map[string]string
}

func (s *statusMap) FlinkJobs(ctx context.Context, q dli.FlinkJobQuery) iter.Seq2[dli.FlinkJob, error] {
	return func(yield func(dli.FlinkJob, error) bool) {
		for j, err := range s.DLI.FlinkJobs(ctx, q) {
			s.mu.Lock()
			if r, ok := s.m[string(j.Status)]; ok {
				j.Status = dli.FlinkJobStatus(r)
			}
			s.mu.Unlock()
			if !yield(j, err) {
				return
			}
		}
	}
}

// emuClock makes the notifier judge Retry-After by the emulator's clock.
type emuClock struct{ c *dlitest.Clock }

func (e emuClock) Now() time.Time { return e.c.Now() }

func (e emuClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }
