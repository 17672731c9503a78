package sim

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/functions/autoscale/trace"
)

func TestKnobs(t *testing.T) {
	ks := Knobs()
	if len(ks) != len(Quantiles)*len(Reserves)+1 || !ks[len(ks)-1].Static {
		t.Fatalf("knobs: %v", ks)
	}
	for i, k := range ks {
		if knobIndex(k) != i {
			t.Errorf("knobIndex(%v) = %d, want %d", k, knobIndex(k), i)
		}
	}
	for k, want := range map[Knob]string{
		{Quantile: 0.85}:                "q=0.85",
		{Quantile: 0.9, Reserve: 3}:     "q=0.90 reserve=3",
		{Quantile: 0.95, Static: true}:  "static q=0.95",
		{Quantile: 0.5, Reserve: 6}:     "q=0.50 reserve=6",
		{Quantile: 1, Reserve: 0}:       "q=1.00",
		{Quantile: 0.93, Static: false}: "q=0.93",
	} {
		if got := k.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", k, got, want)
		}
	}
	if _, err := knobOf(0.5); err == nil {
		t.Error("knobOf(0.5): want an error (not an index)")
	}
	// The net cooldown and hindsight's net samples round-trip through the
	// Grid value, and the cooldown shows in the name.
	k := Knob{Quantile: 0.8, Reserve: 6, NetCooldownMin: 5, netSamples: 2}
	if got, err := knobOf(float64(knobIndex(k))); err != nil || got != k {
		t.Errorf("knobOf(knobIndex(%v)) = %v, %v", k, got, err)
	}
	if got := k.String(); got != "q=0.80 reserve=6 cooldown=5m net_samples=2" {
		t.Errorf("String() = %q", got)
	}
	if n := k.Net(NetConfig{Cooldown: 15 * time.Minute, Samples: 1}); n.Cooldown != 5*time.Minute || n.Samples != 1 {
		t.Errorf("Net: %+v", n)
	}
	if n := (Knob{Quantile: 1}).Net(NetConfig{Cooldown: 15 * time.Minute}); n.Cooldown != 15*time.Minute {
		t.Errorf("no cooldown: Net %+v, want the configured one", n)
	}
	if g := (compiledPolicy{cooldowns: []int{5, 15}}).Grid(); len(g) != 2*len(ks) {
		t.Errorf("grid of two cooldowns: %d knobs, want %d", len(g), 2*len(ks))
	}
}

// TestSearchTunesTheNetCooldown: with net cooldowns, stage 1 tries every
// quantile under each, and stage 2 the reserves around each cooldown's own
// preferred quantile; the cheapest qualifying knob may pair a low quantile
// with the short cooldown.
func TestSearchTunesTheNetCooldown(t *testing.T) {
	var calls []Knob
	eval := func(k Knob) (KnobStats, error) {
		calls = append(calls, k)
		cu := 1000*k.Quantile + float64(k.Reserve)
		p95 := 1200 * (1 - k.Quantile) // 0.75 meets 300 s with the slow net
		if k.NetCooldownMin == 5 {
			cu += 20      // an eager net costs a little more per knob…
			p95 = p95 / 2 // …but halves the wait: 0.5 meets the target
		}
		if k.Static {
			cu, p95 = 5000, 0
		}
		return KnobStats{CUHoursPerWeek: cu, WorstP95: p95, P95: p95}, nil
	}
	stats, order, err := Search(eval, Objective{Target: 5 * time.Minute, Margin: 1, NetCooldowns: []int{5, 15}})
	if err != nil {
		t.Fatal(err)
	}
	if best := stats[order[0]].Knob; best != (Knob{Quantile: 0.5, NetCooldownMin: 5}) {
		t.Errorf("best %v, want q=0.50 cooldown=5m", best)
	}
	stage1 := 2*len(Quantiles) + 2 // and the one-size knob under each cooldown
	if len(calls) <= stage1 {
		t.Fatalf("%d knobs tried", len(calls))
	}
	for i, k := range calls[:2*len(Quantiles)] {
		if want := []int{5, 15}[i/len(Quantiles)]; k.NetCooldownMin != want || k.Reserve != 0 || k.Quantile != Quantiles[i%len(Quantiles)] {
			t.Errorf("stage 1 knob %d: %v", i, k)
		}
	}
	// Stage 2: cooldown 5 around 0.5 (0.5, 0.6), cooldown 15 around 0.75
	// (0.6 … 0.8), each with reserves 3 and 6.
	seen := map[int]map[float64]bool{5: {}, 15: {}}
	for _, k := range calls[stage1:] {
		if k.Reserve == 0 {
			t.Errorf("stage 2 tried %v", k)
		}
		seen[k.NetCooldownMin][k.Quantile] = true
	}
	if len(seen[5]) != 2 || !seen[5][0.5] || !seen[5][0.6] || len(seen[15]) != 4 || !seen[15][0.6] || !seen[15][0.8] {
		t.Errorf("stage 2 quantiles per cooldown: %v", seen)
	}
}

// busyProfile is one week with a different level every two hours: the
// compiler would use every plan it is given.
func busyProfile(t *testing.T) *demand.Profile {
	t.Helper()
	var ss []demand.Sample
	for m := 0; m < 7*24*60; m++ {
		h := m / 60
		cu := float64(16 + 32*((h/2)%5))
		ss = append(ss, demand.Sample{Time: t0.Add(time.Duration(m) * time.Minute), CU: cu})
	}
	p, err := demand.Build(ss, t0.Add(demand.Week), demand.Config{Weeks: 1, Recurring: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCompileKnobReserve: a reserve keeps plans from the compiler for
// re-asserting firings; every schedule stays legal (≤ K plans, spacing,
// 16-CU steps) and covers the requirement; the memoising compiler gives the
// same schedules as CompileKnob.
func TestCompileKnobReserve(t *testing.T) {
	prof := busyProfile(t)
	cfg, _ := plan.Config{}.Normalize()
	kc := newKnobCompiler(prof, cfg)
	var full int
	for _, r := range []int{0, 3, 6} {
		k := Knob{Quantile: 1, Reserve: r}
		s, n, err := CompileKnob(prof, k, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if r == 0 {
			full = n
		}
		if n > cfg.MaxChanges-r {
			t.Errorf("reserve %d: compiler used %d plans, want ≤ %d", r, n, cfg.MaxChanges-r)
		}
		if v := plan.ValidateWeekly(s.Changes, cfg); len(v) > 0 {
			t.Errorf("reserve %d: violations %v", r, v)
		}
		if g := len(plan.Groups(s.Changes)); g > cfg.MaxChanges {
			t.Errorf("reserve %d: %d plans", r, g)
		}
		req := prof.Requirement(1)
		for h := range req {
			if lv := s.LevelAt(h*60 + 30); lv < plan.RoundUp(req[h]) {
				t.Errorf("reserve %d: hour %d at %d CU, needs %d", r, h, lv, req[h])
			}
		}
		m, mn, err := kc.compile(k)
		if err != nil || mn != n || fmt.Sprint(m.Changes) != fmt.Sprint(s.Changes) {
			t.Errorf("reserve %d: memoised compile differs (%d vs %d plans, err %v)", r, mn, n, err)
		}
	}
	if full != cfg.MaxChanges {
		t.Fatalf("the busy week should use all %d plans, used %d", cfg.MaxChanges, full)
	}
	s, n, err := CompileKnob(prof, Knob{Quantile: 0.95, Static: true}, cfg)
	if err != nil || len(s.Changes) != 0 || n != 0 || s.Levels[0] != 16+32*4 {
		t.Errorf("static knob: %d changes, level %d, err %v", len(s.Changes), s.Levels[0], err)
	}
}

// TestSearchStagesAndPreference: Search tries every quantile and the
// one-size knob, then the reserves for the preferred quantile, the two
// below it and the one above; the order puts qualifying knobs first (by
// cost), then those meeting the target without the margin, then the rest
// by worst P95.
func TestSearchStagesAndPreference(t *testing.T) {
	target := 300 * time.Second
	// Cost falls and P95 rises with lower quantiles; a reserve of 3 halves
	// the P95 of quantiles below 0.8.
	eval := func(calls *[]Knob, p95 func(Knob) float64) func(Knob) (KnobStats, error) {
		return func(k Knob) (KnobStats, error) {
			*calls = append(*calls, k)
			cost := 1000 * k.Quantile
			if k.Static {
				cost = 5000
			}
			cost += float64(k.Reserve)
			return KnobStats{CUHoursPerWeek: cost, WorstP95: p95(k), P95: p95(k)}, nil
		}
	}
	var calls []Knob
	p95 := func(k Knob) float64 {
		if k.Static {
			return 0
		}
		v := 1200 * (1 - k.Quantile) // 0.8 → 240, 0.75 → 300, 0.7 → 360, 0.6 → 480
		if k.Reserve == 3 && k.Quantile < 0.8 {
			v /= 2
		}
		return v
	}
	stats, order, err := Search(eval(&calls, p95), Objective{Target: target, Margin: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != len(Quantiles)+1+4*(len(Reserves)-1) {
		t.Fatalf("%d knobs tried: %v", len(calls), calls)
	}
	// Stage 1 prefers 0.75 (the cheapest with P95 ≤ 300); stage 2 tries
	// 0.6, 0.7, 0.75 and 0.8 with reserves: 0.6 reserve=3 (P95 240) is
	// the cheapest that qualifies; 0.5 is never tried with a reserve.
	for _, k := range calls[len(Quantiles)+1:] {
		if k.Reserve == 0 || k.Quantile < 0.6 || k.Quantile > 0.8 {
			t.Errorf("stage 2 tried %v", k)
		}
	}
	if best := stats[order[0]].Knob; best != (Knob{Quantile: 0.6, Reserve: 3}) {
		t.Errorf("best %v, want q=0.60 reserve=3", best)
	}
	for i := 1; i < len(order); i++ {
		a, b := stats[order[i-1]], stats[order[i]]
		if a.Qualifies != b.Qualifies && !a.Qualifies {
			t.Errorf("order: %v (qualifies %v) before %v", a.Knob, a.Qualifies, b.Knob)
		}
		if a.Qualifies && b.Qualifies && a.CUHoursPerWeek > b.CUHoursPerWeek {
			t.Errorf("order: %v dearer than %v but first", a.Knob, b.Knob)
		}
	}
	// Margin 0.25: nothing planned qualifies (≥ 100 s > 75 s), the
	// one-size knob does.
	calls = nil
	stats, order, _ = Search(eval(&calls, func(k Knob) float64 { return p95(k) + 100*b2f(!k.Static) }), Objective{Target: target, Margin: 0.25})
	if best := stats[order[0]].Knob; !(best == Knob{Quantile: 0.95, Static: true}) {
		t.Errorf("margin 0.5: best %v, want the one-size knob", best)
	}
	// Without a one-size escape: nothing within the margin → the cheapest
	// within the target; nothing within the target → the lowest worst P95.
	calls = nil
	high := func(k Knob) float64 {
		if k.Static {
			return 900
		}
		return 250 + 100*(1-k.Quantile)
	}
	stats, order, _ = Search(eval(&calls, high), Objective{Target: target, Margin: 0.5})
	if best := stats[order[0]].Knob; best.Quantile != 0.5 || best.Static {
		t.Errorf("within the target only: best %v, want the cheapest (q=0.50)", best)
	}
	calls = nil
	stats, order, _ = Search(eval(&calls, func(k Knob) float64 { return 1000 - 100*k.Quantile + float64(k.Reserve) }), Objective{Target: target, Margin: 1})
	if best := stats[order[0]].Knob; best != (Knob{Quantile: 1}) {
		t.Errorf("nothing meets the target: best %v, want the lowest worst P95 (q=1.00)", best)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestTuneLeavesTheWeekOut: each fold learns from the other weeks only. A
// Monday peak seen in week 0 alone is not in the plan that replays week 0
// (its jobs wait, the net off), whereas a single-week history replays
// in-sample and covers it.
func TestTuneLeavesTheWeekOut(t *testing.T) {
	var jobs []trace.Job
	for w := 0; w < 2; w++ {
		for d := 0; d < 7; d++ {
			for h := 0; h < 24; h++ {
				at := t0.AddDate(0, 0, 7*w+d).Add(time.Duration(h) * time.Hour)
				jobs = append(jobs, trace.Job{Submit: at, Duration: 50 * time.Minute, CU: 16})
				if w == 0 && d == 0 && h >= 10 && h < 12 {
					jobs = append(jobs, trace.Job{Submit: at.Add(time.Minute), Duration: 50 * time.Minute, CU: 64})
				}
			}
		}
	}
	start, end := t0, t0.Add(2*demand.Week)
	ss := make([]demand.Sample, 0, 2*7*24*60)
	for m, cu := range trace.Demand(jobs, start, end) {
		ss = append(ss, demand.Sample{Time: start.Add(time.Duration(m) * time.Minute), CU: float64(cu)})
	}
	in := TuneInput{Samples: ss, Jobs: jobs, Weeks: []time.Time{t0, t0.Add(demand.Week)},
		Model: demand.Config{Recurring: true}, Net: NetConfig{Disabled: true},
		Sim: Options{PlanJitter: -1, Seed: 1}, Objective: Objective{Target: 5 * time.Minute}}
	tr, err := Tune(in)
	if err != nil {
		t.Fatal(err)
	}
	if tr.InSample || tr.Weeks != 2 || len(tr.Order) != len(tr.Stats) || tr.Order[0] != tr.Best {
		t.Fatalf("result: in-sample %v, weeks %d, %d/%d", tr.InSample, tr.Weeks, len(tr.Order), len(tr.Stats))
	}
	for _, st := range tr.Stats {
		if st.WorstP95 < 30*60 {
			t.Errorf("%v: worst fold P95 %v s: week 0's Monday peak must wait when learnt from week 1", st.Knob, st.WorstP95)
		}
	}
	if best := tr.Stats[tr.Best]; best.Qualifies {
		t.Errorf("best %+v: nothing learnt from week 1 covers week 0's peak", best)
	}
	// One week: in-sample, the peak is learnt.
	in.Weeks = in.Weeks[:1]
	in.Samples = ss[:7*24*60]
	tr, err = Tune(in)
	if err != nil {
		t.Fatal(err)
	}
	if !tr.InSample {
		t.Fatal("one week: want in-sample")
	}
	for _, st := range tr.Stats {
		if st.Knob == (Knob{Quantile: 1}) && st.WorstP95 != 0 {
			t.Errorf("in-sample q=1: P95 %v, want 0", st.WorstP95)
		}
	}
	if _, err := Tune(TuneInput{}); err == nil {
		t.Error("no weeks: want an error")
	}
}

// TestBenchDlibotIsTune: the simulator's dlibot row uses the knob Tune
// chooses on the training weeks (the service's code), and hindsight
// searches the same knobs.
func TestBenchDlibotIsTune(t *testing.T) {
	p, _ := trace.LookupPreset("etl-nightly")
	g, err := trace.Generate(p, trace.GenOptions{Weeks: 3, Seed: 2, Scale: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	o := BenchOptions{TrainWeeks: 2, Sim: Options{Seed: 1}, Policies: []string{"dlibot", "hindsight"}}
	rep, err := Bench(g.Jobs, o)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := NewEnv(g.Jobs, o)
	tr, err := compiledPolicy{}.tune(e, e.Start, e.Start.Add(2*demand.Week), Objective{Target: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	best := tr.Stats[tr.Best]
	d, h := rep.Results[0], rep.Results[1]
	if d.Knob != best.Knob.String() || d.Value != best.Knob.Quantile || d.TrainMeetsTarget != best.Qualifies ||
		math.Abs(d.TrainCUHours-2*best.CUHoursPerWeek) > 0.01 || d.TrainWorstWeekP95 != best.WorstP95 {
		t.Errorf("dlibot row %+v, Tune chose %+v", d, best)
	}
	if h.Knob == "" || h.Param != "quantile" || h.Violations != 0 || d.Violations != 0 {
		t.Errorf("hindsight row %+v", h)
	}
}

// TestHindsightKeepsTheBetterNet: the limit evaluates each knob with the
// configured net and with one needing a sample more, and keeps the cheaper
// that meets the target — so a more eager net default never makes it
// dearer.
func TestHindsightKeepsTheBetterNet(t *testing.T) {
	p, _ := trace.LookupPreset("bursty")
	g, err := trace.Generate(p, trace.GenOptions{Weeks: 2, Seed: 3, Scale: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEnv(g.Jobs, BenchOptions{Sim: Options{Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	from, to := e.Start.Add(demand.Week), e.Start.Add(2*demand.Week)
	c := compiledPolicy{hindsight: true}
	tr, err := c.searchOn(e, from, to, Objective{Target: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	run := func(k Knob) (float64, float64) {
		ctl, _, err := c.Controller(e, from, to, float64(knobIndex(k)), false)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Run(e.Jobs, from, to, ctl, e.Sim)
		if err != nil {
			t.Fatal(err)
		}
		return r.CUHours, Percentile(r.Waits, 95)
	}
	eagerKept := 0
	for _, st := range tr.Stats {
		if st.Knob.netSamples > 0 {
			eagerKept++
		}
		base := st.Knob
		base.netSamples = 0
		eager := base
		eager.netSamples = 2
		cu1, p1 := run(base)
		cu2, p2 := run(eager)
		cu, p95 := run(st.Knob)
		if math.Abs(cu-st.CUHoursPerWeek) > 0.01 || p95 != st.WorstP95 {
			t.Fatalf("%v: stats %+v, replay %v CU-h P95 %v", st.Knob, st, cu, p95)
		}
		for _, alt := range []struct{ cu, p95 float64 }{{cu1, p1}, {cu2, p2}} {
			if alt.p95 <= 300 && (p95 > 300 || cu > alt.cu+0.01) {
				t.Errorf("%v: kept %v CU-h (P95 %v s), the other net gives %v CU-h (P95 %v s)", st.Knob, cu, p95, alt.cu, alt.p95)
			}
		}
	}
	if eagerKept == 0 {
		t.Error("no knob kept the two-sample net: the trace no longer exercises the choice")
	}
}

// TestTuneProjectsEachFold: with Trend, each leave-one-week-out fold
// projects its model to the week it replays, not to the week after the
// history, with the growth of the whole history — also when a fold alone
// (one week short) has too few weeks to estimate one. Four and five weeks
// at 100 CU growing 8 % a week: the one-size knob of the fold replaying
// week k holds ≈ 100·1.08^k rounded up to 16 (112, 112, 128, 128, 144
// CU); projected to the week after the history every fold would hold 144
// or 160, and four weeks without the shared growth would not project.
func TestTuneProjectsEachFold(t *testing.T) {
	levels := []float64{112, 112, 128, 128, 144}
	for _, weeks := range []int{4, 5} {
		var jobs []trace.Job
		var folds []time.Time
		for w := range weeks {
			folds = append(folds, t0.AddDate(0, 0, 7*w))
			cu := int(math.Round(100 * math.Pow(1.08, float64(w))))
			for h := range 7 * 24 {
				jobs = append(jobs, trace.Job{Submit: t0.AddDate(0, 0, 7*w).Add(time.Duration(h) * time.Hour), Duration: 59 * time.Minute, CU: cu})
			}
		}
		start, end := t0, t0.Add(time.Duration(weeks)*demand.Week)
		var ss []demand.Sample
		for m, cu := range trace.Demand(jobs, start, end) {
			ss = append(ss, demand.Sample{Time: start.Add(time.Duration(m) * time.Minute), CU: float64(cu)})
		}
		in := TuneInput{Samples: ss, Jobs: jobs, Weeks: folds,
			Model: demand.Config{Recurring: true, Trend: true}, Net: NetConfig{Disabled: true},
			Sim: Options{PlanJitter: -1, Seed: 1, MaxCU: 512}, Plan: plan.Config{MaxCU: 512}, Objective: Objective{Target: 5 * time.Minute}}
		tr, err := Tune(in)
		if err != nil {
			t.Fatal(err)
		}
		want := 0.0
		for _, l := range levels[:weeks] {
			want += l * 168 / float64(weeks)
		}
		for _, st := range tr.Stats {
			if st.Knob.Static && (math.Abs(st.CUHoursPerWeek/want-1) > 0.01 || st.WorstP95 != 0) {
				t.Errorf("%d weeks, one size: %.0f CU-h a week, worst fold P95 %v s; want ≈ %.0f and 0 (each fold at its own week's level)",
					weeks, st.CUHoursPerWeek, st.WorstP95, want)
			}
		}
	}
}

// TestSearchByCost: with a wait cost, Search orders knobs by the weekly
// cost of CU-hours and waiting, whatever the wait target says: a cheap
// wait picks the leanest plan, a dear one the fullest.
func TestSearchByCost(t *testing.T) {
	eval := func(k Knob) (KnobStats, error) {
		cu, wait := 100*k.Quantile, 1000*(1-k.Quantile) // more CUs, less waiting
		if k.Static {
			cu, wait = 500, 0
		}
		return KnobStats{CUHoursPerWeek: cu, WaitMinutesPerWeek: wait, WorstP95: 60 * wait, P95: 60 * wait}, nil
	}
	for _, tc := range []struct {
		waitCost, price float64
		want            Knob
		wantCost        float64
	}{
		{0.05, 1, Knob{Quantile: 0.5}, 75},     // 100q + 50(1−q)
		{0.5, 1, Knob{Quantile: 1}, 100},       // 100q + 500(1−q)
		{0.05, 10, Knob{Quantile: 0.5}, 525},   // 1000q + 50(1−q): the price weighs CU-hours
		{0.5, 0, Knob{Quantile: 1}, 100},       // price 0 counts as 1
		{0.001, 1, Knob{Quantile: 0.5}, 50.5},  // the target (300 s) would not allow q = 0.5
		{2, 0.1, Knob{Quantile: 1}, 10},        // every wait dear
		{0.1, 1, Knob{Quantile: 1}, 100.0},     // q=0.5 and q=1 both cost 100: the lower P95 wins
		{0.10001, 1, Knob{Quantile: 1}, 100.0}, // just dearer waiting
	} {
		stats, order, err := Search(eval, Objective{Target: 5 * time.Minute, WaitCostPerJobMinute: tc.waitCost, PricePerCUHour: tc.price})
		if err != nil {
			t.Fatal(err)
		}
		best := stats[order[0]]
		if best.Knob != tc.want || math.Abs(best.CostPerWeek-tc.wantCost) > 0.01 {
			t.Errorf("wait cost %v, price %v: best %v at %v/week, want %v at %v", tc.waitCost, tc.price, best.Knob, best.CostPerWeek, tc.want, tc.wantCost)
		}
		for i := 1; i < len(order); i++ {
			if a, b := stats[order[i-1]], stats[order[i]]; a.CostPerWeek > b.CostPerWeek {
				t.Fatalf("wait cost %v: %v (%v) ordered before %v (%v)", tc.waitCost, a.Knob, a.CostPerWeek, b.Knob, b.CostPerWeek)
			}
		}
	}
}

// TestTuneByCostTradesWaitForCUs: on a real trace, Tune with a dear wait
// buys more CU-hours and waits less than with a cheap one, and its choice
// is the least cost among the knobs tried; the simulator's dlibot row is
// that choice (Bench goes through Tune with a wait cost too).
func TestTuneByCostTradesWaitForCUs(t *testing.T) {
	p, _ := trace.LookupPreset("business-hours")
	g, err := trace.Generate(p, trace.GenOptions{Weeks: 3, Seed: 4, Scale: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	o := BenchOptions{TrainWeeks: 2, Sim: Options{Seed: 1}, Policies: []string{"dlibot"}}
	e, err := NewEnv(g.Jobs, o)
	if err != nil {
		t.Fatal(err)
	}
	tune := func(waitCost float64) KnobStats {
		tr, err := compiledPolicy{}.tune(e, e.Start, e.Start.Add(2*demand.Week), Objective{Target: 5 * time.Minute, WaitCostPerJobMinute: waitCost, PricePerCUHour: 1})
		if err != nil {
			t.Fatal(err)
		}
		best := tr.Stats[tr.Best]
		for _, st := range tr.Stats {
			if st.CostPerWeek < best.CostPerWeek || st.CostPerWeek == 0 {
				t.Fatalf("wait cost %v: chose %v at %v/week, %v costs %v", waitCost, best.Knob, best.CostPerWeek, st.Knob, st.CostPerWeek)
			}
		}
		return best
	}
	cheap, dear := tune(0.0001), tune(10)
	if !(dear.CUHoursPerWeek > cheap.CUHoursPerWeek && dear.WaitMinutesPerWeek < cheap.WaitMinutesPerWeek) {
		t.Errorf("cheap wait: %v (%v CU-h, %v job-min waited); dear wait: %v (%v CU-h, %v job-min)",
			cheap.Knob, cheap.CUHoursPerWeek, cheap.WaitMinutesPerWeek, dear.Knob, dear.CUHoursPerWeek, dear.WaitMinutesPerWeek)
	}
	o.WaitCostPerJobMinute = 10
	rep, err := Bench(g.Jobs, o)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Results[0].Knob; got != dear.Knob.String() {
		t.Errorf("simulator's dlibot with a wait cost: knob %s, Tune chose %v", got, dear.Knob)
	}
}
