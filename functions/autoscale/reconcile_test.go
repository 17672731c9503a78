package autoscale

import (
	"context"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

// monday0600 is the emulator clock's start: Monday 2026-01-05 06:00 UTC.
var monday0600 = time.Date(2026, 1, 5, 6, 0, 0, 0, time.UTC)

func newEmulator(t *testing.T) (*dlitest.Server, *dli.Client) {
	t.Helper()
	srv := dlitest.NewServer(t, dlitest.Options{Start: monday0600})
	if err := srv.AddQueue(dlitest.QueueSpec{Name: "etl", CUCount: 64, MinCU: 16, MaxCU: 512}); err != nil {
		t.Fatal(err)
	}
	o := srv.Options()
	c, err := dli.New(dli.Config{AK: o.AK, SK: o.SK, ProjectID: o.ProjectID, SecurityToken: o.SecurityToken,
		Endpoint: srv.URL, Timeout: 5 * time.Second, MaxAttempts: 2},
		dli.WithSleep(func(ctx context.Context, _ time.Duration) error { return ctx.Err() }))
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// weekdayPlans compiles a business-hours week (peak CUs on weekdays 08–18).
func weekdayPlans(t *testing.T, peak int) []plan.DLIPlan {
	t.Helper()
	req := make([]int, plan.DefaultSlots)
	for d := 0; d < 5; d++ {
		for h := 8; h < 18; h++ {
			req[d*24+h] = peak
		}
	}
	s, err := plan.CompileWeekly(req, plan.Config{MinCU: 32, MaxCU: 512})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := s.DLIPlans(time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func names(ps []dli.Plan) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	sort.Strings(out)
	return out
}

func TestReconcileForeignUntouchedIdempotent(t *testing.T) {
	ctx := context.Background()
	srv, c := newEmulator(t)
	foreign := dli.PlanSpec{Name: "manual_night", TargetCU: 48, StartHour: 23, StartMinute: 15, RepeatDays: []time.Weekday{time.Saturday}}
	if err := c.CreatePlan(ctx, "etl", foreign); err != nil {
		t.Fatal(err)
	}
	want := weekdayPlans(t, 128)
	res, err := Reconcile(ctx, c, "etl", want, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Created) != len(want) || res.Foreign != 1 || len(res.Deleted)+len(res.Updated) != 0 {
		t.Fatalf("first run: %+v", res)
	}
	// Second run: nothing to do, and no write reaches DLI.
	srv.ClearRequests()
	res, err = Reconcile(ctx, c, "etl", want, 0)
	if err != nil || res.Changed() || len(res.Unchanged) != len(want) {
		t.Fatalf("second run: %+v %v", res, err)
	}
	for _, r := range srv.Requests() {
		if r.Method != "GET" {
			t.Fatalf("idempotent run sent %s %s", r.Method, r.Path)
		}
	}
	// A new schedule: dlibot's plans change, the foreign one does not.
	want2 := weekdayPlans(t, 256)
	res, err = Reconcile(ctx, c, "etl", want2, 0)
	if err != nil || !res.Changed() {
		t.Fatalf("new schedule: %+v %v", res, err)
	}
	got, err := c.ListPlans(ctx, "etl")
	if err != nil {
		t.Fatal(err)
	}
	var sawForeign bool
	own := 0
	for _, p := range got {
		if p.Name == "manual_night" {
			sawForeign = true
			if p.TargetCU != 48 || p.StartHour != 23 || p.StartMinute != 15 || len(p.RepeatDays) != 1 || p.RepeatDays[0] != time.Saturday {
				t.Fatalf("foreign plan changed: %+v", p)
			}
			continue
		}
		own++
		var w *plan.DLIPlan
		for i := range want2 {
			if want2[i].PlanName == p.Name {
				w = &want2[i]
			}
		}
		if w == nil || w.TargetCU != p.TargetCU || w.StartHour != p.StartHour || w.StartMinute != p.StartMinute || len(w.RepeatDay) != len(p.RepeatDays) {
			t.Fatalf("plan %+v does not match the compiled %+v", p, w)
		}
	}
	if !sawForeign || own != len(want2) {
		t.Fatalf("plans now %v", names(got))
	}
	// Empty schedule: dlibot's plans go, the foreign one stays.
	res, err = Reconcile(ctx, c, "etl", nil, 0)
	if err != nil || len(res.Deleted) != len(want2) {
		t.Fatalf("empty: %+v %v", res, err)
	}
	if got, _ := c.ListPlans(ctx, "etl"); len(got) != 1 || got[0].Name != "manual_night" {
		t.Fatalf("left %v", names(got))
	}
}

func TestReconcilePartialFailureResumes(t *testing.T) {
	ctx := context.Background()
	srv, c := newEmulator(t)
	want := weekdayPlans(t, 128)
	if len(want) < 2 {
		t.Fatalf("want at least two plans, got %d", len(want))
	}
	// The first create fails (a 400, not retried); nothing is created.
	if err := srv.AddFault(dlitest.Fault{Method: "POST", PathRegex: "/plans$", Status: 400, ErrorCode: "DLI.0001", ErrorMsg: "boom", Count: 1}); err != nil {
		t.Fatal(err)
	}
	res, err := Reconcile(ctx, c, "etl", want, 0)
	if err == nil || len(res.Created) != 0 {
		t.Fatalf("want a failure on the first create: %+v %v", res, err)
	}
	res, err = Reconcile(ctx, c, "etl", want, 0)
	if err != nil || len(res.Created) != len(want) {
		t.Fatalf("resume: %+v %v", res, err)
	}
	res, err = Reconcile(ctx, c, "etl", want, 0)
	if err != nil || res.Changed() {
		t.Fatalf("after resume: %+v %v", res, err)
	}
}

func TestReconcilePlanLimitChangesNothing(t *testing.T) {
	ctx := context.Background()
	_, c := newEmulator(t)
	for i, h := range []int{1, 4, 7, 10, 13} {
		p := dli.PlanSpec{Name: "ops_" + string(rune('a'+i)), TargetCU: 64, StartHour: h, RepeatDays: []time.Weekday{time.Sunday}}
		if err := c.CreatePlan(ctx, "etl", p); err != nil {
			t.Fatal(err)
		}
	}
	want := make([]plan.DLIPlan, 8)
	for i := range want {
		want[i] = plan.DLIPlan{PlanName: "dlibot_" + string(rune('a'+i)), TargetCU: 64, StartHour: 2 * i, RepeatDay: []string{"MONDAY"}, Activate: true}
	}
	res, err := Reconcile(ctx, c, "etl", want, 0)
	if !errors.Is(err, ErrPlanLimit) || res.Foreign != 5 || res.Changed() {
		t.Fatalf("%+v %v", res, err)
	}
	if got, _ := c.ListPlans(ctx, "etl"); len(got) != 5 {
		t.Fatalf("plans changed: %v", names(got))
	}
	if _, err := Reconcile(ctx, c, "etl", []plan.DLIPlan{{PlanName: "mine"}}, 0); err == nil {
		t.Fatal("a wanted plan without the dlibot_ prefix: want an error")
	}
}

func TestPlansFiringChangeQueueCUs(t *testing.T) {
	ctx := context.Background()
	srv, c := newEmulator(t)
	want := weekdayPlans(t, 128) // Mon–Fri: up at 07:40, down at 18:05
	if _, err := Reconcile(ctx, c, "etl", want, 0); err != nil {
		t.Fatal(err)
	}
	cu := func() int {
		for _, q := range srv.Snapshot().Queues {
			if q.Name == "etl" {
				return q.CUCount
			}
		}
		t.Fatal("queue etl gone")
		return 0
	}
	if got := cu(); got != 64 {
		t.Fatalf("before any firing: %d CU", got)
	}
	srv.Advance(2 * time.Hour) // Monday 08:00: the 07:40 scale-up fired
	if got := cu(); got != 128 {
		t.Fatalf("Monday 08:00: %d CU, want 128", got)
	}
	srv.Advance(10*time.Hour + 10*time.Minute) // Monday 18:10: the 18:05 scale-down fired
	if got := cu(); got != 32 {
		t.Fatalf("Monday 18:10: %d CU, want 32", got)
	}
}
