package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/functions/autoscale/trace"
)

// Knob is one way dlibot can turn a demand profile into a weekly plan: the
// demand quantile each hour must cover, how many of the K plans the
// compiler may spend on level changes (the rest go to plan.Reassert, whose
// firings end a reactive scale-out sooner), or one size all week — and the
// reactive net's cooldown that goes with the plan.
type Knob struct {
	// Quantile is the per-hour demand quantile the plan covers (0–1).
	Quantile float64 `json:"quantile"`
	// Reserve is how many of the K plans are kept from the compiler for
	// re-asserting firings (0: the compiler may use all K).
	Reserve int `json:"reserve,omitempty"`
	// Static makes the plan one size all week (the Quantile level of the
	// whole week's hours, no changes).
	Static bool `json:"static,omitempty"`
	// NetCooldownMin, when > 0, is the reactive net's cooldown in minutes
	// with this plan (0: the configured NetConfig.Cooldown). A net
	// scale-out lasts until the plan's next firing, so how soon the net may
	// step again trades waiting against CU-hours; it is tuned with the plan
	// (Objective.NetCooldowns).
	NetCooldownMin int `json:"net_cooldown_min,omitempty"`
	// netSamples, when > 0, overrides the net's Samples (hindsight only).
	netSamples int
}

// String renders the knob as "q=0.85 reserve=3 cooldown=5m" or "static q=0.95".
func (k Knob) String() string {
	s := fmt.Sprintf("q=%.2f", k.Quantile)
	if k.Static {
		s = "static " + s
	}
	if k.Reserve > 0 {
		s += fmt.Sprintf(" reserve=%d", k.Reserve)
	}
	if k.NetCooldownMin > 0 {
		s += fmt.Sprintf(" cooldown=%dm", k.NetCooldownMin)
	}
	if k.netSamples > 0 {
		s += fmt.Sprintf(" net_samples=%d", k.netSamples)
	}
	return s
}

// Quantiles are the demand quantiles the knobs cover.
var Quantiles = []float64{0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 1}

// Reserves are the numbers of plans a knob may keep for re-asserting firings.
var Reserves = []int{0, 3, 6}

// Knobs lists every candidate at the configured net cooldown: each of
// Quantiles with each of Reserves, and one size all week at the 0.95
// quantile. Search tries them in two stages, under each of the objective's
// net cooldowns.
func Knobs() []Knob {
	var out []Knob
	for _, q := range Quantiles {
		for _, r := range Reserves {
			out = append(out, Knob{Quantile: q, Reserve: r})
		}
	}
	return append(out, Knob{Quantile: 0.95, Static: true})
}

// DefaultNetCooldowns are the net cooldowns (minutes) tuned with the plan
// by default: 5 lets the net step again at every Cloud Eye sample, 15 waits
// for the CUs of a scale-out to arrive. Measured on the simulator's
// presets (docs/benchmarks.md, session 3); 30 looked cheap in training and
// missed the wait target out of sample.
var DefaultNetCooldowns = []int{5, 15}

// Net returns net with k's cooldown.
func (k Knob) Net(net NetConfig) NetConfig {
	if k.NetCooldownMin > 0 {
		net.Cooldown = time.Duration(k.NetCooldownMin) * time.Minute
	}
	return net
}

// Objective is what Search and Tune choose a knob by.
type Objective struct {
	// Target is the P95 wait the worst fold must meet.
	Target time.Duration
	// Margin scales Target for the choice (0 means DefaultMargin).
	Margin float64
	// WaitCostPerJobMinute, when > 0, chooses by cost instead of by the
	// target: the least mean weekly PricePerCUHour·CU-hours +
	// WaitCostPerJobMinute·job-minutes waited (KnobStats.CostPerWeek). The
	// target then only labels knobs (Qualifies).
	WaitCostPerJobMinute float64
	// PricePerCUHour is the price of a CU-hour (with WaitCostPerJobMinute;
	// 0 counts as 1).
	PricePerCUHour float64
	// NetCooldowns are the net cooldowns (minutes) each knob is tried with
	// (Knob.NetCooldownMin); empty: the configured one only.
	NetCooldowns []int
}

func (o Objective) byCost() bool { return o.WaitCostPerJobMinute > 0 }

// cost is a week's cost under o: CU-hours priced, plus waited job-minutes
// at the wait cost.
func (o Objective) cost(cuHours, waitMinutes float64) float64 {
	price := o.PricePerCUHour
	if price == 0 {
		price = 1
	}
	return price*cuHours + o.WaitCostPerJobMinute*waitMinutes
}

// Search finds the preferred knob with eval (a knob's figures) in two
// stages: every quantile without reserve and the one-size knob, under each
// of obj.NetCooldowns, first; then, per cooldown, the other reserves for
// that cooldown's preferred quantile, the two below it and the one above.
// It returns
// the figures of the knobs tried and their order of preference: by the
// wait target (qualifying knobs from the cheapest, then those whose worst
// P95 meets the target without the margin, then the rest from the lowest
// worst P95), or by cost when obj.WaitCostPerJobMinute is set (from the
// least CostPerWeek). A knob qualifies when its worst P95 is at most
// margin·target.
func Search(eval func(Knob) (KnobStats, error), obj Objective) ([]KnobStats, []int, error) {
	margin, target := obj.Margin, obj.Target
	if margin == 0 {
		margin = DefaultMargin
	}
	var stats []KnobStats
	var within []bool
	try := func(k Knob) error {
		st, err := eval(k)
		if err != nil {
			return err
		}
		st.Knob = k
		st.Qualifies = st.WorstP95 <= margin*target.Seconds()
		if obj.byCost() {
			st.CostPerWeek = math.Round(obj.cost(st.CUHoursPerWeek, st.WaitMinutesPerWeek)*100) / 100
		}
		stats = append(stats, st)
		within = append(within, st.WorstP95 <= target.Seconds())
		return nil
	}
	order := func() []int {
		if obj.byCost() {
			return byCost(stats)
		}
		return preference(stats, within)
	}
	cooldowns := obj.NetCooldowns
	if len(cooldowns) == 0 {
		cooldowns = []int{0}
	}
	for _, c := range cooldowns {
		for _, q := range Quantiles {
			if err := try(Knob{Quantile: q, NetCooldownMin: c}); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, c := range cooldowns {
		if err := try(Knob{Quantile: 0.95, Static: true, NetCooldownMin: c}); err != nil {
			return nil, nil, err
		}
	}
	// Reserving plans makes the plan coarser but ends net scale-outs
	// sooner, which can let a lower quantile meet the target: the second
	// stage tries, per cooldown, its preferred quantile, the two below it
	// and the one above. (A lower quantile with a short cooldown and
	// reserved plans is often the cheapest that meets the target, and
	// the best quantile differs between cooldowns.)
	first := order()
	for _, c := range cooldowns {
		best := -1
		for _, i := range first {
			if !stats[i].Knob.Static && stats[i].Knob.NetCooldownMin == c {
				best = slices.Index(Quantiles, stats[i].Knob.Quantile)
				break
			}
		}
		for j := max(best-2, 0); best >= 0 && j <= min(best+1, len(Quantiles)-1); j++ {
			for _, r := range Reserves {
				if r == 0 {
					continue
				}
				if err := try(Knob{Quantile: Quantiles[j], Reserve: r, NetCooldownMin: c}); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	return stats, order(), nil
}

// byCost orders knobs from the least CostPerWeek (ties: lower worst P95).
func byCost(st []KnobStats) []int {
	order := make([]int, len(st))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := st[order[a]], st[order[b]]
		if x.CostPerWeek != y.CostPerWeek {
			return x.CostPerWeek < y.CostPerWeek
		}
		return x.WorstP95 < y.WorstP95
	})
	return order
}

// CompileKnob compiles the weekly schedule of knob k from profile prof
// under cfg: plan.CompileWeekly on the k.Quantile requirement with
// MaxChanges − k.Reserve plans (at least 1), then plan.Reassert with all K.
// A static knob compiles one constant level (no changes, no re-asserting).
// It also returns how many plans the compiler used before Reassert.
func CompileKnob(prof *demand.Profile, k Knob, cfg plan.Config) (*plan.Schedule, int, error) {
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, 0, err
	}
	return newKnobCompiler(prof, cfg).compile(k)
}

// knobCompiler compiles knobs of one profile, compiling each distinct
// (requirement, plan budget) once: quantiles often round to the same
// requirement, and a reserve the compiler would not have used anyway gives
// the same schedule.
type knobCompiler struct {
	prof *demand.Profile
	cfg  plan.Config // normalised
	memo map[string]compiled
}

type compiled struct {
	s *plan.Schedule // after Reassert (static: as compiled)
	n int            // plans before Reassert
}

func newKnobCompiler(prof *demand.Profile, cfg plan.Config) *knobCompiler {
	return &knobCompiler{prof: prof, cfg: cfg, memo: map[string]compiled{}}
}

func (c *knobCompiler) compile(k Knob) (*plan.Schedule, int, error) {
	req := c.prof.Requirement(k.Quantile)
	rounded := make([]int, len(req))
	for i, r := range req {
		rounded[i] = min(max(plan.RoundUp(r), c.cfg.MinCU), c.cfg.MaxCU)
	}
	budget := c.cfg.MaxChanges
	switch {
	case k.Static:
		budget = -1
	case k.Reserve > 0 && budget > 0:
		budget = max(budget-k.Reserve, 1)
	}
	key := func(b int) string { return fmt.Sprint(b, rounded) }
	if budget > 0 && budget < c.cfg.MaxChanges {
		// With the whole budget the compiler may not need the reserve.
		if full, ok := c.memo[key(c.cfg.MaxChanges)]; ok && full.n <= budget {
			return full.s, full.n, nil
		}
	}
	if r, ok := c.memo[key(budget)]; ok {
		return r.s, r.n, nil
	}
	cfg := c.cfg
	cfg.MaxChanges = budget
	s, err := plan.CompileWeekly(req, cfg)
	if err != nil {
		return nil, 0, err
	}
	r := compiled{s: s}
	if !k.Static {
		r.n = len(plan.Groups(s.Changes))
		if r.s, err = plan.Reassert(s, c.cfg); err != nil {
			return nil, 0, err
		}
	}
	c.memo[key(budget)] = r
	return r.s, r.n, nil
}

// TuneInput is the history Tune chooses a knob from.
type TuneInput struct {
	// Samples is the demand history the model learns from.
	Samples []demand.Sample
	// Jobs are the jobs replayed (sorted by submit time): the trace's jobs
	// in the simulator, jobs reconstructed from the samples in the service.
	Jobs []trace.Job
	// Weeks are the starts of the history's whole weeks, oldest first: the
	// folds (each seven days long; the weekly plans count from Monday
	// 00:00 in Model.Location).
	Weeks []time.Time
	// Model configures the demand model (Weeks is set to len(Weeks)).
	Model demand.Config
	// Plan are the compiler's constraints.
	Plan plan.Config
	// Net is the reactive net replayed with every plan.
	Net NetConfig
	// Sim are the simulator's options for the replays.
	Sim Options
	// Objective is what the knob is chosen by: the P95 wait each fold must
	// meet (with the margin) or the cost of CU-hours and waiting, and the
	// net cooldowns tried with each plan.
	Objective
}

// DefaultMargin is the share of the P95 wait target the worst fold must
// meet for a knob to qualify: with two to four weeks of folds the cheapest
// knob that just meets the target there tends to miss it next week (with
// the tuned cooldowns, 0.9 met the target out of sample in 18 of 18
// simulator runs, 1 in 15; docs/benchmarks.md, session 3).
const DefaultMargin = 0.9

// KnobStats is one knob's out-of-sample figures over the folds.
type KnobStats struct {
	// Knob is the candidate.
	Knob Knob `json:"knob"`
	// CUHoursPerWeek is the mean billed CU-hours of a fold week.
	CUHoursPerWeek float64 `json:"cu_hours_per_week"`
	// WorstP95 is the highest fold P95 wait (s); P95 is the P95 over every
	// fold's jobs together.
	WorstP95 float64 `json:"worst_fold_p95_s"`
	P95      float64 `json:"p95_s"`
	// Qualifies reports WorstP95 ≤ Margin·Target.
	Qualifies bool `json:"qualifies"`
	// WaitMinutesPerWeek is the mean job-minutes waited in a fold week
	// (reported with the cost objective).
	WaitMinutesPerWeek float64 `json:"wait_minutes_per_week,omitempty"`
	// CostPerWeek is the mean weekly cost under the cost objective:
	// price·CU-hours + wait cost·WaitMinutesPerWeek (0 without it).
	CostPerWeek float64 `json:"cost_per_week,omitempty"`
}

// TuneResult is Tune's outcome.
type TuneResult struct {
	// Stats has one entry per knob tried (see Search), in the order tried.
	Stats []KnobStats
	// Order indexes Stats in order of preference: the qualifying knobs
	// from the cheapest (ties: lower P95), then those whose worst fold meets
	// the target without the margin, then the rest from the lowest
	// worst-fold P95. Best is Order[0].
	Order []int
	Best  int
	// InSample is true when the history had a single week: the fold then
	// learns from the week it replays.
	InSample bool
	// Weeks is the number of weeks tuned on.
	Weeks int
}

// Tune chooses dlibot's knob out of sample by leave-one-week-out: for each
// week of the history, the model learns from the other weeks, a knob's
// plan is compiled from it and replayed (with the reactive net) over that
// week's jobs. A knob qualifies when its worst week's P95 wait is at most
// Margin·Target; the cheapest qualifying knob (mean CU-hours per week) wins,
// ties to the lower P95 (Search) — or, with WaitCostPerJobMinute, the knob
// of the least mean weekly cost of CU-hours and waiting. With one week of history the week is
// replayed in-sample. With Model.Trend each fold projects its model to the
// week it replays, with one growth estimated over the whole history
// (demand.EstimateGrowth) shared by the folds.
func Tune(in TuneInput) (*TuneResult, error) {
	if len(in.Weeks) == 0 {
		return nil, errors.New("sim: tune: no week of history")
	}
	so, err := in.Sim.normalize()
	if err != nil {
		return nil, err
	}
	pc, err := in.Plan.Normalize()
	if err != nil {
		return nil, err
	}
	histEnd := in.Weeks[len(in.Weeks)-1].Add(demand.Week)
	res := &TuneResult{InSample: len(in.Weeks) == 1, Weeks: len(in.Weeks)}
	type fold struct {
		from, to, monday time.Time
		kc               *knobCompiler
		replayed         map[string]*Result // knobs compiling to the same plans replay alike
	}
	var folds []fold
	mc := in.Model
	mc.Weeks = len(in.Weeks)
	if mc.Trend && !mc.FixedGrowth && !res.InSample {
		// One growth for every fold, estimated over the whole history: a
		// fold is one week short of it (with four weeks, below
		// demand.MinTrendWeeks) and would tune the knob on unprojected
		// plans that the service then projects. It is one number per
		// queue; the week a fold replays still never reaches its model.
		g, _, _ := demand.EstimateGrowth(in.Samples, histEnd, mc.Weeks, mc.Exclude, mc.Location)
		mc.FixedGrowth, mc.Growth = true, g
	}
	for _, ws := range in.Weeks {
		we := ws.Add(demand.Week)
		train := in.Samples
		if !res.InSample {
			train = make([]demand.Sample, 0, len(in.Samples))
			for _, s := range in.Samples {
				if s.Time.Before(ws) || !s.Time.Before(we) {
					train = append(train, s)
				}
			}
		}
		mc.ProjectTo = ws // with Trend: forecast the week replayed, not the one after the history
		prof, err := demand.Build(train, histEnd, mc)
		if err != nil {
			return nil, fmt.Errorf("sim: tune: week of %s: %w", ws.Format(time.DateOnly), err)
		}
		folds = append(folds, fold{ws, we, MondayIn(ws, in.Model.Location), newKnobCompiler(prof, pc), map[string]*Result{}})
	}
	eval := func(k Knob) (KnobStats, error) {
		var st KnobStats
		var all []float64
		for _, f := range folds {
			s, _, err := f.kc.compile(k)
			if err != nil {
				return st, err
			}
			key := fmt.Sprint(k.NetCooldownMin, s.Levels[0], s.Changes)
			r, ok := f.replayed[key]
			if !ok {
				ctl := PlanController(s, f.monday, f.from, f.to, pc.MinCU, pc.MaxCU, k.Net(in.Net))
				if r, err = Run(in.Jobs, f.from, f.to, ctl, so); err != nil {
					return st, err
				}
				f.replayed[key] = r
			}
			st.CUHoursPerWeek += r.CUHours / float64(len(folds))
			if in.WaitCostPerJobMinute > 0 {
				st.WaitMinutesPerWeek += r.WaitMinutes() / float64(len(folds))
			}
			st.WorstP95 = max(st.WorstP95, Percentile(r.Waits, 95))
			all = append(all, r.Waits...)
		}
		sort.Float64s(all)
		st.P95 = Percentile(all, 95)
		st.CUHoursPerWeek = math.Round(st.CUHoursPerWeek*10) / 10
		st.WaitMinutesPerWeek = math.Round(st.WaitMinutesPerWeek*10) / 10
		return st, nil
	}
	if res.Stats, res.Order, err = Search(eval, in.Objective); err != nil {
		return nil, err
	}
	res.Best = res.Order[0]
	return res, nil
}

// preference orders knobs: qualifying ones from the cheapest (ties: lower
// P95), then those within the unmargined target (within) from the
// cheapest, then the rest from the lowest worst-fold P95 (ties: cheaper).
func preference(st []KnobStats, within []bool) []int {
	tier := func(i int) int {
		switch {
		case st[i].Qualifies:
			return 0
		case within[i]:
			return 1
		}
		return 2
	}
	order := make([]int, len(st))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		i, j := order[a], order[b]
		if ti, tj := tier(i), tier(j); ti != tj {
			return ti < tj
		}
		x, y := st[i], st[j]
		if tier(i) == 2 && x.WorstP95 != y.WorstP95 {
			return x.WorstP95 < y.WorstP95
		}
		if x.CUHoursPerWeek != y.CUHoursPerWeek {
			return x.CUHoursPerWeek < y.CUHoursPerWeek
		}
		return x.P95 < y.P95
	})
	return order
}

// MondayIn returns 00:00 of the Monday at or before t in loc (nil: UTC).
func MondayIn(t time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day()-(int(t.Weekday())+6)%7, 0, 0, 0, 0, loc)
}

// PlanController replays weekly schedule s (minute 0 = weekStart, a
// Monday 00:00 at or before from; repeating every seven days of
// weekStart's location) over [from, to) as scheduled plans, with dlibot's
// reactive net (net.Disabled turns it off) within [minCU, maxCU].
func PlanController(s *plan.Schedule, weekStart, from, to time.Time, minCU, maxCU int, net NetConfig) Controller {
	ctl := &netCtl{net: net.normalize(), minCU: minCU, maxCU: maxCU}
	ctl.initial = s.LevelAt(int(from.Sub(weekStart) / time.Minute))
	ctl.plans = len(plan.Groups(s.Changes))
	for ws := weekStart; ws.Before(to); ws = ws.AddDate(0, 0, 7) {
		for _, ch := range s.Changes {
			at := ws.Add(time.Duration(ch.Minute) * time.Minute)
			if !at.Before(from) && at.Before(to) {
				ctl.cmds = append(ctl.cmds, Command{At: at, TargetCU: ch.TargetCU, Plan: true})
			}
		}
	}
	return ctl
}
