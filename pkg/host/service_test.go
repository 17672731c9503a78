package host

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
)

// testDLI returns a DLI config pointing at a fresh emulator.
func testDLI(t testing.TB) *dli.Config {
	t.Helper()
	em := dlitest.NewServer(t, dlitest.Options{ProjectID: "p1", AK: "test-ak", SK: "test-sk"})
	return &dli.Config{AK: "test-ak", SK: "test-sk", ProjectID: "p1", Endpoint: em.URL}
}

// runService starts Run in the background and returns the HTTP base URL and
// a stop function that cancels and waits, returning Run's error.
func runService(t testing.TB, o Options) (string, func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.Listener = ln
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Console == nil {
		o.Console = &testsync.Buffer{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	o.OnReady = func(net.Addr, []*Function) { close(ready) }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("Run failed at start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("Run did not become ready")
	}
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(40 * time.Second):
				runErr = errors.New("Run did not return within 40s")
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func publishObj(t *testing.T, url, id string) {
	t.Helper()
	body := strings.Replace(structuredObj, `"obj-1"`, `"`+id+`"`, 1)
	resp, err := http.Post(url+"/events", events.ContentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /events: %d", resp.StatusCode)
	}
}

func TestRunGracefulShutdownFinishesInFlightHandler(t *testing.T) {
	n := startTestNATS(t)
	started := make(chan struct{})
	release := make(chan struct{})
	var finished atomic.Bool
	var handlerCtxErr atomic.Value
	reg := &Registry{}
	reg.Register(Registration{Name: "slow", New: func(ctx context.Context, env Env) (*Function, error) {
		if env.DLI == nil || env.Notifier == nil {
			return nil, errors.New("env without DLI client or notifier")
		}
		return &Function{Subjects: []string{events.SubjectsObs}, Handler: func(ctx context.Context, e events.Event) events.Outcome {
			close(started)
			<-release
			if ctx.Err() != nil {
				handlerCtxErr.Store(ctx.Err())
			}
			finished.Store(true)
			return events.Ack()
		}}, nil
	}})
	url, stop := runService(t, Options{Config: &Config{NATSURL: n.url(), HTTPMaxBodyBytes: DefaultMaxBodyBytes},
		DLI: testDLI(t), Registry: reg})
	publishObj(t, url, "slow-1")
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("handler never started")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Run must wait for the in-flight handler.
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) while a handler was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !finished.Load() {
		t.Fatal("handler did not finish")
	}
	if v := handlerCtxErr.Load(); v != nil {
		t.Fatalf("handler context cancelled during graceful shutdown: %v", v)
	}
	// The message was acked before the connection drained.
	_, js := n.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, events.StreamIn, "dlibot_slow")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.AckFloor.Stream != 1 {
		t.Fatalf("ack pending %d, ack floor %d: the in-flight message was not acked", info.NumAckPending, info.AckFloor.Stream)
	}
}

func TestTicksFromThreeReplicasOnePerPeriod(t *testing.T) {
	n := startTestNATS(t)
	var calls atomic.Int32
	var periods sync.Map
	reg := &Registry{}
	reg.Register(Registration{Name: "ticker", New: func(ctx context.Context, env Env) (*Function, error) {
		return &Function{Tick: time.Hour, Handler: func(ctx context.Context, e events.Event) events.Outcome {
			calls.Add(1)
			periods.Store(e.ID(), true)
			return events.Ack()
		}}, nil
	}})
	// A fixed clock in the middle of a period: every replica publishes the
	// tick for 10:00 at start.
	now := func() time.Time { return time.Date(2026, 11, 26, 10, 17, 0, 0, time.UTC) }
	dliCfg := testDLI(t)
	metrics := make([]*Metrics, 3)
	for i := range metrics {
		metrics[i] = NewMetrics()
		runService(t, Options{Config: &Config{NATSURL: n.url(), HTTPMaxBodyBytes: DefaultMaxBodyBytes},
			DLI: dliCfg, Registry: reg, Now: now, Metrics: metrics[i]})
	}
	_, js := n.connect(t)
	testsync.WaitFor(t, 20*time.Second, "the tick to be handled", func() bool { return calls.Load() >= 1 })
	// Every replica has tried its publish.
	testsync.WaitFor(t, 20*time.Second, "three tick publishes", func() bool {
		total := 0.0
		for _, m := range metrics {
			total += counterValue(t, m, "dlibot_ticks_total")
		}
		return total >= 3
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.StreamIn)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(events.TickSubject("ticker")))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[events.TickSubject("ticker")]; n != 1 || info.State.Msgs != 1 {
		t.Fatalf("%d tick messages (%d in all) in the stream, want 1", n, info.State.Msgs)
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("tick handled %d times, want 1", got)
	}
	if _, ok := periods.Load("ticker/2026-11-26T10:00:00Z"); !ok {
		t.Fatal("tick id is not ticker/<period start>")
	}
}

// counterValue sums every series of a counter family.
func counterValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, mt := range mf.GetMetric() {
				sum += mt.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestRunRefusesBadStarts(t *testing.T) {
	reg := &Registry{}
	reg.Register(Registration{Name: "stateful", New: func(ctx context.Context, env Env) (*Function, error) {
		return &Function{NeedsNATS: true}, nil
	}})
	ctx := context.Background()
	if err := Run(ctx, Options{Config: &Config{}, Registry: reg}); !errors.Is(err, ErrNoNATS) {
		t.Fatalf("without NATS_URL: %v", err)
	}
	if err := Run(ctx, Options{Config: &Config{NATSURL: "nats://x"}, Registry: reg, Functions: []string{"nope"}}); !errors.Is(err, ErrUnknownFunction) {
		t.Fatalf("unknown function: %v", err)
	}
}

// TestRestartProcessesAcknowledgedEventsOnce: events acknowledged (202) by
// an ingest-only replica survive a NATS server kill and restart and are
// handled exactly once by the replica that starts afterwards.
func TestRestartProcessesAcknowledgedEventsOnce(t *testing.T) {
	n := startTestNATS(t)
	cfg := &Config{NATSURL: n.url(), HTTPMaxBodyBytes: DefaultMaxBodyBytes}
	url, stop := runService(t, Options{Config: cfg, Registry: &Registry{}})
	const total = 20
	for i := range total {
		publishObj(t, url, "restart-"+strconv.Itoa(i))
	}
	// A retried POST of an acknowledged event is not stored twice.
	publishObj(t, url, "restart-0")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	n.stop()
	n.start()

	var mu sync.Mutex
	seen := map[string]int{}
	reg := &Registry{}
	reg.Register(Registration{Name: "late", New: func(ctx context.Context, env Env) (*Function, error) {
		return &Function{Subjects: []string{events.SubjectsObs}, Handler: func(ctx context.Context, e events.Event) events.Outcome {
			mu.Lock()
			seen[e.ID()]++
			mu.Unlock()
			return events.Ack()
		}}, nil
	}})
	runService(t, Options{Config: cfg, DLI: testDLI(t), Registry: reg})
	testsync.WaitFor(t, 30*time.Second, "all events handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == total
	})
	// JetStream delivered each stored event once and all are acked, so no
	// duplicate can still come.
	_, js := n.connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, events.StreamIn, "dlibot_late")
	if err != nil {
		t.Fatal(err)
	}
	testsync.WaitFor(t, 10*time.Second, "all acks", func() bool {
		info, err := c.Info(ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	})
	if info, _ := c.Info(ctx); info.Delivered.Consumer != total {
		t.Fatalf("%d deliveries for %d events", info.Delivered.Consumer, total)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, c := range seen {
		if c != 1 {
			t.Errorf("%s handled %d times", id, c)
		}
	}
}
