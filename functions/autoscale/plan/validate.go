package plan

import (
	"fmt"
	"sort"
	"time"
)

// Violation kinds reported by Validate.
const (
	// ViolationStep: a target that is not a multiple of 16 CU.
	ViolationStep = "step"
	// ViolationLimit: a target outside [MinCU, MaxCU].
	ViolationLimit = "limit"
	// ViolationCount: more than MaxChanges changes in the cycle.
	ViolationCount = "count"
	// ViolationSpacing: two consecutive changes closer than MinSpacing.
	ViolationSpacing = "spacing"
)

// Violation is one breach of DLI's constraints on scheduled CU changes.
type Violation struct {
	// Kind is one of the Violation* constants.
	Kind string `json:"kind"`
	// Detail says which change and by how much.
	Detail string `json:"detail"`
}

func (v Violation) String() string { return v.Kind + ": " + v.Detail }

// Validate checks a cyclic list of changes (cycle in minutes) against cfg:
// 16-CU steps, limits, at most MaxChanges, and MinSpacing between
// consecutive start times including the wrap-around. It does not check
// coverage. The changes need not be sorted.
func Validate(changes []Change, cycle int, cfg Config) []Violation {
	cfg, err := cfg.Normalize()
	if err != nil {
		return []Violation{{Kind: "config", Detail: err.Error()}}
	}
	var out []Violation
	cs := append([]Change(nil), changes...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].Minute < cs[j].Minute })
	for _, c := range cs {
		if c.TargetCU%Step != 0 {
			out = append(out, Violation{ViolationStep, fmt.Sprintf("change at minute %d targets %d CU, not a multiple of %d", c.Minute, c.TargetCU, Step)})
		}
		if c.TargetCU < cfg.MinCU || c.TargetCU > cfg.MaxCU {
			out = append(out, Violation{ViolationLimit, fmt.Sprintf("change at minute %d targets %d CU, outside [%d, %d]", c.Minute, c.TargetCU, cfg.MinCU, cfg.MaxCU)})
		}
	}
	if len(cs) > cfg.maxChanges() {
		out = append(out, Violation{ViolationCount, fmt.Sprintf("%d changes per cycle, at most %d allowed", len(cs), cfg.maxChanges())})
	}
	spacing := int(cfg.MinSpacing / time.Minute)
	if len(cs) > 1 {
		for i, c := range cs {
			n := cs[(i+1)%len(cs)]
			gap := n.Minute - c.Minute
			if i == len(cs)-1 {
				gap += cycle
			}
			if gap < spacing {
				out = append(out, Violation{ViolationSpacing, fmt.Sprintf("changes at minutes %d and %d are %d min apart, at least %d needed", c.Minute, n.Minute, gap, spacing)})
			}
		}
	}
	return out
}
