package eventstest

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/natstest"
)

// Setup is what a function's handler test gives [Conformance]. The setup
// function passed to Conformance is called once per check, so each check
// gets fresh fakes.
type Setup struct {
	// Handler is the handler under test. Required.
	Handler events.Handler
	// Event returns the i-th valid event the handler accepts (i = 0, 1, …;
	// each with a distinct id and the same effect count of one) and the
	// subject it is published on (a dlibot.in.* subject). Required.
	Event func(i int) (subject string, e events.Event)
	// Effects returns how many side effects the handler has had so far
	// (imports submitted, messages posted, …). Required.
	Effects func() int
	// FailRetryable makes the handler fail with a retryable error (return
	// Retry) from now on, until the returned restore is called. Required.
	FailRetryable func() (restore func())
	// FailPermanent makes the handler fail permanently (return Drop) from
	// now on, until restore is called. Required.
	FailPermanent func() (restore func())
	// BadEvent, if set, returns a valid CloudEvent whose data the handler
	// must reject with Drop (wrong schema); checked like FailPermanent.
	BadEvent func(i int) (subject string, e events.Event)
	// WantDropReason, if set, must appear in the DLQ reason of the
	// permanent check (FailPermanent).
	WantDropReason string
	// NotIdempotent, if set, skips the check that calling the handler twice
	// with one event has one effect (dedup then stands alone between
	// duplicates and a double effect); it says why.
	NotIdempotent string
	// RetryDelayCap bounds the Retry delays the handler asks for, so the
	// check does not wait for production delays. Default 200ms.
	RetryDelayCap time.Duration
	// Timeout bounds each wait. Default 10s.
	Timeout time.Duration
	// Logger receives the consumer's logs. Default: discarded.
	Logger *slog.Logger
}

const conformanceFunction = "conformance"

// Conformance runs the event-handling checks every dlibot handler must
// pass, each as a subtest on its own embedded JetStream, with the handler
// behind a real [events.Consumer] (AckWait 5s, MaxDeliver 3):
//
//   - duplicate: one event published twice (two stream messages, the
//     second after the first was handled) has one effect (copies arriving
//     while the first is handled are covered by pkg/events' own tests);
//   - idempotent: the handler called twice directly with one event (as if
//     dedup's window let a duplicate through) has one effect;
//   - retryable: while FailRetryable is in force the handler returns Retry;
//     the message is redelivered no earlier than the delay asked for (capped
//     by RetryDelayCap), and after restore it has exactly one effect;
//   - permanent: while FailPermanent is in force the message goes to the DLQ
//     after one delivery, with the handler's reason, the subject and the
//     delivery count, and has no effect;
//   - malformed: bytes that are not a CloudEvent go to the DLQ with a
//     "malformed" reason without reaching the handler;
//   - bad-data (with BadEvent): like permanent.
func Conformance(t *testing.T, setup func(t *testing.T) Setup) {
	t.Helper()
	t.Run("duplicate", func(t *testing.T) {
		h := newHarness(t, setup(t))
		subj, e := h.s.Event(0)
		before := h.s.Effects()
		h.publish(t, subj, e)
		Eventually(t, h.s.Timeout, func() bool { return h.rec.Count(events.ResultAck) == 1 }, "first copy acked")
		h.publish(t, subj, e) // a second stream message with the same source+id
		Eventually(t, h.s.Timeout, func() bool { return h.rec.Count(events.ResultDuplicate) == 1 }, "second copy acked as a duplicate")
		if got := h.rec.Count(events.ResultAck); got != 1 {
			t.Errorf("acked deliveries = %d, want 1", got)
		}
		if got := h.rec.Count(events.ResultDuplicate); got != 1 {
			t.Errorf("duplicate deliveries = %d, want 1", got)
		}
		if got := h.s.Effects() - before; got != 1 {
			t.Errorf("effects = %d, want 1", got)
		}
	})
	t.Run("idempotent", func(t *testing.T) {
		s := setup(t)
		if s.NotIdempotent != "" {
			t.Skip("handler is not idempotent on its own: " + s.NotIdempotent)
		}
		s = withDefaults(t, s)
		_, e := s.Event(0)
		before := s.Effects()
		for i := range 2 {
			ctx := events.WithDelivery(context.Background(), events.Delivery{Function: conformanceFunction, Attempt: i + 1, MaxDeliver: 3}, nil)
			if out := s.Handler(ctx, e); out.Kind() != events.KindAck {
				t.Fatalf("call %d: outcome %v, want ack", i+1, out)
			}
		}
		if got := s.Effects() - before; got != 1 {
			t.Errorf("effects after two calls with one event = %d, want 1", got)
		}
	})
	t.Run("retryable", func(t *testing.T) {
		h := newHarness(t, setup(t))
		restore := h.s.FailRetryable()
		subj, e := h.s.Event(0)
		before := h.s.Effects()
		h.publish(t, subj, e)
		first := h.waitCall(t, 1)
		if first.out.Kind() != events.KindRetry {
			restore()
			t.Fatalf("outcome while failing retryably = %v, want retry", first.out)
		}
		restore()
		second := h.waitCall(t, 2)
		if second.attempt != 2 {
			t.Errorf("second call is delivery %d, want 2", second.attempt)
		}
		if gap := second.start.Sub(first.end); gap < first.out.After()-5*time.Millisecond {
			t.Errorf("redelivered %v after the retry, want at least %v", gap, first.out.After())
		}
		Eventually(t, h.s.Timeout, func() bool { return h.rec.Count(events.ResultAck) == 1 }, "ack after restore")
		if got := h.s.Effects() - before; got != 1 {
			t.Errorf("effects = %d, want 1", got)
		}
		if n := len(h.rec.DeadLetters()); n != 0 {
			t.Errorf("dead letters = %d, want 0", n)
		}
	})
	t.Run("permanent", func(t *testing.T) {
		h := newHarness(t, setup(t))
		restore := h.s.FailPermanent()
		defer restore()
		subj, e := h.s.Event(0)
		before := h.s.Effects()
		h.publish(t, subj, e)
		h.wantDrop(t, subj, before, h.s.WantDropReason)
	})
	t.Run("malformed", func(t *testing.T) {
		h := newHarness(t, setup(t))
		subj, _ := h.s.Event(0)
		before := h.s.Effects()
		m := nats.NewMsg(subj)
		m.Header.Set("Content-Type", events.ContentType)
		m.Data = []byte(`{"specversion":"1.0","id":`)
		if _, err := h.js.PublishMsg(context.Background(), m); err != nil {
			t.Fatalf("publish: %v", err)
		}
		dl := h.dlq.Next(h.s.Timeout)
		if !strings.HasPrefix(dl.Reason, "malformed") {
			t.Errorf("DLQ reason = %q, want malformed…", dl.Reason)
		}
		if dl.Subject != subj {
			t.Errorf("DLQ subject header = %q, want %q", dl.Subject, subj)
		}
		if string(dl.Msg.Data()) != string(m.Data) {
			t.Errorf("DLQ body = %q, want the original", dl.Msg.Data())
		}
		if n := h.calls(); n != 0 {
			t.Errorf("handler called %d times for a malformed message", n)
		}
		if got := h.s.Effects() - before; got != 0 {
			t.Errorf("effects = %d, want 0", got)
		}
	})
	t.Run("bad-data", func(t *testing.T) {
		s := setup(t)
		if s.BadEvent == nil {
			t.Skip("no BadEvent in Setup")
		}
		h := newHarness(t, s)
		subj, e := h.s.BadEvent(0)
		before := h.s.Effects()
		h.publish(t, subj, e)
		h.wantDrop(t, subj, before, "")
	})
}

func withDefaults(t *testing.T, s Setup) Setup {
	t.Helper()
	if s.Handler == nil || s.Event == nil || s.Effects == nil || s.FailRetryable == nil || s.FailPermanent == nil {
		t.Fatal("eventstest: Setup needs Handler, Event, Effects, FailRetryable and FailPermanent")
	}
	if s.RetryDelayCap <= 0 {
		s.RetryDelayCap = 200 * time.Millisecond
	}
	if s.Timeout <= 0 {
		s.Timeout = 10 * time.Second
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s
}

type call struct {
	attempt    int
	start, end time.Time
	out        events.Outcome
}

type harness struct {
	s   Setup
	js  jetstream.JetStream
	rec *Recorder
	dlq *DLQReader

	mu  sync.Mutex
	log []call
}

func newHarness(t *testing.T, s Setup) *harness {
	t.Helper()
	s = withDefaults(t, s)
	_, js := natstest.StartJS(t)
	h := &harness{s: s, js: js, rec: &Recorder{}}
	wrapped := func(ctx context.Context, e events.Event) events.Outcome {
		d, _ := events.DeliveryFrom(ctx)
		c := call{attempt: d.Attempt, start: time.Now()}
		out := s.Handler(ctx, e)
		if out.Kind() == events.KindRetry && out.After() > s.RetryDelayCap {
			out = events.Retry(s.RetryDelayCap)
		}
		c.end, c.out = time.Now(), out
		h.mu.Lock()
		h.log = append(h.log, c)
		h.mu.Unlock()
		return out
	}
	RunConsumer(t, js, events.Config{
		Function:    conformanceFunction,
		Subjects:    []string{events.SubjectsIn},
		AckWait:     5 * time.Second,
		MaxDeliver:  3,
		Concurrency: 2,
		Backoff:     func(int) time.Duration { return 20 * time.Millisecond },
		Streams:     events.StreamOptions{Storage: jetstream.MemoryStorage},
		Logger:      s.Logger,
		Observer:    h.rec,
	}, wrapped)
	h.dlq = NewDLQReader(t, js, conformanceFunction)
	return h
}

func (h *harness) publish(t *testing.T, subject string, e events.Event) {
	t.Helper()
	if _, err := events.Publish(context.Background(), h.js, subject, e); err != nil {
		t.Fatalf("eventstest: publish: %v", err)
	}
}

func (h *harness) calls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.log)
}

// waitCall waits for the n-th handler call (1-based) to return.
func (h *harness) waitCall(t *testing.T, n int) call {
	t.Helper()
	Eventually(t, h.s.Timeout, func() bool { return h.calls() >= n }, "handler call %d", n)
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.log[n-1]
}

func (h *harness) wantDrop(t *testing.T, subj string, before int, wantReason string) {
	t.Helper()
	dl := h.dlq.Next(h.s.Timeout)
	if strings.HasPrefix(dl.Reason, events.ReasonMaxDeliveries) || strings.HasPrefix(dl.Reason, "malformed") {
		t.Errorf("DLQ reason = %q: the handler should Drop, not retry or fail to decode", dl.Reason)
	}
	if wantReason != "" && !strings.Contains(dl.Reason, wantReason) {
		t.Errorf("DLQ reason = %q, want it to contain %q", dl.Reason, wantReason)
	}
	if dl.Subject != subj {
		t.Errorf("DLQ subject header = %q, want %q", dl.Subject, subj)
	}
	if dl.Deliveries != 1 {
		t.Errorf("DLQ deliveries header = %d, want 1", dl.Deliveries)
	}
	if _, err := events.DecodeMsg(&nats.Msg{Header: nats.Header(dl.Msg.Headers()), Data: dl.Msg.Data()}); err != nil {
		t.Errorf("DLQ copy does not decode as the original event: %v", err)
	}
	if n := h.calls(); n != 1 {
		t.Errorf("handler calls = %d, want 1", n)
	}
	if got := h.s.Effects() - before; got != 0 {
		t.Errorf("effects = %d, want 0", got)
	}
}
