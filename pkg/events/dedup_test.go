package events_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/eventstest"
	"github.com/dlibot/dlibot/pkg/events/natstest"
)

func TestDedupKey(t *testing.T) {
	k := events.DedupKey("/s", "id")
	if len(k) != 32 {
		t.Errorf("key %q", k)
	}
	// source and id are separated: ("/s", "1x") and ("/s1", "x") differ.
	if events.DedupKey("/s", "1x") == events.DedupKey("/s1", "x") {
		t.Error("ambiguous key")
	}
	if events.DedupKey("/a", "b") != events.DedupKey("/a", "b") {
		t.Error("unstable key")
	}
}

// Duplicates with different stream sequences reach the handler once.
func TestDedupDuplicates(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	var handled atomic.Int32
	cfg := baseConfig(rec)
	// A copy that arrives while the first is being handled retries after
	// the claim's lease (AckWait); keep it short.
	cfg.AckWait = 300 * time.Millisecond
	eventstest.RunConsumer(t, js, cfg, func(context.Context, events.Event) events.Outcome {
		handled.Add(1)
		return events.Ack()
	})
	e := tickEvent(t, 0)
	var seqs []uint64
	for range 3 {
		ack, err := events.Publish(context.Background(), js, events.TickSubject("toy"), e)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, ack.Sequence)
	}
	if seqs[0] == seqs[1] || seqs[1] == seqs[2] {
		t.Fatalf("want three stream messages, got sequences %v", seqs)
	}
	eventstest.Eventually(t, wait, func() bool {
		return rec.Count(events.ResultAck)+rec.Count(events.ResultDuplicate) == 3
	}, "three copies acked")
	if handled.Load() != 1 || rec.Count(events.ResultDuplicate) != 2 {
		t.Errorf("handled %d, duplicates %d; want 1 and 2", handled.Load(), rec.Count(events.ResultDuplicate))
	}
	// Same id from another source is a different event.
	e2 := tickEvent(t, 0)
	e2.SetSource("/other")
	publish(t, js, e2)
	eventstest.Eventually(t, wait, func() bool { return handled.Load() == 2 }, "other source handled")
}

// A duplicate arriving while the first delivery is still working waits for
// the claim (retry), then is recognised as a duplicate.
func TestDedupConcurrentDuplicateWaitsForClaim(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	cfg := baseConfig(rec)
	cfg.AckWait = 500 * time.Millisecond // the duplicate retries after the claim's remaining lease
	cfg.MaxDeliver = 10
	release := make(chan struct{})
	var handled atomic.Int32
	eventstest.RunConsumer(t, js, cfg, func(ctx context.Context, _ events.Event) events.Outcome {
		handled.Add(1)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-release:
				return events.Ack()
			case <-tick.C:
				_ = events.InProgress(ctx) // keep the ack timer and the claim's lease
			}
		}
	})
	e := tickEvent(t, 0)
	publish(t, js, e)
	eventstest.Eventually(t, wait, func() bool { return handled.Load() == 1 }, "first delivery in the handler")
	publish(t, js, e)
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultRetry) >= 1 }, "duplicate told to retry while claimed")
	close(release)
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultDuplicate) == 1 }, "duplicate acked once the first is done")
	if handled.Load() != 1 {
		t.Errorf("handled %d times", handled.Load())
	}
}

// The claim states left in KV by earlier deliveries: done → duplicate,
// live pending → retry later, expired pending (owner crashed) → taken over.
func TestDedupClaimStates(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name        string
		value       string
		wantHandled bool
		wantResult  events.Result
	}{
		{"done", "done", false, events.ResultDuplicate},
		{"live lease", "pending " + strconv.FormatInt(now.Add(time.Hour).UnixNano(), 10), false, events.ResultRetry},
		{"expired lease", "pending " + strconv.FormatInt(now.Add(-time.Second).UnixNano(), 10), true, events.ResultAck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, js := natstest.StartJS(t)
			rec := &eventstest.Recorder{}
			cfg := baseConfig(rec)
			cfg.MaxDeliver = 10
			if err := events.EnsureStreams(context.Background(), js, cfg.Streams); err != nil {
				t.Fatal(err)
			}
			kv, err := js.CreateOrUpdateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: events.DedupBucket("toy"), TTL: 24 * time.Hour, Storage: jetstream.MemoryStorage})
			if err != nil {
				t.Fatal(err)
			}
			e := tickEvent(t, 0)
			if _, err := kv.Create(context.Background(), events.DedupKey(e.Source(), e.ID()), []byte(tt.value)); err != nil {
				t.Fatal(err)
			}
			var handled atomic.Int32
			eventstest.RunConsumer(t, js, cfg, func(context.Context, events.Event) events.Outcome {
				handled.Add(1)
				return events.Ack()
			})
			publish(t, js, e)
			eventstest.Eventually(t, wait, func() bool { return rec.Count(tt.wantResult) >= 1 }, "result %s", tt.wantResult)
			if got := handled.Load() > 0; got != tt.wantHandled {
				t.Errorf("handled = %v, want %v", got, tt.wantHandled)
			}
			if tt.wantHandled {
				entry, err := kv.Get(context.Background(), events.DedupKey(e.Source(), e.ID()))
				if err != nil || string(entry.Value()) != "done" {
					t.Errorf("claim after handling = %v, %v; want done", entry, err)
				}
			}
		})
	}
}

// Retry and Drop release the claim, so a redelivery (or a replay from the
// DLQ) can run; Ack completes it.
func TestDedupClaimReleasedOnFailure(t *testing.T) {
	_, js := natstest.StartJS(t)
	rec := &eventstest.Recorder{}
	var calls atomic.Int32
	eventstest.RunConsumer(t, js, baseConfig(rec), func(_ context.Context, e events.Event) events.Outcome {
		n := calls.Add(1)
		switch {
		case e.ID() == "ev-1":
			return events.Drop("permanent")
		case n == 1:
			return events.Retry(10 * time.Millisecond)
		}
		return events.Ack()
	})
	publish(t, js, tickEvent(t, 0))
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultAck) == 1 }, "acked after a retry")
	if calls.Load() != 2 {
		t.Fatalf("calls = %d, want 2 (the retry must release the claim)", calls.Load())
	}
	kv, err := js.KeyValue(context.Background(), events.DedupBucket("toy"))
	if err != nil {
		t.Fatal(err)
	}
	publish(t, js, tickEvent(t, 1))
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultDrop) == 1 }, "dropped")
	if _, err := kv.Get(context.Background(), events.DedupKey("/test", "ev-1")); err == nil {
		t.Error("claim of a dropped event still held")
	}
	// A replay of the dropped event reaches the handler again.
	publish(t, js, tickEvent(t, 1))
	eventstest.Eventually(t, wait, func() bool { return rec.Count(events.ResultDrop) == 2 }, "replay handled")
}
