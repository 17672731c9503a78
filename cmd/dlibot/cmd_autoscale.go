package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/chart"
	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/functions/autoscale/sim"
	"github.com/dlibot/dlibot/functions/autoscale/trace"
)

func init() {
	register("autoscale", command{
		summary: "simulate scaling policies, generate traces, compile a queue's weekly CU plan",
		run:     runAutoscale,
	})
}

const autoscaleUsage = `Usage: dlibot autoscale <simulate|gen-trace|plan> [flags]

  simulate   tune and compare scaling policies on a job trace
  gen-trace  write a synthetic job trace from a preset
  plan       learn a queue's week from metrics and compile its DLI plans

dlibot autoscale <sub-command> --help shows the flags.
`

func runAutoscale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, autoscaleUsage)
		return errors.New("missing sub-command")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, autoscaleUsage)
		return nil
	case "simulate":
		return autoscaleSimulate(args[1:], stdout, stderr)
	case "gen-trace":
		return autoscaleGenTrace(args[1:], stdout, stderr)
	case "plan":
		return autoscalePlan(args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, autoscaleUsage)
	return fmt.Errorf("unknown sub-command %q", args[0])
}

// parseFlags parses args; it returns done = true after --help.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer, usage string) (bool, error) {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return false, nil
}

// planFlags are the compiler's constraints, shared by simulate and plan.
type planFlags struct {
	minCU, maxCU, maxChanges int
	spacing, lead, downDelay time.Duration
}

func (p *planFlags) register(fs *flag.FlagSet, minCU int) {
	fs.IntVar(&p.minCU, "min-cu", minCU, "lowest queue size in CUs (multiple of 16)")
	fs.IntVar(&p.maxCU, "max-cu", 512, "highest queue size in CUs (multiple of 16)")
	fs.IntVar(&p.maxChanges, "max-changes", 12, "most scheduled CU changes (plans) per week")
	fs.DurationVar(&p.spacing, "min-spacing", 2*time.Hour, "least time between two scheduled changes")
	fs.DurationVar(&p.lead, "lead", 20*time.Minute, "how early a scale-up starts before the hour that needs it")
	fs.DurationVar(&p.downDelay, "down-delay", 5*time.Minute, "how late a scale-down starts after the hour whose demand it drops")
}

func (p *planFlags) config() plan.Config {
	k := p.maxChanges
	if k == 0 {
		k = -1
	}
	dd := p.downDelay
	if dd == 0 {
		dd = -1
	}
	return plan.Config{MinCU: p.minCU, MaxCU: p.maxCU, MaxChanges: k, MinSpacing: p.spacing, LeadTime: p.lead, DownDelay: dd}
}

const simulateUsage = `Usage: dlibot autoscale simulate --trace FILE [--train-weeks N] [--target-p95-wait DUR] [--policies LIST] [--format json|table]

Replays a job trace (CSV: submit_time,duration_s,cu; submit time RFC 3339 or Unix
seconds) through a job-level simulation of a DLI queue under each policy. Tunable
policies pick, on the training weeks, the cheapest parameter meeting the wait target,
then run on the remaining weeks. Policies: ` + "static-peak, static-p95, reactive, seasonal-naive, dlibot, hindsight" + `.

The queue runs jobs strictly FIFO on its usable CUs; a job needing more than --max-cu
is rejected (counted, not in the waits). Plans start within ±--plan-jitter (seeded),
scale-outs are billed at once and usable after --scale-out-delay, scale-ins never cut
running jobs. Billing is the integral of the queue size. dlibot turns the wait target
into per-hour CUs as the q-quantile of each hour's demand (running + waiting CUs) in
its weekly model, q being the cheapest value whose simulated P95 wait on the training
weeks meets the target; it holds at most --max-changes DLI plans (one plan may repeat
on several days) plus a reactive net that scales out on a sustained backlog.

Flags:
`

func autoscaleSimulate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	var (
		tracePath, policies, format string
		o                           sim.BenchOptions
		pf                          planFlags
		jitter, outDelay, metricDly time.Duration
		cooldowns                   string
	)
	fs.StringVar(&tracePath, "trace", "", "job trace CSV (required; - for stdin)")
	fs.IntVar(&o.TrainWeeks, "train-weeks", 2, "leading weeks used for tuning")
	fs.DurationVar(&o.TargetP95Wait, "target-p95-wait", 5*time.Minute, "P95 queue wait the tuning must meet")
	fs.StringVar(&policies, "policies", strings.Join(sim.Policies(), ","), "comma-separated policies to run")
	fs.StringVar(&format, "format", "table", "output: table or json")
	fs.Float64Var(&o.PricePerCUHour, "price-per-cu-hour", 1, "price of one CU-hour (cost column)")
	fs.Float64Var(&o.WaitCostPerJobMinute, "wait-cost-per-job-minute", 0, "if > 0, tune for least CU cost + this × job-minutes waited instead of the wait target")
	fs.Uint64Var(&o.Sim.Seed, "seed", 1, "seed of the plan start jitter")
	fs.BoolVar(&o.Pooled, "pooled", false, "dlibot's model pools all weeks' samples of an hour (default: median over weeks of each week's quantile, so one-off bursts do not count)")
	fs.Float64Var(&o.HalfLifeWeeks, "half-life", 2, "dlibot's model: age in weeks at which a week weighs half")
	fs.IntVar(&o.ModelWeeks, "model-weeks", 4, "dlibot's model: weeks of history")
	fs.Float64Var(&o.DipRatio, "dip-ratio", 0.5, "dlibot's model leaves out days below this × the same weekday's median over the other weeks (holidays); ≤ 0 keeps all")
	fs.BoolVar(&o.EqualWait, "equal-wait", false, "also show (as extra rows) what reactive and seasonal-naive cost when re-tuned on the evaluation weeks to dlibot's P95 wait")
	fs.BoolVar(&o.Limits, "limits", false, "also show two oracle rows bounding the comparisons: dlibot with the knob cheapest on the evaluation weeks (dlibot@best-knob), and seasonal-naive re-tuned on them to hindsight's P95 (seasonal-naive@hindsight-p95)")
	fs.BoolVar(&o.NoReassert, "no-reassert", false, "dlibot: do not spend leftover plans on firings that re-assert the planned level")
	fs.DurationVar(&jitter, "plan-jitter", 5*time.Minute, "plans start within ± this of their time")
	fs.DurationVar(&outDelay, "scale-out-delay", 10*time.Minute, "time until new CUs are usable")
	fs.DurationVar(&metricDly, "metric-delay", 5*time.Minute, "age of the newest metrics sample a policy sees")
	fs.StringVar(&cooldowns, "net-cooldowns", "5m,15m", "reactive net cooldowns dlibot and hindsight tune with their plans (whole minutes, comma-separated; \"\": the net's 15m only)")
	pf.register(fs, 16)
	if done, err := parseFlags(fs, args, stdout, simulateUsage); done || err != nil {
		return err
	}
	if tracePath == "" {
		return errors.New("simulate: --trace FILE is required")
	}
	if format != "table" && format != "json" {
		return fmt.Errorf("simulate: --format %q: want json or table", format)
	}
	if o.DipRatio <= 0 {
		o.DipRatio = -1
	}
	o.Policies = splitList(policies)
	o.NetCooldowns = []int{}
	for _, c := range splitList(cooldowns) {
		d, err := time.ParseDuration(c)
		if err != nil || d < time.Minute || d%time.Minute != 0 {
			return fmt.Errorf("simulate: --net-cooldowns %q: want whole minutes such as 5m,15m", c)
		}
		o.NetCooldowns = append(o.NetCooldowns, int(d/time.Minute))
	}
	o.Plan = pf.config()
	o.Sim.MinCU, o.Sim.MaxCU = pf.minCU, pf.maxCU
	o.Sim.PlanJitter, o.Sim.ScaleOutDelay, o.Sim.MetricDelay = negIfZero(jitter), negIfZero(outDelay), negIfZero(metricDly)
	jobs, err := readTrace(tracePath)
	if err != nil {
		return err
	}
	rep, err := sim.Bench(jobs, o)
	if err != nil {
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(append(append(rep.Results, rep.EqualWait...), rep.Limits...)) // only with --equal-wait, --limits
	}
	fmt.Fprintf(stdout, "trace %s: %d jobs from %s; tuned on %d week(s), evaluated on %d; target P95 wait %v\n\n",
		tracePath, len(jobs), rep.Start.Format(time.DateOnly), rep.TrainWeeks, rep.EvalWeeks, o.TargetP95Wait)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tcu_hours\tvs_peak\twait_p50_s\twait_p95_s\twait_p99_s\tchanges/wk\tplan_firings/wk\tplans\tviolations\tparam\ttrain_p95_s\t")
	peak := 0.0
	for _, r := range rep.Results {
		if r.Policy == "static-peak" {
			peak = r.CUHours
		}
	}
	rows := rep.Results
	if len(rep.EqualWait)+len(rep.Limits) > 0 {
		rows = append(append(append([]sim.PolicyResult(nil), rows...), rep.EqualWait...), rep.Limits...)
	}
	for _, r := range rows {
		vs := "-"
		if peak > 0 {
			vs = fmt.Sprintf("%+.1f%%", 100*(r.CUHours-peak)/peak)
		}
		param := "-"
		if r.Knob != "" {
			param = r.Knob
		} else if r.Param != "" {
			param = fmt.Sprintf("%s=%g", r.Param, r.Value)
		}
		miss := ""
		if !r.TrainMeetsTarget {
			miss = " (miss)"
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%.0f\t%.0f\t%.0f\t%.1f\t%.1f\t%d\t%d\t%s\t%.0f%s\t\n", r.Policy, r.CUHours, vs,
			r.WaitP50, r.WaitP95, r.WaitP99, r.ChangesPerWeek, r.PlansPerWeek, r.Plans, r.Violations, param, r.TrainWaitP95, miss)
	}
	return tw.Flush()
}

func dayList(ds []time.Time) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

func negIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func openInput(path string) (io.ReadCloser, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	return os.Open(path)
}

func readTrace(path string) ([]trace.Job, error) {
	f, err := openInput(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	jobs, err := trace.ParseCSV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return jobs, nil
}

var genTraceUsage = `Usage: dlibot autoscale gen-trace --preset P --weeks N --seed S [--scale F] [--out FILE]

Writes a synthetic job trace (CSV submit_time,duration_s,cu) starting on a Monday:
weekly seasonality, trend, bursts and holidays, reproducible from the seed.
Presets: ` + presetList() + `

Flags:
`

func presetList() string {
	var b strings.Builder
	for _, n := range trace.Presets() {
		p, _ := trace.LookupPreset(n)
		fmt.Fprintf(&b, "\n  %-15s %s", n, p.Summary)
	}
	return b.String()
}

func autoscaleGenTrace(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gen-trace", flag.ContinueOnError)
	var (
		preset, out, start string
		o                  trace.GenOptions
	)
	fs.StringVar(&preset, "preset", "", "workload preset: "+strings.Join(trace.Presets(), ", ")+" (required)")
	fs.IntVar(&o.Weeks, "weeks", 4, "trace length in weeks")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed")
	fs.Float64Var(&o.Scale, "scale", 1, "multiplier on every arrival rate")
	fs.StringVar(&start, "start", "2026-01-05", "first day (moved back to its Monday), YYYY-MM-DD")
	fs.StringVar(&out, "out", "-", "output file (- for stdout)")
	if done, err := parseFlags(fs, args, stdout, genTraceUsage); done || err != nil {
		return err
	}
	if preset == "" {
		return errors.New("gen-trace: --preset is required (" + strings.Join(trace.Presets(), ", ") + ")")
	}
	p, err := trace.LookupPreset(preset)
	if err != nil {
		return err
	}
	if o.Start, err = time.Parse(time.DateOnly, start); err != nil {
		return fmt.Errorf("gen-trace: --start %q: want YYYY-MM-DD", start)
	}
	g, err := trace.Generate(p, o)
	if err != nil {
		return err
	}
	w := stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := trace.WriteCSV(w, g.Jobs); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%s: %d jobs over %d week(s) from %s; %d holiday(s), %d burst(s)\n",
		p.Name, len(g.Jobs), o.Weeks, g.Start.Format(time.DateOnly), len(g.Holidays), len(g.Bursts))
	return nil
}

const planUsage = `Usage: dlibot autoscale plan --queue Q --metrics FILE [--quantile Q] [--chart out.png] [--format table|json]

Learns the queue's weekly CU demand from a metrics file and prints the cheapest
weekly schedule of DLI scheduled CU changes (6.6 plan bodies, at most --max-changes
plans; one plan may repeat on several days) that covers the chosen quantile of each
hour's demand, then spends leftover plans on firings that re-assert the planned level. The metrics file is either CSV with the header
time,cu_demand (time RFC 3339 or Unix seconds) or Cloud Eye style JSON samples
(an array, {"samples": [...]}, or one per line) with namespace SYS.DLI, metric_name
(cu_demand, or queue_alloc_cu_num/queue_cu_num + queue_job_running_num +
queue_job_launching_num), dimensions [{"name":"queue_name","value":Q}], value and
timestamp (RFC 3339 or Unix ms). Hours of the week and plan start times are in --tz.

Flags:
`

func autoscalePlan(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	var (
		queue, metrics, chartPath, format, exclude, validFrom, validTo string
		q, halfLife, dipRatio                                          float64
		weeks                                                          int
		pooled, noReassert, noTrend                                    bool
		tz                                                             string
		pf                                                             planFlags
	)
	fs.StringVar(&queue, "queue", "", "DLI queue name (required; selects Cloud Eye samples)")
	fs.StringVar(&metrics, "metrics", "", "metrics file (required; - for stdin)")
	fs.StringVar(&chartPath, "chart", "", "write a PNG chart of the weekly demand and the plan here")
	fs.StringVar(&format, "format", "table", "output: table or json")
	fs.Float64Var(&q, "quantile", 0.9, "demand quantile each hour must cover (0–1; 1 = the maximum)")
	fs.IntVar(&weeks, "weeks", 4, "weeks of history to learn from (up to the newest sample)")
	fs.Float64Var(&halfLife, "half-life", 2, "age in weeks at which a week weighs half")
	fs.BoolVar(&pooled, "pooled", false, "pool all weeks' samples of an hour (default: median over weeks of each week's quantile)")
	fs.BoolVar(&noTrend, "no-trend", false, "do not project the queue's weekly growth (estimated from 4 or more weeks, as the service does) onto the planned week")
	fs.BoolVar(&noReassert, "no-reassert", false, "do not spend leftover plans on firings that re-assert the planned level")
	fs.StringVar(&exclude, "exclude", "", "comma-separated days to ignore (YYYY-MM-DD): holidays, incidents")
	fs.Float64Var(&dipRatio, "dip-ratio", 0.5, "also ignore days whose demand is below this × the same weekday's median over the other weeks; ≤ 0 keeps all")
	fs.StringVar(&validFrom, "valid-from", "", "plans' validity start (RFC 3339 or YYYY-MM-DD; default none)")
	fs.StringVar(&validTo, "valid-to", "", "plans' validity end (RFC 3339 or YYYY-MM-DD; default none)")
	fs.StringVar(&tz, "tz", "UTC", "IANA time zone of the weekly cycle and of the plans' start times (DLI plans carry none)")
	pf.register(fs, 64) // DLI: queues with scheduled CU changes hold at least 64 CUs
	if done, err := parseFlags(fs, args, stdout, planUsage); done || err != nil {
		return err
	}
	switch {
	case queue == "":
		return errors.New("plan: --queue is required")
	case metrics == "":
		return errors.New("plan: --metrics FILE is required")
	case q < 0 || q > 1:
		return fmt.Errorf("plan: --quantile %v: want 0–1", q)
	case format != "table" && format != "json":
		return fmt.Errorf("plan: --format %q: want json or table", format)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return fmt.Errorf("plan: --tz %q: %v", tz, err)
	}
	cfg := demand.Config{Weeks: weeks, HalfLifeWeeks: halfLife, Recurring: !pooled, DayTypes: !pooled, Trend: !pooled && !noTrend, Location: loc}
	for _, d := range splitList(exclude) {
		t, err := time.ParseInLocation(time.DateOnly, d, loc)
		if err != nil {
			return fmt.Errorf("plan: --exclude %q: want YYYY-MM-DD", d)
		}
		cfg.Exclude = append(cfg.Exclude, t)
	}
	var begin, end time.Time
	for _, v := range []struct {
		s   string
		dst *time.Time
	}{{validFrom, &begin}, {validTo, &end}} {
		if v.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v.s)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, v.s); err != nil {
				return fmt.Errorf("plan: validity date %q: want RFC 3339 or YYYY-MM-DD", v.s)
			}
		}
		*v.dst = t
	}
	f, err := openInput(metrics)
	if err != nil {
		return err
	}
	samples, err := demand.ParseMetrics(f, queue)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", metrics, err)
	}
	first, last := samples[0].Time, samples[len(samples)-1].Time
	var dips []time.Time
	if dipRatio > 0 {
		dips = demand.DipDays(samples, loc, dipRatio)
		cfg.Exclude = append(cfg.Exclude, dips...)
	}
	prof, err := demand.Build(samples, last.Add(time.Nanosecond), cfg)
	if err != nil {
		return err
	}
	pc := pf.config()
	s, err := plan.CompileWeekly(prof.Requirement(q), pc)
	if err != nil {
		return err
	}
	if !noReassert {
		if s, err = plan.Reassert(s, pc); err != nil {
			return err
		}
	}
	plans, err := s.DLIPlans(begin, end)
	if err != nil {
		return err
	}
	// What the plan limit costs: the same requirement with 4 more plans.
	limitCost := 0.0
	if pc.MaxChanges > 0 {
		more := pc
		more.MaxChanges += 4
		if s2, err := plan.CompileWeekly(s.Required, more); err == nil {
			limitCost = s.CUHours() - s2.CUHours()
		}
	}
	if chartPath != "" {
		cf, err := os.Create(chartPath)
		if err != nil {
			return err
		}
		err = chart.Render(cf, chart.Input{Title: "queue " + queue, Profile: prof, Quantile: q, Schedule: s, Zone: loc.String()})
		if cerr := cf.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("plan: chart: %w", err)
		}
	}
	empty := 0
	for h := 0; h < demand.Slots; h++ {
		if prof.Count(h) == 0 {
			empty++
		}
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Queue        string         `json:"queue"`
			LimitCost    float64        `json:"plan_limit_cost_cu_hours_per_week"`
			Dips         []string       `json:"ignored_dip_days,omitempty"`
			Quantile     float64        `json:"quantile"`
			Growth       float64        `json:"growth_per_week,omitempty"`
			Samples      int            `json:"samples"`
			From         time.Time      `json:"from"`
			To           time.Time      `json:"to"`
			EmptyHours   int            `json:"hours_without_samples"`
			CUHoursWeek  float64        `json:"expected_cu_hours_per_week"`
			CappedHours  []int          `json:"capped_hours,omitempty"`
			Changes      []plan.Change  `json:"changes"`
			Plans        []plan.DLIPlan `json:"plans"`
			RequiredCU   []int          `json:"required_cu"`
			ScheduledCUs []int          `json:"scheduled_cu"`
		}{queue, limitCost, dayList(dips), q, prof.Growth, prof.Used, first, last, empty, s.CUHours(), s.Capped, s.Changes, plans, s.Required, s.Levels})
	}
	fmt.Fprintf(stdout, "queue %s: %d samples, %s – %s; p%g of each hour's demand; %d plan(s) firing %d time(s) a week; %.1f CU-hours/week\n",
		queue, prof.Used, first.Format(time.DateOnly), last.Format(time.DateOnly), q*100, len(plans), len(s.Changes), s.CUHours())
	if prof.Growth != 0 {
		fmt.Fprintf(stdout, "weekly growth %+.1f %% (from %d week pairs), projected onto the planned week\n", prof.Growth*100, prof.GrowthPairs)
	}
	if len(s.Changes) == 0 {
		fmt.Fprintf(stdout, "constant size %d CU: no scheduled change needed\n", s.Levels[0])
	}
	if empty > 0 {
		fmt.Fprintf(stdout, "warning: %d hour(s) of the week have no samples; they are planned at the minimum\n", empty)
	}
	if len(s.Capped) > 0 {
		fmt.Fprintf(stdout, "warning: %d hour(s) need more than --max-cu %d; capped\n", len(s.Capped), pf.maxCU)
	}
	for _, d := range dips {
		fmt.Fprintf(stdout, "ignored %s (%s): demand below %g × the usual %s\n", d.Format(time.DateOnly), d.Weekday(), dipRatio, d.Weekday())
	}
	if limitCost > 0.05 {
		fmt.Fprintf(stdout, "binding: the %d-plan limit costs %.1f CU-hours/week (4 more plans would save that)\n", pf.maxChanges, limitCost)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "plan_name\trepeat_day\tstart\ttarget_cu")
	for _, p := range plans {
		fmt.Fprintf(tw, "%s\t%s\t%02d:%02d\t%d\n", p.PlanName, strings.Join(p.RepeatDay, ","), p.StartHour, p.StartMinute, p.TargetCU)
	}
	return tw.Flush()
}
