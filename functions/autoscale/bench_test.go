package autoscale

import (
	"context"
	"testing"
	"time"
)

// BenchmarkHandleSamples measures one Cloud Eye batch (4 metrics of one
// queue at one instant) into KV history plus the net's bookkeeping, on an
// embedded JetStream; it reports the size of a full week's record.
func BenchmarkHandleSamples(b *testing.B) {
	f := newFixtureTB(b)
	ctx := context.Background()
	start := f.emu.Clock().Now().Add(-6 * 24 * time.Hour)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		at := start.Add(time.Duration(i%2016) * BucketPeriod)
		if err := f.a.HandleSamples(ctx, point("etl", at, 256, 64, 0)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	var biggest int
	lister, err := f.a.st.kv.ListKeysFiltered(ctx, "hist.>")
	if err != nil {
		b.Fatal(err)
	}
	for k := range lister.Keys() {
		e, err := f.a.st.kv.Get(ctx, k)
		if err == nil {
			biggest = max(biggest, len(e.Value()))
		}
	}
	b.ReportMetric(float64(biggest), "record_bytes")
}

// BenchmarkPlanQueue measures one tick's work for one queue with 4 weeks of
// history: read KV, build the model, sim.Tune (4 leave-one-week-out folds,
// each knob compiled and replayed per fold), then compile and backtest the
// chosen plan, the runner-up and the current plans.
func BenchmarkPlanQueue(b *testing.B) {
	f := newFixtureTB(b)
	f.feedHistory(4, f.emu.Clock().Now())
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.a.PlanQueue(ctx, "etl"); err != nil {
			b.Fatal(err)
		}
	}
}
