// Package eventstest holds test helpers for event handlers: [Conformance],
// the checks every dlibot function's handler test runs against a real
// embedded JetStream, and small helpers to run a consumer, record what it
// did and read dead letters.
package eventstest

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events"
)

// Recorder is an [events.Observer] that remembers every call, for tests to
// wait on.
type Recorder struct {
	mu       sync.Mutex
	received int
	handled  []Handled
	dead     []string
}

// Handled is one recorded end of a delivery.
type Handled struct {
	Type   string
	Result events.Result
	Took   time.Duration
}

// Received implements events.Observer.
func (r *Recorder) Received(string, string) {
	r.mu.Lock()
	r.received++
	r.mu.Unlock()
}

// Handled implements events.Observer.
func (r *Recorder) Handled(_ string, typ string, res events.Result, took time.Duration) {
	r.mu.Lock()
	r.handled = append(r.handled, Handled{typ, res, took})
	r.mu.Unlock()
}

// DeadLettered implements events.Observer.
func (r *Recorder) DeadLettered(_, _, reason string) {
	r.mu.Lock()
	r.dead = append(r.dead, reason)
	r.mu.Unlock()
}

// Count returns how many deliveries ended with res.
func (r *Recorder) Count(res events.Result) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, h := range r.handled {
		if h.Result == res {
			n++
		}
	}
	return n
}

// Settled returns how many deliveries ended, whatever the result.
func (r *Recorder) Settled() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.handled)
}

// DeadLetters returns the reasons of the dead letters stored so far.
func (r *Recorder) DeadLetters() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.dead...)
}

// Eventually polls cond every few milliseconds until it holds, failing the
// test with msg if it does not within timeout. Tests use it instead of
// sleeping.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+msg, append([]any{timeout}, args...)...)
		}
		<-tick.C
	}
}

// RunConsumer creates a consumer with cfg and h and runs it until the test
// ends (cleanup cancels it and waits for Run to return). If cfg.Logger is
// nil logs are discarded.
func RunConsumer(t testing.TB, js jetstream.JetStream, cfg events.Config, h events.Handler) *events.Consumer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c, err := events.NewConsumer(context.Background(), js, cfg, h)
	if err != nil {
		t.Fatalf("eventstest: new consumer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("eventstest: consumer run: %v", err)
		}
	})
	return c
}

// DeadLetter is a message read from a DLQ subject.
type DeadLetter struct {
	// Reason, Subject and Deliveries are the DLQ headers.
	Reason     string
	Subject    string
	Deliveries int
	// Msg is the stored dead letter (headers and original body).
	Msg jetstream.Msg
}

// DLQReader reads a function's dead letters in order.
type DLQReader struct {
	t    testing.TB
	cons jetstream.Consumer
}

// NewDLQReader returns a reader of dlibot.dlq.<function> from the start of
// DLIBOT_DLQ (the stream must exist; [events.EnsureStreams]).
func NewDLQReader(t testing.TB, js jetstream.JetStream, function string) *DLQReader {
	t.Helper()
	cons, err := js.OrderedConsumer(context.Background(), events.StreamDLQ, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{events.DLQSubject(function)},
	})
	if err != nil {
		t.Fatalf("eventstest: DLQ consumer: %v", err)
	}
	return &DLQReader{t: t, cons: cons}
}

// Next returns the next dead letter, failing the test if none arrives
// within timeout.
func (r *DLQReader) Next(timeout time.Duration) DeadLetter {
	r.t.Helper()
	m, err := r.cons.Next(jetstream.FetchMaxWait(timeout))
	if err != nil {
		r.t.Fatalf("eventstest: no dead letter within %v: %v", timeout, err)
	}
	n, _ := strconv.Atoi(m.Headers().Get(events.HeaderDLQDeliveries))
	return DeadLetter{
		Reason:     m.Headers().Get(events.HeaderDLQReason),
		Subject:    m.Headers().Get(events.HeaderDLQSubject),
		Deliveries: n,
		Msg:        m,
	}
}

// None fails the test if a dead letter arrives within wait.
func (r *DLQReader) None(wait time.Duration) {
	r.t.Helper()
	m, err := r.cons.Next(jetstream.FetchMaxWait(wait))
	if err == nil {
		r.t.Fatalf("eventstest: unexpected dead letter: %s %q", m.Headers().Get(events.HeaderDLQReason), m.Data())
	}
}
