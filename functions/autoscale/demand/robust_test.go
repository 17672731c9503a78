package demand

import (
	"testing"
	"time"
)

// hour returns one sample a minute of cu during the hour starting at t.
func hour(t time.Time, cu float64) []Sample {
	out := make([]Sample, 0, 60)
	for m := range 60 {
		out = append(out, Sample{t.Add(time.Duration(m) * time.Minute), cu})
	}
	return out
}

// TestRecurringNeedsHalfTheWeeks: with two weeks a level seen in one of them
// (a burst) is not forecast, whichever week it was in and however the decay
// weighs them; with three weeks the middle week's value counts.
func TestRecurringNeedsHalfTheWeeks(t *testing.T) {
	end := mon.AddDate(0, 0, 14)
	for _, tc := range []struct {
		name         string
		older, newer float64
	}{{"burst in the newest week", 20, 100}, {"burst in the older week", 100, 20}} {
		ss := append(hour(mon.Add(10*time.Hour), tc.older), hour(mon.AddDate(0, 0, 7).Add(10*time.Hour), tc.newer)...)
		p, err := Build(ss, end, Config{Weeks: 2, HalfLifeWeeks: 1, Recurring: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Quantile(10, 1); got != 20 {
			t.Errorf("%s: max = %v, want 20 (the level both weeks reach)", tc.name, got)
		}
	}
	ss := append(hour(mon.Add(10*time.Hour), 10), hour(mon.AddDate(0, 0, 7).Add(10*time.Hour), 50)...)
	ss = append(ss, hour(mon.AddDate(0, 0, 14).Add(10*time.Hour), 100)...)
	p, _ := Build(ss, mon.AddDate(0, 0, 21), Config{Weeks: 3, HalfLifeWeeks: 1, Recurring: true})
	if got := p.Quantile(10, 1); got != 50 {
		t.Errorf("three weeks: max = %v, want the median week's 50", got)
	}
	// Pooled (Recurring false) still sees the burst.
	p, _ = Build(ss, mon.AddDate(0, 0, 21), Config{Weeks: 3, HalfLifeWeeks: 1})
	if got := p.Quantile(10, 1); got != 100 {
		t.Errorf("pooled: max = %v, want 100", got)
	}
}

// TestDayTypes: with one week of samples a Tuesday-only burst at 10:00 takes
// the weekday median at 10:00; a weekend hour takes the lower of Saturday and
// Sunday; hours seen in two weeks keep their own estimate; without DayTypes
// the burst is forecast.
func TestDayTypes(t *testing.T) {
	var ss []Sample
	for d := range 5 {
		cu := 40.0
		if d == 1 {
			cu = 200 // Tuesday's burst
		}
		ss = append(ss, hour(mon.AddDate(0, 0, d).Add(10*time.Hour), cu)...)
	}
	ss = append(ss, hour(mon.AddDate(0, 0, 5).Add(9*time.Hour), 30)...)  // Saturday 09:00
	ss = append(ss, hour(mon.AddDate(0, 0, 6).Add(9*time.Hour), 90)...)  // Sunday 09:00
	ss = append(ss, hour(mon.AddDate(0, 0, 2).Add(15*time.Hour), 70)...) // Wednesday 15:00 only
	end := mon.AddDate(0, 0, 7)
	p, err := Build(ss, end, Config{Weeks: 1, Recurring: true, DayTypes: true})
	if err != nil {
		t.Fatal(err)
	}
	tue10, sat9, sun9, wed15 := 24+10, 5*24+9, 6*24+9, 2*24+15
	for _, tc := range []struct {
		slot int
		want float64
	}{{tue10, 40}, {10, 40}, {sat9, 30}, {sun9, 30}, {wed15, 70}} {
		if got := p.Quantile(tc.slot, 1); got != tc.want {
			t.Errorf("slot %d: %v, want %v", tc.slot, got, tc.want)
		}
	}
	plain, _ := Build(ss, end, Config{Weeks: 1, Recurring: true})
	if got := plain.Quantile(tue10, 1); got != 200 {
		t.Errorf("without DayTypes: Tuesday 10:00 = %v, want 200", got)
	}
	// A second week at Tuesday 10:00 (also 200): the hour recurs, so it keeps
	// its own estimate.
	ss2 := append(ss, hour(mon.AddDate(0, 0, 8).Add(10*time.Hour), 200)...)
	p2, _ := Build(ss2, mon.AddDate(0, 0, 14), Config{Weeks: 2, Recurring: true, DayTypes: true})
	if got := p2.Quantile(tue10, 1); got != 200 {
		t.Errorf("two weeks: Tuesday 10:00 = %v, want 200", got)
	}
}
