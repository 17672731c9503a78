package plan

import (
	"math/rand/v2"
	"testing"
	"time"
)

func businessWeek(rng *rand.Rand) []int {
	req := make([]int, DefaultSlots)
	for h := range req {
		day, hour := h/24, h%24
		switch {
		case day < 5 && hour >= 8 && hour < 18:
			req[h] = 150 + rng.IntN(40)
		case hour >= 1 && hour < 4:
			req[h] = 90 + rng.IntN(20)
		default:
			req[h] = 10 + rng.IntN(10)
		}
	}
	return req
}

func TestCompileWeeklyGroupsDays(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 5; i++ {
		req := businessWeek(rng)
		cfg := Config{MinCU: 16, MaxCU: 512}
		one, err := Compile(req, cfg)
		if err != nil {
			t.Fatal(err)
		}
		s, err := CompileWeekly(req, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if v := ValidateWeekly(s.Changes, cfg); len(v) > 0 {
			t.Fatalf("violations %v", v)
		}
		if s.CUMinutes > one.CUMinutes {
			t.Fatalf("weekly %d costs more than the 1:1 optimum %d", s.CUMinutes, one.CUMinutes)
		}
		// 12 one-day plans cannot follow five business days and seven
		// nightly batches; repeating plans can, and must be much cheaper.
		if float64(s.CUMinutes) > 0.9*float64(one.CUMinutes) {
			t.Fatalf("weekly %d vs 1:1 %d: repeat days did not pay off", s.CUMinutes, one.CUMinutes)
		}
		if got := Integral(s.Changes, s.CycleMinutes, s.Levels[0]); got != s.CUMinutes {
			t.Fatalf("cost %d, integral %d", s.CUMinutes, got)
		}
		for m := 0; m < s.CycleMinutes; m++ {
			if s.LevelAt(m) < s.Required[m/60] {
				t.Fatalf("minute %d not covered", m)
			}
		}
		plans, err := s.DLIPlans(time.Time{}, time.Time{})
		if err != nil || len(plans) > 12 || len(plans) != len(Groups(s.Changes)) {
			t.Fatalf("%d plans, err %v", len(plans), err)
		}
		multi := false
		for _, p := range plans {
			multi = multi || len(p.RepeatDay) > 1
		}
		if !multi {
			t.Fatal("no plan repeats on several days")
		}
	}
	if _, err := CompileWeekly(make([]int, 24), Config{}); err == nil {
		t.Fatal("24 slots: want an error")
	}
}

func TestGroups(t *testing.T) {
	day := 24 * 60
	cs := []Change{{7*60 + 40, 128}, {day + 7*60 + 40, 128}, {2*day + 7*60 + 40, 96}, {6*day + 23*60 + 40, 128}}
	g := Groups(cs)
	if len(g) != 3 {
		t.Fatalf("groups %+v", g)
	}
	if g[0].MinuteOfDay != 460 || g[0].TargetCU != 128 || len(g[0].Days) != 2 || g[0].Days[0] != time.Monday || g[0].Days[1] != time.Tuesday {
		t.Fatalf("group 0 %+v", g[0])
	}
	if g[2].Days[0] != time.Sunday {
		t.Fatalf("group 2 %+v", g[2])
	}
	cfg := Config{MaxChanges: 2}
	if v := ValidateWeekly(cs, cfg); len(v) != 1 || v[0].Kind != ViolationCount {
		t.Fatalf("violations %v", v)
	}
}

func TestReassert(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	req := businessWeek(rng)
	cfg := Config{MinCU: 16, MaxCU: 512}
	s, err := CompileWeekly(req, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Reassert(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v := ValidateWeekly(r.Changes, cfg); len(v) > 0 {
		t.Fatalf("violations %v", v)
	}
	if len(Groups(r.Changes)) > 12 || len(r.Changes) <= len(s.Changes) {
		t.Fatalf("reassert: %d → %d firings, %d plans", len(s.Changes), len(r.Changes), len(Groups(r.Changes)))
	}
	for m := 0; m < r.CycleMinutes; m++ {
		if r.LevelAt(m) != s.LevelAt(m) {
			t.Fatalf("minute %d: level %d changed from %d", m, r.LevelAt(m), s.LevelAt(m))
		}
	}
	if Integral(r.Changes, r.CycleMinutes, r.Levels[0]) != s.CUMinutes {
		t.Fatal("cost changed")
	}
	// A constant schedule gets a daily firing.
	flat, _ := CompileWeekly(make([]int, DefaultSlots), cfg)
	rf, _ := Reassert(flat, cfg)
	if len(rf.Changes) == 0 || len(Groups(rf.Changes)) > 12 {
		t.Fatalf("flat: %v", rf.Changes)
	}
}
