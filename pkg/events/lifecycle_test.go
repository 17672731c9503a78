package events_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/eventstest"
	"github.com/dlibot/dlibot/pkg/events/natstest"
)

// counter counts handler runs per event id.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *counter) handle(_ context.Context, e events.Event) events.Outcome {
	c.mu.Lock()
	c.runs[e.ID()]++
	c.mu.Unlock()
	return events.Ack()
}

func (c *counter) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.runs)
}

func (c *counter) twice(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, n := range c.runs {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
}

// startConsumer runs a consumer until the returned stop is called.
func startConsumer(t *testing.T, js jetstream.JetStream, cfg events.Config, h events.Handler) (stop func()) {
	t.Helper()
	c, err := events.NewConsumer(context.Background(), js, cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Events stored before a server restart (same store directory) are handled
// after it; none is handled twice — not those handled before the restart,
// not those stored while no consumer ran.
func TestRestartKeepsStoredEvents(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	rec := &eventstest.Recorder{}
	cfg := baseConfig(rec)
	cfg.Streams.Storage = jetstream.FileStorage
	cnt := &counter{runs: map[string]int{}}

	stop := startConsumer(t, js, cfg, cnt.handle)
	for i := range 5 {
		publish(t, js, tickEvent(t, i))
	}
	eventstest.Eventually(t, wait, func() bool { return cnt.distinct() == 5 }, "first five handled")
	stop()
	for i := 5; i < 10; i++ { // acknowledged by JetStream, not yet handled
		publish(t, js, tickEvent(t, i))
	}

	srv.Restart()
	startConsumer(t, js, cfg, cnt.handle) // the client reconnects on its own
	eventstest.Eventually(t, wait, func() bool { return cnt.distinct() == 10 }, "all ten handled after the restart; got %d", cnt.distinct())
	for i := 10; i < 15; i++ { // the running consumer keeps working
		publish(t, js, tickEvent(t, i))
	}
	eventstest.Eventually(t, wait, func() bool { return cnt.distinct() == 15 }, "events published after the restart handled")
	settledAll(t, js, "dlibot_toy")
	cnt.twice(t)
}

// A consumer keeps running across a server restart.
func TestConsumerSurvivesServerRestart(t *testing.T) {
	srv := natstest.Start(t)
	_, js := srv.Connect()
	rec := &eventstest.Recorder{}
	cfg := baseConfig(rec)
	cfg.Streams.Storage = jetstream.FileStorage
	cnt := &counter{runs: map[string]int{}}
	startConsumer(t, js, cfg, cnt.handle)
	for i := range 5 {
		publish(t, js, tickEvent(t, i))
	}
	eventstest.Eventually(t, wait, func() bool { return cnt.distinct() == 5 }, "handled before the restart")
	srv.Restart()
	for i := 5; i < 10; i++ {
		e := tickEvent(t, i)
		eventstest.Eventually(t, wait, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_, err := events.Publish(ctx, js, events.TickSubject("toy"), e)
			return err == nil
		}, "publish after restart")
	}
	eventstest.Eventually(t, 30*time.Second, func() bool { return cnt.distinct() == 10 }, "handled after the restart; got %d", cnt.distinct())
	cnt.twice(t)
}

// Cancelling Run stops fetching, lets in-flight handlers finish and acks
// their messages before Run returns.
func TestGracefulStopFinishesInFlight(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	cfg := baseConfig(rec)
	cfg.Concurrency = 1
	started := make(chan string, 10)
	release := make(chan struct{})
	var finished atomic.Int32
	c, err := events.NewConsumer(context.Background(), js, cfg, func(ctx context.Context, e events.Event) events.Outcome {
		started <- e.ID()
		<-release
		if ctx.Err() != nil {
			return events.Retry(0)
		}
		finished.Add(1)
		return events.Ack()
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	publish(t, js, tickEvent(t, 0))
	if id := <-started; id != "ev-0" {
		t.Fatalf("started %s", id)
	}
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) with a handler in flight", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if finished.Load() != 1 {
		t.Fatalf("in-flight handler did not finish normally")
	}
	// The ack was flushed to the server before Run returned (the server
	// applies it to the consumer asynchronously).
	eventstest.Eventually(t, wait, func() bool {
		i := consumerInfo(t, js, "dlibot_toy")
		return i.NumAckPending == 0 && i.AckFloor.Stream == 1
	}, "in-flight message acked")
	// Nothing more is fetched.
	publish(t, js, tickEvent(t, 1))
	select {
	case id := <-started:
		t.Errorf("handled %s after stop", id)
	default:
	}
}

// After DrainTimeout the handlers' contexts are cancelled and Run returns.
func TestGracefulStopDrainTimeout(t *testing.T) {
	_, js := natstest.StartJS(t)
	cfg := baseConfig(&eventstest.Recorder{})
	cfg.DrainTimeout = 50 * time.Millisecond
	cfg.Concurrency = 1 // the one slot is taken; more messages wait in the buffer
	started := make(chan struct{}, 10)
	c, err := events.NewConsumer(context.Background(), js, cfg, func(ctx context.Context, e events.Event) events.Outcome {
		started <- struct{}{}
		<-ctx.Done() // a handler that only stops when told to
		return events.Retry(0)
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for i := range 3 {
		publish(t, js, tickEvent(t, i))
	}
	<-started
	cancel()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Run did not return after the drain timeout")
	}
}

// InProgress keeps a long handler's message from being redelivered when
// AckWait passes.
func TestInProgressExtendsAckWait(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	cfg := baseConfig(rec)
	cfg.AckWait = time.Second
	var calls atomic.Int32
	eventstest.RunConsumer(t, js, cfg, func(ctx context.Context, e events.Event) events.Outcome {
		calls.Add(1)
		// Simulated long work: 2.5 AckWaits, reporting progress often.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for range 25 {
			<-tick.C
			if err := events.InProgress(ctx); err != nil {
				t.Errorf("InProgress: %v", err)
			}
		}
		return events.Ack()
	})
	publish(t, js, tickEvent(t, 0))
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultAck) == 1 }, "acked")
	if calls.Load() != 1 || rec.Settled() != 1 {
		t.Errorf("calls %d, settled %d: the message was redelivered during the work", calls.Load(), rec.Settled())
	}
}

func TestInProgressOutsideConsumerIsNoop(t *testing.T) {
	if err := events.InProgress(context.Background()); err != nil {
		t.Error(err)
	}
	if _, ok := events.DeliveryFrom(context.Background()); ok {
		t.Error("delivery in a bare context")
	}
}

func TestPublishTickOnePerPeriod(t *testing.T) {
	_, js := natstest.StartJS(t)
	if err := events.EnsureStreams(context.Background(), js, events.StreamOptions{Storage: jetstream.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	p := time.Date(2026, 11, 26, 10, 0, 0, 0, time.FixedZone("X", 3600))
	for i, tc := range []struct {
		at         time.Time
		wantStored bool
	}{
		{p, true},
		{p.UTC(), false}, // another replica, same period
		{p, false},
		{p.Add(time.Minute), true},
	} {
		stored, err := events.PublishTick(context.Background(), js, "jobwatch", tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if stored != tc.wantStored {
			t.Errorf("publish %d: stored = %v, want %v", i, stored, tc.wantStored)
		}
	}
	s, err := js.Stream(context.Background(), events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), events.TickSubject("jobwatch"))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get("Nats-Msg-Id"); got != "jobwatch/2026-11-26T09:01:00Z" {
		t.Errorf("Nats-Msg-Id = %q", got)
	}
	e, err := events.Decode(m.Header, m.Data)
	if err != nil || e.ID() != "jobwatch/2026-11-26T09:01:00Z" || e.Type() != events.TypeTick || e.Source() != events.SourceTick {
		t.Errorf("tick event %v: %v", e, err)
	}
	info, _ := s.Info(context.Background())
	if info.State.Msgs != 2 {
		t.Errorf("stream holds %d ticks, want 2", info.State.Msgs)
	}
	if _, err := events.PublishTick(context.Background(), js, "job.watch", p); err == nil {
		t.Error("PublishTick accepted an invalid function name")
	}
}

// Run returns an error (after draining) when consuming stops on its own.
func TestRunReturnsWhenConsumingStops(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(t *testing.T, nc *nats.Conn, js jetstream.JetStream)
	}{
		{"connection closed", func(t *testing.T, nc *nats.Conn, _ jetstream.JetStream) { nc.Close() }},
		{"durable deleted", func(t *testing.T, _ *nats.Conn, js jetstream.JetStream) {
			if err := js.DeleteConsumer(context.Background(), events.StreamIn, "dlibot_toy"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := natstest.Start(t)
			nc, js := srv.Connect()
			c, err := events.NewConsumer(context.Background(), js, baseConfig(&eventstest.Recorder{}), func(context.Context, events.Event) events.Outcome { return events.Ack() })
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- c.Run(context.Background()) }()
			publish(t, js, tickEvent(t, 0))
			settledAll(t, js, "dlibot_toy")
			tc.stop(t, nc, js)
			select {
			case err := <-done:
				if err == nil {
					t.Error("Run returned nil")
				}
			case <-time.After(wait):
				t.Fatal("Run did not return")
			}
		})
	}
}

// The Deduper works without a consumer (how Lambda uses it).
func TestDeduperDirect(t *testing.T) {
	_, js := natstest.StartJS(t)
	d, err := events.NewDeduper(context.Background(), js, "toy", events.DedupOptions{Storage: jetstream.MemoryStorage, Lease: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	e := tickEvent(t, 0)
	var runs int
	fail := true
	h := func(ctx context.Context, _ events.Event) events.Outcome {
		runs++
		if err := events.InProgress(ctx); err != nil { // renews the claim
			t.Errorf("InProgress: %v", err)
		}
		if _, ok := events.DeliveryFrom(ctx); ok {
			t.Error("a Delivery appeared outside a consumer")
		}
		if fail {
			return events.Retry(time.Second)
		}
		return events.Ack()
	}
	steps := []struct {
		fail    bool
		wantRan bool
		want    events.OutcomeKind
	}{
		{true, true, events.KindRetry}, // fails: claim released
		{false, true, events.KindAck},  // runs again, succeeds
		{false, false, events.KindAck}, // duplicate
	}
	for i, s := range steps {
		fail = s.fail
		out, ran, err := d.Handle(context.Background(), e, h)
		if err != nil || ran != s.wantRan || out.Kind() != s.want {
			t.Errorf("step %d: out %v ran %v err %v", i, out, ran, err)
		}
	}
	if runs != 2 {
		t.Errorf("runs = %d, want 2", runs)
	}
	// A panicking handler releases its claim too.
	e2 := tickEvent(t, 1)
	func() {
		defer func() { _ = recover() }()
		_, _, _ = d.Handle(context.Background(), e2, func(context.Context, events.Event) events.Outcome { panic("x") })
	}()
	if _, ran, err := d.Handle(context.Background(), e2, h); !ran || err != nil {
		t.Errorf("after a panic: ran %v err %v", ran, err)
	}
	if _, err := events.NewDeduper(context.Background(), js, "a.b", events.DedupOptions{}); err == nil {
		t.Error("invalid function name accepted")
	}
}
