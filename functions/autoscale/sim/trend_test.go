package sim

import (
	"fmt"
	"testing"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/functions/autoscale/trace"
)

// TestDlibotProjectsGrowth: dlibot's weekly model estimates the queue's
// growth from its four weeks of history and projects it (a growing preset
// gives a positive growth from six week pairs); with NoTrend it does not,
// and hindsight (the same compiler fed the week's own demand) never does.
func TestDlibotProjectsGrowth(t *testing.T) {
	p, err := trace.LookupPreset("business-hours") // +2 % a week
	if err != nil {
		t.Fatal(err)
	}
	g, err := trace.Generate(p, trace.GenOptions{Weeks: 6, Seed: 1, Scale: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		c       compiledPolicy
		noTrend bool
		pairs   int
	}{
		{"dlibot", compiledPolicy{}, false, 6},
		{"dlibot, NoTrend", compiledPolicy{}, true, 0},
		{"hindsight", compiledPolicy{hindsight: true}, false, 0},
	} {
		e, err := NewEnv(g.Jobs, BenchOptions{NoTrend: tc.noTrend})
		if err != nil {
			t.Fatal(err)
		}
		learnTo := e.Start.Add(5 * demand.Week)
		if _, err := tc.c.schedule(e, learnTo, 4, Knob{Quantile: 0.9}); err != nil {
			t.Fatal(err)
		}
		prof := e.compilers[fmt.Sprint(tc.c.hindsight, learnTo.Unix(), 4)].prof
		if prof.GrowthPairs != tc.pairs || (tc.pairs > 0) != (prof.Growth > 0) || prof.Growth > demand.MaxGrowth {
			t.Errorf("%s: growth %v from %d pairs, want %s from %d", tc.name, prof.Growth, prof.GrowthPairs,
				map[bool]string{true: "> 0", false: "0"}[tc.pairs > 0], tc.pairs)
		}
	}
}
