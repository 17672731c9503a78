package dli

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestQueues(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 32)
	addQueue(t, srv, "stream", "general", 64)
	c, _ := newClient(t, srv)
	ctx := context.Background()

	all, err := c.ListQueues(ctx, QueueTypeAll)
	if err != nil {
		t.Fatalf("ListQueues: %v", err)
	}
	names := map[string]Queue{}
	for _, q := range all {
		names[q.Name] = q
	}
	if q, ok := names["etl"]; !ok || q.CUs != 32 || q.Type != QueueTypeSQL || q.Created.IsZero() {
		t.Errorf("ListQueues(all): etl = %+v (present %v), want 32 CUs, type sql, a creation time", q, ok)
	}
	if q, ok := names["stream"]; !ok || q.CUs != 64 || q.Type != QueueTypeGeneral {
		t.Errorf("ListQueues(all): stream = %+v (present %v), want 64 CUs, type general", q, ok)
	}
	general, err := c.ListQueues(ctx, QueueTypeGeneral)
	if err != nil {
		t.Fatalf("ListQueues(general): %v", err)
	}
	for _, q := range general {
		if q.Type != QueueTypeGeneral {
			t.Errorf("ListQueues(general) returned %s of type %s", q.Name, q.Type)
		}
	}

	q, err := c.GetQueue(ctx, "etl")
	if err != nil {
		t.Fatalf("GetQueue: %v", err)
	}
	if q.Name != "etl" || q.CUs != 32 || q.Type != QueueTypeSQL || q.CUScaleOutLimit == 0 {
		t.Errorf("GetQueue(etl) = %+v, want etl, 32 CUs, sql, a scale-out limit", q)
	}

	if err := c.ScaleQueue(ctx, "etl", ScaleOut, 16); err != nil {
		t.Fatalf("ScaleQueue: %v", err)
	}
	srv.Advance(srv.Options().Timing.ScaleDelay + time.Second)
	if q, err := c.GetQueue(ctx, "etl"); err != nil || q.CUs != 48 {
		t.Errorf("after scale out by 16 and the scale delay: GetQueue = %+v, %v; want 48 CUs", q, err)
	}
	if err := c.ScaleQueue(ctx, "etl", ScaleIn, 16); err != nil {
		t.Fatalf("ScaleQueue(in): %v", err)
	}
	srv.Advance(srv.Options().Timing.ScaleDelay + time.Second)
	if q, err := c.GetQueue(ctx, "etl"); err != nil || q.CUs != 32 {
		t.Errorf("after scale in by 16: GetQueue = %+v, %v; want 32 CUs", q, err)
	}

	if _, err := c.RestartQueue(ctx, "etl", false); err != nil {
		t.Fatalf("RestartQueue: %v", err)
	}
	srv.Advance(srv.Options().Timing.RestartTime + time.Second)
	if id, err := c.RestartQueue(ctx, "etl", true); err != nil || id == "" {
		t.Errorf("RestartQueue(force) = %q, %v; want a job id", id, err)
	}
}

func TestQueueErrors(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 32)
	addQueue(t, srv, "stream", "general", 64)
	c, _ := newClient(t, srv)
	ctx := context.Background()

	_, err := c.GetQueue(ctx, "nope")
	wantErr(t, err, ErrNotFound, 0)
	err = c.ScaleQueue(ctx, "etl", ScaleOut, 10) // not a multiple of 16
	wantErr(t, err, ErrInvalid, 400)
	err = c.ScaleQueue(ctx, "nope", ScaleOut, 16)
	wantErr(t, err, ErrNotFound, 0)
	_, err = c.RestartQueue(ctx, "stream", false) // only SQL queues restart
	e := wantErr(t, err, nil, 400)
	if e.Code == "" || e.Message == "" {
		t.Errorf("restart of a general queue: %+v, want DLI's code and message", e)
	}

	// Client-side validation: nothing is sent.
	before := len(srv.Requests())
	for _, err := range []error{
		c.ScaleQueue(ctx, "", ScaleOut, 16),
		c.ScaleQueue(ctx, "etl", "sideways", 16),
		c.ScaleQueue(ctx, "etl", ScaleIn, 0),
		func() error { _, err := c.GetQueue(ctx, ""); return err }(),
		func() error { _, err := c.RestartQueue(ctx, "", false); return err }(),
	} {
		wantErr(t, err, ErrInvalid, 0)
	}
	if n := len(srv.Requests()); n != before {
		t.Errorf("invalid calls sent %d requests", n-before)
	}
}

func TestPlans(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 32)
	c, _ := newClient(t, srv)
	ctx := context.Background()

	specA := PlanSpec{Name: "night", TargetCU: 64, StartHour: 20, StartMinute: 30,
		RepeatDays: []time.Weekday{time.Monday, time.Tuesday, time.Sunday}}
	specB := PlanSpec{Name: "morning", TargetCU: 16, StartHour: 6, StartMinute: 0,
		RepeatDays: []time.Weekday{time.Saturday}, Inactive: true,
		ValidFrom: testStart, ValidUntil: testStart.Add(30 * 24 * time.Hour)}
	specC := PlanSpec{Name: "noon", TargetCU: 48, StartHour: 12, RepeatDays: []time.Weekday{time.Wednesday}}
	for _, s := range []PlanSpec{specA, specB, specC} {
		if err := c.CreatePlan(ctx, "etl", s); err != nil {
			t.Fatalf("CreatePlan(%s): %v", s.Name, err)
		}
	}
	plans, err := c.ListPlans(ctx, "etl")
	if err != nil {
		t.Fatalf("ListPlans: %v", err)
	}
	byName := map[string]Plan{}
	for _, p := range plans {
		byName[p.Name] = p
	}
	if len(byName) != 3 {
		t.Fatalf("ListPlans = %+v, want 3 plans", plans)
	}
	a, b := byName["night"], byName["morning"]
	if a.ID == 0 || a.TargetCU != 64 || a.StartHour != 20 || a.StartMinute != 30 || a.Inactive ||
		!slices.Equal(a.RepeatDays, specA.RepeatDays) {
		t.Errorf("plan night = %+v, want %+v", a, specA)
	}
	if !b.Inactive || !b.ValidFrom.Equal(specB.ValidFrom) || !b.ValidUntil.Equal(specB.ValidUntil) {
		t.Errorf("plan morning = %+v, want inactive with validity %v..%v", b, specB.ValidFrom, specB.ValidUntil)
	}

	specA.TargetCU = 80
	specA.RepeatDays = []time.Weekday{time.Thursday, time.Friday}
	if err := c.UpdatePlan(ctx, "etl", a.ID, specA); err != nil {
		t.Fatalf("UpdatePlan: %v", err)
	}
	plans, _ = c.ListPlans(ctx, "etl")
	for _, p := range plans {
		if p.ID == a.ID && (p.TargetCU != 80 || !slices.Equal(p.RepeatDays, specA.RepeatDays)) {
			t.Errorf("after UpdatePlan: %+v, want 80 CUs on Thursday and Friday", p)
		}
	}

	if err := c.DeletePlan(ctx, "etl", a.ID); err != nil {
		t.Fatalf("DeletePlan: %v", err)
	}
	if err := c.DeletePlans(ctx, "etl", []int64{byName["morning"].ID, byName["noon"].ID}); err != nil {
		t.Fatalf("DeletePlans: %v", err)
	}
	if plans, err := c.ListPlans(ctx, "etl"); err != nil || len(plans) != 0 {
		t.Errorf("after deleting every plan: ListPlans = %+v, %v", plans, err)
	}
}

func TestPlanErrors(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 32)
	c, _ := newClient(t, srv)
	ctx := context.Background()
	spec := PlanSpec{Name: "p1", TargetCU: 64, StartHour: 1, RepeatDays: []time.Weekday{time.Monday}}

	wantErr(t, c.CreatePlan(ctx, "nope", spec), ErrNotFound, 0)
	_, err := c.ListPlans(ctx, "nope")
	wantErr(t, err, ErrNotFound, 0)
	wantErr(t, c.DeletePlan(ctx, "etl", 999), ErrNotFound, 0)
	wantErr(t, c.DeletePlans(ctx, "etl", []int64{998, 999}), ErrNotFound, 0)
	wantErr(t, c.UpdatePlan(ctx, "etl", 999, spec), ErrNotFound, 0)

	bad := spec
	bad.Name = "123" // only digits: DLI's name rule, checked by DLI
	wantErr(t, c.CreatePlan(ctx, "etl", bad), ErrInvalid, 400)

	if err := c.CreatePlan(ctx, "etl", spec); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.CreatePlan(ctx, "etl", spec), ErrConflict, 0)

	for _, s := range []PlanSpec{
		{TargetCU: 16},
		{Name: "x", TargetCU: 0},
		{Name: "x", TargetCU: 16, StartHour: 24},
		{Name: "x", TargetCU: 16, StartMinute: 60},
		{Name: "x", TargetCU: 16, RepeatDays: []time.Weekday{7}},
		{Name: "x", TargetCU: 16, ValidFrom: testStart, ValidUntil: testStart.Add(-time.Hour)},
	} {
		wantErr(t, c.CreatePlan(ctx, "etl", s), ErrInvalid, 0)
	}
	wantErr(t, c.DeletePlans(ctx, "etl", nil), ErrInvalid, 0)
}
