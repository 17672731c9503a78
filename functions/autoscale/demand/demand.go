// Package demand learns a queue's weekly CU demand: for each hour of the
// week (168 slots, Monday 00:00 = slot 0) a weighted distribution of the
// demand samples seen in that hour over the last N weeks, older weeks
// decayed exponentially, excluded days left out. Quantiles of these
// distributions are the forecast the plan compiler turns into a schedule.
package demand

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// Slots is the number of hour-of-week slots.
const Slots = 168

// Week is the length of the seasonal cycle.
const Week = 7 * 24 * time.Hour

// Sample is one observation of a queue's CU demand (running + waiting CUs).
type Sample struct {
	// Time is when the demand was observed.
	Time time.Time
	// CU is the demand in CUs (≥ 0).
	CU float64
}

// Config configures Build. The zero value of a field means its default.
type Config struct {
	// Weeks is how many weeks back from End to learn from. Default 4.
	Weeks int
	// HalfLifeWeeks is the age in weeks at which a week's samples weigh
	// half as much as the newest week's. Default 1; +Inf weighs all weeks
	// equally.
	HalfLifeWeeks float64
	// Exclude lists days (any time within the day, in Location) whose
	// samples are ignored: holidays, one-off incidents.
	Exclude []time.Time
	// Location is the time zone of the weekly cycle. Default UTC.
	Location *time.Location
	// Recurring switches how weeks combine. false (default): the quantile
	// of all samples of the slot pooled over the weeks (decay-weighted).
	// true: the decay-weighted median, over the weeks, of each week's own
	// quantile in the slot, but never above the lower median by count (at
	// least half the weeks must reach the value; with two weeks, the lower
	// one) — only what recurs counts, so a one-off burst in one week does
	// not raise the forecast.
	Recurring bool
	// DayTypes (with Recurring): an hour whose samples all come from one
	// week has nothing to tell a one-off burst from a habit, so it takes
	// instead the median, over the days of its type (Monday–Friday,
	// Saturday–Sunday) that have samples in that hour, of each day's
	// quantile (the lower median for an even number of days). Hours seen in
	// two or more weeks keep their own estimate.
	DayTypes bool
	// Trend estimates the weekly growth from the samples themselves
	// (EstimateGrowth over the learning window, excluded days left out) and
	// projects every sample to the forecast week: a sample n whole weeks
	// before the same hour of the week starting at ProjectTo counts as
	// CU·(1+g)^n (n < 0 for samples after it). Without it a growing queue's
	// forecast lags its newest weeks. Default false.
	Trend bool
	// ProjectTo is the start of the week the forecast is for (with Trend).
	// Zero means end: the week right after the history.
	ProjectTo time.Time
	// FixedGrowth (with Trend) projects with Growth instead of estimating
	// the growth from the samples: sim.Tune's leave-one-week-out folds
	// share the estimate of the whole history, which a fold (one week
	// short) could not make on its own.
	FixedGrowth bool
	// Growth is the weekly growth used with FixedGrowth (0.03 = +3 %),
	// clamped to [MinGrowth, MaxGrowth].
	Growth float64
}

// SlotOf returns the hour-of-week slot of t in loc (Monday 00:00 = 0).
func SlotOf(t time.Time, loc *time.Location) int {
	t = t.In(loc)
	return ((int(t.Weekday())+6)%7)*24 + t.Hour()
}

type point struct {
	v, w float64
	week int
}

// Profile is the learned weekly demand distribution.
type Profile struct {
	slots [Slots][]point // sorted by value
	total [Slots]float64 // Σ weights
	// From and To bound the samples the profile learned from.
	From, To  time.Time
	recurring bool
	dayTypes  bool
	// Used and Dropped count the samples learned from and left out
	// (too old, in the future, excluded days, negative or NaN values).
	Used, Dropped int
	// Growth is the weekly growth the samples were projected with
	// (Config.Trend; 0.03 = +3 % a week, 0 without Trend or without two
	// weeks to compare) and GrowthPairs the number of week pairs it was
	// estimated from.
	Growth      float64
	GrowthPairs int
}

// Build learns a profile from samples observed before end.
func Build(samples []Sample, end time.Time, cfg Config) (*Profile, error) {
	if cfg.Weeks == 0 {
		cfg.Weeks = 4
	}
	if cfg.HalfLifeWeeks == 0 {
		cfg.HalfLifeWeeks = 1
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.Weeks < 0 || cfg.HalfLifeWeeks < 0 || math.IsNaN(cfg.HalfLifeWeeks) {
		return nil, fmt.Errorf("demand: weeks %d and half-life %v must be positive", cfg.Weeks, cfg.HalfLifeWeeks)
	}
	excl := map[string]bool{}
	for _, d := range cfg.Exclude {
		excl[d.In(cfg.Location).Format(time.DateOnly)] = true
	}
	p := &Profile{To: end, From: end.Add(-time.Duration(cfg.Weeks) * Week), recurring: cfg.Recurring, dayTypes: cfg.DayTypes}
	target := cfg.ProjectTo
	if target.IsZero() {
		target = end
	}
	logGrowth := 0.0
	if cfg.Trend {
		if cfg.FixedGrowth {
			p.Growth = min(max(cfg.Growth, MinGrowth), MaxGrowth)
			if math.IsNaN(p.Growth) {
				p.Growth = 0
			}
		} else {
			p.Growth, p.GrowthPairs, _ = EstimateGrowth(samples, end, cfg.Weeks, cfg.Exclude, cfg.Location)
		}
		logGrowth = math.Log1p(p.Growth)
	}
	for _, s := range samples {
		if !s.Time.Before(end) || s.Time.Before(p.From) || s.CU < 0 || math.IsNaN(s.CU) || math.IsInf(s.CU, 0) ||
			excl[s.Time.In(cfg.Location).Format(time.DateOnly)] {
			p.Dropped++
			continue
		}
		age := int(end.Sub(s.Time) / Week)
		w := math.Pow(0.5, float64(age)/cfg.HalfLifeWeeks)
		h := SlotOf(s.Time, cfg.Location)
		v := s.CU
		if logGrowth != 0 {
			v *= math.Exp(logGrowth * float64(weeksAhead(s.Time, target)))
		}
		p.slots[h] = append(p.slots[h], point{v, w, age})
		p.total[h] += w
		p.Used++
	}
	if p.Used == 0 {
		return nil, errors.New("demand: no usable samples in the learning window")
	}
	for h := range p.slots {
		sort.Slice(p.slots[h], func(a, b int) bool { return p.slots[h][a].v < p.slots[h][b].v })
	}
	return p, nil
}

// Count is the number of samples in slot h.
func (p *Profile) Count(h int) int { return len(p.slots[h]) }

// Quantile returns the weighted q-quantile (0 ≤ q ≤ 1) of slot h's demand:
// the smallest sample value whose cumulative weight reaches q of the slot's
// total; q = 1 is the maximum. A slot without samples returns 0.
func (p *Profile) Quantile(h int, q float64) float64 {
	pts := p.slots[h]
	if len(pts) == 0 {
		return 0
	}
	if p.recurring {
		if p.dayTypes && oneWeek(pts) {
			return p.dayTypeQuantile(h, q)
		}
		return recurringQuantile(pts, q)
	}
	return pooledQuantile(pts, p.total[h], q)
}

// oneWeek reports whether every point comes from the same week.
func oneWeek(pts []point) bool {
	for _, pt := range pts[1:] {
		if pt.week != pts[0].week {
			return false
		}
	}
	return true
}

// dayTypeQuantile is the (lower) median, over the days of slot h's day type
// with samples at h's hour, of each day's recurring q-quantile at that hour.
func (p *Profile) dayTypeQuantile(h int, q float64) float64 {
	day, hour := h/24, h%24
	days := []int{0, 1, 2, 3, 4}
	if day >= 5 {
		days = []int{5, 6}
	}
	var vals []float64
	for _, d := range days {
		if pts := p.slots[d*24+hour]; len(pts) > 0 {
			vals = append(vals, recurringQuantile(pts, q))
		}
	}
	sort.Float64s(vals)
	return vals[(len(vals)-1)/2]
}

// recurringQuantile is the weighted median over weeks of each week's
// q-quantile (pts sorted by value; a week's weight is its samples' weight).
func recurringQuantile(pts []point, q float64) float64 {
	byWeek := map[int][]point{}
	weekW := map[int]float64{}
	for _, pt := range pts {
		byWeek[pt.week] = append(byWeek[pt.week], pt)
		weekW[pt.week] = pt.w
	}
	per := make([]point, 0, len(byWeek))
	total := 0.0
	for wk, ps := range byWeek {
		tw := 0.0
		for _, pt := range ps {
			tw += pt.w
		}
		per = append(per, point{pooledQuantile(ps, tw, q), weekW[wk], wk})
		total += weekW[wk]
	}
	sort.Slice(per, func(a, b int) bool {
		if per[a].v != per[b].v {
			return per[a].v < per[b].v
		}
		return per[a].week < per[b].week
	})
	// A value counts only when at least half the weeks (by number, not by
	// weight) reach it: with two weeks the lower one. The decay alone would
	// let the newest week outweigh the rest and carry its one-off bursts
	// into the forecast.
	return min(pooledQuantile(per, total, 0.5), per[(len(per)-1)/2].v)
}

func pooledQuantile(pts []point, total, q float64) float64 {
	if q >= 1 {
		return pts[len(pts)-1].v
	}
	target := q * total
	cum := 0.0
	for _, pt := range pts {
		cum += pt.w
		if cum >= target-1e-12 {
			return pt.v
		}
	}
	return pts[len(pts)-1].v
}

// Quantiles returns Quantile(h, q) for every slot.
func (p *Profile) Quantiles(q float64) []float64 {
	out := make([]float64, Slots)
	for h := range out {
		out[h] = p.Quantile(h, q)
	}
	return out
}

// Requirement turns the q-quantile profile into whole-CU requirements per
// slot (rounded up), the plan compiler's input.
func (p *Profile) Requirement(q float64) []int {
	out := make([]int, Slots)
	for h := range out {
		out[h] = int(math.Ceil(p.Quantile(h, q) - 1e-9))
	}
	return out
}

// DipDays returns the days (00:00 in loc) whose total demand is below ratio
// (e.g. 0.5) times the median total of the same weekday in the samples' other
// weeks (the upper median when their number is even): holidays and outages
// that would otherwise teach the model a quiet day. Only days with samples
// are considered; a weekday seen in one week only is never a dip. Days are
// returned sorted.
func DipDays(samples []Sample, loc *time.Location, ratio float64) []time.Time {
	if loc == nil {
		loc = time.UTC
	}
	total := map[time.Time]float64{}
	for _, s := range samples {
		t := s.Time.In(loc)
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
		total[d] += s.CU
	}
	byWeekday := map[time.Weekday][]time.Time{}
	for d := range total {
		byWeekday[d.Weekday()] = append(byWeekday[d.Weekday()], d)
	}
	var out []time.Time
	for _, days := range byWeekday {
		for _, d := range days {
			var peers []float64
			for _, o := range days {
				if !o.Equal(d) {
					peers = append(peers, total[o])
				}
			}
			if len(peers) == 0 {
				continue
			}
			sort.Float64s(peers)
			peer := peers[len(peers)/2]
			if peer > 0 && total[d] < ratio*peer {
				out = append(out, d)
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Before(out[b]) })
	return out
}
