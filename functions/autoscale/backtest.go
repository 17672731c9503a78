package autoscale

import (
	"math"
	"sort"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/functions/autoscale/sim"
	"github.com/dlibot/dlibot/functions/autoscale/trace"
)

// The backtest replays a weekly plan over the queue's own history with the
// job-level simulator (package sim), on jobs reconstructed from the demand
// samples: each five-minute demand point of D CUs becomes ⌈D/16⌉ jobs of
// 16 CUs submitted at the bucket's start and running for five minutes. A
// plan that holds fewer CUs than the demand makes those jobs wait (and the
// backlog carries over into the next buckets), so the wait percentiles
// measure how much and how long a plan falls short of the observed demand;
// they are not the wait of the real jobs (whose sizes and durations Cloud
// Eye does not report). The simulator applies DLI's actuation: plans start
// within ±5 min, scale-outs become usable after 10 min, billing is the
// integral of the queue's size. Every plan is replayed with the reactive
// net (sim.PlanController), as the service runs it; the current plans the
// same way, starting from the queue's current size when DLI holds no plan.
// Caveat: the history was itself shaped by the current size (a queue
// cannot allocate more than it has; launching jobs stand for the rest).

// backtestJobs reconstructs the replayed jobs from demand samples.
func backtestJobs(samples []demand.Sample) []trace.Job {
	var jobs []trace.Job
	for _, s := range samples {
		n := int(math.Ceil(s.CU/plan.Step - 1e-9))
		for range n {
			jobs = append(jobs, trace.Job{Submit: s.Time, Duration: BucketPeriod, CU: plan.Step})
		}
	}
	sort.SliceStable(jobs, func(a, b int) bool { return jobs[a].Submit.Before(jobs[b].Submit) })
	return jobs
}

// backtest replays ctl over jobs in [from, to): CU-hours, waits, and the
// cost at price per CU-hour plus, when waitCost > 0, waitCost per
// job-minute waited.
func backtest(jobs []trace.Job, from, to time.Time, ctl sim.Controller, minCU, maxCU int, target time.Duration, price, waitCost float64) (Backtest, error) {
	res, err := sim.Run(jobs, from, to, ctl, sim.Options{MinCU: minCU, MaxCU: maxCU, Seed: 1, Drain: 24 * time.Hour})
	if err != nil {
		return Backtest{}, err
	}
	weeks := to.Sub(from).Hours() / (7 * 24)
	b := Backtest{
		CUHoursPerWeek: round1(res.CUHours / weeks),
		WaitP50S:       sim.Percentile(res.Waits, 50),
		WaitP95S:       sim.Percentile(res.Waits, 95),
		WaitP99S:       sim.Percentile(res.Waits, 99),
		Jobs:           res.Jobs,
	}
	cost := b.CUHoursPerWeek * price
	if waitCost > 0 {
		b.WaitMinutesPerWeek = round1(res.WaitMinutes() / weeks)
		cost += b.WaitMinutesPerWeek * waitCost
	}
	b.CostPerWeek = math.Round(cost*100) / 100
	b.MeetsTarget = b.WaitP95S <= target.Seconds() && res.Unfinished == 0
	return b, nil
}

// changesOf turns DLI plans into weekly changes (minute 0 = Monday 00:00):
// only active plans with repeat days (one-off plans are not part of a
// weekly schedule).
func changesOf(ps []planLike) []plan.Change {
	var out []plan.Change
	for _, p := range ps {
		if !p.active {
			continue
		}
		for _, d := range p.days {
			m := ((int(d)+6)%7)*24*60 + p.hour*60 + p.minute
			out = append(out, plan.Change{Minute: m, TargetCU: p.target})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Minute < out[b].Minute })
	return out
}

type planLike struct {
	hour, minute, target int
	days                 []time.Weekday
	active               bool
}
