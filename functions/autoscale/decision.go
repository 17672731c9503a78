package autoscale

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/functions/autoscale/sim"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

// Name is the function's name.
const Name = "autoscale"

// Decision kinds.
const (
	// KindPlan is a re-planning decision of a tick.
	KindPlan = "plan"
	// KindNet is a reactive-net scale-out.
	KindNet = "net"
)

// Decision actions: what was done.
const (
	ActionRecommended        = "recommended"      // posted to Slack, nothing changed
	ActionApplied            = "applied"          // plans reconciled
	ActionKept               = "kept"             // saving below the threshold: no change
	ActionUnchanged          = "unchanged"        // DLI already holds the proposed plans
	ActionBudgetExhausted    = "budget_exhausted" // apply mode, change budget used up: no change
	ActionStale              = "stale"            // samples stale or missing: no change
	ActionInsufficientData   = "insufficient_history"
	ActionPlanLimit          = "plan_limit"          // plans dlibot does not own leave no room
	ActionScaledOut          = "scaled_out"          // the net scaled out (6.5)
	ActionWouldScaleOut      = "would_scale_out"     // recommend mode: the net would have scaled out
	ActionNoQueue            = "no_queue"            // DLI has no such queue
	ActionAlreadyRecommended = "already_recommended" // the same proposal was posted before
)

// Decision is the data of a dlibot.autoscale.decision event (subject
// dlibot.out.autoscale.decision). Every tick emits one per queue; the net
// emits one per scale-out. The CloudEvent id is stable:
// autoscale/<queue>/plan/<tick period start> or
// autoscale/<queue>/net/<the triggering sample's five-minute bucket>.
type Decision struct {
	// Queue is the DLI queue.
	Queue string `json:"queue"`
	// Kind is "plan" (a tick's re-planning) or "net" (a reactive scale-out).
	Kind string `json:"kind"`
	// Action is what was done: recommended, applied, kept, unchanged,
	// budget_exhausted, stale, insufficient_history, plan_limit,
	// already_recommended, scaled_out, would_scale_out (the net in
	// recommend mode: nothing changed), no_queue.
	Action string `json:"action"`
	// Reason explains the action in one sentence.
	Reason string `json:"reason"`
	// Mode is the queue's mode (recommend or apply).
	Mode string `json:"mode"`
	// ApprovedBy is who approved a change: "config" when the queue's mode is
	// apply (plans applied or the net scaled out), empty when nothing was
	// changed.
	ApprovedBy string `json:"approved_by,omitempty"`
	// At is when the decision was taken.
	At time.Time `json:"at"`
	// Inputs describes the data the decision used.
	Inputs *Inputs `json:"inputs,omitempty"`
	// ForecastCU is the chosen quantile of the demand per hour of the week
	// (168 values, Monday 00:00 first, in the configured zone).
	ForecastCU []float64 `json:"forecast_cu,omitempty"`
	// Binding lists the constraints that bound the chosen plan: wait_target
	// (a cheaper candidate misses the P95 target), max_cu (demand above the
	// queue's maximum), max_changes (every plan slot used), min_cu.
	Binding []string `json:"binding,omitempty"`
	// Chosen, RunnerUp and Current are the proposed plan, the next best
	// candidate and the plans DLI holds now, each with its backtest.
	Chosen   *Candidate `json:"chosen,omitempty"`
	RunnerUp *Candidate `json:"runner_up,omitempty"`
	Current  *Candidate `json:"current,omitempty"`
	// Expected is chosen minus current, per week of the backtest.
	Expected *Delta `json:"expected,omitempty"`
	// Reconcile is what apply mode changed at DLI.
	Reconcile *ReconcileResult `json:"reconcile,omitempty"`
	// Net describes a reactive scale-out.
	Net *NetAction `json:"net,omitempty"`
}

// Inputs is the data a plan decision learned from.
type Inputs struct {
	// From and To bound the history used (the backtest replays the same).
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Samples is the number of five-minute demand points; Newest the time of
	// the newest sample.
	Samples int       `json:"samples"`
	Newest  time.Time `json:"newest_sample"`
	// Excluded are the days left out (configured and detected dips).
	Excluded []string `json:"excluded_days,omitempty"`
	// GrowthPerWeek is the weekly growth the forecast was projected with
	// (demand.EstimateGrowth; 0.03 = +3 % a week; omitted when 0: fewer
	// than demand.MinTrendWeeks weeks of history, or flat).
	GrowthPerWeek float64 `json:"growth_per_week,omitempty"`
	// MinCU and MaxCU are the limits the plan respects; MaxChanges the plan
	// slots available (12 minus the queue's foreign plans, at most K).
	MinCU      int `json:"min_cu"`
	MaxCU      int `json:"max_cu"`
	MaxChanges int `json:"max_changes"`
	// ForeignPlans counts plans dlibot did not make (left alone).
	ForeignPlans int `json:"foreign_plans"`
	// CurrentCU is the queue's size when the decision was taken.
	CurrentCU int `json:"current_cu"`
	// TargetP95WaitS is the wait target in seconds.
	TargetP95WaitS float64 `json:"target_p95_wait_s"`
	// WaitCostPerJobMinute, when set, is the cost of a job-minute waited:
	// the plan minimised price·CU-hours + waiting instead of meeting the
	// wait target.
	WaitCostPerJobMinute float64 `json:"wait_cost_per_job_minute,omitempty"`
}

// Candidate is one plan and its backtest.
type Candidate struct {
	// Quantile is the demand quantile the plan covers (0 for the current
	// plans).
	Quantile float64 `json:"quantile,omitempty"`
	// Static marks the one-size candidate (a constant level, no plan
	// changes).
	Static bool `json:"static,omitempty"`
	// Knob is the candidate (sim.Knob), e.g. "q=0.85 reserve=3 cooldown=5m":
	// the quantile, the plans kept for re-asserting firings and the net's
	// cooldown with this plan.
	Knob string `json:"knob,omitempty"`
	// Tuning is the knob's out-of-sample figures: each week of the history
	// replayed under the plan learnt from the other weeks (sim.Tune).
	Tuning *sim.KnobStats `json:"tuning,omitempty"`
	// Plans are the DLI plan bodies (6.6).
	Plans []plan.DLIPlan `json:"plans"`
	// PlannedCUHoursPerWeek is the schedule's own weekly CU-hours.
	PlannedCUHoursPerWeek float64 `json:"planned_cu_hours_per_week,omitempty"`
	// Backtest is the replay over the history window.
	Backtest Backtest `json:"backtest"`
	schedule *plan.Schedule
	compiled int // plans before Reassert
}

// Backtest is one plan replayed over the history (see backtest.go).
type Backtest struct {
	// CUHoursPerWeek is the billed CU-hours per week of the window.
	CUHoursPerWeek float64 `json:"cu_hours_per_week"`
	// CostPerWeek is CUHoursPerWeek × the price (0 without a price), plus
	// WaitMinutesPerWeek × the wait cost when one is set.
	CostPerWeek float64 `json:"cost_per_week,omitempty"`
	// WaitMinutesPerWeek is the job-minutes waited per week (with a wait
	// cost).
	WaitMinutesPerWeek float64 `json:"wait_minutes_per_week,omitempty"`
	// WaitP50S, WaitP95S, WaitP99S are queue-wait percentiles in seconds.
	WaitP50S float64 `json:"wait_p50_s"`
	WaitP95S float64 `json:"wait_p95_s"`
	WaitP99S float64 `json:"wait_p99_s"`
	// Jobs is the number of reconstructed jobs replayed.
	Jobs int `json:"jobs"`
	// MeetsTarget reports WaitP95S ≤ the wait target.
	MeetsTarget bool `json:"meets_target"`
}

// Delta is the chosen plan minus the current one.
type Delta struct {
	// CUHoursPerWeek is the change in CU-hours per week (negative = saving).
	CUHoursPerWeek float64 `json:"cu_hours_per_week"`
	// CostPerWeek is the change in cost per week (with a price).
	CostPerWeek float64 `json:"cost_per_week,omitempty"`
	// SavingFraction is the saving as a fraction of the current CU-hours
	// (of the current cost, waiting included, with a wait cost).
	SavingFraction float64 `json:"saving_fraction"`
	// WaitP95S is the change in P95 wait in seconds.
	WaitP95S float64 `json:"wait_p95_s"`
}

// NetAction is a reactive scale-out.
type NetAction struct {
	// FromCU and ToCU are the queue's size before and the target.
	FromCU int `json:"from_cu"`
	ToCU   int `json:"to_cu"`
	// Launching is the backlog (launching jobs) in the triggering sample.
	Launching float64 `json:"launching_jobs"`
	// Samples is how many consecutive samples showed the backlog.
	Samples int `json:"consecutive_samples"`
	// SampleTime is the triggering sample's bucket.
	SampleTime time.Time `json:"sample_time"`
	// CooldownUntil is when the net may act again for this queue.
	CooldownUntil time.Time `json:"cooldown_until"`
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }

// Message is the Slack message of a plan decision (recommended or applied).
func (d *Decision) Message(cfg *Config) notify.Message {
	head := fmt.Sprintf("autoscale: proposed plan for queue %s", d.Queue)
	if d.Action == ActionApplied {
		head = fmt.Sprintf("autoscale: applied a new plan to queue %s", d.Queue)
	}
	var lines []string
	lines = append(lines, fmt.Sprintf("%-10s %12s %9s %9s %9s", "plan", "CU-h/week", "P50 wait", "P95 wait", "P99 wait"))
	row := func(name string, c *Candidate) {
		if c == nil {
			return
		}
		b := c.Backtest
		lines = append(lines, fmt.Sprintf("%-10s %12.0f %8.0fs %8.0fs %8.0fs", name, b.CUHoursPerWeek, b.WaitP50S, b.WaitP95S, b.WaitP99S))
	}
	row("current", d.Current)
	row("proposed", d.Chosen)
	row("runner-up", d.RunnerUp)
	summary := fmt.Sprintf("*Saving:* %.0f CU-h/week (%.1f %%) · *P95 wait:* %.0fs → %.0fs (target %.0fs)",
		-d.Expected.CUHoursPerWeek, 100*d.Expected.SavingFraction, d.Current.Backtest.WaitP95S, d.Chosen.Backtest.WaitP95S, d.Inputs.TargetP95WaitS)
	if cfg.PricePerCUHour > 0 {
		summary += fmt.Sprintf(" · *cost:* %.2f %s/week", -d.Expected.CostPerWeek, blockkit.Escape(cfg.Currency))
	}
	if cfg.WaitCostPerJobMinute > 0 {
		summary += fmt.Sprintf(" (CU-hours + waiting at %g %s/job-minute; the cheapest total wins, not the wait target)",
			cfg.WaitCostPerJobMinute, blockkit.Escape(cfg.Currency))
	}
	var plans []string
	for _, p := range d.Chosen.Plans {
		plans = append(plans, fmt.Sprintf("`%s` %02d:%02d %s → %d CU", p.PlanName, p.StartHour, p.StartMinute, dayList(p.RepeatDay), p.TargetCU))
	}
	foot := "Mode *recommend*: nothing was changed. Set `mode: apply` for this queue in AUTOSCALE_QUEUES_FILE to let dlibot reconcile its plans."
	if d.Action == ActionApplied {
		foot = "Mode *apply* (approved by config): dlibot's plans were reconciled; plans it did not make were left alone."
	}
	ctx := fmt.Sprintf("learned from %d samples, %s – %s; %s; binding: %s",
		d.Inputs.Samples, d.Inputs.From.Format("2006-01-02"), d.Inputs.To.Format("2006-01-02"), d.Chosen.Knob, orNone(d.Binding))
	blocks := blockkit.Blocks(
		blockkit.Header(head),
		blockkit.Section(summary),
		blockkit.Code(lines, 0),
		blockkit.List(plans, 0, "plans"),
		blockkit.Context(blockkit.Escape(ctx)),
		blockkit.Context(foot),
	)
	return notify.Message{Channel: cfg.Channel, Text: head, Blocks: blocks}
}

// StaleMessage is the one alert of a stale-metrics episode.
func StaleMessage(cfg *Config, queue string, newest time.Time, now time.Time) notify.Message {
	what := "no load samples have arrived"
	if !newest.IsZero() {
		what = fmt.Sprintf("the newest load sample is from %s (%s ago)", newest.UTC().Format(time.RFC3339), now.Sub(newest).Round(time.Minute))
	}
	text := fmt.Sprintf("autoscale: metrics for queue %s are stale: %s. autoscale changes nothing for this queue until samples arrive again (stale or missing metrics never scale anything down).",
		blockkit.Escape(queue), what)
	return notify.Message{Channel: cfg.Channel, Text: text, Blocks: []slack.Block{blockkit.Section(text)}}
}

func dayList(days []string) string {
	out := make([]string, len(days))
	for i, d := range days {
		out[i] = strings.ToLower(d[:min(3, len(d))])
	}
	return strings.Join(out, ",")
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
