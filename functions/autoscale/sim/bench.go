package sim

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/functions/autoscale/trace"
)

// BenchOptions configures Bench. The zero value of a field means its default.
type BenchOptions struct {
	// TrainWeeks is how many leading weeks tune the policies; the rest are
	// evaluated. Default 2.
	TrainWeeks int
	// TargetP95Wait is the wait target tuning must meet on the training
	// weeks: each tunable policy takes the cheapest parameter whose P95 wait
	// is at most this. Default 5m.
	TargetP95Wait time.Duration
	// PricePerCUHour is the price of one CU-hour (for the cost column and the
	// cost objective). Default 1.
	PricePerCUHour float64
	// WaitCostPerJobMinute, when > 0, replaces the wait target: tuning takes
	// the parameter with the least PricePerCUHour·CU-hours +
	// WaitCostPerJobMinute·(total job wait in minutes).
	WaitCostPerJobMinute float64
	// Policies to run, in order. Default: all of Policies().
	Policies []string
	// Sim configures the simulator (Seed also seeds the plan jitter).
	Sim Options
	// Plan configures the compiler; MinCU and MaxCU are taken from Sim.
	Plan plan.Config
	// Net configures dlibot's reactive net.
	Net NetConfig
	// ModelWeeks is how many past weeks dlibot learns from. Default 4.
	ModelWeeks int
	// EqualWait adds Report.EqualWait (needs dlibot among Policies).
	EqualWait bool
	// Limits adds Report.Limits (needs dlibot and hindsight among
	// Policies).
	Limits bool
	// HalfLifeWeeks is the model's decay half-life in weeks. Default 2.
	HalfLifeWeeks float64
	// Pooled makes dlibot's model pool all weeks' samples of an hour; by
	// default it counts only what recurs across weeks (the median over weeks
	// of each week's quantile, demand.Config.Recurring).
	Pooled bool
	// NoReassert turns off the re-asserting firings (plan.Reassert).
	NoReassert bool
	// DipRatio: see Env.DipRatio. Default 0.5; negative keeps every day.
	DipRatio float64
	// TuneMargin: see TuneInput.Margin. Default DefaultMargin.
	TuneMargin float64
	// NoTrend turns off dlibot's growth projection (demand.Config.Trend).
	NoTrend bool
	// NetCooldowns are the net cooldowns (minutes) dlibot and hindsight
	// tune with their plans. nil: DefaultNetCooldowns; empty: Net.Cooldown
	// only.
	NetCooldowns []int
}

// PolicyResult is one row of the benchmark (contract fields first), over
// the evaluation weeks.
type PolicyResult struct {
	// Policy is the policy's name.
	Policy string `json:"policy"`
	// CUHours is the billed CU-hours.
	CUHours float64 `json:"cu_hours"`
	// WaitP50, WaitP95 and WaitP99 are queue-wait percentiles in seconds
	// (nearest rank; jobs still waiting after the drain count with their
	// wait so far).
	WaitP50 float64 `json:"wait_p50_s"`
	WaitP95 float64 `json:"wait_p95_s"`
	WaitP99 float64 `json:"wait_p99_s"`
	// ChangesPerWeek counts changes of the queue's target size per week,
	// scheduled and immediate.
	ChangesPerWeek float64 `json:"changes_per_week"`
	// Violations counts breaches of DLI's constraints: non-16 steps and
	// limits (every command), more plans than K and firings closer than the
	// spacing (plan-based policies).
	Violations int `json:"violations"`
	// PlansPerWeek and ActionsPerWeek split ChangesPerWeek into scheduled
	// CU changes (6.6 plans) and immediate scale actions (6.5).
	PlansPerWeek   float64 `json:"plan_changes_per_week"`
	ActionsPerWeek float64 `json:"action_changes_per_week"`
	// Plans is the most DLI plans (6.6) the policy held at once; one plan
	// may fire on several days.
	Plans int `json:"plans"`
	// Param and Value are the tuned parameter ("" for untuned policies).
	Param string  `json:"param,omitempty"`
	Value float64 `json:"param_value,omitempty"`
	// Cost is PricePerCUHour·CU-hours (+ the wait cost when set).
	Cost float64 `json:"cost"`
	// TrainCUHours and TrainWaitP95 are the chosen parameter's figures on
	// the tuning window; TrainMeetsTarget says whether it met the target.
	TrainCUHours     float64 `json:"train_cu_hours"`
	TrainWaitP95     float64 `json:"train_wait_p95_s"`
	TrainMeetsTarget bool    `json:"train_meets_target"`
	// Knob is dlibot's and hindsight's chosen candidate (sim.Knob), e.g.
	// "q=0.85 reserve=3"; TrainWorstWeekP95 is dlibot's worst training week
	// P95 (s) in the leave-one-week-out tuning.
	Knob              string  `json:"knob,omitempty"`
	TrainWorstWeekP95 float64 `json:"train_worst_week_p95_s,omitempty"`
	// Jobs, Rejected and Unfinished are the evaluation window's jobs, those
	// larger than the queue's maximum, and those still waiting after the
	// drain period.
	Jobs       int `json:"jobs"`
	Rejected   int `json:"rejected"`
	Unfinished int `json:"unfinished"`
}

// Report is the benchmark's outcome.
type Report struct {
	// Start is the Monday 00:00 UTC the weeks are counted from.
	Start time.Time `json:"start"`
	// TrainWeeks and EvalWeeks split the trace's weeks.
	TrainWeeks int `json:"train_weeks"`
	EvalWeeks  int `json:"eval_weeks"`
	// Results has one row per policy, in the order asked.
	Results []PolicyResult `json:"results"`
	// EqualWait holds, when BenchOptions.EqualWait is set, each tunable
	// baseline re-tuned on the evaluation weeks themselves (an oracle, in
	// its favour) to the cheapest parameter whose evaluation P95 wait is no
	// worse than dlibot's: the CU-hours it needs at equal P95 wait.
	EqualWait []PolicyResult `json:"equal_wait,omitempty"`
	// Limits holds, when BenchOptions.Limits is set, two oracle rows that
	// bound what the comparisons can show: "dlibot@best-knob", dlibot with
	// the knob that turns out cheapest within the wait target on the
	// evaluation weeks themselves (its plans still learnt from the weeks
	// before each one: how close to hindsight perfect tuning would come),
	// and "seasonal-naive@hindsight-p95", seasonal-naive re-tuned on the
	// evaluation weeks to hindsight's P95 wait (how far below
	// seasonal-naive the limit itself is, at its own wait).
	Limits []PolicyResult `json:"limits,omitempty"`
}

// NewEnv prepares the environment for jobs (sorted by submit time).
func NewEnv(jobs []trace.Job, o BenchOptions) (*Env, error) {
	if len(jobs) == 0 {
		return nil, errors.New("sim: the trace has no jobs")
	}
	so, err := o.Sim.normalize()
	if err != nil {
		return nil, err
	}
	pc := o.Plan
	pc.MinCU, pc.MaxCU = so.MinCU, so.MaxCU
	if pc, err = pc.Normalize(); err != nil {
		return nil, err
	}
	start := trace.MondayOnOrBefore(jobs[0].Submit)
	last := jobs[len(jobs)-1].Submit
	weeks := int(last.Sub(start)/demand.Week) + 1
	e := &Env{Jobs: jobs, Start: start, Weeks: weeks, Sim: so, Plan: pc, Net: o.Net.normalize(),
		ModelWeeks: o.ModelWeeks, HalfLifeWeeks: o.HalfLifeWeeks, Pooled: o.Pooled, NoReassert: o.NoReassert, DipRatio: o.DipRatio,
		TuneMargin: o.TuneMargin, NoTrend: o.NoTrend, NetCooldowns: o.NetCooldowns}
	if o.NetCooldowns == nil {
		e.NetCooldowns = DefaultNetCooldowns
	}
	if e.ModelWeeks == 0 {
		e.ModelWeeks = 4
	}
	if e.HalfLifeWeeks == 0 {
		e.HalfLifeWeeks = 2
	}
	if e.DipRatio == 0 {
		e.DipRatio = 0.5
	}
	e.Demand = trace.Demand(jobs, start, start.Add(time.Duration(weeks)*demand.Week))
	for _, j := range jobs {
		if j.CU <= so.MaxCU {
			e.MaxJobCU = max(e.MaxJobCU, j.CU)
		}
	}
	return e, nil
}

// policy looks up a built-in policy for e: the compiled ones list their
// knobs under e's net cooldowns.
func (e *Env) policy(name string) (Policy, error) {
	p, err := LookupPolicy(name)
	if c, ok := p.(compiledPolicy); ok {
		c.cooldowns = e.NetCooldowns
		p = c
	}
	return p, err
}

type outcome struct {
	res       *Result
	violation int
	plans     int
}

func summarize(r *Result) (p50, p95, p99 float64) {
	return Percentile(r.Waits, 50), Percentile(r.Waits, 95), Percentile(r.Waits, 99)
}

// Bench tunes every policy on the training weeks and evaluates it on the
// remaining weeks.
func Bench(jobs []trace.Job, o BenchOptions) (*Report, error) {
	if o.TrainWeeks == 0 {
		o.TrainWeeks = 2
	}
	if o.TargetP95Wait == 0 {
		o.TargetP95Wait = 5 * time.Minute
	}
	if o.PricePerCUHour == 0 {
		o.PricePerCUHour = 1
	}
	if len(o.Policies) == 0 {
		o.Policies = Policies()
	}
	if o.TrainWeeks < 1 || o.TargetP95Wait < 0 || o.PricePerCUHour < 0 || o.WaitCostPerJobMinute < 0 {
		return nil, fmt.Errorf("sim: train weeks %d, target wait %v, prices must be positive", o.TrainWeeks, o.TargetP95Wait)
	}
	e, err := NewEnv(jobs, o)
	if err != nil {
		return nil, err
	}
	if e.Weeks <= o.TrainWeeks {
		return nil, fmt.Errorf("sim: the trace spans %d week(s) from %s; it needs more than the %d training week(s)",
			e.Weeks, e.Start.Format(time.DateOnly), o.TrainWeeks)
	}
	rep := &Report{Start: e.Start, TrainWeeks: o.TrainWeeks, EvalWeeks: e.Weeks - o.TrainWeeks}
	trainEnd := e.Start.Add(time.Duration(o.TrainWeeks) * demand.Week)
	evalEnd := e.Start.Add(time.Duration(e.Weeks) * demand.Week)
	for _, name := range o.Policies {
		p, err := e.policy(name)
		if err != nil {
			return nil, err
		}
		row, err := benchPolicy(e, p, o, trainEnd, evalEnd)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, *row)
	}
	row := func(name string) *PolicyResult {
		for i := range rep.Results {
			if rep.Results[i].Policy == name {
				return &rep.Results[i]
			}
		}
		return nil
	}
	// oracle re-tunes policy name on the evaluation weeks themselves: the
	// cheapest parameter whose evaluation P95 wait is at most p95 seconds.
	oracle := func(name, label string, p95 float64) (*PolicyResult, error) {
		p, _ := e.policy(name)
		eo := o
		eo.WaitCostPerJobMinute = 0
		eo.TargetP95Wait = time.Duration(p95 * float64(time.Second))
		r, err := benchPolicyOn(e, p, eo, trainEnd, evalEnd, trainEnd, evalEnd, false, nil)
		if err != nil {
			return nil, err
		}
		r.Policy = label
		return r, nil
	}
	if o.EqualWait {
		ref := row("dlibot")
		if ref == nil {
			return nil, errors.New("sim: the equal-wait comparison needs the dlibot policy")
		}
		for _, name := range []string{"reactive", "seasonal-naive"} {
			r, err := oracle(name, name+"@dlibot-p95", ref.WaitP95)
			if err != nil {
				return nil, err
			}
			rep.EqualWait = append(rep.EqualWait, *r)
		}
	}
	if o.Limits {
		h := row("hindsight")
		if h == nil || row("dlibot") == nil {
			return nil, errors.New("sim: the limits need the dlibot and hindsight policies")
		}
		best, err := oracle("dlibot", "dlibot@best-knob", o.TargetP95Wait.Seconds())
		if err != nil {
			return nil, err
		}
		sn, err := oracle("seasonal-naive", "seasonal-naive@hindsight-p95", h.WaitP95)
		if err != nil {
			return nil, err
		}
		rep.Limits = append(rep.Limits, *best, *sn)
	}
	return rep, nil
}

func (o BenchOptions) score(r *Result) float64 {
	return o.PricePerCUHour*r.CUHours + o.WaitCostPerJobMinute*r.WaitMinutes()
}

// better reports whether candidate a beats b under the objective.
func (o BenchOptions) better(a, b *Result) bool {
	if o.WaitCostPerJobMinute > 0 {
		return o.score(a) < o.score(b)
	}
	target := o.TargetP95Wait.Seconds()
	_, pa, _ := summarize(a)
	_, pb, _ := summarize(b)
	okA, okB := pa <= target, pb <= target
	switch {
	case okA != okB:
		return okA
	case okA:
		return a.CUHours < b.CUHours
	case pa != pb:
		return pa < pb
	}
	return a.CUHours < b.CUHours
}

func benchPolicy(e *Env, p Policy, o BenchOptions, trainEnd, evalEnd time.Time) (*PolicyResult, error) {
	tuneFrom, tuneTo, tuning := e.Start, trainEnd, true
	switch p.Name() {
	case "seasonal-naive", "dlibot":
		// Out of sample, like the evaluation: week 0 has no history, so
		// with two or more training weeks tuning starts at week 1 and each
		// week learns only from the weeks before it.
		if trainEnd.Sub(e.Start) >= 2*demand.Week {
			tuneFrom, tuning = e.Start.Add(demand.Week), false
		}
	case "hindsight":
		tuneFrom, tuneTo, tuning = trainEnd, evalEnd, false // the oracle tunes on what it is judged on
	}
	if c, ok := p.(compiledPolicy); ok {
		var tr *TuneResult
		var err error
		obj := Objective{Target: o.TargetP95Wait, WaitCostPerJobMinute: o.WaitCostPerJobMinute, PricePerCUHour: o.PricePerCUHour}
		if c.hindsight {
			// The limit searches the same knobs (Search) on the weeks it
			// is judged on.
			tr, err = c.searchOn(e, trainEnd, evalEnd, obj)
		} else {
			// dlibot tunes itself as the service does: Tune over the
			// training weeks (leave-one-week-out), by the wait target or
			// by cost.
			tr, err = c.tune(e, e.Start, trainEnd, obj)
		}
		if err != nil {
			return nil, err
		}
		return benchPolicyOn(e, p, o, trainEnd, evalEnd, tuneFrom, tuneTo, tuning, tr)
	}
	return benchPolicyOn(e, p, o, trainEnd, evalEnd, tuneFrom, tuneTo, tuning, nil)
}

// benchPolicyOn tunes p on [tuneFrom, tuneTo) and evaluates it on
// [trainEnd, evalEnd); with tuned set, dlibot's knob was already chosen by
// Tune.
func benchPolicyOn(e *Env, p Policy, o BenchOptions, trainEnd, evalEnd, tuneFrom, tuneTo time.Time, tuning bool, tuned *TuneResult) (*PolicyResult, error) {
	run := func(from, to time.Time, v float64, tuning bool) (*outcome, error) {
		ctl, viol, err := p.Controller(e, from, to, v, tuning)
		if err != nil {
			return nil, err
		}
		r, err := Run(e.Jobs, from, to, ctl, e.Sim)
		if err != nil {
			return nil, err
		}
		o := &outcome{res: r, violation: viol + r.Violations}
		if pc, ok := ctl.(interface{ PlanCount() int }); ok {
			o.plans = pc.PlanCount()
		}
		return o, nil
	}
	row := &PolicyResult{Policy: p.Name(), Param: p.Param()}
	value := math.NaN()
	var train *outcome
	if tuned != nil {
		best := tuned.Stats[tuned.Best]
		value = float64(knobIndex(best.Knob))
		row.TrainCUHours = round(best.CUHoursPerWeek*float64(tuned.Weeks), 2)
		row.TrainWaitP95, row.TrainMeetsTarget = best.P95, best.Qualifies
		row.TrainWorstWeekP95 = best.WorstP95
	} else if grid := p.Grid(); len(grid) > 0 {
		for _, v := range grid {
			out, err := run(tuneFrom, tuneTo, v, tuning)
			if err != nil {
				return nil, err
			}
			if train == nil || o.better(out.res, train.res) {
				train, value = out, v
			}
		}
	} else {
		out, err := run(tuneFrom, tuneTo, 0, true)
		if err != nil {
			return nil, err
		}
		train, value = out, 0
	}
	if train != nil {
		_, tp95, _ := summarize(train.res)
		row.TrainCUHours, row.TrainWaitP95 = round(train.res.CUHours, 2), tp95
		row.TrainMeetsTarget = tp95 <= o.TargetP95Wait.Seconds()
	}
	if p.Param() != "" {
		row.Value = value
	}
	if _, ok := p.(compiledPolicy); ok {
		k, err := knobOf(value)
		if err != nil {
			return nil, err
		}
		row.Param, row.Value, row.Knob = "quantile", k.Quantile, k.String()
	}
	ev, err := run(trainEnd, evalEnd, value, false)
	if err != nil {
		return nil, err
	}
	r := ev.res
	row.CUHours = round(r.CUHours, 2)
	row.WaitP50, row.WaitP95, row.WaitP99 = summarize(r)
	row.WaitP50, row.WaitP95, row.WaitP99 = round(row.WaitP50, 1), round(row.WaitP95, 1), round(row.WaitP99, 1)
	weeks := evalEnd.Sub(trainEnd).Hours() / (7 * 24)
	row.ChangesPerWeek = round(float64(r.Changes)/weeks, 2)
	row.PlansPerWeek = round(float64(r.PlanChanges)/weeks, 2)
	row.ActionsPerWeek = round(float64(r.ActionChanges)/weeks, 2)
	row.Violations = ev.violation
	row.Plans = ev.plans
	row.Cost = round(o.score(r), 2)
	row.Jobs, row.Rejected, row.Unfinished = r.Jobs, r.Rejected, r.Unfinished
	return row, nil
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
