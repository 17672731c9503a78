package events_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/eventstest"
	"github.com/dlibot/dlibot/pkg/events/natstest"
)

const wait = 10 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// baseConfig is a consumer config for tests: memory streams, short
// backoff, discarded logs.
func baseConfig(rec *eventstest.Recorder) events.Config {
	return events.Config{
		Function:    "toy",
		Subjects:    []string{events.SubjectsIn},
		AckWait:     5 * time.Second,
		MaxDeliver:  3,
		Concurrency: 4,
		Backoff:     func(int) time.Duration { return 20 * time.Millisecond },
		Streams:     events.StreamOptions{Storage: jetstream.MemoryStorage},
		Logger:      quiet,
		Observer:    rec,
	}
}

func tickEvent(t testing.TB, i int) events.Event {
	t.Helper()
	e, err := events.NewEvent(fmt.Sprintf("ev-%d", i), "/test", events.TypeTick, events.Tick{Function: "toy"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func publish(t testing.TB, js jetstream.JetStream, e events.Event) {
	t.Helper()
	if _, err := events.Publish(context.Background(), js, events.TickSubject("toy"), e); err != nil {
		t.Fatal(err)
	}
}

// calls records handler invocations.
type calls struct {
	mu  sync.Mutex
	log []callRec
}

type callRec struct {
	id         string
	attempt    int
	start, end time.Time
	out        events.Outcome
}

func (c *calls) wrap(h func(ctx context.Context, e events.Event, d events.Delivery) events.Outcome) events.Handler {
	return func(ctx context.Context, e events.Event) events.Outcome {
		d, _ := events.DeliveryFrom(ctx)
		r := callRec{id: e.ID(), attempt: d.Attempt, start: time.Now()}
		out := h(ctx, e, d)
		r.end, r.out = time.Now(), out
		c.mu.Lock()
		c.log = append(c.log, r)
		c.mu.Unlock()
		return out
	}
}

func (c *calls) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.log)
}

func (c *calls) get() []callRec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]callRec(nil), c.log...)
}

func consumerInfo(t testing.TB, js jetstream.JetStream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(context.Background(), events.StreamIn, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// settledAll waits until the durable has nothing pending or unacked.
func settledAll(t testing.TB, js jetstream.JetStream, durable string) {
	t.Helper()
	eventstest.Eventually(t, wait, func() bool {
		i := consumerInfo(t, js, durable)
		return i.NumPending == 0 && i.NumAckPending == 0
	}, "consumer %s settled", durable)
}

func TestConsumerAck(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	var c calls
	eventstest.RunConsumer(t, js, baseConfig(rec), c.wrap(func(context.Context, events.Event, events.Delivery) events.Outcome { return events.Ack() }))
	for i := range 3 {
		publish(t, js, tickEvent(t, i))
	}
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultAck) == 3 }, "3 acks")
	settledAll(t, js, "dlibot_toy")
	for _, r := range c.get() {
		if r.attempt != 1 {
			t.Errorf("%s handled on delivery %d", r.id, r.attempt)
		}
	}
}

func TestConsumerDeliveryInContext(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	got := make(chan events.Delivery, 1)
	eventstest.RunConsumer(t, js, baseConfig(rec), func(ctx context.Context, e events.Event) events.Outcome {
		d, ok := events.DeliveryFrom(ctx)
		if !ok {
			t.Error("no delivery in context")
		}
		got <- d
		return events.Ack()
	})
	publish(t, js, tickEvent(t, 0))
	d := <-got
	if d.Function != "toy" || d.Subject != "dlibot.in.tick.toy" || d.Stream != events.StreamIn || d.StreamSeq != 1 || d.Attempt != 1 || d.MaxDeliver != 3 || d.Published.IsZero() {
		t.Errorf("delivery = %+v", d)
	}
}

func TestConsumerRetryWithDelay(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	var c calls
	const delay = 50 * time.Millisecond
	eventstest.RunConsumer(t, js, baseConfig(rec), c.wrap(func(_ context.Context, _ events.Event, d events.Delivery) events.Outcome {
		if d.Attempt < 3 {
			return events.Retry(delay)
		}
		return events.Ack()
	}))
	publish(t, js, tickEvent(t, 0))
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultAck) == 1 }, "ack on the third delivery")
	log := c.get()
	if len(log) != 3 {
		t.Fatalf("handler calls = %d, want 3", len(log))
	}
	for i, r := range log {
		if r.attempt != i+1 {
			t.Errorf("call %d has attempt %d", i, r.attempt)
		}
		if i > 0 {
			if gap := r.start.Sub(log[i-1].end); gap < delay {
				t.Errorf("delivery %d came %v after the retry, want >= %v", r.attempt, gap, delay)
			}
		}
	}
	if rec.Count(events.ResultRetry) != 2 || len(rec.DeadLetters()) != 0 {
		t.Errorf("retries %d, dead letters %v", rec.Count(events.ResultRetry), rec.DeadLetters())
	}
}

func TestConsumerDropGoesToDLQ(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	var c calls
	eventstest.RunConsumer(t, js, baseConfig(rec), c.wrap(func(context.Context, events.Event, events.Delivery) events.Outcome {
		return events.Drop("no rule matches\nbucket raw")
	}))
	dlq := eventstest.NewDLQReader(t, js, "toy")
	e := tickEvent(t, 0)
	publish(t, js, e)
	dl := dlq.Next(wait)
	if dl.Reason != "no rule matches bucket raw" {
		t.Errorf("reason = %q (newlines must be flattened)", dl.Reason)
	}
	if dl.Subject != "dlibot.in.tick.toy" || dl.Deliveries != 1 {
		t.Errorf("subject %q deliveries %d", dl.Subject, dl.Deliveries)
	}
	h := dl.Msg.Headers()
	if h.Get(events.HeaderDLQFunction) != "toy" || h.Get(events.HeaderDLQStream) != events.StreamIn || h.Get(events.HeaderDLQSequence) != "1" || h.Get(events.HeaderDLQTime) == "" {
		t.Errorf("DLQ headers = %v", h)
	}
	if dl.Msg.Subject() != "dlibot.dlq.toy" {
		t.Errorf("DLQ subject %q", dl.Msg.Subject())
	}
	orig, err := events.DecodeMsg(&nats.Msg{Header: h, Data: dl.Msg.Data()})
	if err != nil || orig.ID() != e.ID() {
		t.Errorf("DLQ body is not the original event: %v", err)
	}
	settledAll(t, js, "dlibot_toy") // terminated, not redelivered
	if c.n() != 1 {
		t.Errorf("handler calls = %d, want 1", c.n())
	}
	if rec.Count(events.ResultDrop) != 1 || len(rec.DeadLetters()) != 1 {
		t.Errorf("observer: drops %d dead letters %v", rec.Count(events.ResultDrop), rec.DeadLetters())
	}
}

func TestConsumerMaxDeliverExhausted(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	var c calls
	eventstest.RunConsumer(t, js, baseConfig(rec), c.wrap(func(context.Context, events.Event, events.Delivery) events.Outcome {
		return events.Retry(10 * time.Millisecond)
	}))
	dlq := eventstest.NewDLQReader(t, js, "toy")
	publish(t, js, tickEvent(t, 0))
	dl := dlq.Next(wait)
	if !strings.HasPrefix(dl.Reason, events.ReasonMaxDeliveries) {
		t.Errorf("reason = %q", dl.Reason)
	}
	if dl.Deliveries != 3 {
		t.Errorf("deliveries = %d, want 3", dl.Deliveries)
	}
	settledAll(t, js, "dlibot_toy")
	if c.n() != 3 {
		t.Errorf("handler calls = %d, want 3 (MaxDeliver)", c.n())
	}
	if rec.Count(events.ResultExhausted) != 1 {
		t.Errorf("exhausted = %d", rec.Count(events.ResultExhausted))
	}
}

// A handler that never settles (hangs past AckWait, or its process dies)
// still ends in the DLQ: the server allows one delivery more than
// MaxDeliver and the consumer dead-letters that one without the handler.
func TestConsumerAckWaitExhausted(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	cfg := baseConfig(rec)
	cfg.AckWait = 100 * time.Millisecond
	cfg.MaxDeliver = 2
	cfg.DisableDedup = true
	release := make(chan struct{})
	var c calls
	eventstest.RunConsumer(t, js, cfg, c.wrap(func(ctx context.Context, _ events.Event, _ events.Delivery) events.Outcome {
		<-release
		return events.Ack()
	}))
	t.Cleanup(func() { close(release) }) // runs before the consumer's cleanup
	dlq := eventstest.NewDLQReader(t, js, "toy")
	publish(t, js, tickEvent(t, 0))
	dl := dlq.Next(wait)
	if !strings.HasPrefix(dl.Reason, events.ReasonMaxDeliveries) || !strings.Contains(dl.Reason, "AckWait") {
		t.Errorf("reason = %q", dl.Reason)
	}
	if dl.Deliveries != 3 {
		t.Errorf("deliveries = %d, want 3", dl.Deliveries)
	}
}

func TestConsumerPanicIsRetried(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	var logs testsync.Buffer
	cfg := baseConfig(rec)
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	cfg.Backoff = func(attempt int) time.Duration { return 30 * time.Millisecond }
	var c calls
	eventstest.RunConsumer(t, js, cfg, c.wrap(func(_ context.Context, _ events.Event, d events.Delivery) events.Outcome {
		if d.Attempt == 1 {
			panic("boom")
		}
		return events.Ack()
	}))
	publish(t, js, tickEvent(t, 0))
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultAck) == 1 }, "ack after the panic")
	if rec.Count(events.ResultPanic) != 1 {
		t.Errorf("panics = %d", rec.Count(events.ResultPanic))
	}
	if n := c.n(); n != 1 { // the panicking call never returned to the recorder
		t.Errorf("returned calls = %d, want 1", n)
	}
	out := logs.String()
	if !strings.Contains(out, `"msg":"handler panicked; the message will be retried"`) || !strings.Contains(out, `"panic":"boom"`) || !strings.Contains(out, `"ce_id":"ev-0"`) {
		t.Errorf("no panic log line with the event id:\n%s", out)
	}
}

func TestConsumerBoundedConcurrency(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	cfg := baseConfig(rec)
	cfg.Concurrency = 3
	var inflight, maxSeen atomic.Int32
	release := make(chan struct{})
	eventstest.RunConsumer(t, js, cfg, func(context.Context, events.Event) events.Outcome {
		n := inflight.Add(1)
		for {
			m := maxSeen.Load()
			if n <= m || maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		inflight.Add(-1)
		return events.Ack()
	})
	const total = 12
	for i := range total {
		publish(t, js, tickEvent(t, i))
	}
	for done := 0; done < total; done++ {
		want := int32(min(3, total-done))
		eventstest.Eventually(t, wait, func() bool { return inflight.Load() == want }, "%d handlers in flight", want)
		if m := maxSeen.Load(); m > 3 {
			t.Fatalf("%d handlers in flight, limit 3", m)
		}
		release <- struct{}{}
	}
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultAck) == total }, "all acked")
	if m := maxSeen.Load(); m != 3 {
		t.Errorf("max in flight = %d, want 3", m)
	}
}

func TestTwoReplicasShareTheDurable(t *testing.T) {
	srv := natstest.Start(t)
	_, js1 := srv.Connect()
	_, js2 := srv.Connect()
	rec := &eventstest.Recorder{}
	var mu sync.Mutex
	seen := map[string]int{}
	byReplica := map[string]int{}
	h := func(name string) events.Handler {
		return func(_ context.Context, e events.Event) events.Outcome {
			mu.Lock()
			seen[e.ID()]++
			byReplica[name]++
			mu.Unlock()
			return events.Ack()
		}
	}
	cfg := baseConfig(rec)
	cfg.DisableDedup = true // the durable alone must split the work
	cfg.Concurrency = 2
	eventstest.RunConsumer(t, js1, cfg, h("a"))
	eventstest.RunConsumer(t, js2, cfg, h("b"))
	const total = 60
	for i := range total {
		publish(t, js1, tickEvent(t, i))
	}
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultAck) == total }, "all acked; got %d", rec.Count(events.ResultAck))
	settledAll(t, js1, "dlibot_toy")
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != total {
		t.Errorf("distinct events handled = %d, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s handled %d times", id, n)
		}
	}
	t.Logf("split between replicas: %v", byReplica)
}

func TestNewConsumerConcurrentStartIsIdempotent(t *testing.T) {
	srv := natstest.Start(t)
	cfg := baseConfig(&eventstest.Recorder{})
	cfg.Streams.Storage = jetstream.FileStorage
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		_, js := srv.Connect()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := events.NewConsumer(context.Background(), js, cfg, func(context.Context, events.Event) events.Outcome { return events.Ack() })
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent start: %v", err)
		}
	}
	_, js := srv.Connect()
	for _, s := range []string{events.StreamIn, events.StreamOut, events.StreamDLQ} {
		if _, err := js.Stream(context.Background(), s); err != nil {
			t.Errorf("stream %s: %v", s, err)
		}
	}
	if _, err := js.KeyValue(context.Background(), events.DedupBucket("toy")); err != nil {
		t.Errorf("dedup bucket: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := events.Config{Function: "jobwatch", Subjects: []string{events.TickSubject("jobwatch")}}
	tests := []struct {
		name string
		mod  func(*events.Config)
		want string
	}{
		{"no function", func(c *events.Config) { c.Function = "" }, "Function"},
		{"dotted function", func(c *events.Config) { c.Function = "job.watch" }, "Function"},
		{"bad name", func(c *events.Config) { c.Name = "a b" }, "Name"},
		{"no subjects", func(c *events.Config) { c.Subjects = nil }, "Subjects"},
		{"empty subject", func(c *events.Config) { c.Subjects = []string{""} }, "Subjects"},
		{"negative ack wait", func(c *events.Config) { c.AckWait = -1 }, "AckWait"},
		{"negative max deliver", func(c *events.Config) { c.MaxDeliver = -1 }, "MaxDeliver"},
		{"negative concurrency", func(c *events.Config) { c.Concurrency = -1 }, "Concurrency"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if !errors.Is(err, events.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalidConfig naming %s", err, tt.want)
			}
		})
	}
	if ok.Durable() != "dlibot_jobwatch" {
		t.Errorf("durable %q", ok.Durable())
	}
	ok.Name = "retry"
	if ok.Durable() != "dlibot_jobwatch_retry" {
		t.Errorf("durable %q", ok.Durable())
	}
}

func TestDefaultBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 6: 32 * time.Second, 7: time.Minute, 100: time.Minute} {
		if got := events.DefaultBackoff(attempt); got != want {
			t.Errorf("DefaultBackoff(%d) = %v, want %v", attempt, got, want)
		}
	}
}
