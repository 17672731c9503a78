package events_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/eventstest"
	"github.com/dlibot/dlibot/pkg/events/natstest"
)

// BenchmarkPipeline measures CloudEvents through the whole service path:
// Publish (waiting for the JetStream ack, as the HTTP receiver does) →
// DLIBOT_IN on file storage → durable pull consumer → dedup claim (KV
// create + update, file storage) → handler → ack. 8 publishers, 16
// handlers in flight, at most 64 events published but not yet handled (a
// closed loop, so the latency is not just an ever-growing queue). Reports
// events/s and the publish-to-handled latency percentiles (p50_ms, p99_ms).
func BenchmarkPipeline(b *testing.B) {
	for _, dedup := range []bool{true, false} {
		b.Run(fmt.Sprintf("dedup=%v", dedup), func(b *testing.B) { benchPipeline(b, dedup) })
	}
}

func benchPipeline(b *testing.B, dedup bool) {
	srv := natstest.Start(b)
	_, js := srv.Connect()
	rec := &eventstest.Recorder{}
	cfg := baseConfig(rec)
	cfg.Streams.Storage = jetstream.FileStorage
	cfg.Concurrency = 16
	cfg.DisableDedup = !dedup
	lat := make([]time.Duration, b.N)
	var n atomic.Int64
	window := make(chan struct{}, 64)
	eventstest.RunConsumer(b, js, cfg, func(_ context.Context, e events.Event) events.Outcome {
		i := n.Add(1) - 1
		if i < int64(len(lat)) {
			lat[i] = time.Since(e.Time())
		}
		<-window
		return events.Ack()
	})
	const publishers = 8
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < b.N; i += publishers {
				window <- struct{}{}
				e, err := events.NewEvent(fmt.Sprintf("bench-%d", i), "/bench", events.TypeTick, events.Tick{Function: "toy"})
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := events.Publish(context.Background(), js, events.TickSubject("toy"), e); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	eventstest.Eventually(b, time.Minute, func() bool { return rec.Count(events.ResultAck) >= b.N }, "all handled")
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max_ms")
}

func BenchmarkMarshal(b *testing.B) {
	e := tickEvent(b, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStructured(b *testing.B) {
	m, err := events.NewMsg("s", tickEvent(b, 0))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.DecodeMsg(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeBinary(b *testing.B) {
	e := tickEvent(b, 0)
	h, body := events.BinaryHeaders(e), e.Data()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.Decode(h, body); err != nil {
			b.Fatal(err)
		}
	}
}
