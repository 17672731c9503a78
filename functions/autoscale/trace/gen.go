package trace

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// class is one kind of job in a preset: an arrival rate per hour of the
// week and the job size distributions.
type class struct {
	// rate returns jobs per hour at (weekday 0=Monday, hour).
	rate func(day, hour int) float64
	// medianMin and sigma parameterise a lognormal duration in minutes.
	medianMin, sigma float64
	// cus and weights give the CU demand distribution.
	cus     []int
	weights []float64
	// bursty classes only arrive during bursts.
	burst bool
}

// Preset describes a synthetic workload.
type Preset struct {
	// Name is the preset's name (etl-nightly, business-hours, bursty).
	Name string
	// Summary is a one-line description.
	Summary string
	// TrendPerWeek is the growth of every rate per week (0.03 = +3 %).
	TrendPerWeek float64
	// HolidayProb is the chance that a week (from the second on) has one
	// weekday with weekend-level load.
	HolidayProb float64
	// BurstsPerWeek is the mean number of bursts per week (burst classes
	// arrive only inside them).
	BurstsPerWeek float64
	classes       []class
}

func weekday(day int) bool { return day < 5 }

var presets = map[string]Preset{
	"business-hours": {
		Name:         "business-hours",
		Summary:      "interactive SQL on weekdays 08–18 with shoulders, light nights and weekends",
		TrendPerWeek: 0.02, HolidayProb: 0.5,
		classes: []class{{
			rate: func(d, h int) float64 {
				switch {
				case weekday(d) && h >= 8 && h < 18:
					return 55
				case weekday(d) && (h == 7 || (h >= 18 && h < 20)):
					return 18
				case weekday(d):
					return 4
				default:
					return 6
				}
			},
			medianMin: 3, sigma: 0.9, cus: []int{16, 32, 64}, weights: []float64{0.6, 0.3, 0.1},
		}},
	},
	"etl-nightly": {
		Name:         "etl-nightly",
		Summary:      "nightly ETL batch 01–05 every day (bigger on weekdays) plus daytime ad-hoc queries",
		TrendPerWeek: 0.03, HolidayProb: 0.3,
		classes: []class{
			{
				rate: func(d, h int) float64 {
					if h >= 1 && h < 5 {
						if weekday(d) {
							return 9
						}
						return 5
					}
					return 0
				},
				medianMin: 20, sigma: 0.6, cus: []int{32, 64, 128}, weights: []float64{0.4, 0.45, 0.15},
			},
			{
				rate: func(d, h int) float64 {
					if weekday(d) && h >= 9 && h < 18 {
						return 20
					}
					return 3
				},
				medianMin: 2, sigma: 0.8, cus: []int{16, 32}, weights: []float64{0.7, 0.3},
			},
		},
	},
	"bursty": {
		Name:         "bursty",
		Summary:      "moderate weekday seasonality plus random bursts (≈6 a week, 45–150 min, heavy)",
		TrendPerWeek: 0.02, HolidayProb: 0.3, BurstsPerWeek: 6,
		classes: []class{
			{
				rate: func(d, h int) float64 {
					if weekday(d) && h >= 8 && h < 19 {
						return 30
					}
					return 10
				},
				medianMin: 3, sigma: 0.8, cus: []int{16, 32}, weights: []float64{0.7, 0.3},
			},
			{
				rate:      func(d, h int) float64 { return 40 },
				medianMin: 6, sigma: 0.7, cus: []int{16, 32, 64}, weights: []float64{0.5, 0.35, 0.15},
				burst: true,
			},
		},
	},
}

// Presets lists the preset names, sorted.
func Presets() []string {
	out := make([]string, 0, len(presets))
	for n := range presets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LookupPreset returns the named preset.
func LookupPreset(name string) (Preset, error) {
	p, ok := presets[name]
	if !ok {
		return Preset{}, fmt.Errorf("trace: unknown preset %q (have %s)", name, strings.Join(Presets(), ", "))
	}
	return p, nil
}

// MaxGeneratedJobs bounds the size of a generated trace.
const MaxGeneratedJobs = 20_000_000

// GenOptions configures Generate.
type GenOptions struct {
	// Weeks is the length of the trace in weeks (≥ 1).
	Weeks int
	// Seed makes the trace reproducible: the same options give the same jobs.
	Seed uint64
	// Start is the trace's first instant; it is moved back to the Monday
	// 00:00 UTC at or before it. Default 2026-01-05 (a Monday).
	Start time.Time
	// Scale multiplies every arrival rate (1 = the preset as is). Default 1.
	Scale float64
}

// Generated is a synthetic trace and what went into it.
type Generated struct {
	// Jobs are sorted by submit time.
	Jobs []Job
	// Start is the Monday 00:00 UTC the trace starts at.
	Start time.Time
	// Holidays are the days (00:00 UTC) that ran at weekend level.
	Holidays []time.Time
	// Bursts are the start times of the bursts.
	Bursts []time.Time
}

// MondayOnOrBefore returns 00:00 UTC of the Monday at or before t.
func MondayOnOrBefore(t time.Time) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	back := (int(d.Weekday()) + 6) % 7
	return d.AddDate(0, 0, -back)
}

// Generate draws a trace from a preset: a non-homogeneous Poisson process per
// job class whose hourly rate is the preset's hour-of-week profile × trend ×
// holiday dips (plus bursts), lognormal durations and discrete CU sizes.
func Generate(p Preset, o GenOptions) (*Generated, error) {
	if o.Weeks < 1 || o.Weeks > 520 {
		return nil, fmt.Errorf("trace: weeks %d: want 1–520", o.Weeks)
	}
	if o.Scale == 0 {
		o.Scale = 1
	}
	if o.Scale < 0 || o.Scale > 1000 || math.IsNaN(o.Scale) {
		return nil, fmt.Errorf("trace: scale %v: want (0, 1000]", o.Scale)
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	g := &Generated{Start: MondayOnOrBefore(o.Start)}
	rng := rand.New(rand.NewPCG(o.Seed, 0x64_6c_69_62_6f_74))
	// Calendar: holidays and bursts, drawn first so they don't depend on the job draws.
	holiday := map[int]bool{} // day index
	for w := 1; w < o.Weeks; w++ {
		if rng.Float64() < p.HolidayProb {
			d := w*7 + rng.IntN(5)
			holiday[d] = true
			g.Holidays = append(g.Holidays, g.Start.AddDate(0, 0, d))
		}
	}
	type span struct{ from, to int } // minutes since start
	var bursts []span
	total := o.Weeks * 7 * 24 * 60
	if p.BurstsPerWeek > 0 {
		n := poisson(rng, p.BurstsPerWeek*float64(o.Weeks))
		for i := 0; i < n; i++ {
			from := rng.IntN(total)
			bursts = append(bursts, span{from, from + 45 + rng.IntN(106)})
		}
		sort.Slice(bursts, func(a, b int) bool { return bursts[a].from < bursts[b].from })
		for _, b := range bursts {
			g.Bursts = append(g.Bursts, g.Start.Add(time.Duration(b.from)*time.Minute))
		}
	}
	inBurst := func(m int) bool {
		for _, b := range bursts {
			if m >= b.from && m < b.to {
				return true
			}
			if b.from > m {
				break
			}
		}
		return false
	}
	for m := 0; m < total; m++ {
		dayIdx := m / (24 * 60)
		day, hour := dayIdx%7, m/60%24
		if holiday[dayIdx] {
			day = 6 // Sunday-level load
		}
		trend := 1 + p.TrendPerWeek*float64(m)/float64(7*24*60)
		burst := inBurst(m)
		for ci := range p.classes {
			c := &p.classes[ci]
			if c.burst && !burst {
				continue
			}
			lam := c.rate(day, hour) * trend * o.Scale / 60
			if lam <= 0 {
				continue
			}
			n := poisson(rng, lam)
			if len(g.Jobs)+n > MaxGeneratedJobs {
				return nil, fmt.Errorf("trace: more than %d jobs; use fewer weeks or a smaller scale", MaxGeneratedJobs)
			}
			for k := 0; k < n; k++ {
				sub := g.Start.Add(time.Duration(m)*time.Minute + time.Duration(rng.IntN(60))*time.Second)
				durMin := c.medianMin * math.Exp(c.sigma*rng.NormFloat64())
				dur := time.Duration(math.Max(10, math.Round(durMin*60))) * time.Second
				g.Jobs = append(g.Jobs, Job{Submit: sub, Duration: dur, CU: pick(rng, c.cus, c.weights)})
			}
		}
	}
	sort.SliceStable(g.Jobs, func(a, b int) bool { return g.Jobs[a].Submit.Before(g.Jobs[b].Submit) })
	return g, nil
}

func poisson(rng *rand.Rand, lam float64) int {
	if lam > 30 {
		n := int(math.Round(lam + math.Sqrt(lam)*rng.NormFloat64()))
		return max(n, 0)
	}
	l, k, p := math.Exp(-lam), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func pick(rng *rand.Rand, vals []int, w []float64) int {
	x := rng.Float64()
	for i, p := range w {
		if x < p {
			return vals[i]
		}
		x -= p
	}
	return vals[len(vals)-1]
}
