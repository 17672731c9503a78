package sim

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/functions/autoscale/trace"
)

// Env is what policies may know about a trace: the jobs, the week-aligned
// per-minute demand, and the constraints. A policy only looks at demand before
// the window it acts in, except hindsight (the limit) and the in-sample fit
// while tuning.
type Env struct {
	// Jobs are sorted by submit time.
	Jobs []trace.Job
	// Start is 00:00 UTC of the Monday at or before the first job.
	Start time.Time
	// Weeks is the number of whole weeks the trace spans.
	Weeks int
	// Demand is the per-minute unconstrained CU demand from Start on.
	Demand []int
	// MaxJobCU is the largest job that fits the queue (≤ MaxCU).
	MaxJobCU int
	// Sim are the simulator options (normalised).
	Sim Options
	// Plan is the compiler configuration (MinCU/MaxCU follow Sim).
	Plan plan.Config
	// Net configures dlibot's reactive safety net.
	Net NetConfig
	// ModelWeeks (default 4) and HalfLifeWeeks (default 2) configure
	// dlibot's demand model.
	ModelWeeks    int
	HalfLifeWeeks float64
	// Pooled makes dlibot's model pool the samples of all weeks instead of
	// taking the median over weeks of each week's quantile
	// (demand.Config.Recurring, the default).
	Pooled bool
	// DipRatio, when > 0, leaves out of dlibot's model the days whose total
	// demand is below DipRatio × the same weekday's median total in the
	// other weeks (demand.DipDays: holidays, outages).
	DipRatio float64
	// NoTrend turns off dlibot's growth projection (demand.Config.Trend).
	NoTrend bool
	// NoReassert turns off plan.Reassert (re-asserting firings with the
	// leftover plan budget).
	NoReassert bool
	// NetCooldowns are the net cooldowns (minutes) dlibot and hindsight
	// tune with their plans (TuneInput.NetCooldowns; empty: Net.Cooldown).
	NetCooldowns []int
	// TuneMargin is dlibot's tuning margin (TuneInput.Margin; 0: the
	// default).
	TuneMargin float64
	// compilers memoises compiles per learnt profile (the same week is
	// compiled under every knob while tuning).
	compilers map[string]*knobCompiler
}

// NetConfig is dlibot's reactive safety net: when the launching backlog stays
// at or above Threshold jobs for Samples consecutive samples, scale out now
// (immediate command) to cover running + waiting CUs (at least one 16-CU
// step), within MaxCU; then wait Cooldown. It never scales in.
type NetConfig struct {
	// Threshold is the backlog (launching jobs) that counts. Default 1.
	Threshold int
	// Samples is how many consecutive samples must show it. Default 1
	// (the service's AUTOSCALE_NET_SAMPLES default).
	Samples int
	// Cooldown is the pause after a net scale-out. Default 15m.
	Cooldown time.Duration
	// Disabled turns the net off.
	Disabled bool
}

func (n NetConfig) normalize() NetConfig {
	if n.Threshold == 0 {
		n.Threshold = 1
	}
	if n.Samples == 0 {
		n.Samples = 1
	}
	if n.Cooldown == 0 {
		n.Cooldown = 15 * time.Minute
	}
	return n
}

// minute index of t in Demand.
func (e *Env) minute(t time.Time) int { return int(t.Sub(e.Start) / time.Minute) }

// samples returns demand samples (one a minute) in [from, to).
func (e *Env) samples(from, to time.Time) []demand.Sample {
	a, b := max(e.minute(from), 0), min(e.minute(to), len(e.Demand))
	out := make([]demand.Sample, 0, max(b-a, 0))
	for m := a; m < b; m++ {
		out = append(out, demand.Sample{Time: e.Start.Add(time.Duration(m) * time.Minute), CU: float64(e.Demand[m])})
	}
	return out
}

func (e *Env) clampLevel(cu int) int {
	return min(max(plan.RoundUp(cu), e.Sim.MinCU), e.Sim.MaxCU)
}

// Policy is a scaling policy that can be tuned and evaluated.
type Policy interface {
	// Name is the policy's name in results.
	Name() string
	// Param names the tuned parameter ("" when not tunable).
	Param() string
	// Grid lists the parameter values tried when tuning (nil: not tunable).
	Grid() []float64
	// Controller builds the controller for the window [from, to) with
	// parameter p. tuning is true while tuning on the training window.
	// It also returns the violations of DLI's plan rules of the plans it
	// would create.
	Controller(e *Env, from, to time.Time, p float64, tuning bool) (Controller, int, error)
}

// Policies lists the built-in policies in output order.
func Policies() []string {
	return []string{"static-peak", "static-p95", "reactive", "seasonal-naive", "dlibot", "hindsight"}
}

// LookupPolicy returns a built-in policy by name.
func LookupPolicy(name string) (Policy, error) {
	switch name {
	case "static-peak":
		return staticPolicy{name: name, pct: 100}, nil
	case "static-p95":
		return staticPolicy{name: name, pct: 95}, nil
	case "reactive":
		return reactivePolicy{}, nil
	case "seasonal-naive":
		return seasonalPolicy{}, nil
	case "dlibot":
		return compiledPolicy{}, nil
	case "hindsight":
		return compiledPolicy{hindsight: true}, nil
	}
	return nil, fmt.Errorf("sim: unknown policy %q (have %v)", name, Policies())
}

// fixed is a controller with a precomputed schedule and no reactive part.
type fixed struct {
	initial int
	cmds    []Command
}

func (f *fixed) Initial() int        { return f.initial }
func (f *fixed) Commands() []Command { return f.cmds }
func (f *fixed) Observe(time.Time, Metrics, bool, int) (Action, bool) {
	return Action{}, false
}

// staticPolicy holds one size all the time: the pct-percentile of the
// training weeks' per-minute demand (100 = the peak), at least the largest job.
type staticPolicy struct {
	name string
	pct  float64
}

func (s staticPolicy) Name() string    { return s.name }
func (s staticPolicy) Param() string   { return "" }
func (s staticPolicy) Grid() []float64 { return nil }
func (s staticPolicy) Controller(e *Env, from, to time.Time, _ float64, tuning bool) (Controller, int, error) {
	trainEnd := from
	if tuning {
		trainEnd = to
	}
	d := append([]int(nil), e.Demand[:max(min(e.minute(trainEnd), len(e.Demand)), 0)]...)
	if len(d) == 0 {
		return nil, 0, fmt.Errorf("%s: no demand history before %v", s.name, from)
	}
	sort.Ints(d)
	v := d[min(max(int(math.Ceil(s.pct/100*float64(len(d))))-1, 0), len(d)-1)]
	return &fixed{initial: e.clampLevel(max(v, e.MaxJobCU))}, 0, nil
}

// reactivePolicy is HPA-like: desired = demand / u, where demand is the
// observed running + launching CUs (MetricDelay old) and u the target
// utilisation (the tuned parameter; the backlog counts as demand, so a
// backlog above (1−u) of the size scales out). No action while demand /
// (current · u) is within ±10 %. Scale-downs take the largest desired size
// of the last 5 minutes (stabilisation window). Immediate commands (6.5).
type reactivePolicy struct{}

func (reactivePolicy) Name() string    { return "reactive" }
func (reactivePolicy) Param() string   { return "target_utilisation" }
func (reactivePolicy) Grid() []float64 { return []float64{0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0} }
func (reactivePolicy) Controller(e *Env, from, to time.Time, u float64, _ bool) (Controller, int, error) {
	m := max(e.minute(from), 0)
	init := 0
	if m < len(e.Demand) {
		init = e.Demand[m]
	}
	return &hpa{e: e, u: u, initial: e.clampLevel(int(math.Ceil(float64(init) / u)))}, 0, nil
}

type hpa struct {
	e       *Env
	u       float64
	initial int
	recs    []rec
}

type rec struct {
	at time.Time
	cu int
}

func (h *hpa) Initial() int        { return h.initial }
func (h *hpa) Commands() []Command { return nil }
func (h *hpa) Observe(now time.Time, m Metrics, ok bool, cur int) (Action, bool) {
	if !ok {
		return Action{}, false
	}
	dem := float64(m.AllocCU + m.LaunchingCU)
	desired := cur
	if ratio := dem / (float64(cur) * h.u); math.Abs(ratio-1) > 0.1 {
		desired = h.e.clampLevel(int(math.Ceil(dem / h.u)))
	}
	const window = 5 * time.Minute
	h.recs = append(h.recs, rec{now, desired})
	k := 0
	for _, r := range h.recs {
		if now.Sub(r.at) <= window {
			h.recs[k] = r
			k++
		}
	}
	h.recs = h.recs[:k]
	if desired < cur {
		for _, r := range h.recs {
			desired = max(desired, r.cu)
		}
		desired = min(desired, cur)
	}
	return Action{TargetCU: desired}, desired != cur
}

// seasonalPolicy is seasonal-naive (Mimir-like): each hour gets the maximum
// per-minute demand of the same hour one week earlier times a multiplier (the
// tuned parameter), rounded up to 16. It acts with immediate commands, a
// scale-up LeadTime before the hour and a scale-down DownDelay after it, so
// it is free of the plan limits (its changes_per_week shows what it would
// need as plans).
type seasonalPolicy struct{}

func (seasonalPolicy) Name() string  { return "seasonal-naive" }
func (seasonalPolicy) Param() string { return "multiplier" }
func (seasonalPolicy) Grid() []float64 {
	return []float64{0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.35, 1.5, 1.75, 2}
}
func (seasonalPolicy) Controller(e *Env, from, to time.Time, mult float64, _ bool) (Controller, int, error) {
	cfg, err := e.Plan.Normalize()
	if err != nil {
		return nil, 0, err
	}
	week := 7 * 24 * 60
	level := func(hourStart int) int { // minute index of the hour's start
		src := hourStart - week
		if src < 0 {
			src = hourStart // no history: the same hour (only while tuning week 0)
		}
		peak := 0
		for m := src; m < src+60 && m < len(e.Demand); m++ {
			peak = max(peak, e.Demand[m])
		}
		return e.clampLevel(max(int(math.Ceil(float64(peak)*mult)), 0))
	}
	f := &fixed{}
	a, b := e.minute(from), e.minute(to)
	prev := level(a)
	f.initial = prev
	for h := a + 60; h < b; h += 60 {
		l := level(h)
		if l == prev {
			continue
		}
		at := e.Start.Add(time.Duration(h) * time.Minute)
		if l > prev {
			at = at.Add(-cfg.LeadTime)
		} else {
			at = at.Add(cfg.DownDelay)
		}
		f.cmds = append(f.cmds, Command{At: at, TargetCU: l})
		prev = l
	}
	return f, 0, nil
}

// compiledPolicy is dlibot: per week, the decayed hour-of-week demand model
// of the preceding ModelWeeks weeks, compiled with a Knob (the quantile each
// hour must cover, plans reserved for re-asserting firings, or one size; see
// CompileKnob) into DLI plans, replayed as jittered scheduled changes, plus
// the reactive net. dlibot tunes itself (Tune: leave-one-week-out over the
// training weeks, the same code the service runs on its history). With
// hindsight set it is the limit: the same compiler fed each week's own
// actual demand, its knob chosen on the evaluation weeks themselves.
type compiledPolicy struct {
	hindsight bool
	// cooldowns are the net cooldowns (minutes) Grid lists each knob with
	// (Env.NetCooldowns; set by Bench).
	cooldowns []int
}

func (c compiledPolicy) Name() string {
	if c.hindsight {
		return "hindsight"
	}
	return "dlibot"
}
func (compiledPolicy) Param() string { return "knob" }

// Grid lists every knob (Knobs(), under each of the policy's cooldowns) as
// knobIndex values.
func (c compiledPolicy) Grid() []float64 {
	cds := c.cooldowns
	if len(cds) == 0 {
		cds = []int{0}
	}
	var out []float64
	for _, cd := range cds {
		for _, k := range Knobs() {
			k.NetCooldownMin = cd
			out = append(out, float64(knobIndex(k)))
		}
	}
	return out
}

// knobIndex encodes k as a Grid value: its index in Knobs() plus 1000 ×
// hindsight's net-samples override plus 100,000 × its net cooldown in
// minutes (-1 when k is not a knob).
func knobIndex(k Knob) int {
	ns, cd := k.netSamples, k.NetCooldownMin
	k.netSamples, k.NetCooldownMin = 0, 0
	for i, x := range Knobs() {
		if x == k && ns < 100 && cd >= 0 {
			return i + 1000*ns + 100000*cd
		}
	}
	return -1
}

func knobOf(v float64) (Knob, error) {
	ks := Knobs()
	i := int(v) % 1000
	if v < 0 || i >= len(ks) || float64(int(v)) != v {
		return Knob{}, fmt.Errorf("sim: no knob %v", v)
	}
	k := ks[i]
	k.netSamples = int(v) % 100000 / 1000
	k.NetCooldownMin = int(v) / 100000
	return k, nil
}

// modelConfig is dlibot's demand model configuration for weeks of history
// learnt from samples ss.
func (c compiledPolicy) modelConfig(e *Env, ss []demand.Sample, weeks int) demand.Config {
	hl := e.HalfLifeWeeks
	if c.hindsight {
		hl = math.Inf(1)
	}
	cfg := demand.Config{Weeks: weeks, HalfLifeWeeks: hl, Recurring: !e.Pooled, DayTypes: !c.hindsight, Trend: !c.hindsight && !e.NoTrend}
	if e.DipRatio > 0 && !c.hindsight {
		cfg.Exclude = demand.DipDays(ss, time.UTC, e.DipRatio)
	}
	return cfg
}

// schedule compiles the plan dlibot would hold for the week starting at
// learnTo, learning from the weeks before it.
func (c compiledPolicy) schedule(e *Env, learnTo time.Time, weeks int, k Knob) (*plan.Schedule, error) {
	key := fmt.Sprint(c.hindsight, learnTo.Unix(), weeks)
	kc := e.compilers[key]
	if kc == nil || e.NoReassert {
		ss := e.samples(learnTo.Add(-time.Duration(weeks)*demand.Week), learnTo)
		prof, err := demand.Build(ss, learnTo, c.modelConfig(e, ss, weeks))
		if err != nil {
			return nil, err
		}
		pc, err := e.Plan.Normalize()
		if err != nil {
			return nil, err
		}
		kc = newKnobCompiler(prof, pc)
		if e.compilers == nil {
			e.compilers = map[string]*knobCompiler{}
		}
		e.compilers[key] = kc
	}
	prof := kc.prof
	if e.NoReassert {
		k.Reserve = 0
		cfg := e.Plan
		if k.Static {
			cfg.MaxChanges = -1
		}
		return plan.CompileWeekly(prof.Requirement(k.Quantile), cfg)
	}
	s, _, err := kc.compile(k)
	return s, err
}

// tune chooses dlibot's knob on [from, to) with Tune, as the service does on
// its history.
func (c compiledPolicy) tune(e *Env, from, to time.Time, obj Objective) (*TuneResult, error) {
	obj.Margin, obj.NetCooldowns = e.TuneMargin, e.NetCooldowns
	var weeks []time.Time
	for ws := from; ws.Before(to); ws = ws.Add(demand.Week) {
		weeks = append(weeks, ws)
	}
	ss := e.samples(from, to)
	return Tune(TuneInput{Samples: ss, Jobs: e.Jobs, Weeks: weeks, Model: c.modelConfig(e, ss, len(weeks)),
		Plan: e.Plan, Net: e.Net, Sim: e.Sim, Objective: obj})
}

// searchOn runs Search with each knob's figures over [from, to) itself
// (in-sample: hindsight's tuning). The limit also picks, per knob, the
// better of the configured net and a net needing one more sample (it
// knows the future: a more eager net only costs it), so that dlibot's net
// default never makes the limit dearer.
func (c compiledPolicy) searchOn(e *Env, from, to time.Time, obj Objective) (*TuneResult, error) {
	target := obj.Target
	one := func(k Knob) (KnobStats, error) {
		ctl, _, err := c.Controller(e, from, to, float64(knobIndex(k)), false)
		if err != nil {
			return KnobStats{}, err
		}
		r, err := Run(e.Jobs, from, to, ctl, e.Sim)
		if err != nil {
			return KnobStats{}, err
		}
		p95 := Percentile(r.Waits, 95)
		weeks := to.Sub(from).Hours() / (7 * 24)
		st := KnobStats{Knob: k, CUHoursPerWeek: r.CUHours / weeks, WorstP95: p95, P95: p95}
		if obj.byCost() {
			st.WaitMinutesPerWeek = r.WaitMinutes() / weeks
		}
		return st, nil
	}
	var chosen map[Knob]int
	eval := func(k Knob) (KnobStats, error) {
		a, err := one(k)
		if err != nil || e.Net.Disabled {
			return a, err
		}
		k2 := k
		k2.netSamples = e.Net.normalize().Samples + 1
		b, err := one(k2)
		if err != nil {
			return a, err
		}
		okA, okB := a.WorstP95 <= target.Seconds(), b.WorstP95 <= target.Seconds()
		better := okB && (!okA || b.CUHoursPerWeek < a.CUHoursPerWeek) || !okA && !okB && b.WorstP95 < a.WorstP95
		if obj.byCost() {
			better = obj.cost(b.CUHoursPerWeek, b.WaitMinutesPerWeek) < obj.cost(a.CUHoursPerWeek, a.WaitMinutesPerWeek)
		}
		if better {
			if chosen == nil {
				chosen = map[Knob]int{}
			}
			chosen[k] = k2.netSamples
			return b, nil
		}
		return a, nil
	}
	obj.Margin, obj.NetCooldowns = 1, e.NetCooldowns
	stats, order, err := Search(eval, obj)
	if err != nil {
		return nil, err
	}
	for i := range stats {
		stats[i].Knob.netSamples = chosen[stats[i].Knob]
	}
	return &TuneResult{Stats: stats, Order: order, Best: order[0], InSample: true, Weeks: int(to.Sub(from) / demand.Week)}, nil
}

func (c compiledPolicy) Controller(e *Env, from, to time.Time, v float64, tuning bool) (Controller, int, error) {
	k, err := knobOf(v)
	if err != nil {
		return nil, 0, err
	}
	net := k.Net(e.Net)
	if k.netSamples > 0 {
		net.Samples = k.netSamples
	}
	ctl := &netCtl{net: net.normalize(), minCU: e.Sim.MinCU, maxCU: e.Sim.MaxCU}
	violations := 0
	weeks := e.ModelWeeks
	first := true
	for ws := from; ws.Before(to); ws = ws.Add(demand.Week) {
		var s *plan.Schedule
		var err error
		switch {
		case c.hindsight:
			s, err = c.schedule(e, ws.Add(demand.Week), 1, k)
		case tuning:
			// In-sample: the model of the whole tuning window.
			s, err = c.schedule(e, to, int(to.Sub(from)/demand.Week), k)
		default:
			s, err = c.schedule(e, ws, weeks, k)
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%s: week of %s: %w", c.Name(), ws.Format(time.DateOnly), err)
		}
		violations += len(plan.ValidateWeekly(s.Changes, e.Plan))
		ctl.plans = max(ctl.plans, len(plan.Groups(s.Changes)))
		if first {
			ctl.initial = s.LevelAt(int(from.Sub(ws) / time.Minute))
			first = false
		}
		for _, ch := range s.Changes {
			ctl.cmds = append(ctl.cmds, Command{At: ws.Add(time.Duration(ch.Minute) * time.Minute), TargetCU: ch.TargetCU, Plan: true})
		}
	}
	return ctl, violations, nil
}

type netCtl struct {
	plans        int // most DLI plans held in any week
	minCU, maxCU int
	net          NetConfig
	initial      int
	cmds         []Command
	streak       int
	cooldown     time.Time
}

func (n *netCtl) Initial() int { return n.initial }

// PlanCount is the largest number of DLI plans the policy held in a week.
func (n *netCtl) PlanCount() int      { return n.plans }
func (n *netCtl) Commands() []Command { return n.cmds }
func (n *netCtl) Observe(now time.Time, m Metrics, ok bool, cur int) (Action, bool) {
	if !ok || n.net.Disabled {
		return Action{}, false
	}
	if m.Launching >= n.net.Threshold {
		n.streak++
	} else {
		n.streak = 0
	}
	if n.streak < n.net.Samples || now.Before(n.cooldown) {
		return Action{}, false
	}
	t := min(max(plan.RoundUp(max(cur+plan.Step, m.AllocCU+m.LaunchingCU)), n.minCU), n.maxCU)
	if t <= cur {
		return Action{}, false
	}
	n.cooldown = now.Add(n.net.Cooldown)
	n.streak = 0
	return Action{TargetCU: t, OutOnly: true}, true
}
