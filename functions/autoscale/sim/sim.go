// Package sim is a job-level discrete-event simulator of a DLI queue under a
// scaling policy, and the benchmark that tunes and compares policies on a
// job trace (the `dlibot autoscale simulate` contract).
//
// # Queue model
//
// Jobs (from a trace) arrive at their submit time and wait in one FIFO queue.
// The head job starts as soon as the queue's usable CUs minus the CUs held by
// running jobs cover its demand; jobs behind it wait even if they would fit
// (strict FIFO, no backfilling). A job runs for its duration and then frees its
// CUs. A job needing more CUs than the queue's maximum can never run: it is
// rejected at arrival and counted in Result.Rejected, not in the waits.
//
// # Actuation (DLI)
//
// A policy changes the queue's size with commands. A scheduled-plan command
// (6.6) starts at its time plus a uniform jitter in ±PlanJitter drawn from a
// seeded generator (the same seed gives the same run). An immediate command
// (6.5) starts at its time. Targets are rounded up to 16 CUs and clamped to
// [MinCU, MaxCU] (a target needing this counts as a violation). A scale-out
// is billed from the moment it starts but its CUs become usable only after
// ScaleOutDelay. A scale-in takes effect at once down to what running jobs
// hold (rounded up to 16) and then follows the jobs down as they finish, never
// cutting a running job.
//
// # Billing and metrics
//
// Billing is the integral of the queue's size over the window, in CU-hours.
// Every SamplePeriod the simulator takes a Cloud Eye-like sample (size,
// allocated CUs, running and launching jobs, launching CUs); the policy sees
// each sample MetricDelay after it was taken.
package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/functions/autoscale/trace"
)

// Options configures the simulator. The zero value of a field means its default.
type Options struct {
	// MinCU and MaxCU are the queue's scale limits (multiples of 16).
	// Defaults 16 and 512.
	MinCU, MaxCU int
	// PlanJitter bounds the uniform start jitter of scheduled plans. Default
	// 5m (DLI: "within ±5 minutes"); negative means none.
	PlanJitter time.Duration
	// ScaleOutDelay is how long new CUs take to become usable. Default 10m;
	// negative means none.
	ScaleOutDelay time.Duration
	// SamplePeriod is the metrics period. Default 5m (Cloud Eye's raw period).
	SamplePeriod time.Duration
	// MetricDelay is how late a sample reaches the policy. Default 5m;
	// negative means none.
	MetricDelay time.Duration
	// Seed seeds the plan jitter. The same seed gives the same run.
	Seed uint64
	// Drain bounds how long after the window the simulation goes on to let
	// waiting jobs start (their waits count; billing stops at the window's
	// end). Default 7 days. Jobs still waiting then are counted in
	// Result.Unfinished with their wait so far.
	Drain time.Duration
}

func (o Options) normalize() (Options, error) {
	if o.MinCU == 0 {
		o.MinCU = plan.Step
	}
	if o.MaxCU == 0 {
		o.MaxCU = 512
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		} else if *d < 0 {
			*d = 0
		}
	}
	def(&o.PlanJitter, 5*time.Minute)
	def(&o.ScaleOutDelay, 10*time.Minute)
	def(&o.MetricDelay, 5*time.Minute)
	def(&o.Drain, 7*24*time.Hour)
	if o.SamplePeriod == 0 {
		o.SamplePeriod = 5 * time.Minute
	}
	switch {
	case o.MinCU < plan.Step || o.MinCU%plan.Step != 0:
		return o, fmt.Errorf("sim: min CU %d: want a positive multiple of 16", o.MinCU)
	case o.MaxCU%plan.Step != 0 || o.MaxCU < o.MinCU:
		return o, fmt.Errorf("sim: max CU %d: want a multiple of 16 ≥ min CU %d", o.MaxCU, o.MinCU)
	case o.SamplePeriod < time.Second:
		return o, fmt.Errorf("sim: sample period %v: want ≥ 1s", o.SamplePeriod)
	}
	return o, nil
}

// Command changes the queue's size.
type Command struct {
	// At is when the command is set to start.
	At time.Time
	// TargetCU is the size to reach.
	TargetCU int
	// Plan marks a scheduled CU change (jittered); otherwise an immediate
	// scale action.
	Plan bool
}

// Metrics is one Cloud Eye-like sample of the queue.
type Metrics struct {
	// At is when the sample was taken.
	At time.Time
	// SizeCU is the queue's size (queue_cu_num).
	SizeCU int
	// AllocCU is the CUs held by running jobs (queue_alloc_cu_num).
	AllocCU int
	// Running is the number of running jobs (queue_job_running_num).
	Running int
	// Launching is the number of waiting jobs (queue_job_launching_num).
	Launching int
	// LaunchingCU is the CUs the waiting jobs need (not a Cloud Eye metric;
	// an estimate a policy could make from job history).
	LaunchingCU int
}

// Controller is a scaling policy under simulation.
type Controller interface {
	// Initial is the queue's size at the window's start.
	Initial() int
	// Commands are the commands the policy has scheduled in advance.
	Commands() []Command
	// Observe is called every sample period with the newest sample the
	// policy can see (MetricDelay old; ok = false when none is visible yet)
	// and the queue's current target size. It returns act = true to scale
	// now (an immediate command).
	Observe(now time.Time, m Metrics, ok bool, currentTarget int) (a Action, act bool)
}

// Action is an immediate scale command from Controller.Observe.
type Action struct {
	// TargetCU is the size to reach.
	TargetCU int
	// OutOnly makes it a scale-out: ignored unless TargetCU is above the
	// current target (a reactive net never scales in).
	OutOnly bool
}

// Result is what one simulation measured.
type Result struct {
	// CUHours is the billed CU-hours over the window.
	CUHours float64
	// Waits are the queue waits of the window's jobs, in seconds, sorted.
	Waits []float64
	// Jobs is the number of jobs submitted in the window (rejected included).
	Jobs int
	// Rejected counts jobs needing more than MaxCU.
	Rejected int
	// Unfinished counts jobs still waiting when the drain period ended.
	Unfinished int
	// Changes counts commands that changed the queue's target size;
	// PlanChanges and ActionChanges split it into scheduled plans and
	// immediate actions.
	Changes, PlanChanges, ActionChanges int
	// Violations counts commands whose target was not a multiple of 16 or
	// outside the limits.
	Violations int
	// SizeTrace is the billed size after each change (time, CU), for charts
	// and checks.
	SizeTrace []SizePoint
	// Starts holds each window job's start, in submit order (zero when the
	// job was rejected or never started).
	Starts []time.Time
}

// WaitMinutes is the job-minutes the window's jobs waited (the sum of
// Waits).
func (r *Result) WaitMinutes() float64 {
	s := 0.0
	for _, w := range r.Waits {
		s += w
	}
	return s / 60
}

// SizePoint is the queue's billed size from At on.
type SizePoint struct {
	// At is when the size took effect.
	At time.Time
	// CU is the size.
	CU int
}

// Percentile returns the nearest-rank p-percentile (0–100) of sorted
// values; 0 when there are none.
func Percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(k, 0), len(sorted)-1)]
}

type running struct {
	end time.Duration
	cu  int
}

type endHeap []running

func (h *endHeap) push(r running) {
	*h = append(*h, r)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].end <= a[i].end {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *endHeap) pop() running {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		c := l
		if r := l + 1; r < n && a[r].end < a[l].end {
			c = r
		}
		if a[i].end <= a[c].end {
			break
		}
		a[i], a[c] = a[c], a[i]
		i = c
	}
	*h = a
	return top
}

type pending struct {
	at time.Duration
	cu int
}

// Run simulates the jobs submitted in [from, to) under ctl. Jobs must be
// sorted by submit time.
func Run(jobs []trace.Job, from, to time.Time, ctl Controller, o Options) (*Result, error) {
	o, err := o.normalize()
	if err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, errors.New("sim: empty window")
	}
	lo := sort.Search(len(jobs), func(i int) bool { return !jobs[i].Submit.Before(from) })
	hi := sort.Search(len(jobs), func(i int) bool { return !jobs[i].Submit.Before(to) })
	win := jobs[lo:hi]
	end := to.Sub(from)
	stop := end + o.Drain

	res := &Result{Jobs: len(win), Starts: make([]time.Time, len(win))}
	rng := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	type cmd struct {
		at   time.Duration
		cu   int
		plan bool
	}
	var cmds []cmd
	for _, c := range ctl.Commands() {
		at := c.At.Sub(from)
		if c.Plan && o.PlanJitter > 0 {
			at += time.Duration((rng.Float64()*2 - 1) * float64(o.PlanJitter))
		}
		if at >= end {
			continue
		}
		cmds = append(cmds, cmd{max(at, 0), c.TargetCU, c.Plan})
	}
	sort.SliceStable(cmds, func(a, b int) bool { return cmds[a].at < cmds[b].at })

	legal := func(t int) int {
		v := plan.RoundUp(t)
		if v != t || v < o.MinCU || v > o.MaxCU {
			res.Violations++
		}
		return min(max(v, o.MinCU), o.MaxCU)
	}
	var (
		now       time.Duration
		size      = legal(ctl.Initial())
		capacity  = size
		target    = size
		inUse     int
		nRunning  int
		waiting   []int // indexes into win, FIFO
		head      int
		waitingCU int
		ends      endHeap
		pend      []pending
		area      float64 // CU·seconds
		lastBill  time.Duration
		samples   []Metrics
		seen      int // samples[:seen] visible to the policy
	)
	res.SizeTrace = append(res.SizeTrace, SizePoint{from, size})
	setSize := func(s int) {
		if s == size {
			return
		}
		if lastBill < end {
			area += float64(size) * (min(now, end) - lastBill).Seconds()
			lastBill = min(now, end)
		}
		size = s
		res.SizeTrace = append(res.SizeTrace, SizePoint{from.Add(now), s})
	}
	apply := func(t int, isPlan bool) {
		t = legal(t)
		if t != target {
			res.Changes++
			if isPlan {
				res.PlanChanges++
			} else {
				res.ActionChanges++
			}
		}
		target = t
		switch {
		case t > size:
			setSize(t)
			if o.ScaleOutDelay == 0 {
				capacity = t
			} else {
				pend = append(pend, pending{now + o.ScaleOutDelay, t})
			}
		case t < size:
			setSize(max(t, plan.RoundUp(inUse)))
			capacity = min(capacity, size)
			for i := range pend {
				pend[i].cu = min(pend[i].cu, size)
			}
		}
	}
	start := func() {
		for head < len(waiting) {
			j := &win[waiting[head]]
			if j.CU > capacity-inUse {
				return
			}
			head++
			waitingCU -= j.CU
			inUse += j.CU
			nRunning++
			res.Waits = append(res.Waits, (now - j.Submit.Sub(from)).Seconds())
			res.Starts[waiting[head-1]] = from.Add(now)
			ends.push(running{now + j.Duration, j.CU})
		}
		if head > 4096 && head*2 > len(waiting) {
			waiting = append(waiting[:0], waiting[head:]...)
			head = 0
		}
	}
	ci, ai := 0, 0
	nextTick := time.Duration(0)
	for {
		// Next event time.
		next := time.Duration(math.MaxInt64)
		if len(ends) > 0 {
			next = ends[0].end
		}
		for _, p := range pend {
			next = min(next, p.at)
		}
		if ci < len(cmds) {
			next = min(next, cmds[ci].at)
		}
		if ai < len(win) {
			next = min(next, win[ai].Submit.Sub(from))
		}
		done := ai == len(win) && head == len(waiting)
		if done && now >= end {
			break
		}
		if !done || now < end {
			next = min(next, nextTick)
		}
		if next > stop || next == time.Duration(math.MaxInt64) {
			break
		}
		now = next
		for len(ends) > 0 && ends[0].end <= now {
			r := ends.pop()
			inUse -= r.cu
			nRunning--
			if size > target {
				setSize(max(target, plan.RoundUp(inUse)))
				capacity = min(capacity, size)
			}
		}
		if len(pend) > 0 {
			k := 0
			for _, p := range pend {
				if p.at <= now {
					capacity = max(capacity, min(p.cu, size))
				} else {
					pend[k] = p
					k++
				}
			}
			pend = pend[:k]
		}
		for ci < len(cmds) && cmds[ci].at <= now {
			apply(cmds[ci].cu, cmds[ci].plan)
			ci++
		}
		for ai < len(win) && win[ai].Submit.Sub(from) <= now {
			j := win[ai]
			if j.CU > o.MaxCU {
				res.Rejected++
			} else {
				waiting = append(waiting, ai)
				waitingCU += j.CU
			}
			ai++
		}
		start()
		if now >= nextTick {
			samples = append(samples, Metrics{At: from.Add(now), SizeCU: size, AllocCU: inUse, Running: nRunning,
				Launching: len(waiting) - head, LaunchingCU: waitingCU})
			for seen < len(samples) && now-samples[seen].At.Sub(from) >= o.MetricDelay {
				seen++
			}
			var m Metrics
			if seen > 0 {
				m = samples[seen-1]
			}
			if a, act := ctl.Observe(from.Add(now), m, seen > 0, target); act && (!a.OutOnly || a.TargetCU > target) {
				apply(a.TargetCU, false)
				start()
			}
			nextTick += o.SamplePeriod
		}
	}
	if lastBill < end {
		area += float64(size) * (end - lastBill).Seconds()
	}
	for i := head; i < len(waiting); i++ {
		res.Unfinished++
		res.Waits = append(res.Waits, (stop - win[waiting[i]].Submit.Sub(from)).Seconds())
	}
	res.CUHours = area / 3600
	sort.Float64s(res.Waits)
	return res, nil
}
