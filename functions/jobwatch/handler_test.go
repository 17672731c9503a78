package jobwatch

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/eventstest"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

// failingNotifier fails every call while mode is set: 1 retryable, 2 permanent.
type failingNotifier struct {
	notify.Notifier
	mode atomic.Int32
}

func (n *failingNotifier) err() error {
	switch n.mode.Load() {
	case 1:
		return &notify.Error{Op: "post", Kind: notify.ErrUnavailable, Retryable: true, Code: "http_503"}
	case 2:
		return &notify.Error{Op: "post", Kind: notify.ErrChannelNotFound, Code: "channel_not_found"}
	}
	return nil
}

func (n *failingNotifier) Post(ctx context.Context, m notify.Message) (notify.Ref, error) {
	if err := n.err(); err != nil {
		return notify.Ref{}, err
	}
	return n.Notifier.Post(ctx, m)
}

func (n *failingNotifier) Reply(ctx context.Context, p notify.Ref, m notify.Message) (notify.Ref, error) {
	if err := n.err(); err != nil {
		return notify.Ref{}, err
	}
	return n.Notifier.Reply(ctx, p, m)
}

func tickEvent(t testing.TB, period time.Time) events.Event {
	id := events.TickID(Name, period)
	e, err := events.NewEvent(id, events.SourceTick, events.TypeTick, events.Tick{Function: Name, PeriodStart: period})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestConformance(t *testing.T) {
	eventstest.Conformance(t, func(t *testing.T) eventstest.Setup {
		f := newFixture(t, nil)
		fn := &failingNotifier{Notifier: f.n}
		f.w.n = fn
		f.poll(nil) // baseline: nothing failed, nothing posted
		handler := func(ctx context.Context, e events.Event) events.Outcome {
			out := f.w.Handle(ctx, e)
			if out.Kind() == events.KindRetry && out.After() > 100*time.Millisecond {
				// The wait passes on the emulator's clock; the real one
				// only waits 100ms to keep the check fast.
				f.emu.Advance(out.After())
				return events.Retry(100 * time.Millisecond)
			}
			return out
		}
		var n atomic.Int32
		return eventstest.Setup{
			Handler: handler,
			Event: func(i int) (string, events.Event) {
				// Each tick finds one new failed job: one alert.
				k := n.Add(1)
				f.emu.Advance(f.cfg.Interval)
				f.flink("conformance_"+itoa(int(k)), dlitest.FlinkJobSubmitFail)
				return events.TickSubject(Name), tickEvent(t, f.emu.Clock().Now().Truncate(f.cfg.Interval))
			},
			Effects:       func() int { return len(f.posts()) },
			FailRetryable: func() func() { fn.mode.Store(1); return func() { fn.mode.Store(0) } },
			FailPermanent: func() func() { fn.mode.Store(2); return func() { fn.mode.Store(0) } },
			BadEvent: func(i int) (string, events.Event) {
				e, _ := events.NewEvent("bad-"+itoa(i), events.SourceTick, events.TypeTick, map[string]string{"function": "autoscale"})
				return events.TickSubject(Name), e
			},
			WantDropReason: "channel not found",
		}
	})
}

func TestHandleRejectsOtherEvents(t *testing.T) {
	f := newFixture(t, nil)
	e, _ := events.NewEvent("x", "/test", events.TypeObjectCreated, map[string]string{"bucket": "b"})
	if out := f.w.Handle(context.Background(), e); out.Kind() != events.KindDrop {
		t.Errorf("outcome %v, want drop", out)
	}
	if out := f.w.Handle(context.Background(), tickEvent(t, t0)); out.Kind() != events.KindAck {
		t.Errorf("tick outcome %v, want ack", out)
	}
}

// A redelivered tick (after a Slack retry) delivers without listing DLI again.
func TestRedeliveredTickOnlyDelivers(t *testing.T) {
	f := newFixture(t, nil)
	id := f.flink("orders", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.slack.Fail("chat.postMessage", 1, slacktest.RateLimited(10*time.Second))
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	f.emu.Advance(f.cfg.Interval)
	tick := tickEvent(t, f.emu.Clock().Now().Truncate(f.cfg.Interval))
	if out := f.deliver(nil, tick, 1); out.Kind() != events.KindRetry || out.After() < 10*time.Second {
		t.Fatalf("outcome %v, want retry after Slack's 10s", out)
	}
	f.emu.Advance(20 * time.Second)
	f.emu.ClearRequests()
	if out := f.deliver(nil, tick, 2); out.Kind() != events.KindAck {
		t.Fatalf("redelivery outcome %v", out)
	}
	if n := len(f.emu.Requests()); n != 0 {
		t.Errorf("redelivery made %d DLI calls, want 0", n)
	}
	f.wantCounts(1, 1)
}

// A tick handled late (the previous poll ran long) does not make the next
// period's tick skip its listing; a duplicate or backlogged tick, whose
// period began before the last listing, does.
func TestStaleTicksSkipLateOnesDoNot(t *testing.T) {
	f := newFixture(t, nil)
	f.poll(nil) // baseline at t0
	handle := func(period time.Time, wantListed bool) {
		t.Helper()
		f.emu.ClearRequests()
		if out := f.w.Handle(context.Background(), tickEvent(t, period)); out.Kind() != events.KindAck {
			t.Fatalf("tick %s: outcome %v", period.Format(time.TimeOnly), out)
		}
		if listed := len(f.emu.Requests()) > 0; listed != wantListed {
			t.Errorf("tick of %s handled at %s: listed %v, want %v", period.Format(time.TimeOnly),
				f.emu.Clock().Now().Format(time.TimeOnly), listed, wantListed)
		}
	}
	p1 := t0.Add(f.cfg.Interval)
	f.emu.Advance(f.cfg.Interval + 17*time.Second) // handled 17s late
	handle(p1, true)
	f.emu.Advance(13 * time.Second) // the next period, 13s after that listing
	handle(p1.Add(f.cfg.Interval), true)
	f.emu.Advance(time.Second)
	handle(p1.Add(f.cfg.Interval), false) // the same period again: a duplicate
	handle(p1, false)                     // an old one from a backlog
}
