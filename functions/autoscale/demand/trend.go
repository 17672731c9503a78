package demand

import (
	"math"
	"sort"
	"time"
)

// MinGrowth and MaxGrowth clamp the weekly growth EstimateGrowth returns
// (fractions per week: −0.05 = −5 %, 0.10 = +10 %). The range is
// asymmetric on purpose: under-forecasting costs wait time, over-forecasting
// only CU-hours, and a growth beyond these is a change of regime the
// learning window catches up with anyway.
const (
	MinGrowth = -0.05
	MaxGrowth = 0.10
)

// MinTrendWeeks is the fewest weeks with samples EstimateGrowth estimates a
// growth from. With two or three weeks the week-to-week noise of a real
// queue (and of the simulator's presets: estimates from 0 to +10 % for a
// true +2–3 %) swamps a growth of a few per cent a week.
const MinTrendWeeks = 4

// weekBucket returns which week before end t falls in (0: [end−7d, end),
// 1: the week before, …) and the hour within that week from its start,
// for t before end.
func weekBucket(t, end time.Time) (age, hour int) {
	d := end.Sub(t) // > 0
	age = int((d - 1) / Week)
	off := time.Duration(age+1)*Week - d // from the bucket's start, in [0, Week)
	return age, int(off / time.Hour)
}

// EstimateGrowth estimates the weekly growth of the demand in samples
// observed in the weeks before end (weeks of seven days counting back from
// end; samples at or after end or more than weeks weeks before it are
// ignored; exclude lists days to leave out, any time within the day in loc,
// nil meaning UTC). It returns the growth g (demand × (1+g) a week) and the
// number of week pairs compared; ok is false (g = 0) when fewer than
// MinTrendWeeks weeks have samples or no two weeks share an hour.
//
// Each pair of weeks (i older than j) compares their matched hours only —
// the hours of the week both have samples in, excluded days left out, so a
// holiday DipDays caught or a gap in the metrics does not read as a decline
// — as the ratio of the sums of those hours' mean CU; the pair's slope is
// log(ratio)/(j−i) per week. The growth is Siegel's repeated median of the
// slopes (for each week the median of its slopes to the others, then the
// median of those), so one odd week — a week of bursts, a quiet week
// DipDays did not catch — cannot carry it. The weeks weigh equally (no
// decay): the slope needs the old weeks as much as the new. The result is
// clamped to [MinGrowth, MaxGrowth].
func EstimateGrowth(samples []Sample, end time.Time, weeks int, exclude []time.Time, loc *time.Location) (g float64, pairs int, ok bool) {
	if loc == nil {
		loc = time.UTC
	}
	excl := map[string]bool{}
	for _, d := range exclude {
		excl[d.In(loc).Format(time.DateOnly)] = true
	}
	type acc struct{ sum, n float64 }
	hours := map[int]*[Slots]acc{} // age → hour → mean
	from := end.Add(-time.Duration(weeks) * Week)
	for _, s := range samples {
		if !s.Time.Before(end) || s.Time.Before(from) || s.CU < 0 || math.IsNaN(s.CU) || math.IsInf(s.CU, 0) ||
			excl[s.Time.In(loc).Format(time.DateOnly)] {
			continue
		}
		age, h := weekBucket(s.Time, end)
		w := hours[age]
		if w == nil {
			w = new([Slots]acc)
			hours[age] = w
		}
		w[h].sum += s.CU
		w[h].n++
	}
	ages := make([]int, 0, len(hours))
	for a := range hours {
		ages = append(ages, a)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(ages))) // oldest first
	// slopes[i]: week ages[i]'s slopes to the weeks it shares an hour with.
	slopes := make([][]float64, len(ages))
	for i := range ages {
		for j := i + 1; j < len(ages); j++ {
			old, nw := hours[ages[i]], hours[ages[j]]
			var so, sn float64
			for h := range Slots {
				if old[h].n > 0 && nw[h].n > 0 {
					so += old[h].sum / old[h].n
					sn += nw[h].sum / nw[h].n
				}
			}
			if so <= 0 || sn <= 0 {
				continue
			}
			s := math.Log(sn/so) / float64(ages[i]-ages[j])
			slopes[i] = append(slopes[i], s)
			slopes[j] = append(slopes[j], s)
			pairs++
		}
	}
	if pairs == 0 || len(ages) < MinTrendWeeks {
		return 0, pairs, false
	}
	var per []float64
	for _, s := range slopes {
		if len(s) > 0 {
			per = append(per, median(s))
		}
	}
	g = math.Exp(median(per)) - 1
	return min(max(g, MinGrowth), MaxGrowth), pairs, true
}

// median is the median of vs (the mean of the two middle values for an
// even count); vs is sorted in place.
func median(vs []float64) float64 {
	sort.Float64s(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// weeksAhead is how many whole weeks lie between t and the same hour of
// the week in the week starting at target (negative when t is after it).
func weeksAhead(t, target time.Time) int {
	d := target.Sub(t)
	n := int(d / Week)
	if d > time.Duration(n)*Week {
		n++ // ceil for t before target (d > 0)
	}
	return n
}
