// Package plan compiles per-slot CU requirements into the cheapest cyclic
// (weekly) piecewise-constant CU schedule that DLI's scheduled CU changes
// (API reference 6.6–6.10) can carry out, and checks schedules against
// DLI's constraints.
//
// # Model
//
// The cycle (a week by default) is cut into T slots of SlotMinutes each
// (168 hours). A requirement r[h] says how many CUs must be in place during
// the whole of slot h. A schedule gives each slot a level; where the level
// changes at the boundary b between two slots, DLI must run one scheduled
// change (one plan). A scale-up is placed LeadTime before b so that the CUs
// are there when the slot starts; a scale-down is placed DownDelay after b,
// once the demand has fallen (DownDelay covers DLI's ±5 min start jitter).
// The schedule is legal when every level is a multiple of 16 within
// [MinCU, MaxCU], it has at most MaxChanges changes per cycle, and any two
// consecutive changes (also across the wrap from the end of the cycle to its
// start) are at least MinSpacing apart, measured between the times the plans
// are set to start.
//
// The cost is the integral of the queue size over the cycle in CU-minutes:
// Σ level·SlotMinutes plus, per change, the CUs that are held early (up:
// Δ·LeadTime) or late (down: Δ·DownDelay). Compile returns a legal schedule
// covering every requirement at minimum cost (ties: fewer changes).
//
// # Method
//
// Exact dynamic programming over (slot, level, changes used, slots since the
// last change capped at the point where spacing can no longer bind, direction
// of the last change). Two facts keep it small and make the wrap-around exact:
//
//  1. Some cheapest schedule uses only levels from V = {the requirements
//     rounded up to 16 and clamped to [MinCU, MaxCU]} ∪ {MinCU}: lowering a
//     segment whose level is not in V to the next lower value of V or of a
//     neighbour's level keeps it covering, keeps every change's direction
//     (or removes the change), and saves at least Δ·(SlotMinutes −
//     max(LeadTime, DownDelay)) ≥ 0 CU-minutes.
//  2. The slot holding the largest requirement therefore has level max(V).
//     Rotating the cycle so that this slot is the last one fixes the level at
//     the wrap point, and the change into it (if any) is a scale-up; only the
//     distance of that change from the wrap point (1 … cap−1 slots, or "far")
//     remains to be enumerated, and the DP's final state must agree with it.
//
// Tests compare Compile with brute-force enumeration of every schedule over
// all multiples of 16 on small cycles.
package plan

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// Step is DLI's CU granularity: queue sizes and plan targets are multiples of 16.
const Step = 16

// Config holds the compiler's constraints. The zero value of a field means its
// default; Normalize fills the defaults in.
type Config struct {
	// SlotMinutes is the length of one requirement slot in minutes. Default 60.
	SlotMinutes int
	// MinCU is the lowest level the schedule may use (the queue's scale limit
	// or a configured floor), a multiple of 16. Default 16.
	MinCU int
	// MaxCU is the highest level the schedule may use, a multiple of 16.
	// Requirements above it are capped (and reported in Schedule.Capped).
	// Default 512 (DLI's default maximum queue size).
	MaxCU int
	// MaxChanges is K, the most scheduled changes per cycle. DLI allows at
	// most 12 plans per queue, including plans dlibot did not make. Default
	// 12; use a negative value for "no change at all" (a constant level).
	MaxChanges int
	// MinSpacing is the least time between two consecutive changes' start
	// times. Default 2h (DLI's rule).
	MinSpacing time.Duration
	// LeadTime is how early a scale-up starts before the slot that needs it.
	// Default 20m (DLI's advice). At most SlotMinutes.
	LeadTime time.Duration
	// DownDelay is how long after a slot boundary a scale-down starts, so the
	// ±5 min start jitter never takes CUs away from the slot before. Default
	// 5m; a negative value means 0. At most SlotMinutes.
	DownDelay time.Duration
}

// maxChanges is the change budget of a normalised config.
func (c Config) maxChanges() int { return max(c.MaxChanges, 0) }

// DefaultSlots is the number of one-hour slots in a week.
const DefaultSlots = 168

// Normalize returns c with defaults filled in, or an error naming the first
// invalid field.
func (c Config) Normalize() (Config, error) {
	if c.SlotMinutes == 0 {
		c.SlotMinutes = 60
	}
	if c.MinCU == 0 {
		c.MinCU = Step
	}
	if c.MaxCU == 0 {
		c.MaxCU = 512
	}
	if c.MaxChanges == 0 {
		c.MaxChanges = 12
	} else if c.MaxChanges < 0 {
		c.MaxChanges = -1 // stays idempotent; see maxChanges
	}
	if c.MinSpacing == 0 {
		c.MinSpacing = 2 * time.Hour
	}
	if c.LeadTime == 0 {
		c.LeadTime = 20 * time.Minute
	}
	if c.DownDelay == 0 {
		c.DownDelay = 5 * time.Minute
	} else if c.DownDelay < 0 {
		c.DownDelay = 0
	}
	switch {
	case c.SlotMinutes < 1:
		return c, fmt.Errorf("plan: slot length %d min: must be ≥ 1", c.SlotMinutes)
	case c.MinCU < 0 || c.MinCU%Step != 0:
		return c, fmt.Errorf("plan: min CU %d: must be a non-negative multiple of %d", c.MinCU, Step)
	case c.MaxCU%Step != 0 || c.MaxCU < c.MinCU:
		return c, fmt.Errorf("plan: max CU %d: must be a multiple of %d and ≥ min CU %d", c.MaxCU, Step, c.MinCU)
	case c.MinSpacing < 0:
		return c, fmt.Errorf("plan: min spacing %v: must not be negative", c.MinSpacing)
	case c.LeadTime < 0 || c.LeadTime > time.Duration(c.SlotMinutes)*time.Minute:
		return c, fmt.Errorf("plan: lead time %v: must be within [0, %d min]", c.LeadTime, c.SlotMinutes)
	case c.DownDelay > time.Duration(c.SlotMinutes)*time.Minute:
		return c, fmt.Errorf("plan: down delay %v: must be at most %d min", c.DownDelay, c.SlotMinutes)
	case c.LeadTime%time.Minute != 0 || c.DownDelay%time.Minute != 0 || c.MinSpacing%time.Minute != 0:
		return c, errors.New("plan: lead time, down delay and spacing must be whole minutes")
	}
	return c, nil
}

// Change is one scheduled CU change of a cyclic schedule: at Minute of the
// cycle (for a week: minutes since Monday 00:00), set the queue to TargetCU.
type Change struct {
	// Minute is the start time within the cycle, in [0, cycle length).
	Minute int `json:"minute_of_week"`
	// TargetCU is the queue size the change sets.
	TargetCU int `json:"target_cu"`
}

// Weekday is the day of the week of a change in a weekly cycle whose minute
// 0 is Monday 00:00.
func (c Change) Weekday() time.Weekday { return time.Weekday((c.Minute/(24*60) + 1) % 7) }

// Hour is the change's start hour (0–23).
func (c Change) Hour() int { return c.Minute / 60 % 24 }

// Min is the change's start minute within the hour (0–59).
func (c Change) Min() int { return c.Minute % 60 }

// String renders the change as "Mon 07:40 → 96 CU".
func (c Change) String() string {
	return fmt.Sprintf("%s %02d:%02d → %d CU", c.Weekday().String()[:3], c.Hour(), c.Min(), c.TargetCU)
}

// Schedule is a compiled cyclic plan.
type Schedule struct {
	// Required is the requirement per slot after rounding up to 16 and
	// clamping to [MinCU, MaxCU].
	Required []int `json:"required_cu"`
	// Levels is the level in force during the whole of each slot.
	Levels []int `json:"levels_cu"`
	// Changes are the scheduled changes, sorted by Minute.
	Changes []Change `json:"changes"`
	// CUMinutes is the cost of one cycle: the integral of the queue size,
	// lead and down-delay overlaps included.
	CUMinutes int64 `json:"cu_minutes"`
	// Capped lists the slots whose requirement exceeded MaxCU.
	Capped []int `json:"capped_slots,omitempty"`
	// CycleMinutes is the cycle length (slots × slot length).
	CycleMinutes int `json:"cycle_minutes"`
}

// CUHours is the expected cost of one cycle in CU-hours.
func (s *Schedule) CUHours() float64 { return float64(s.CUMinutes) / 60 }

// LevelAt returns the scheduled size at minute m of the cycle (taken modulo
// the cycle), as the plans set it: the target of the last change at or
// before m, wrapping around.
func (s *Schedule) LevelAt(m int) int {
	return LevelAt(s.Changes, s.CycleMinutes, s.Levels[0], m)
}

// LevelAt evaluates a cyclic step function given by changes (sorted by
// Minute) at minute m; constant is the level when there are no changes.
func LevelAt(changes []Change, cycle, constant, m int) int {
	if len(changes) == 0 {
		return constant
	}
	m %= cycle
	if m < 0 {
		m += cycle
	}
	i := sort.Search(len(changes), func(i int) bool { return changes[i].Minute > m })
	if i == 0 {
		return changes[len(changes)-1].TargetCU
	}
	return changes[i-1].TargetCU
}

// RoundUp rounds cu up to the next multiple of 16 (0 stays 0; negatives become 0).
func RoundUp(cu int) int {
	if cu <= 0 {
		return 0
	}
	return (cu + Step - 1) / Step * Step
}

const inf = int64(1) << 62

// Compile returns the cheapest legal schedule covering req (one requirement
// per slot, in CUs) under cfg.
func Compile(req []int, cfg Config) (*Schedule, error) {
	all, err := compileAll(req, cfg)
	if err != nil {
		return nil, err
	}
	var best *Schedule
	for _, s := range all {
		if s != nil && (best == nil || s.CUMinutes < best.CUMinutes) {
			best = s // ascending k: ties keep fewer changes
		}
	}
	if best == nil {
		// Cannot happen: the constant schedule at max(V) is always legal.
		return nil, errors.New("plan: no legal schedule (internal error)")
	}
	return best, nil
}

// compileAll returns, for every k ≤ MaxChanges, the cheapest legal covering
// schedule with exactly k changes (nil when there is none).
func compileAll(req []int, cfg Config) ([]*Schedule, error) {
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, err
	}
	T := len(req)
	if T == 0 {
		return nil, errors.New("plan: no slots to plan")
	}
	slot := int64(cfg.SlotMinutes)
	lead := int64(cfg.LeadTime / time.Minute)
	down := int64(cfg.DownDelay / time.Minute)
	spacing := int64(cfg.MinSpacing / time.Minute)
	K := cfg.maxChanges()

	s := &Schedule{Required: make([]int, T), CycleMinutes: T * cfg.SlotMinutes}
	levelSet := map[int]bool{cfg.MinCU: true}
	top := 0
	for h, r := range req {
		v := RoundUp(r)
		if v > cfg.MaxCU {
			v = cfg.MaxCU
			s.Capped = append(s.Capped, h)
		}
		if v < cfg.MinCU {
			v = cfg.MinCU
		}
		s.Required[h] = v
		levelSet[v] = true
		if v > s.Required[top] {
			top = h
		}
	}
	V := make([]int, 0, len(levelSet))
	for v := range levelSet {
		V = append(V, v)
	}
	sort.Ints(V)
	nV := len(V)
	rot := (top + 1) % T // rotated slot i is true slot (i+rot)%T; the top slot is last
	r := make([]int, T)
	for i := range r {
		r[i] = s.Required[(i+rot)%T]
	}

	// cap: distance (in slots) from which spacing never binds.
	capD := int((spacing + lead + down + slot - 1) / slot)
	if capD < 1 {
		capD = 1
	}
	const (
		dn = 0
		up = 1
	)
	off := [2]int64{down, -lead}
	// feasible reports whether a change of direction nu may follow, d slots
	// later, a change of direction u.
	feasible := func(d, u, nu int) bool {
		return d >= capD || int64(d)*slot+off[nu]-off[u] >= spacing
	}
	nS := nV * (K + 1) * capD * 2
	idx := func(li, k, d, u int) int { return ((li*(K+1)+k)*capD+(d-1))*2 + u }

	type result struct {
		cost   int64
		k      int
		levels []int
	}
	bestK := make([]result, K+1)
	for k := range bestK {
		bestK[k].cost = inf
	}
	cur := make([]int64, nS)
	next := make([]int64, nS)
	parent := make([][]int32, T)
	for i := range parent {
		parent[i] = make([]int32, nS)
	}
	bestSrc := make([]int64, nV)
	bestArg := make([]int32, nV)
	topLi := nV - 1

	for d0 := 1; d0 <= capD; d0++ {
		u0 := up
		if d0 == capD {
			u0 = dn
		}
		for i := range cur {
			cur[i] = inf
		}
		cur[idx(topLi, 0, d0, u0)] = 0
		for h := 0; h < T; h++ {
			for i := range next {
				next[i] = inf
			}
			par := parent[h]
			need := r[h]
			for li := 0; li < nV; li++ {
				if V[li] < need {
					continue
				}
				lvl := int64(V[li]) * slot
				// Stay at li.
				for k := 0; k <= K; k++ {
					for d := 1; d <= capD; d++ {
						for u := 0; u < 2; u++ {
							c := cur[idx(li, k, d, u)]
							if c >= inf {
								continue
							}
							nd, nu := d+1, u
							if nd >= capD {
								nd, nu = capD, dn
							}
							j := idx(li, k, nd, nu)
							if c+lvl < next[j] {
								next[j] = c + lvl
								par[j] = int32(idx(li, k, d, u))
							}
						}
					}
				}
			}
			// Change into lj at boundary h.
			for k := 0; k < K; k++ {
				for nu := 0; nu < 2; nu++ {
					// bestSrc[li] = min over (d,u) allowed before a change of direction nu.
					for li := 0; li < nV; li++ {
						bestSrc[li] = inf
						for d := 1; d <= capD; d++ {
							for u := 0; u < 2; u++ {
								if !feasible(d, u, nu) {
									continue
								}
								j := idx(li, k, d, u)
								if cur[j] < bestSrc[li] {
									bestSrc[li] = cur[j]
									bestArg[li] = int32(j)
								}
							}
						}
					}
					if nu == up {
						// from li < lj: cost + (V[lj]-V[li])*lead
						run, arg := inf, int32(-1)
						for lj := 0; lj < nV; lj++ {
							if run < inf && V[lj] >= need {
								c := run + int64(V[lj])*lead + int64(V[lj])*slot
								j := idx(lj, k+1, 1, normU(1, capD, up))
								if c < next[j] {
									next[j] = c
									par[j] = arg
								}
							}
							if bestSrc[lj] < inf {
								if v := bestSrc[lj] - int64(V[lj])*lead; v < run {
									run, arg = v, bestArg[lj]
								}
							}
						}
					} else {
						run, arg := inf, int32(-1)
						for lj := nV - 1; lj >= 0; lj-- {
							if run < inf && V[lj] >= need {
								c := run - int64(V[lj])*down + int64(V[lj])*slot
								j := idx(lj, k+1, 1, normU(1, capD, dn))
								if c < next[j] {
									next[j] = c
									par[j] = arg
								}
							}
							if bestSrc[lj] < inf {
								if v := bestSrc[lj] + int64(V[lj])*down; v < run {
									run, arg = v, bestArg[lj]
								}
							}
						}
					}
				}
			}
			cur, next = next, cur
		}
		// Close the cycle: same level, same last-change position.
		for k := 0; k <= K; k++ {
			j := idx(topLi, k, d0, u0)
			c := cur[j]
			if c >= bestK[k].cost {
				continue
			}
			levels := make([]int, T)
			st := j
			for h := T - 1; h >= 0; h-- {
				levels[h] = V[st/((K+1)*capD*2)]
				st = int(parent[h][st])
			}
			bestK[k] = result{cost: c, k: k, levels: levels}
		}
	}
	out := make([]*Schedule, K+1)
	for k, b := range bestK {
		if b.cost >= inf {
			continue
		}
		sk := *s
		sk.Levels = make([]int, T)
		for i, l := range b.levels {
			sk.Levels[(i+rot)%T] = l
		}
		sk.CUMinutes = b.cost
		sk.Changes = changesOf(sk.Levels, cfg)
		out[k] = &sk
	}
	return out, nil
}

// normU normalises the direction stored with distance d: beyond the cap the
// direction no longer matters and is stored as down.
func normU(d, capD, u int) int {
	if d >= capD {
		return 0
	}
	return u
}

// changesOf derives the scheduled changes from per-slot levels.
func changesOf(levels []int, cfg Config) []Change {
	T := len(levels)
	cycle := T * cfg.SlotMinutes
	lead := int(cfg.LeadTime / time.Minute)
	down := int(cfg.DownDelay / time.Minute)
	var out []Change
	for b := 0; b < T; b++ {
		prev := levels[(b+T-1)%T]
		if levels[b] == prev {
			continue
		}
		m := b * cfg.SlotMinutes
		if levels[b] > prev {
			m -= lead
		} else {
			m += down
		}
		m = ((m % cycle) + cycle) % cycle
		out = append(out, Change{Minute: m, TargetCU: levels[b]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Minute < out[j].Minute })
	return out
}

// FromLevels builds the schedule that holds levels (one per slot) with the
// change placement rules of cfg, without optimising; its cost is computed
// from the resulting step function. Useful to evaluate hand-made plans.
func FromLevels(levels []int, cfg Config) (*Schedule, error) {
	cfg, err := cfg.Normalize()
	if err != nil {
		return nil, err
	}
	if len(levels) == 0 {
		return nil, errors.New("plan: no slots")
	}
	s := &Schedule{Levels: append([]int(nil), levels...), Required: append([]int(nil), levels...), CycleMinutes: len(levels) * cfg.SlotMinutes}
	s.Changes = changesOf(s.Levels, cfg)
	s.CUMinutes = Integral(s.Changes, s.CycleMinutes, s.Levels[0])
	return s, nil
}

// Integral returns the CU-minutes of one cycle of the step function given by
// changes (sorted by Minute); constant is used when there are no changes.
func Integral(changes []Change, cycle, constant int) int64 {
	if len(changes) == 0 {
		return int64(constant) * int64(cycle)
	}
	var sum int64
	for i, c := range changes {
		end := cycle
		if i+1 < len(changes) {
			end = changes[i+1].Minute
		}
		sum += int64(c.TargetCU) * int64(end-c.Minute)
	}
	// From minute 0 to the first change, the last change's level holds.
	sum += int64(changes[len(changes)-1].TargetCU) * int64(changes[0].Minute)
	return sum
}
