package autoscale

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/host"
)

func TestRegistration(t *testing.T) {
	f := newFixture(t, nil)
	t.Setenv("AUTOSCALE_QUEUES", "etl")
	t.Setenv("AUTOSCALE_INTERVAL", "30m")
	r := Registration()
	fn, err := r.New(context.Background(), host.Env{JS: f.js, DLI: f.dli.Client, Notifier: f.n, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if fn.Name != Name || !fn.NeedsNATS || fn.Tick != 30*time.Minute || len(fn.Subjects) != 1 || fn.Subjects[0] != events.SubjectsMetrics {
		t.Errorf("function: %+v", fn)
	}
	if _, err := r.New(context.Background(), host.Env{DLI: f.dli.Client, Notifier: f.n}); err == nil || !strings.Contains(err.Error(), "NATS") {
		t.Errorf("without NATS: %v", err)
	}
	t.Setenv("AUTOSCALE_MODE", "auto")
	if _, err := r.New(context.Background(), host.Env{JS: f.js, DLI: f.dli.Client, Notifier: f.n}); err == nil || !strings.Contains(err.Error(), "AUTOSCALE_MODE") {
		t.Errorf("bad config: %v", err)
	}
}

func TestApplyLeavesForeignPlans(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply}) })
	ctx := context.Background()
	for i := range 3 {
		spec := dli.PlanSpec{Name: "manual_" + string(rune('a'+i)), TargetCU: 64, StartHour: 1 + 3*i, RepeatDays: []time.Weekday{time.Sunday}}
		if err := f.dli.CreatePlan(ctx, "etl", spec); err != nil {
			t.Fatal(err)
		}
	}
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	if err := f.a.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	ds := f.decided()
	if len(ds) != 1 || ds[0].Action != ActionApplied || ds[0].Inputs.ForeignPlans != 3 || ds[0].Inputs.MaxChanges != 9 {
		t.Fatalf("decision: %+v", ds[0])
	}
	ps, _ := f.dli.ListPlans(ctx, "etl")
	foreign := 0
	for _, p := range ps {
		if strings.HasPrefix(p.Name, "manual_") {
			foreign++
		}
	}
	if foreign != 3 || len(ps) > DefaultMaxPlans {
		t.Errorf("plans after apply: %d foreign of %d", foreign, len(ps))
	}
}

func TestApplyPlanLimit(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply}) })
	ctx := context.Background()
	for i := range DefaultMaxPlans {
		spec := dli.PlanSpec{Name: "manual_" + string(rune('a'+i)), TargetCU: 64, StartHour: 2 * i, RepeatDays: []time.Weekday{time.Sunday}}
		if err := f.dli.CreatePlan(ctx, "etl", spec); err != nil {
			t.Fatal(err)
		}
	}
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	f.emu.ClearRequests()
	if err := f.a.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	if ds := f.decided(); len(ds) != 1 || ds[0].Action != ActionPlanLimit {
		t.Fatalf("decisions: %+v", ds)
	}
	if w := f.planWrites(); len(w) != 0 {
		t.Errorf("plan writes: %v", w)
	}
}
