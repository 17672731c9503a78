package autoscale

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/pkg/dli"
)

// PlanClient is the DLI calls Reconcile needs; *dli.Client satisfies it.
type PlanClient interface {
	ListPlans(ctx context.Context, queue string) ([]dli.Plan, error)
	CreatePlan(ctx context.Context, queue string, spec dli.PlanSpec) error
	UpdatePlan(ctx context.Context, queue string, id int64, spec dli.PlanSpec) error
	DeletePlan(ctx context.Context, queue string, id int64) error
}

var _ PlanClient = (*dli.Client)(nil)

// ErrPlanLimit means the compiled schedule plus the plans dlibot does not own
// would exceed the queue's plan limit; nothing was changed.
var ErrPlanLimit = errors.New("autoscale: plan limit")

// DefaultMaxPlans is DLI's limit of scheduled CU changes per queue.
const DefaultMaxPlans = 12

// ReconcileResult says what Reconcile did, by plan name.
type ReconcileResult struct {
	// Created, Updated, Deleted and Unchanged name dlibot's plans by what
	// happened to them.
	Created   []string `json:"created,omitempty"`
	Updated   []string `json:"updated,omitempty"`
	Deleted   []string `json:"deleted,omitempty"`
	Unchanged []string `json:"unchanged,omitempty"`
	// Foreign counts the queue's plans dlibot does not own (left alone).
	Foreign int `json:"foreign"`
}

// Changed reports whether Reconcile changed anything.
func (r *ReconcileResult) Changed() bool {
	return len(r.Created)+len(r.Updated)+len(r.Deleted) > 0
}

// SpecOf converts a compiled plan body into the client's plan spec.
func SpecOf(p plan.DLIPlan) (dli.PlanSpec, error) {
	s := dli.PlanSpec{Name: p.PlanName, TargetCU: p.TargetCU, StartHour: p.StartHour, StartMinute: p.StartMinute, Inactive: !p.Activate}
	for _, d := range p.RepeatDay {
		wd, ok := weekdays[strings.ToUpper(d)]
		if !ok {
			return s, fmt.Errorf("autoscale: plan %s: unknown repeat_day %q", p.PlanName, d)
		}
		s.RepeatDays = append(s.RepeatDays, wd)
	}
	if p.ValidDateBegin != 0 {
		s.ValidFrom = time.UnixMilli(p.ValidDateBegin).UTC()
	}
	if p.ValidDateEnd != 0 {
		s.ValidUntil = time.UnixMilli(p.ValidDateEnd).UTC()
	}
	return s, nil
}

var weekdays = map[string]time.Weekday{"SUNDAY": time.Sunday, "MONDAY": time.Monday, "TUESDAY": time.Tuesday,
	"WEDNESDAY": time.Wednesday, "THURSDAY": time.Thursday, "FRIDAY": time.Friday, "SATURDAY": time.Saturday}

func sameSpec(a, b dli.PlanSpec) bool {
	days := func(ds []time.Weekday) []time.Weekday {
		out := slices.Clone(ds)
		slices.Sort(out)
		return slices.Compact(out)
	}
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	return a.Name == b.Name && a.TargetCU == b.TargetCU && a.StartHour == b.StartHour && a.StartMinute == b.StartMinute &&
		slices.Equal(days(a.RepeatDays), days(b.RepeatDays)) && ms(a.ValidFrom) == ms(b.ValidFrom) &&
		ms(a.ValidUntil) == ms(b.ValidUntil) && a.Inactive == b.Inactive
}

// Reconcile makes the queue's scheduled CU changes whose names start with
// plan.PlanPrefix ("dlibot_") exactly want, and never touches any other plan.
// It lists the plans (6.7), checks that the plans dlibot does not own plus
// want fit maxPlans (0 = DefaultMaxPlans; ErrPlanLimit, before any change,
// otherwise), then deletes dlibot's plans that are not wanted (and
// duplicates), updates those whose settings differ, and creates the missing
// ones — deletions first, so the count never exceeds the limit on the way.
// A second run with the same want changes nothing. After a failure it stops
// and returns what it did with the error; running it again resumes.
func Reconcile(ctx context.Context, c PlanClient, queue string, want []plan.DLIPlan, maxPlans int) (*ReconcileResult, error) {
	if maxPlans == 0 {
		maxPlans = DefaultMaxPlans
	}
	wantSpec := map[string]dli.PlanSpec{}
	var names []string
	for _, p := range want {
		if !strings.HasPrefix(p.PlanName, plan.PlanPrefix) {
			return nil, fmt.Errorf("autoscale: plan %q: dlibot's plans must start with %q", p.PlanName, plan.PlanPrefix)
		}
		if _, dup := wantSpec[p.PlanName]; dup {
			return nil, fmt.Errorf("autoscale: plan %q wanted twice", p.PlanName)
		}
		s, err := SpecOf(p)
		if err != nil {
			return nil, err
		}
		wantSpec[p.PlanName] = s
		names = append(names, p.PlanName)
	}
	sort.Strings(names)
	have, err := c.ListPlans(ctx, queue)
	if err != nil {
		return nil, fmt.Errorf("autoscale: list plans of %s: %w", queue, err)
	}
	res := &ReconcileResult{}
	own := map[string]dli.Plan{}
	var del []dli.Plan
	for _, p := range have {
		if !strings.HasPrefix(p.Name, plan.PlanPrefix) {
			res.Foreign++
			continue
		}
		if _, ok := wantSpec[p.Name]; !ok {
			del = append(del, p)
			continue
		}
		if _, dup := own[p.Name]; dup {
			del = append(del, p) // keep the first of duplicates
			continue
		}
		own[p.Name] = p
	}
	if res.Foreign+len(want) > maxPlans {
		return res, fmt.Errorf("%w: queue %s has %d plans dlibot does not own; with %d compiled plans that exceeds %d",
			ErrPlanLimit, queue, res.Foreign, len(want), maxPlans)
	}
	for _, p := range del {
		if err := c.DeletePlan(ctx, queue, p.ID); err != nil {
			return res, fmt.Errorf("autoscale: delete plan %s of %s: %w", p.Name, queue, err)
		}
		res.Deleted = append(res.Deleted, p.Name)
	}
	for _, n := range names {
		cur, ok := own[n]
		if !ok {
			continue
		}
		if sameSpec(cur.PlanSpec, wantSpec[n]) {
			res.Unchanged = append(res.Unchanged, n)
			continue
		}
		if err := c.UpdatePlan(ctx, queue, cur.ID, wantSpec[n]); err != nil {
			return res, fmt.Errorf("autoscale: update plan %s of %s: %w", n, queue, err)
		}
		res.Updated = append(res.Updated, n)
	}
	for _, n := range names {
		if _, ok := own[n]; ok {
			continue
		}
		if err := c.CreatePlan(ctx, queue, wantSpec[n]); err != nil {
			return res, fmt.Errorf("autoscale: create plan %s of %s: %w", n, queue, err)
		}
		res.Created = append(res.Created, n)
	}
	return res, nil
}
