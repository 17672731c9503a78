package demand

import (
	"math"
	"testing"
	"time"
)

// weekly returns samples every 15 minutes over weeks weeks from mon whose
// value in week k is profile(hour of week) × (1+g)^k × scale(k, hour).
func weekly(weeks int, g float64, scale func(k, h int) float64) []Sample {
	var out []Sample
	for k := range weeks {
		for m := 0; m < 7*24*60; m += 15 {
			h := m / 60
			base := 10.0
			if d := h / 24; d < 5 && h%24 >= 8 && h%24 < 18 {
				base = 60 // business hours
			}
			v := base * math.Pow(1+g, float64(k))
			if scale != nil {
				v *= scale(k, h)
			}
			out = append(out, Sample{mon.AddDate(0, 0, 7*k).Add(time.Duration(m) * time.Minute), v})
		}
	}
	return out
}

// TestEstimateGrowth: the growth of synthetic weeks with a known trend is
// found (up and down), out-of-range trends are clamped, and fewer than
// MinTrendWeeks weeks estimate nothing.
func TestEstimateGrowth(t *testing.T) {
	for _, tc := range []struct {
		name  string
		weeks int
		g     float64
		want  float64
		ok    bool
	}{
		{"+3 % over 4 weeks", 4, 0.03, 0.03, true},
		{"+2 % over 6 weeks", 6, 0.02, 0.02, true},
		{"−2 % over 5 weeks", 5, -0.02, -0.02, true},
		{"flat", 4, 0, 0, true},
		{"+25 % clamps", 4, 0.25, MaxGrowth, true},
		{"−20 % clamps", 4, -0.20, MinGrowth, true},
		{"three weeks are too few", 3, 0.03, 0, false},
	} {
		ss := weekly(tc.weeks, tc.g, nil)
		end := mon.AddDate(0, 0, 7*tc.weeks)
		g, pairs, ok := EstimateGrowth(ss, end, tc.weeks, nil, nil)
		if ok != tc.ok || math.Abs(g-tc.want) > 1e-9 {
			t.Errorf("%s: growth %v ok %v, want %v ok %v", tc.name, g, ok, tc.want, tc.ok)
		}
		if want := tc.weeks * (tc.weeks - 1) / 2; pairs != want {
			t.Errorf("%s: %d pairs, want %d", tc.name, pairs, want)
		}
	}
	// Samples outside the window do not count: a learning window of four
	// of six weeks sees only the last four.
	ss := weekly(6, 0.02, func(k, _ int) float64 { return map[bool]float64{true: 3, false: 1}[k < 2] })
	if g, _, _ := EstimateGrowth(ss, mon.AddDate(0, 0, 42), 4, nil, nil); math.Abs(g-0.02) > 1e-9 {
		t.Errorf("window: growth %v, want 0.02 (the two older weeks are outside it)", g)
	}
}

// TestEstimateGrowthRobust: one odd week — a quiet week (holiday-like, not
// caught by DipDays), a week of bursts, a week with a holiday day left in or
// excluded, a week with a gap in the metrics — does not move the estimate
// of a +2 % trend; in particular a dip does not turn it negative.
func TestEstimateGrowthRobust(t *testing.T) {
	const g = 0.02
	tuesday := mon.AddDate(0, 0, 7*2+1) // week 2's Tuesday
	for _, tc := range []struct {
		name    string
		weeks   int
		scale   func(k, h int) float64
		exclude []time.Time
		drop    func(s Sample) bool
	}{
		{"quiet newest week (×0.6)", 4, func(k, _ int) float64 { return map[bool]float64{true: 0.6, false: 1}[k == 3] }, nil, nil},
		{"quiet middle week (×0.6), five weeks", 5, func(k, _ int) float64 { return map[bool]float64{true: 0.6, false: 1}[k == 2] }, nil, nil},
		{"bursts in one week (×3 for 12 hours)", 4, func(k, h int) float64 {
			if k == 1 && h >= 30 && h < 42 {
				return 3
			}
			return 1
		}, nil, nil},
		{"whole burst week (×1.5)", 4, func(k, _ int) float64 { return map[bool]float64{true: 1.5, false: 1}[k == 3] }, nil, nil},
		{"holiday Tuesday kept", 4, func(k, h int) float64 {
			if k == 2 && h/24 == 1 {
				return 0.1
			}
			return 1
		}, nil, nil},
		{"holiday Tuesday excluded", 4, func(k, h int) float64 {
			if k == 2 && h/24 == 1 {
				return 0.1
			}
			return 1
		}, []time.Time{tuesday.Add(13 * time.Hour)}, nil},
		{"metrics gap on the newest Wednesday", 4, nil, nil, func(s Sample) bool {
			return s.Time.After(mon.AddDate(0, 0, 23)) && s.Time.Before(mon.AddDate(0, 0, 24))
		}},
	} {
		ss := weekly(tc.weeks, g, tc.scale)
		if tc.drop != nil {
			kept := ss[:0]
			for _, s := range ss {
				if !tc.drop(s) {
					kept = append(kept, s)
				}
			}
			ss = kept
		}
		got, _, ok := EstimateGrowth(ss, mon.AddDate(0, 0, 7*tc.weeks), tc.weeks, tc.exclude, time.UTC)
		if !ok || math.Abs(got-g) > 1e-9 {
			t.Errorf("%s: growth %v ok %v, want %v", tc.name, got, ok, g)
		}
	}
}

// TestBuildTrendProjects: with Trend the profile forecasts the week after
// the history at the grown level (a slot's maximum is the newest week's ×
// (1+g)); ProjectTo moves the forecast to an earlier week (the samples
// after it are scaled down); without Trend the recurring median lags.
func TestBuildTrendProjects(t *testing.T) {
	const g = 0.05
	ss := weekly(4, g, nil)
	end := mon.AddDate(0, 0, 28)
	slot := 10 // Monday 10:00, 60 CU in week 0
	for _, tc := range []struct {
		name string
		cfg  Config
		want float64
	}{
		{"trend, next week", Config{Trend: true}, 60 * math.Pow(1+g, 4)},
		{"trend, projected to week 1", Config{Trend: true, ProjectTo: mon.AddDate(0, 0, 7)}, 60 * (1 + g)},
		{"no trend: the lower median week", Config{}, 60 * math.Pow(1+g, 1)},
		{"fixed growth 0: the samples as they are, the newest week's max", Config{Trend: true, FixedGrowth: true}, 60 * math.Pow(1+g, 1)},
		// Over-projected (+10 % on a +5 % queue), the oldest weeks come out
		// highest; the lower median by count is week 2's 60·1.05²·1.10².
		{"fixed growth +10 %", Config{Trend: true, FixedGrowth: true, Growth: 0.10}, 60 * math.Pow(1+g, 2) * math.Pow(1.10, 2)},
		{"fixed growth +50 % clamps to +10 %", Config{Trend: true, FixedGrowth: true, Growth: 0.5}, 60 * math.Pow(1+g, 2) * math.Pow(1.10, 2)},
		{"fixed growth NaN is 0", Config{Trend: true, FixedGrowth: true, Growth: math.NaN()}, 60 * math.Pow(1+g, 1)},
	} {
		tc.cfg.Weeks, tc.cfg.HalfLifeWeeks, tc.cfg.Recurring = 4, 2, true
		p, err := Build(ss, end, tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Quantile(slot, 1); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("%s: max at Monday 10:00 = %v, want %v", tc.name, got, tc.want)
		}
		wantG := 0.0
		switch {
		case tc.cfg.FixedGrowth && !math.IsNaN(tc.cfg.Growth):
			wantG = min(tc.cfg.Growth, MaxGrowth)
		case tc.cfg.Trend && !tc.cfg.FixedGrowth:
			wantG = g
		}
		if math.Abs(p.Growth-wantG) > 1e-9 {
			t.Errorf("%s: Growth %v, want %v", tc.name, p.Growth, wantG)
		}
	}
}

// TestWeeksAhead: whole weeks from a sample to the same hour of the week in
// the target week, before and after it.
func TestWeeksAhead(t *testing.T) {
	target := mon.AddDate(0, 0, 14)
	for _, tc := range []struct {
		t    time.Time
		want int
	}{
		{target.Add(-time.Minute), 1},
		{target.Add(-Week), 1},
		{target.Add(-Week - time.Minute), 2},
		{target, 0},
		{target.Add(Week - time.Minute), 0},
		{target.Add(Week), -1},
		{target.Add(2*Week + time.Hour), -2},
	} {
		if got := weeksAhead(tc.t, target); got != tc.want {
			t.Errorf("weeksAhead(%v) = %d, want %d", tc.t, got, tc.want)
		}
	}
}

// TestEstimateGrowthBadInput: no samples, a zero window, all-zero demand
// and NaN, infinite or negative values estimate nothing or are ignored —
// never a panic, never NaN.
func TestEstimateGrowthBadInput(t *testing.T) {
	end := mon.AddDate(0, 0, 28)
	zero := weekly(4, 0, func(int, int) float64 { return 0 })
	if g, _, ok := EstimateGrowth(nil, end, 4, nil, nil); ok || g != 0 {
		t.Errorf("no samples: %v %v", g, ok)
	}
	if g, _, ok := EstimateGrowth(weekly(4, 0.03, nil), end, 0, nil, nil); ok || g != 0 {
		t.Errorf("zero window: %v %v", g, ok)
	}
	if g, _, ok := EstimateGrowth(zero, end, 4, nil, nil); ok || g != 0 {
		t.Errorf("all zero: %v %v", g, ok)
	}
	ss := weekly(4, 0.03, nil)
	ss = append(ss, Sample{mon.Add(time.Hour), math.NaN()}, Sample{mon.Add(2 * time.Hour), math.Inf(1)}, Sample{mon.Add(3 * time.Hour), -50})
	if g, _, ok := EstimateGrowth(ss, end, 4, nil, nil); !ok || math.Abs(g-0.03) > 1e-9 {
		t.Errorf("bad values: %v %v, want 0.03", g, ok)
	}
}
