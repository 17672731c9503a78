package sim

import (
	"testing"

	"github.com/dlibot/dlibot/functions/autoscale/trace"
)

// BenchmarkPresets runs the full benchmark (tuning and evaluation of every
// policy) on each preset, 4 weeks with seed 1, 2 training weeks, and reports
// dlibot's CU-hours relative to static-peak, seasonal-naive and hindsight (%,
// negative = cheaper), its P95 wait and that of seasonal-naive (s), and its
// DLI-constraint violations. Run: go test -run '^$' -bench Presets
// -benchtime 1x ./functions/autoscale/sim
func BenchmarkPresets(b *testing.B) {
	for _, name := range trace.Presets() {
		b.Run(name, func(b *testing.B) {
			p, _ := trace.LookupPreset(name)
			g, err := trace.Generate(p, trace.GenOptions{Weeks: 4, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			var rep *Report
			for b.Loop() {
				if rep, err = Bench(g.Jobs, BenchOptions{Sim: Options{Seed: 1}}); err != nil {
					b.Fatal(err)
				}
			}
			rows := map[string]PolicyResult{}
			for _, r := range rep.Results {
				rows[r.Policy] = r
			}
			d := rows["dlibot"]
			rel := func(o string) float64 { return 100 * (d.CUHours/rows[o].CUHours - 1) }
			b.ReportMetric(rel("static-peak"), "%vs_peak")
			b.ReportMetric(rel("seasonal-naive"), "%vs_seasonal")
			b.ReportMetric(rel("hindsight"), "%vs_hindsight")
			b.ReportMetric(d.WaitP95, "dlibot_p95_s")
			b.ReportMetric(rows["seasonal-naive"].WaitP95, "seasonal_p95_s")
			b.ReportMetric(float64(d.Violations), "violations")
		})
	}
}

// BenchmarkRun100kJobs4Weeks times one simulation (one policy, one
// parameter) of a 4-week, ~100,000-job trace.
func BenchmarkRun100kJobs4Weeks(b *testing.B) {
	p, _ := trace.LookupPreset("business-hours")
	g, err := trace.Generate(p, trace.GenOptions{Weeks: 4, Seed: 1, Scale: 7})
	if err != nil {
		b.Fatal(err)
	}
	e, err := NewEnv(g.Jobs, BenchOptions{Sim: Options{MaxCU: 4096}})
	if err != nil {
		b.Fatal(err)
	}
	pol, _ := LookupPolicy("seasonal-naive")
	end := e.Start.AddDate(0, 0, 28)
	b.ReportMetric(float64(len(g.Jobs)), "jobs")
	for b.Loop() {
		ctl, _, err := pol.Controller(e, e.Start, end, 1, true)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Run(e.Jobs, e.Start, end, ctl, e.Sim); err != nil {
			b.Fatal(err)
		}
	}
}
