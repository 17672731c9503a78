package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Group is one DLI plan of a weekly schedule: the same change (start time of
// day and target) on one or more weekdays. DLI counts plans, not firings,
// against its limit of 12 per queue, and a plan's repeat_day may list several
// days.
type Group struct {
	// MinuteOfDay is the start time (hour·60 + minute).
	MinuteOfDay int `json:"minute_of_day"`
	// TargetCU is the size the plan sets.
	TargetCU int `json:"target_cu"`
	// Days are the weekdays the plan fires on, Monday first.
	Days []time.Weekday `json:"days"`
}

// Groups folds a weekly schedule's changes into plans: changes with the same
// time of day and target become one plan repeating on all their days.
func Groups(changes []Change) []Group {
	type key struct{ m, cu int }
	idx := map[key]int{}
	var out []Group
	for _, c := range changes {
		k := key{c.Minute % (24 * 60), c.TargetCU}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Group{MinuteOfDay: k.m, TargetCU: k.cu})
		}
		out[i].Days = append(out[i].Days, c.Weekday())
	}
	for i := range out {
		sort.Slice(out[i].Days, func(a, b int) bool { return mondayFirst(out[i].Days[a]) < mondayFirst(out[i].Days[b]) })
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].MinuteOfDay != out[b].MinuteOfDay {
			return out[a].MinuteOfDay < out[b].MinuteOfDay
		}
		return mondayFirst(out[a].Days[0]) < mondayFirst(out[b].Days[0])
	})
	return out
}

func mondayFirst(d time.Weekday) int { return (int(d) + 6) % 7 }

// ValidateWeekly checks a weekly schedule as DLI plans: like Validate, but
// the count limit (MaxChanges) applies to the plans after Groups, not to the
// firings; spacing applies to the firings within the week.
func ValidateWeekly(changes []Change, cfg Config) []Violation {
	cfg, err := cfg.Normalize()
	if err != nil {
		return []Violation{{Kind: "config", Detail: err.Error()}}
	}
	k := cfg.maxChanges()
	noCount := cfg
	noCount.MaxChanges = 1 << 30
	out := Validate(changes, 7*24*60, noCount)
	if n := len(Groups(changes)); n > k {
		out = append(out, Violation{ViolationCount, fmt.Sprintf("%d plans per queue, at most %d allowed", n, k)})
	}
	return out
}

// dayTypes are the partitions of the week CompileWeekly tries (Monday = 0).
var dayTypes = [][][]int{
	{{0, 1, 2, 3, 4, 5, 6}},
	{{0, 1, 2, 3, 4}, {5, 6}},
	{{0, 1, 2, 3, 4}, {5}, {6}},
}

// CompileWeekly returns the cheapest weekly schedule it finds whose plans
// (after Groups) number at most MaxChanges, with every firing legal (16-CU
// steps, limits, spacing) and every hour covered. Candidates:
//
//   - Compile's exact optimum with one plan per change (never worse than it);
//   - day-type schedules: the week split into day types (all days alike;
//     weekdays | weekend; weekdays | Saturday | Sunday), each type given one
//     daily schedule covering the hourly maximum of its days, compiled exactly
//     by Compile over a 24-hour cycle for every change budget, combined over
//     all budget splits; each daily change is one plan repeating on the type's
//     days, plus plans for level steps at midnight between types.
//
// It is exact within each family but not over every possible grouping.
// Requirements must have 168 hourly slots (SlotMinutes 60).
func CompileWeekly(req []int, cfg Config) (*Schedule, error) {
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, err
	}
	if len(req) != DefaultSlots || cfg.SlotMinutes != 60 {
		return nil, errors.New("plan: weekly compile needs 168 one-hour slots")
	}
	best, err := Compile(req, cfg)
	if err != nil {
		return nil, err
	}
	K := cfg.maxChanges()
	type daily struct {
		levels []int
		n      int // changes
	}
	for _, types := range dayTypes {
		// Per type, per budget: the daily optimum.
		opts := make([][]daily, len(types))
		for ti, days := range types {
			r := make([]int, 24)
			for _, d := range days {
				for h := 0; h < 24; h++ {
					r[h] = max(r[h], req[d*24+h])
				}
			}
			all, err := compileAll(r, cfg)
			if err != nil {
				return nil, err
			}
			for _, d := range all {
				if d != nil {
					opts[ti] = append(opts[ti], daily{d.Levels, len(d.Changes)})
				}
			}
		}
		// Every combination within the budget.
		choice := make([]int, len(types))
		levels := make([]int, DefaultSlots)
		var rec func(ti, used int)
		rec = func(ti, used int) {
			if ti < len(types) {
				for i, o := range opts[ti] {
					if used+o.n > K {
						continue
					}
					choice[ti] = i
					rec(ti+1, used+o.n)
				}
				return
			}
			for ti, days := range types {
				for _, d := range days {
					copy(levels[d*24:], opts[ti][choice[ti]].levels)
				}
			}
			changes := changesOf(levels, cfg)
			cost := Integral(changes, DefaultSlots*60, levels[0])
			if cost > best.CUMinutes || (cost == best.CUMinutes && len(Groups(changes)) >= len(Groups(best.Changes))) {
				return
			}
			if len(ValidateWeekly(changes, cfg)) > 0 {
				return
			}
			best = &Schedule{Required: best.Required, Levels: append([]int(nil), levels...), Changes: changes,
				CUMinutes: cost, Capped: best.Capped, CycleMinutes: DefaultSlots * 60}
		}
		rec(0, 0)
	}
	return best, nil
}

// dayCode is the two-letter weekday code used in plan names.
func dayCode(d time.Weekday) string { return strings.ToLower(d.String()[:2]) }

// Reassert spends the plan budget CompileWeekly left unused on extra firings
// that set the level the schedule already holds. They change nothing while
// the queue follows the plan, but they bound how long a reactive scale-out
// (which never scales in by itself) can outlive the need for it: the next
// firing brings the queue back to the plan. Greedily, while plans remain
// under MaxChanges, it splits the longest gap between firings at its middle
// (rounded to 5 minutes), firing on every day whose level at that time of
// day is the same and whose neighbouring firings are at least MinSpacing
// away; it stops when no gap is at least twice MinSpacing. The cost and the
// levels are unchanged; the result passes ValidateWeekly when s did.
func Reassert(s *Schedule, cfg Config) (*Schedule, error) {
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, err
	}
	const week = 7 * 24 * 60
	if s.CycleMinutes != week {
		return nil, errors.New("plan: reassert needs a weekly schedule")
	}
	out := *s
	out.Changes = append([]Change(nil), s.Changes...)
	spacing := int(cfg.MinSpacing / time.Minute)
	K := cfg.maxChanges()
	level := func(m int) int { return LevelAt(s.Changes, week, s.Levels[0], m) }
	fits := func(m int) bool {
		for _, c := range out.Changes {
			d := ((c.Minute-m)%week + week) % week
			if d < spacing || week-d < spacing {
				return false
			}
		}
		return true
	}
	tried := map[int]bool{}
	for len(Groups(out.Changes)) < K {
		// Longest gap not tried yet.
		bestLen, bestMid := -1, 0
		n := len(out.Changes)
		for i := 0; i < max(n, 1); i++ {
			var a, g int
			if n == 0 {
				a, g = 0, week
			} else {
				a = out.Changes[i].Minute
				g = out.Changes[(i+1)%n].Minute - a
				if i == n-1 {
					g += week
				}
			}
			mid := ((a+g/2)/5*5 + week) % week
			if g >= 2*spacing && g > bestLen && !tried[mid] {
				bestLen, bestMid = g, mid
			}
		}
		if bestLen < 0 {
			break
		}
		tried[bestMid] = true
		mod := bestMid % (24 * 60)
		want := level(bestMid)
		var add []Change
		for d := 0; d < 7; d++ {
			m := d*24*60 + mod
			if level(m) == want && fits(m) {
				add = append(add, Change{Minute: m, TargetCU: want})
			}
		}
		if len(add) == 0 {
			continue
		}
		out.Changes = append(out.Changes, add...)
		sort.Slice(out.Changes, func(i, j int) bool { return out.Changes[i].Minute < out.Changes[j].Minute })
	}
	return &out, nil
}
