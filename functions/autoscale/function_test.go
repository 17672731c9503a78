package autoscale

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

func TestSamplesToKVSurviveRestart(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := f.emu.Clock().Now()
	at := now.Add(-10 * time.Minute).Truncate(BucketPeriod)
	ss := point("etl", at, 64, 48, 2)
	if err := f.a.HandleSamples(ctx, ss); err != nil {
		t.Fatal(err)
	}
	key := histKey("etl", f.a.st.weekStart(at))
	e1, err := f.a.st.kv.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	// The same batch again (a redelivery) changes nothing.
	if err := f.a.HandleSamples(ctx, ss); err != nil {
		t.Fatal(err)
	}
	e2, _ := f.a.st.kv.Get(ctx, key)
	if e2.Revision() != e1.Revision() {
		t.Errorf("redelivered batch rewrote the record: revision %d → %d", e1.Revision(), e2.Revision())
	}
	// A new process (replica or restart) sees the same history.
	h, err := f.replica().st.history(ctx, "etl", at.Add(-time.Hour), now)
	if err != nil {
		t.Fatal(err)
	}
	p, pt, ok := h.Last()
	if !ok || !pt.Equal(at) || *p.CU != 64 || *p.Alloc != 48 || *p.Launching != 2 || *p.Running != 3 {
		t.Fatalf("history after restart: %+v at %v", p, pt)
	}
	if d, _ := p.DemandCU(16); d != 48+2*16 {
		t.Errorf("demand = %v, want alloc + launching × CU per job = 80", d)
	}
	// Samples of another namespace are ignored; bad samples are refused.
	other := sample("etl", demand.MetricCU, 999, at)
	other.Namespace = "SYS.ECS"
	if err := f.a.HandleSamples(ctx, []events.MetricSample{other}); err != nil {
		t.Fatal(err)
	}
	h, _ = f.a.st.history(ctx, "etl", at.Add(-time.Hour), now)
	if p, _, _ := h.Last(); *p.CU != 64 {
		t.Errorf("foreign namespace sample stored: cu = %v", *p.CU)
	}
	if out := f.a.Handle(ctx, metricsEvent(t, "bad", nil)); out.Kind() != events.KindDrop {
		t.Errorf("event without samples: %v, want drop", out)
	}
}

func TestRecommendPostsOnceChangesNothing(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	f.emu.ClearRequests()
	for i := range 2 {
		if err := f.a.Tick(ctx, now.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if w := f.planWrites(); len(w) != 0 {
		t.Errorf("recommend mode wrote plans: %v", w)
	}
	if q, _ := f.emu.Queue("etl"); q.CUCount != 256 {
		t.Errorf("queue size changed to %d", q.CUCount)
	}
	posts := f.slack.CallsTo("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("posts = %d, want 1", len(posts))
	}
	files := f.slack.Files()
	if len(files) != 1 || !files[0].Completed || files[0].ThreadTS != posts[0].TS || string(files[0].Content[:4]) != "\x89PNG" {
		t.Fatalf("chart upload: %+v", files)
	}
	ds := f.decided()
	if len(ds) != 2 || ds[0].Action != ActionRecommended || ds[1].Action != ActionAlreadyRecommended {
		t.Fatalf("decisions: %+v", ds)
	}
	d := ds[0]
	if d.Expected.CUHoursPerWeek >= 0 || !d.Chosen.Backtest.MeetsTarget || d.ApprovedBy != "" || len(d.ForecastCU) != 168 {
		t.Errorf("decision: expected %+v, chosen %+v, approved %q", d.Expected, d.Chosen.Backtest, d.ApprovedBy)
	}
	if d.Current.Backtest.CUHoursPerWeek != 256*168 {
		t.Errorf("current plan backtest = %v CU-h/week, want 256×168", d.Current.Backtest.CUHoursPerWeek)
	}
	// The knob was chosen out of sample by sim.Tune (two weeks: each
	// replayed under the plan learnt from the other).
	if c := d.Chosen; c.Tuning == nil || !c.Tuning.Qualifies || c.Knob != c.Tuning.Knob.String() || c.Quantile != c.Tuning.Knob.Quantile ||
		c.Tuning.WorstP95 > d.Inputs.TargetP95WaitS {
		t.Errorf("chosen %q, tuning %+v", c.Knob, c.Tuning)
	}
	if r := d.RunnerUp; r == nil || r.Tuning == nil || samePlanBodies(r.Plans, d.Chosen.Plans) {
		t.Errorf("runner-up %+v: want another knob with other plans", r)
	}
}

func TestApplyReconcilesAndPlansFire(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply}) })
	ctx := context.Background()
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	if err := f.a.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	ds := f.decided()
	if len(ds) != 1 || ds[0].Action != ActionApplied || ds[0].ApprovedBy != "config" || ds[0].Reconcile == nil || len(ds[0].Reconcile.Created) == 0 {
		t.Fatalf("decision: %+v", ds)
	}
	ps, err := f.dli.ListPlans(ctx, "etl")
	if err != nil || len(ps) != len(ds[0].Chosen.Plans) {
		t.Fatalf("plans at DLI: %v %v", ps, err)
	}
	// A second tick: DLI already holds the plans; nothing is written.
	f.emu.ClearRequests()
	if err := f.a.Tick(ctx, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if w := f.planWrites(); len(w) != 0 {
		t.Errorf("second tick wrote plans: %v", w)
	}
	if ds := f.decided(); ds[1].Action != ActionUnchanged {
		t.Errorf("second decision: %s", ds[1].Action)
	}
	// The plans fire: after the weekday evening the queue is down to the
	// night level, in the morning up at the day level.
	f.emu.Advance(13 * time.Hour) // Monday 19:00
	night, _ := f.emu.Queue("etl")
	f.emu.Advance(13 * time.Hour) // Tuesday 08:00
	day, _ := f.emu.Queue("etl")
	if night.CUCount >= 128 || day.CUCount < 128 {
		t.Errorf("queue CUs: %d at night, %d in the day; want < 128 then ≥ 128", night.CUCount, day.CUCount)
	}
}

// TestApplyOneReplicaAtATime: while one replica holds a queue's apply
// lease (it is reconciling), another's tick writes nothing, is retried,
// and once the lease is free it finds DLI holding the plans and neither
// writes nor counts another apply against the budget.
func TestApplyOneReplicaAtATime(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply})
		c.MaxAppliesPerDay = 1
	})
	ctx := context.Background()
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	key := "apply." + queueKey("etl")
	if ok, err := f.a.st.lease(ctx, key, now, applyLease); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	f.emu.ClearRequests()
	r2 := f.replica()
	err := r2.Tick(ctx, now)
	if !errors.Is(err, errApplyBusy) || outcome(err).Kind() != events.KindRetry {
		t.Fatalf("tick while another replica applies: %v (outcome %v), want a retry", err, outcome(err).Kind())
	}
	if w := f.planWrites(); len(w) != 0 {
		t.Errorf("plans written while another replica held the lease: %v", w)
	}
	// The holder applies (its own lease) and lets go.
	if err := f.a.st.release(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	// The retried tick: DLI already holds the plans, and the budget of one
	// apply a day is not used up by a reconcile that changed nothing.
	f.emu.ClearRequests()
	if err := r2.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	if w := f.planWrites(); len(w) != 0 {
		t.Errorf("the retried tick wrote plans: %v", w)
	}
	ds := f.decided()
	if len(ds) != 2 || ds[0].Action != ActionApplied || ds[1].Action != ActionUnchanged {
		t.Fatalf("decisions: %+v", ds)
	}
	if today, _, err := f.a.st.applies(ctx, "etl", now.Truncate(24*time.Hour)); err != nil || today != 1 {
		t.Errorf("applies today = %d (%v), want 1", today, err)
	}
	// A lease left by a replica killed while applying runs out.
	if ok, err := f.a.st.lease(ctx, key, now, applyLease); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	if ok, err := r2.st.lease(ctx, key, now.Add(applyLease), applyLease); err != nil || !ok {
		t.Errorf("an expired apply lease was not taken over: %v %v", ok, err)
	}
	if applyRetry*5 <= applyLease {
		t.Errorf("a tick retried 5 times every %s gives up before a dead holder's %s lease runs out", applyRetry, applyLease)
	}
}

// TestPlanConflictIsRetried: DLI refusing a create because the plan exists
// (DLI.0006, someone else made it between our list and our write) is
// retried, not dead-lettered: the retried tick lists again.
func TestPlanConflictIsRetried(t *testing.T) {
	err := fmt.Errorf("autoscale: create plan x of etl: %w", &dli.Error{Op: "CreatePlan", Status: 400, Code: "DLI.0006"})
	if k := outcome(err).Kind(); k != events.KindRetry {
		t.Errorf("outcome of a plan conflict = %v, want retry", k)
	}
}

func TestApplyBudget(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply})
		c.MaxAppliesPerDay = 0
	})
	ctx := context.Background()
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	f.emu.ClearRequests()
	if err := f.a.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	if ds := f.decided(); len(ds) != 1 || ds[0].Action != ActionBudgetExhausted {
		t.Fatalf("decisions: %+v", ds)
	}
	if w := f.planWrites(); len(w) != 0 {
		t.Errorf("budget exhausted but plans written: %v", w)
	}
}

func TestStaleMetricsNoChangeOneAlert(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply}) })
	ctx := context.Background()
	now := f.emu.Clock().Now()
	f.feedHistory(2, now.Add(-time.Hour)) // the newest sample is an hour old
	f.emu.ClearRequests()
	for i := range 3 {
		if err := f.a.Tick(ctx, now.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if w := f.planWrites(); len(w) != 0 {
		t.Errorf("stale metrics, plans written: %v", w)
	}
	if n := f.dli.scales.Load(); n != 0 {
		t.Errorf("stale metrics, %d scale calls", n)
	}
	if posts := f.slack.CallsTo("chat.postMessage"); len(posts) != 1 {
		t.Fatalf("alerts = %d, want 1", len(posts))
	}
	for _, d := range f.decided() {
		if d.Action != ActionStale {
			t.Errorf("decision %s, want stale", d.Action)
		}
	}
	// Samples again, then stale again: a new episode, a second alert.
	if err := f.a.HandleSamples(ctx, point("etl", now.Truncate(BucketPeriod), 256, 16, 0)); err != nil {
		t.Fatal(err)
	}
	if err := f.a.Tick(ctx, now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.emu.Advance(time.Hour)
	if err := f.a.Tick(ctx, now.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if posts := f.slack.CallsTo("chat.postMessage"); len(posts) < 2 {
		t.Errorf("second stale episode: %d posts, want a second alert", len(posts))
	}
}

func TestNoMetricsNoChange(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.a.Tick(context.Background(), f.emu.Clock().Now()); err != nil {
		t.Fatal(err)
	}
	if ds := f.decided(); len(ds) != 1 || ds[0].Action != ActionStale {
		t.Fatalf("decisions: %+v", ds)
	}
}

func netFixture(t *testing.T) *fixture {
	return newFixture(t, func(c *Config) {
		c.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply})
		c.NetSamples = 2
		c.NetCooldown = 15 * time.Minute
	})
}

func TestNetScalesOutOncePerCooldownAcrossReplicas(t *testing.T) {
	f := netFixture(t)
	ctx := context.Background()
	rs := []*Autoscaler{f.a, f.replica(), f.replica()}
	now := f.emu.Clock().Now()
	// Six consecutive backlog samples, each to another replica.
	for i := range 6 {
		at := now.Add(time.Duration(i-5) * BucketPeriod)
		if err := rs[i%3].HandleSamples(ctx, point("etl", at, 256, 256, 4)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.dli.scales.Load(); n != 1 {
		t.Fatalf("scale-outs = %d, want 1", n)
	}
	q, _ := f.emu.Queue("etl")
	ds := f.decided()
	if len(ds) != 1 || ds[0].Kind != KindNet || ds[0].Net.FromCU != 256 || ds[0].Net.ToCU != 256+4*16 {
		t.Fatalf("decisions: %+v (queue %+v)", ds, q)
	}
	// The same event to three replicas at once: still one.
	f.emu.Advance(20 * time.Minute)
	now = f.emu.Clock().Now()
	var wg sync.WaitGroup
	for i := range 2 {
		at := now.Add(time.Duration(i-1) * BucketPeriod)
		for _, r := range rs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := r.HandleSamples(ctx, point("etl", at, 320, 320, 4)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	if n := f.dli.scales.Load(); n != 2 {
		t.Fatalf("after the cooldown: scale-outs = %d, want 2", n)
	}
}

func TestNetNeverScalesIn(t *testing.T) {
	f := netFixture(t)
	ctx := context.Background()
	now := f.emu.Clock().Now()
	for i := range 6 { // an idle, oversized queue
		if err := f.a.HandleSamples(ctx, point("etl", now.Add(time.Duration(i-5)*BucketPeriod), 256, 0, 0)); err != nil {
			t.Fatal(err)
		}
	}
	// A backlog on a queue at its maximum: nothing to do either.
	f.cfg.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply, MaxCU: 256})
	a := f.replica()
	for i := range 3 {
		if err := a.HandleSamples(ctx, point("etl", now.Add(time.Duration(i+1)*BucketPeriod), 256, 256, 3)); err != nil {
			t.Fatal(err)
		}
	}
	// An old backlog (replayed samples) does not scale now.
	for i := range 3 {
		if err := f.a.HandleSamples(ctx, point("etl", now.Add(-3*time.Hour+time.Duration(i)*BucketPeriod), 256, 256, 9)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.dli.scales.Load(); n != 0 {
		t.Errorf("scale calls = %d, want 0", n)
	}
	for _, r := range f.emu.Requests() {
		if r.Method == "PUT" && (strings.Contains(r.Body, "scale_in") || strings.Contains(r.Body, "scale_out")) {
			t.Errorf("scale request: %s %s", r.Path, r.Body)
		}
	}
	if q, _ := f.emu.Queue("etl"); q.CUCount != 256 {
		t.Errorf("queue CUs = %d, want 256", q.CUCount)
	}
}

func TestNetRecommendModeChangesNothing(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.NetSamples = 2 })
	ctx := context.Background()
	now := f.emu.Clock().Now()
	for i := range 4 {
		if err := f.a.HandleSamples(ctx, point("etl", now.Add(time.Duration(i-3)*BucketPeriod), 256, 256, 5)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.dli.scales.Load(); n != 0 {
		t.Errorf("recommend mode: %d scale-outs", n)
	}
	ds := f.decided()
	if len(ds) != 1 || ds[0].Action != ActionWouldScaleOut || ds[0].ApprovedBy != "" || ds[0].Net.ToCU != 256+5*16 {
		t.Fatalf("decisions: %+v", ds)
	}
}

func TestSlackFailureRetriesThenPostsOnce(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	f.slack.Fail("chat.postMessage", 1, slacktest.HTTPError(503))
	tick := func(i int) events.Outcome {
		e, err := events.NewEvent(events.TickID(Name, now), events.SourceTick, events.TypeTick, events.Tick{Function: Name, PeriodStart: now})
		if err != nil {
			t.Fatal(err)
		}
		return f.a.Handle(ctx, e)
	}
	if out := tick(0); out.Kind() != events.KindRetry {
		t.Fatalf("tick while Slack fails: %v, want retry", out)
	}
	for i := 1; i < 3; i++ {
		if out := tick(i); out.Kind() != events.KindAck {
			t.Fatalf("tick %d: %v, want ack", i, out)
		}
	}
	ok := 0
	for _, c := range f.slack.CallsTo("chat.postMessage") {
		if c.OK() {
			ok++
		}
	}
	if ok != 1 || len(f.slack.Files()) != 1 {
		t.Errorf("posted %d messages and %d files, want 1 and 1", ok, len(f.slack.Files()))
	}
}

func TestHandleBadEvents(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	bad := []struct {
		typ  string
		data any
	}{
		{events.TypeTick, map[string]any{"function": Name}},
		{events.TypeTick, "noon"},
		{events.TypeMetricsSample, map[string]any{"metric_name": "queue_cu_num", "value": 1}},
		{"dlibot.obs.object.created", map[string]any{"bucket": "b"}},
	}
	for i, b := range bad {
		e, err := events.NewEvent("bad-"+string(rune('a'+i)), "/test", b.typ, b.data)
		if err != nil {
			t.Fatal(err)
		}
		if out := f.a.Handle(ctx, e); out.Kind() != events.KindDrop {
			t.Errorf("%s %v: %v, want drop", b.typ, b.data, out)
		}
	}
}

func TestUnknownQueueIsADecision(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SetQueue(QueueConfig{Name: "ghost"}) })
	ctx := context.Background()
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	if err := f.a.HandleSamples(ctx, point("ghost", now.Add(-BucketPeriod), 64, 16, 0)); err != nil {
		t.Fatal(err)
	}
	f.cfg.MinHistory = 0
	a := f.replica()
	if err := a.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range f.decided() {
		got[d.Queue] = d.Action
	}
	if got["ghost"] != ActionNoQueue || got["etl"] != ActionRecommended {
		t.Errorf("decisions: %v", got)
	}
}

// TestHistorySurvivesNATSRestart: the history is in JetStream's file store,
// not in any process: after the server restarts, a new Autoscaler on a new
// connection plans from it.
func TestHistorySurvivesNATSRestart(t *testing.T) {
	f := newFixture(t, nil)
	srv := natstest.Start(t)
	nc, js := srv.Connect()
	f.js = js
	f.a = f.replica()
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	nc.Close()
	srv.Restart()
	_, js2 := srv.Connect()
	f.js = js2
	a := f.replica()
	h, err := a.st.history(context.Background(), "etl", now.Add(-2*demand.Week), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Points) != 2*bucketsPerWeek {
		t.Fatalf("points after restart = %d, want %d", len(h.Points), 2*bucketsPerWeek)
	}
	if err := a.Tick(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if ds := f.decided(); len(ds) != 1 || ds[0].Action != ActionRecommended {
		t.Fatalf("decisions after restart: %+v", ds)
	}
}

// TestRecommendFixesMissedWaitTarget: an undersized queue (64 CU, busy all
// week, for a 128 CU business-hours demand: half of it waits as launching
// jobs) gets a
// plan that costs more but meets the wait target — proposed although it
// saves nothing.
func TestRecommendFixesMissedWaitTarget(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if err := f.dli.ScaleQueue(ctx, "etl", "scale_in", 192); err != nil {
		t.Fatal(err)
	}
	f.emu.Advance(2 * time.Minute)
	f.dli.scales.Store(0)
	now := f.emu.Clock().Now()
	f.feed(now.Add(-2*demand.Week).Truncate(BucketPeriod), now, func(at time.Time) []events.MetricSample {
		dem := max(businessDemand(at), 64) // never below the queue's size
		return point("etl", at, 64, dem, (dem-64)/16)
	})
	if err := f.a.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	ds := f.decided()
	d := ds[len(ds)-1]
	if d.Kind != KindPlan || d.Action != ActionRecommended {
		t.Fatalf("decision: %s %s (%s)", d.Kind, d.Action, d.Reason)
	}
	if d.Current.Backtest.MeetsTarget || !d.Chosen.Backtest.MeetsTarget || d.Expected.CUHoursPerWeek <= 0 {
		t.Errorf("current %+v, chosen %+v, expected %+v", d.Current.Backtest, d.Chosen.Backtest, d.Expected)
	}
	if q, _ := f.emu.Queue("etl"); q.CUCount != 64 {
		t.Errorf("queue CUs = %d, want 64 (recommend mode)", q.CUCount)
	}
}

func TestSavingBelowThresholdKept(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply})
		c.MinSaving = 0.9 // the plan saves ~80 %
	})
	ctx := context.Background()
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	f.emu.ClearRequests()
	if err := f.a.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	if ds := f.decided(); len(ds) != 1 || ds[0].Action != ActionKept || ds[0].Expected.SavingFraction >= 0.9 {
		t.Fatalf("decisions: %+v", ds)
	}
	if w := f.planWrites(); len(w) != 0 {
		t.Errorf("plans written: %v", w)
	}
	if n := len(f.slack.CallsTo("chat.postMessage")); n != 0 {
		t.Errorf("posts = %d, want 0", n)
	}
}

func TestNetLeaseOncePerCooldown(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	t0 := f.emu.Clock().Now().Add(14*time.Minute + 59*time.Second) // just before a 15-min boundary
	take := func(at time.Time) bool {
		ok, err := f.a.st.lease(ctx, "netclaim.etl", at, 15*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take(t0) {
		t.Fatal("first lease refused")
	}
	if take(t0.Add(2 * time.Second)) { // across the clock's 15-min boundary
		t.Error("second lease within the cooldown granted")
	}
	// Expired: many replicas race to take it over, one wins.
	var wg sync.WaitGroup
	var won atomic.Int64
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if take(t0.Add(15 * time.Minute)) {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Errorf("takeovers = %d, want 1", won.Load())
	}
}

// TestNetCountsSamplesHandledOutOfOrder: two consecutive backlog samples
// handled newest first (a consumer backlog, a redelivery) still make the
// run of two; a redelivered sample counts once.
func TestNetCountsSamplesHandledOutOfOrder(t *testing.T) {
	f := netFixture(t)
	ctx := context.Background()
	now := f.emu.Clock().Now()
	for range 3 { // the newer bucket, delivered three times: a run of one
		if err := f.a.HandleSamples(ctx, point("etl", now, 256, 256, 4)); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.dli.scales.Load(); n != 0 {
		t.Fatalf("scale-outs after one sample delivered 3 times = %d, want 0", n)
	}
	if err := f.a.HandleSamples(ctx, point("etl", now.Add(-BucketPeriod), 256, 256, 4)); err != nil {
		t.Fatal(err)
	}
	if n := f.dli.scales.Load(); n != 1 {
		t.Fatalf("scale-outs after the older sample arrived = %d, want 1", n)
	}
	ds := f.decided()
	if len(ds) != 1 || ds[0].Net == nil || ds[0].Net.Samples != 2 || !ds[0].Net.SampleTime.Equal(now.UTC()) {
		t.Fatalf("decisions: %+v", ds)
	}
	// Once scaled, the buckets already counted do not count again.
	if err := f.a.HandleSamples(ctx, point("etl", now.Add(-2*BucketPeriod), 256, 256, 4)); err != nil {
		t.Fatal(err)
	}
	if n := f.dli.scales.Load(); n != 1 {
		t.Fatalf("scale-outs after an even older sample = %d, want 1", n)
	}
}

// TestNetGapIsNotConsecutive: backlog samples an hour old, then one fresh
// backlog sample: the gap breaks the run, so no scale-out yet.
func TestNetGapIsNotConsecutive(t *testing.T) {
	f := netFixture(t)
	ctx := context.Background()
	now := f.emu.Clock().Now()
	for i := range 2 {
		if err := f.a.HandleSamples(ctx, point("etl", now.Add(-time.Hour+time.Duration(i)*BucketPeriod), 256, 256, 4)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.a.HandleSamples(ctx, point("etl", now, 256, 256, 4)); err != nil {
		t.Fatal(err)
	}
	if n := f.dli.scales.Load(); n != 0 {
		t.Fatalf("scale-outs after a gap = %d, want 0", n)
	}
	if err := f.a.HandleSamples(ctx, point("etl", now.Add(BucketPeriod), 256, 256, 4)); err != nil {
		t.Fatal(err)
	}
	if n := f.dli.scales.Load(); n != 1 {
		t.Fatalf("scale-outs after two consecutive = %d, want 1", n)
	}
}

// TestPlanProjectsGrowth: four weeks of history growing 5 % a week (128 CU
// in business hours in the oldest week) give a plan for the coming week at
// the grown level, 128·1.05⁴ ≈ 156 → 160 CU — not the lagging median week's
// 128·1.05 ≈ 134 → 144 CU — and the decision says which growth it used.
func TestPlanProjectsGrowth(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	now := f.emu.Clock().Now()
	start := now.Add(-4 * demand.Week)
	f.feed(start, now, func(at time.Time) []events.MetricSample {
		k := int(at.Sub(start) / demand.Week)
		return point("etl", at, 256, businessDemand(at)*math.Pow(1.05, float64(k)), 0)
	})
	d, err := f.a.PlanQueue(ctx, "etl")
	if err != nil {
		t.Fatal(err)
	}
	if d.Chosen == nil || d.Inputs == nil {
		t.Fatalf("decision %s: %s", d.Action, d.Reason)
	}
	if g := d.Inputs.GrowthPerWeek; math.Abs(g-0.05) > 0.005 {
		t.Errorf("growth_per_week = %v, want ≈ 0.05", g)
	}
	top := 0
	for _, p := range d.Chosen.Plans {
		top = max(top, p.TargetCU)
	}
	if top != 160 {
		t.Errorf("highest planned level %d CU, want 160 (128·1.05⁴ rounded up to 16)", top)
	}
}

// TestNetCooldownGoesWithTheAppliedPlans: the net cooldown is tuned with
// the plan; applying the plans records it in net.<queue> (a second tick that
// finds them in place too), and the net then holds to it — a second
// backlog 6 minutes after a scale-out scales out again under a 5-minute
// cooldown, where the configured 15 minutes would refuse. Before any apply,
// or with AUTOSCALE_NET_COOLDOWNS empty, the configured cooldown holds.
func TestNetCooldownGoesWithTheAppliedPlans(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cooldowns []time.Duration
		want      time.Duration // recorded with the plans (0: none)
		effective time.Duration // what the net holds to
	}{
		{"tuned 5m", []time.Duration{5 * time.Minute}, 5 * time.Minute, 5 * time.Minute},
		{"none tuned", nil, 0, 15 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) {
				c.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply})
				c.NetCooldowns, c.NetCooldown, c.NetSamples = tc.cooldowns, 15*time.Minute, 1
			})
			ctx := context.Background()
			now := f.emu.Clock().Now()
			f.feedHistory(2, now)
			var st netState
			if _, err := f.a.st.getJSON(ctx, netKey("etl"), &st); err != nil || st.CooldownS != 0 {
				t.Fatalf("before any apply: %+v %v", st, err)
			}
			if err := f.a.Tick(ctx, now); err != nil {
				t.Fatal(err)
			}
			d := f.decided()[0]
			if d.Action != ActionApplied || d.Chosen.Tuning.Knob.NetCooldownMin != int(tc.want/time.Minute) {
				t.Fatalf("decision %s, knob %v", d.Action, d.Chosen.Knob)
			}
			if _, err := f.a.st.getJSON(ctx, netKey("etl"), &st); err != nil || st.CooldownS != int64(tc.want/time.Second) {
				t.Fatalf("after the apply: net state %+v %v, want cooldown %v", st, err, tc.want)
			}
			// Two backlogs 6 minutes apart.
			f.emu.Advance(time.Hour)
			at := f.emu.Clock().Now()
			if err := f.a.HandleSamples(ctx, point("etl", at, 256, 256, 4)); err != nil {
				t.Fatal(err)
			}
			f.emu.Advance(6 * time.Minute)
			if err := f.a.HandleSamples(ctx, point("etl", at.Add(BucketPeriod), 320, 320, 4)); err != nil {
				t.Fatal(err)
			}
			want := int64(1) // the second backlog comes within the cooldown
			if tc.effective < 6*time.Minute {
				want = 2
			}
			if n := f.dli.scales.Load(); n != want {
				t.Fatalf("scale-outs = %d, want %d", n, want)
			}
			if d := f.decided()[1]; d.Net == nil || d.Net.CooldownUntil.Sub(d.At) != tc.effective {
				t.Errorf("net decision %+v: want a cooldown of %v", d.Net, tc.effective)
			}
		})
	}
}

// TestWaitCostObjective: with AUTOSCALE_WAIT_COST_PER_JOB_MINUTE the knob is
// the one of the least weekly cost of CU-hours and waiting (leave one week
// out), the decision says so (inputs, cost in the tuning and backtests,
// binding wait_cost when a leaner plan lost on its waiting), and a dearer
// wait buys more CU-hours and less waiting.
func TestWaitCostObjective(t *testing.T) {
	plan := func(waitCost float64) *Decision {
		t.Helper()
		// The net off: a scale-out lasts until the next firing, which
		// here would make every lean plan dearer in CU-hours too.
		f := newFixture(t, func(c *Config) { c.PricePerCUHour, c.WaitCostPerJobMinute, c.NetBacklog = 0.25, waitCost, 0 })
		now := f.emu.Clock().Now()
		// Business hours with peaks: every third bucket of a working hour
		// needs 224 CU instead of 128 (demand, not size: the queue holds
		// 256), so covering the peaks is a choice between CU-hours and
		// waiting.
		f.feed(now.Add(-2*demand.Week), now, func(at time.Time) []events.MetricSample {
			d := businessDemand(at)
			if d > 16 && at.Minute()%15 == 0 {
				d = 224
			}
			return point("etl", at, 256, d, 0)
		})
		d, err := f.a.PlanQueue(context.Background(), "etl")
		if err != nil {
			t.Fatal(err)
		}
		if d.Inputs.WaitCostPerJobMinute != waitCost || d.Chosen == nil || d.Chosen.Tuning == nil {
			t.Fatalf("wait cost %v: decision %+v", waitCost, d)
		}
		c := d.Chosen
		if c.Tuning.CostPerWeek <= 0 || math.Abs(c.Tuning.CostPerWeek-(0.25*c.Tuning.CUHoursPerWeek+waitCost*c.Tuning.WaitMinutesPerWeek)) > 0.1 {
			t.Errorf("wait cost %v: tuning %+v", waitCost, c.Tuning)
		}
		b := c.Backtest
		if math.Abs(b.CostPerWeek-(0.25*b.CUHoursPerWeek+waitCost*b.WaitMinutesPerWeek)) > 0.1 {
			t.Errorf("wait cost %v: backtest %+v", waitCost, b)
		}
		if want := (d.Current.Backtest.CostPerWeek - b.CostPerWeek) / d.Current.Backtest.CostPerWeek; math.Abs(d.Expected.SavingFraction-want) > 0.001 {
			t.Errorf("saving %v, want the cost saving %v", d.Expected.SavingFraction, want)
		}
		return d
	}
	cheap, dear := plan(0.0001), plan(5)
	if !(dear.Chosen.Tuning.CUHoursPerWeek > cheap.Chosen.Tuning.CUHoursPerWeek && dear.Chosen.Tuning.WaitMinutesPerWeek < cheap.Chosen.Tuning.WaitMinutesPerWeek) {
		t.Errorf("cheap wait chose %s (%+v), dear wait %s (%+v)", cheap.Chosen.Knob, cheap.Chosen.Tuning, dear.Chosen.Knob, dear.Chosen.Tuning)
	}
	if !slices.Contains(dear.Binding, "wait_cost") || slices.Contains(dear.Binding, "wait_target") {
		t.Errorf("dear wait: binding %v, want wait_cost", dear.Binding)
	}
}

// TestNetLeftToNextSampleWhenDLIIsDown: a backlog sample whose net check
// finds DLI unavailable is retried while deliveries remain; on the last one
// it is acknowledged (its bucket is stored) with
// dlibot_autoscale_net_deferred_total{reason="dli_unavailable"}, and the
// next backlog sample after DLI returns scales out, once. Any other DLI
// error on the last try still fails the event (the DLQ, with its reason).
func TestNetLeftToNextSampleWhenDLIIsDown(t *testing.T) {
	f := netFixture(t)
	reg := prometheus.NewRegistry()
	a, err := New(context.Background(), Options{Config: f.cfg, DLI: f.dli, JS: f.js, Notifier: f.n, Logger: quietLogger(),
		Now: f.emu.Clock().Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	deferred := func() float64 { // from the registry, as /metrics serves it
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "dlibot_autoscale_net_deferred_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == "dli_unavailable" {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	try := func(attempt int) context.Context {
		return events.WithDelivery(context.Background(), events.Delivery{Attempt: attempt, MaxDeliver: 5}, nil)
	}
	now := f.emu.Clock().Now()
	if err := a.HandleSamples(try(1), point("etl", now.Add(-BucketPeriod), 256, 256, 4)); err != nil {
		t.Fatal(err)
	}
	if err := f.emu.AddFault(dlitest.Fault{Status: 503, ErrorCode: "DLI.0999", ErrorMsg: "service unavailable"}); err != nil {
		t.Fatal(err)
	}
	backlog := point("etl", now, 256, 256, 4)
	for attempt := 1; attempt < 5; attempt++ {
		err := a.HandleSamples(try(attempt), backlog)
		if !dli.Unavailable(err) {
			t.Fatalf("try %d: %v, want DLI unavailable (retried)", attempt, err)
		}
		if o := outcome(err); o.Kind() != events.KindRetry {
			t.Fatalf("try %d: outcome %v, want a retry", attempt, o)
		}
	}
	if err := a.HandleSamples(try(5), backlog); err != nil {
		t.Fatalf("last try: %v, want the sample acknowledged", err)
	}
	if got := deferred(); got != 1 {
		t.Fatalf("net_deferred = %v, want 1", got)
	}
	if err := a.HandleSamples(context.Background(), backlog); err == nil {
		t.Fatal("outside JetStream (no delivery): want the error, the caller retries")
	}
	if h, err := f.a.st.history(context.Background(), "etl", now.Add(-time.Hour), now.Add(time.Minute)); err != nil || !h.Newest().Equal(now.Truncate(BucketPeriod)) && !h.Newest().Equal(now) {
		t.Fatalf("the deferred sample's bucket is not stored: %+v %v", h, err)
	}
	f.emu.ClearFaults()
	if n := f.dli.scales.Load(); n != 0 {
		t.Fatalf("scale-outs while DLI was down = %d", n)
	}
	if err := a.HandleSamples(try(1), point("etl", now.Add(BucketPeriod), 256, 256, 4)); err != nil {
		t.Fatal(err)
	}
	if n := f.dli.scales.Load(); n != 1 {
		t.Fatalf("scale-outs after DLI returned = %d, want 1", n)
	}
	// A client error is no outage: the last try fails and is dead-lettered.
	if err := f.emu.AddFault(dlitest.Fault{Status: 400, ErrorCode: "DLI.0001", ErrorMsg: "bad request"}); err != nil {
		t.Fatal(err)
	}
	f.emu.Advance(time.Hour)
	later := f.emu.Clock().Now()
	for _, at := range []time.Time{later.Add(-BucketPeriod), later} {
		err = a.HandleSamples(try(5), point("etl", at, 512, 512, 4))
	}
	if err == nil || dli.Unavailable(err) || deferred() != 1 {
		t.Fatalf("client error on the last try: %v, deferred %v; want the error, nothing deferred", err, deferred())
	}
}
