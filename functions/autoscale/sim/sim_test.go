package sim

import (
	"math"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/trace"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func at(min float64) time.Time { return t0.Add(time.Duration(min * float64(time.Minute))) }

func job(submitMin, durMin float64, cu int) trace.Job {
	return trace.Job{Submit: at(submitMin), Duration: time.Duration(durMin * float64(time.Minute)), CU: cu}
}

// exact turns off jitter, scale-out and metric delays.
var exact = Options{PlanJitter: -1, ScaleOutDelay: -1, MetricDelay: -1, SamplePeriod: time.Minute}

// integral recomputes CU-hours from the size trace.
func integral(r *Result, from, to time.Time) float64 {
	s := 0.0
	for i, p := range r.SizeTrace {
		end := to
		if i+1 < len(r.SizeTrace) {
			end = r.SizeTrace[i+1].At
		}
		if end.After(to) {
			end = to
		}
		if p.At.Before(to) {
			s += float64(p.CU) * end.Sub(p.At).Hours()
		}
	}
	return s
}

func TestBillingIsIntegralOfSize(t *testing.T) {
	ctl := &fixed{initial: 32, cmds: []Command{{At: at(30), TargetCU: 64, Plan: true}, {At: at(90), TargetCU: 16}}}
	r, err := Run(nil, t0, at(120), ctl, exact)
	if err != nil {
		t.Fatal(err)
	}
	want := (32*30 + 64*60 + 16*30) / 60.0
	if math.Abs(r.CUHours-want) > 1e-9 || math.Abs(integral(r, t0, at(120))-want) > 1e-9 {
		t.Fatalf("CU-hours %v (trace integral %v), want %v", r.CUHours, integral(r, t0, at(120)), want)
	}
	if r.Changes != 2 || r.PlanChanges != 1 || r.ActionChanges != 1 {
		t.Fatalf("changes %d/%d/%d", r.Changes, r.PlanChanges, r.ActionChanges)
	}
	// Scale-out is billed from its start although usable only after the delay.
	o := exact
	o.ScaleOutDelay = 10 * time.Minute
	r2, _ := Run([]trace.Job{job(30, 5, 64)}, t0, at(120), ctl, o)
	if math.Abs(r2.CUHours-want) > 1e-9 {
		t.Fatalf("with delay: CU-hours %v, want %v", r2.CUHours, want)
	}
	if len(r2.Waits) != 1 || r2.Waits[0] != 600 {
		t.Fatalf("job should wait for the 10-minute scale-out: waits %v", r2.Waits)
	}
}

func TestFIFOHeadOfLineAndWaits(t *testing.T) {
	jobs := []trace.Job{
		job(0, 10, 32),  // runs 0–10
		job(1, 5, 32),   // head: needs 32, waits until 10
		job(2, 1, 16),   // would fit at 2 but FIFO: starts at 10 too (16+32=48 ≤ 48)
		job(3, 1, 16),   // starts when the 16 ends at 11
		job(50, 1, 100), // larger than max: rejected
	}
	o := exact
	o.MaxCU = 64
	r, err := Run(jobs, t0, at(60), &fixed{initial: 48}, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{0, 8 * 60, 8 * 60, 9 * 60} // 1→10, 2→10, 3→11
	if !reflect.DeepEqual(r.Waits, want) {
		t.Fatalf("waits %v, want %v", r.Waits, want)
	}
	if r.Rejected != 1 || r.Jobs != 5 || r.Unfinished != 0 {
		t.Fatalf("rejected %d jobs %d unfinished %d", r.Rejected, r.Jobs, r.Unfinished)
	}
}

func TestScaleInNeverCutsRunningJobs(t *testing.T) {
	jobs := []trace.Job{job(0, 60, 48)}
	ctl := &fixed{initial: 64, cmds: []Command{{At: at(10), TargetCU: 16}}}
	r, err := Run(jobs, t0, at(120), ctl, exact)
	if err != nil {
		t.Fatal(err)
	}
	// 64 for 10 min, 48 (what the job holds) until 60, then 16.
	want := (64*10 + 48*50 + 16*60) / 60.0
	if math.Abs(r.CUHours-want) > 1e-9 {
		t.Fatalf("CU-hours %v, want %v (trace %v)", r.CUHours, want, r.SizeTrace)
	}
}

func TestJitterSeededAndBounded(t *testing.T) {
	var cmds []Command
	for i := 1; i < 40; i++ {
		cmds = append(cmds, Command{At: at(float64(60 * i)), TargetCU: 16 * (1 + i%3), Plan: true})
	}
	o := Options{Seed: 9, ScaleOutDelay: -1}
	run := func(o Options) *Result {
		r, err := Run(nil, t0, at(41*60), &fixed{initial: 16, cmds: cmds}, o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := run(o), run(o)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different runs")
	}
	o.Seed = 10
	c := run(o)
	if reflect.DeepEqual(a.SizeTrace, c.SizeTrace) {
		t.Fatal("different seeds, same jitter")
	}
	moved := false
	for i, p := range a.SizeTrace[1:] {
		off := p.At.Sub(cmds[i].At)
		if off < -5*time.Minute || off > 5*time.Minute {
			t.Fatalf("change %d moved by %v, beyond ±5m", i, off)
		}
		moved = moved || off != 0
	}
	if !moved {
		t.Fatal("no jitter applied")
	}
}

func TestNetOutOnlyAndCooldown(t *testing.T) {
	e := &Env{Sim: Options{MinCU: 16, MaxCU: 256}, Net: NetConfig{Samples: 2}.normalize()}
	n := &netCtl{minCU: e.Sim.MinCU, maxCU: e.Sim.MaxCU, net: e.Net}
	m := Metrics{SizeCU: 64, AllocCU: 64, Launching: 3, LaunchingCU: 48}
	if _, act := n.Observe(at(0), m, true, 64); act {
		t.Fatal("acted on the first backlog sample")
	}
	a, act := n.Observe(at(5), m, true, 64)
	if !act || a.TargetCU != 112 || !a.OutOnly {
		t.Fatalf("second sample: %+v %v, want an out-only scale-out to 112", a, act)
	}
	for i := 2; i < 5; i++ { // within the 15-minute cooldown
		if _, act := n.Observe(at(float64(5*i)), m, true, 112); act && i < 4 {
			t.Fatalf("acted during cooldown at sample %d", i)
		}
	}
	// Covered backlog → never scales in.
	if a, act := n.Observe(at(60), Metrics{SizeCU: 256, AllocCU: 16}, true, 256); act {
		t.Fatalf("net scaled in: %+v", a)
	}
	// Out-only actions below the current target are ignored by the simulator.
	ctl := &outOnlyAt{at: at(10), cu: 16}
	r, _ := Run(nil, t0, at(30), ctl, exact)
	if r.Changes != 0 || math.Abs(r.CUHours-64*0.5) > 1e-9 {
		t.Fatalf("out-only scale-in applied: %+v", r)
	}
}

type outOnlyAt struct {
	at time.Time
	cu int
}

func (o *outOnlyAt) Initial() int        { return 64 }
func (o *outOnlyAt) Commands() []Command { return nil }
func (o *outOnlyAt) Observe(now time.Time, _ Metrics, _ bool, _ int) (Action, bool) {
	return Action{TargetCU: o.cu, OutOnly: true}, !now.Before(o.at)
}

func TestIllegalTargetsCountAsViolations(t *testing.T) {
	ctl := &fixed{initial: 40, cmds: []Command{{At: at(5), TargetCU: 1024}}}
	r, _ := Run(nil, t0, at(10), ctl, exact)
	if r.Violations != 2 {
		t.Fatalf("violations %d, want 2", r.Violations)
	}
	if r.SizeTrace[0].CU != 48 || r.SizeTrace[1].CU != 512 {
		t.Fatalf("sizes %v: want rounding up and clamping", r.SizeTrace)
	}
}

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if Percentile(v, 50) != 5 || Percentile(v, 95) != 10 || Percentile(v, 0) != 1 || Percentile(nil, 50) != 0 {
		t.Fatal("percentile")
	}
}

func TestBenchTuningMeetsTargetOnTraining(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every policy on three weeks")
	}
	p, _ := trace.LookupPreset("business-hours")
	g, err := trace.Generate(p, trace.GenOptions{Weeks: 3, Seed: 5, Scale: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Bench(g.Jobs, BenchOptions{TrainWeeks: 2, Sim: Options{Seed: 1}, EqualWait: true, Limits: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != len(Policies()) || rep.EvalWeeks != 1 {
		t.Fatalf("report %+v", rep)
	}
	byName := map[string]PolicyResult{}
	for _, r := range rep.Results {
		byName[r.Policy] = r
		if r.WaitP50 < 0 || r.WaitP95 < r.WaitP50 || r.WaitP99 < r.WaitP95 {
			t.Errorf("%s: percentiles out of order: %+v", r.Policy, r)
		}
	}
	for _, n := range []string{"dlibot", "seasonal-naive", "hindsight", "static-peak"} {
		if !byName[n].TrainMeetsTarget {
			t.Errorf("%s: tuned parameter misses the 5-minute target on the training weeks: %+v", n, byName[n])
		}
	}
	for _, n := range []string{"dlibot", "hindsight"} {
		if byName[n].Violations != 0 || byName[n].Plans > 12 || byName[n].Plans == 0 {
			t.Errorf("%s: %d violations, %d plans", n, byName[n].Violations, byName[n].Plans)
		}
	}
	if len(rep.EqualWait) != 2 {
		t.Fatalf("equal-wait rows: %+v", rep.EqualWait)
	}
	for _, r := range rep.EqualWait {
		if r.TrainMeetsTarget && r.WaitP95 > byName["dlibot"].WaitP95 {
			t.Errorf("%s: P95 %v worse than dlibot's %v", r.Policy, r.WaitP95, byName["dlibot"].WaitP95)
		}
	}
	// The limits: dlibot with the knob cheapest on the evaluation weeks is
	// within the target there and never dearer than the tuned dlibot when
	// that met it too (its knob is among those tried); seasonal-naive at
	// hindsight's P95 is no worse than it when it reaches it.
	if len(rep.Limits) != 2 || rep.Limits[0].Policy != "dlibot@best-knob" || rep.Limits[1].Policy != "seasonal-naive@hindsight-p95" {
		t.Fatalf("limit rows: %+v", rep.Limits)
	}
	best, d := rep.Limits[0], byName["dlibot"]
	if !best.TrainMeetsTarget || best.WaitP95 > 300 {
		t.Errorf("dlibot@best-knob misses the target on the evaluation weeks: %+v", best)
	}
	if d.WaitP95 <= 300 && best.CUHours > d.CUHours {
		t.Errorf("dlibot@best-knob (%v CU-h) dearer than the tuned dlibot (%v CU-h, P95 %v)", best.CUHours, d.CUHours, d.WaitP95)
	}
	if sn := rep.Limits[1]; sn.TrainMeetsTarget && sn.WaitP95 > byName["hindsight"].WaitP95 {
		t.Errorf("seasonal-naive@hindsight-p95: P95 %v worse than hindsight's %v", sn.WaitP95, byName["hindsight"].WaitP95)
	}
	if _, err := Bench(g.Jobs, BenchOptions{TrainWeeks: 2, Policies: []string{"dlibot"}, Limits: true}); err == nil {
		t.Error("limits without hindsight: want an error")
	}
	if byName["static-peak"].CUHours <= byName["dlibot"].CUHours {
		t.Errorf("dlibot (%v CU-h) should cost less than static-peak (%v)", byName["dlibot"].CUHours, byName["static-peak"].CUHours)
	}
	if _, err := Bench(g.Jobs, BenchOptions{TrainWeeks: 3}); err == nil {
		t.Error("no evaluation weeks: want an error")
	}
	if _, err := Bench(g.Jobs, BenchOptions{Policies: []string{"magic"}}); err == nil {
		t.Error("unknown policy: want an error")
	}
}

// BenchmarkSimulate100kJobs4Weeks times the whole `simulate` work (tuning
// and evaluating all six policies) on a 4-week trace of ~100,000 jobs.
func BenchmarkSimulate100kJobs4Weeks(b *testing.B) {
	p, _ := trace.LookupPreset("business-hours")
	g, err := trace.Generate(p, trace.GenOptions{Weeks: 4, Seed: 1, Scale: 7})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(g.Jobs)), "jobs")
	for b.Loop() {
		if _, err := Bench(g.Jobs, BenchOptions{Sim: Options{MaxCU: 4096}}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWaitCostObjective(t *testing.T) {
	p, _ := trace.LookupPreset("etl-nightly")
	g, err := trace.Generate(p, trace.GenOptions{Weeks: 3, Seed: 2, Scale: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	run := func(cost float64) PolicyResult {
		rep, err := Bench(g.Jobs, BenchOptions{Policies: []string{"dlibot"}, WaitCostPerJobMinute: cost})
		if err != nil {
			t.Fatal(err)
		}
		return rep.Results[0]
	}
	cheap, dear := run(1e-9), run(1e6)
	if cheap.TrainCUHours > dear.TrainCUHours {
		t.Errorf("waiting almost free: %v CU-h on training, more than with waiting dear (%v)", cheap.TrainCUHours, dear.TrainCUHours)
	}
	if dear.TrainWaitP95 > cheap.TrainWaitP95 {
		t.Errorf("waiting dear: training P95 %v s, worse than with waiting free (%v s)", dear.TrainWaitP95, cheap.TrainWaitP95)
	}
	if cheap.Value == dear.Value {
		t.Errorf("both objectives chose quantile %v", cheap.Value)
	}
}

// TestRandomRunsInvariants checks, on random jobs and random plan and
// immediate commands: every wait ≥ 0, FIFO start order, running CUs never
// above the billed size, CU-hours = the integral of the size trace, every
// job accounted for, and the same seed giving the same run.
func TestRandomRunsInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for run := 0; run < 40; run++ {
		var jobs []trace.Job
		for i, n := 0, 50+rng.IntN(300); i < n; i++ {
			jobs = append(jobs, job(rng.Float64()*600, 1+rng.Float64()*30, 16*(1+rng.IntN(6))))
		}
		sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].Submit.Before(jobs[b].Submit) })
		ctl := &fixed{initial: 16 * (1 + rng.IntN(8))}
		for i, n := 0, rng.IntN(20); i < n; i++ {
			ctl.cmds = append(ctl.cmds, Command{At: at(rng.Float64() * 600), TargetCU: 16 * (1 + rng.IntN(12)), Plan: rng.IntN(2) == 0})
		}
		sort.Slice(ctl.cmds, func(a, b int) bool { return ctl.cmds[a].At.Before(ctl.cmds[b].At) })
		o := Options{MaxCU: 80, Seed: uint64(run)}
		r, err := Run(jobs, t0, at(600), ctl, o)
		if err != nil {
			t.Fatal(err)
		}
		r2, _ := Run(jobs, t0, at(600), ctl, o)
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("run %d: same seed, different result", run)
		}
		if got := integral(r, t0, at(600)); math.Abs(got-r.CUHours) > 1e-6 {
			t.Fatalf("run %d: CU-hours %v, integral of sizes %v", run, r.CUHours, got)
		}
		if len(r.Waits)+r.Rejected != r.Jobs {
			t.Fatalf("run %d: %d waits + %d rejected ≠ %d jobs", run, len(r.Waits), r.Rejected, r.Jobs)
		}
		for _, w := range r.Waits {
			if w < 0 {
				t.Fatalf("run %d: negative wait %v", run, w)
			}
		}
		var last time.Time
		for i, s := range r.Starts {
			if s.IsZero() {
				continue
			}
			if s.Before(jobs[i].Submit) || s.Before(last) {
				t.Fatalf("run %d: job %d starts %v (submitted %v, previous start %v): not FIFO", run, i, s, jobs[i].Submit, last)
			}
			last = s
			// CUs held at that instant never exceed the billed size.
			held := 0
			for k, s2 := range r.Starts {
				if !s2.IsZero() && !s2.After(s) && s2.Add(jobs[k].Duration).After(s) {
					held += jobs[k].CU
				}
			}
			size := r.SizeTrace[0].CU
			for _, p := range r.SizeTrace {
				if !p.At.After(s) {
					size = p.CU
				}
			}
			if held > size {
				t.Fatalf("run %d: %d CU running at %v on a %d-CU queue", run, held, s, size)
			}
		}
	}
}
