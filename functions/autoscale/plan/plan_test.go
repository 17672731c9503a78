package plan

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// bruteForce enumerates every per-slot level assignment over all multiples
// of 16 in [MinCU, MaxCU], derives the changes independently of the
// compiler, and returns the cheapest legal covering cost (CU-minutes,
// integrated minute by minute) and its change count.
func bruteForce(t *testing.T, req []int, cfg Config) (int64, int) {
	t.Helper()
	cfg, err := cfg.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	T := len(req)
	var vals []int
	for v := cfg.MinCU; v <= cfg.MaxCU; v += Step {
		vals = append(vals, v)
	}
	cycle := T * cfg.SlotMinutes
	lead := int(cfg.LeadTime / time.Minute)
	down := int(cfg.DownDelay / time.Minute)
	best, bestK := int64(-1), 0
	levels := make([]int, T)
	var rec func(h int)
	rec = func(h int) {
		if h < T {
			for _, v := range vals {
				if v < req[h] {
					continue
				}
				levels[h] = v
				rec(h + 1)
			}
			return
		}
		var cs []Change
		for b := 0; b < T; b++ {
			p := levels[(b+T-1)%T]
			if p == levels[b] {
				continue
			}
			m := b * cfg.SlotMinutes
			if levels[b] > p {
				m -= lead
			} else {
				m += down
			}
			cs = append(cs, Change{Minute: (m + cycle) % cycle, TargetCU: levels[b]})
		}
		if len(Validate(cs, cycle, cfg)) > 0 {
			return
		}
		sortChanges(cs)
		var cost int64
		for m := 0; m < cycle; m++ {
			l := LevelAt(cs, cycle, levels[0], m)
			if l < req[m/cfg.SlotMinutes] {
				return // not covering
			}
			cost += int64(l)
		}
		if best < 0 || cost < best || (cost == best && len(cs) < bestK) {
			best, bestK = cost, len(cs)
		}
	}
	rec(0)
	return best, bestK
}

func sortChanges(cs []Change) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].Minute < cs[j-1].Minute; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

func checkSchedule(t *testing.T, req []int, cfg Config, s *Schedule) {
	t.Helper()
	n, _ := cfg.Normalize()
	if v := Validate(s.Changes, s.CycleMinutes, cfg); len(v) > 0 {
		t.Fatalf("compiled schedule violates constraints: %v (changes %v)", v, s.Changes)
	}
	if got := Integral(s.Changes, s.CycleMinutes, s.Levels[0]); got != s.CUMinutes {
		t.Fatalf("CUMinutes %d, but the changes integrate to %d", s.CUMinutes, got)
	}
	for m := 0; m < s.CycleMinutes; m++ {
		h := m / n.SlotMinutes
		need := s.Required[h]
		if l := s.LevelAt(m); l < need {
			t.Fatalf("minute %d (slot %d): level %d below requirement %d (req %d)", m, h, l, need, req[h])
		}
	}
	for h, l := range s.Levels {
		if l%Step != 0 || l < n.MinCU || l > n.MaxCU {
			t.Fatalf("slot %d level %d not legal", h, l)
		}
	}
}

func TestCompileMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	cases := 0
	for cases < 120 {
		T := 4 + rng.IntN(3)
		cfg := Config{
			MinCU:       16 * (1 + rng.IntN(2)),
			MinSpacing:  time.Duration(60*(1+rng.IntN(3))) * time.Minute,
			LeadTime:    time.Duration(rng.IntN(3)*20+1) * time.Minute,
			DownDelay:   time.Duration(rng.IntN(2)*5+1) * time.Minute,
			MaxChanges:  []int{-1, 1, 2, 3, 4}[rng.IntN(5)],
			SlotMinutes: 60,
		}
		cfg.MaxCU = cfg.MinCU + 48
		req := make([]int, T)
		for h := range req {
			req[h] = rng.IntN(cfg.MaxCU + 1)
		}
		name := fmt.Sprintf("%d_%v_%+v", cases, req, cfg)
		cases++
		t.Run(name, func(t *testing.T) {
			s, err := Compile(req, cfg)
			if err != nil {
				t.Fatal(err)
			}
			checkSchedule(t, req, cfg, s)
			want, wantK := bruteForce(t, s.Required, cfg)
			if s.CUMinutes != want {
				t.Fatalf("Compile cost %d (levels %v, changes %v), brute force %d", s.CUMinutes, s.Levels, s.Changes, want)
			}
			if len(s.Changes) != wantK {
				t.Fatalf("Compile uses %d changes at the optimum, brute force %d", len(s.Changes), wantK)
			}
		})
	}
}

func TestCompileWrapAround(t *testing.T) {
	// The peak spans the wrap: slots 5 and 0 need 64, the rest 16.
	req := []int{64, 16, 16, 16, 16, 64}
	cfg := Config{MinCU: 16, MaxCU: 64, MaxChanges: 2, MinSpacing: 2 * time.Hour, LeadTime: 20 * time.Minute, DownDelay: 5 * time.Minute}
	s, err := Compile(req, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSchedule(t, req, cfg, s)
	want := []int{64, 16, 16, 16, 16, 64}
	for h := range want {
		if s.Levels[h] != want[h] {
			t.Fatalf("levels %v, want %v", s.Levels, want)
		}
	}
	// Up at slot 5 − 20 min = minute 280; down at slot 1 + 5 min = minute 65.
	if len(s.Changes) != 2 || s.Changes[0] != (Change{65, 16}) || s.Changes[1] != (Change{280, 64}) {
		t.Fatalf("changes %v", s.Changes)
	}
	if wantCost := int64(64*120 + 16*240 + 48*20 + 48*5); s.CUMinutes != wantCost {
		t.Fatalf("cost %d, want %d", s.CUMinutes, wantCost)
	}
}

func TestCompileWeekProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 20; i++ {
		req := make([]int, DefaultSlots)
		for h := range req {
			hour, day := h%24, h/24
			base := 20
			if day < 5 && hour >= 8 && hour < 18 {
				base = 200
			}
			if hour >= 1 && hour < 4 {
				base = 300
			}
			req[h] = base + rng.IntN(60)
		}
		cfg := Config{MinCU: 32, MaxCU: 320, MaxChanges: 4 + rng.IntN(12)}
		s, err := Compile(req, cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkSchedule(t, req, cfg, s)
		if len(s.Changes) > cfg.MaxChanges {
			t.Fatalf("%d changes > K=%d", len(s.Changes), cfg.MaxChanges)
		}
		if len(s.Capped) == 0 {
			t.Fatalf("requirements above 320 should be reported as capped")
		}
		// More changes allowed never costs more.
		cfg2 := cfg
		cfg2.MaxChanges = cfg.MaxChanges + 2
		s2, err := Compile(req, cfg2)
		if err != nil {
			t.Fatal(err)
		}
		if s2.CUMinutes > s.CUMinutes {
			t.Fatalf("K=%d costs %d > K=%d costs %d", cfg2.MaxChanges, s2.CUMinutes, cfg.MaxChanges, s.CUMinutes)
		}
	}
}

func TestCompileLeadTimePlacement(t *testing.T) {
	// 24 slots; a business-hours step: 08:00–18:00 needs 128.
	req := make([]int, 24)
	for h := 8; h < 18; h++ {
		req[h] = 128
	}
	s, err := Compile(req, Config{MinCU: 16, MaxCU: 256})
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{{7*60 + 40, 128}, {18*60 + 5, 16}}
	if len(s.Changes) != 2 || s.Changes[0] != want[0] || s.Changes[1] != want[1] {
		t.Fatalf("changes %v, want %v", s.Changes, want)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{MinCU: 10},
		{MinCU: 64, MaxCU: 32},
		{LeadTime: 2 * time.Hour},
		{MinSpacing: -time.Minute},
		{LeadTime: 90 * time.Second},
	} {
		if _, err := Compile([]int{16}, c); err == nil {
			t.Errorf("config %+v: want an error", c)
		}
	}
	if _, err := Compile(nil, Config{}); err == nil {
		t.Error("no slots: want an error")
	}
}

func TestValidate(t *testing.T) {
	cfg := Config{MinCU: 64, MaxCU: 256, MaxChanges: 2}
	cs := []Change{{0, 72}, {60, 320}, {200, 64}}
	got := map[string]int{}
	for _, v := range Validate(cs, 7*24*60, cfg) {
		got[v.Kind]++
	}
	want := map[string]int{ViolationStep: 1, ViolationLimit: 1, ViolationCount: 1, ViolationSpacing: 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d violations, want %d (all: %v)", k, got[k], n, got)
		}
	}
	// Spacing across the wrap.
	if v := Validate([]Change{{10, 64}, {7*24*60 - 30, 128}}, 7*24*60, cfg); len(v) != 1 || v[0].Kind != ViolationSpacing {
		t.Errorf("wrap spacing: %v", v)
	}
}

func TestDLIPlans(t *testing.T) {
	req := make([]int, DefaultSlots)
	for h := 8; h < 18; h++ {
		req[h] = 96 // Monday business hours
	}
	s, err := Compile(req, Config{MinCU: 64, MaxCU: 512})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	ps, err := s.DLIPlans(begin, begin.AddDate(0, 3, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("plans %+v", ps)
	}
	p := ps[0]
	if p.PlanName != "dlibot_0740_mo" || p.StartHour != 7 || p.StartMinute != 40 || p.TargetCU != 96 ||
		len(p.RepeatDay) != 1 || p.RepeatDay[0] != "MONDAY" || p.ValidDateBegin != 1767571200000 || !p.Activate {
		t.Fatalf("plan %+v", p)
	}
	if ps[1].PlanName != "dlibot_1805_mo" || ps[1].TargetCU != 64 {
		t.Fatalf("plan %+v", ps[1])
	}
	// Sunday 23:40 for a Monday-00:00 scale-up.
	req2 := make([]int, DefaultSlots)
	req2[0], req2[1], req2[2] = 128, 128, 128
	s2, _ := Compile(req2, Config{MinCU: 64})
	ps2, _ := s2.DLIPlans(time.Time{}, time.Time{})
	found := false
	for _, p := range ps2 {
		if p.RepeatDay[0] == "SUNDAY" && p.StartHour == 23 && p.StartMinute == 40 {
			found = true
		}
		if p.ValidDateBegin != 0 {
			t.Fatalf("zero begin should be omitted: %+v", p)
		}
	}
	if !found {
		t.Fatalf("want a Sunday 23:40 scale-up: %+v", ps2)
	}
}

func BenchmarkCompileWeek(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	req := make([]int, DefaultSlots)
	for h := range req {
		req[h] = rng.IntN(512)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := Compile(req, Config{}); err != nil {
			b.Fatal(err)
		}
	}
}
