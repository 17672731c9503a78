package dlitest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func plansPath(queue string) string { return "/v1/" + qProj + "/queues/" + queue + "/plans" }

func planBodyOf(name string, cu, h, m int, days ...string) map[string]any {
	if days == nil {
		days = []string{}
	}
	return map[string]any{"plan_name": name, "target_cu": cu, "start_hour": h, "start_minute": m, "repeat_day": days}
}

func planWith(b map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range b {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(out, k)
			continue
		}
		out[k] = kv[i+1]
	}
	return out
}

type listedPlan struct {
	ID              int64    `json:"id"`
	PlanName        string   `json:"plan_name"`
	TargetCU        int      `json:"target_cu"`
	StartHour       int      `json:"start_hour"`
	StartMinute     int      `json:"start_minute"`
	RepeatDay       []string `json:"repeat_day"`
	ValidDateBegin  int64    `json:"valid_date_begin"`
	ValidDateEnd    int64    `json:"valid_date_end"`
	Activate        bool     `json:"activate"`
	LastExecuteTime int64    `json:"last_execute_time"`
}

func listPlans(t *testing.T, srv *Server, queue string) []listedPlan {
	t.Helper()
	var r struct {
		IsSuccess bool         `json:"is_success"`
		Plans     []listedPlan `json:"plans"`
	}
	if err := json.Unmarshal(qOK(t, srv, "GET", plansPath(queue), nil), &r); err != nil {
		t.Fatal(err)
	}
	if !r.IsSuccess {
		t.Fatal("is_success false")
	}
	return r.Plans
}

func planID(t *testing.T, srv *Server, queue, name string) int64 {
	t.Helper()
	for _, p := range listPlans(t, srv, queue) {
		if p.PlanName == name {
			return p.ID
		}
	}
	t.Fatalf("no plan %s on %s", name, queue)
	return 0
}

func TestCreatePlanValidation(t *testing.T) {
	ms := func(tm time.Time) int64 { return tm.UnixMilli() }
	ok := planBodyOf("plan_A", 128, 20, 30, "MONDAY")
	tue := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		queue  string
		body   any
		status int
		code   string
		frag   string
	}{
		{"unknown queue", "nope", ok, 400, "DLI.0008", "There is no queue named nope"},
		{"broken JSON", "etl", `{"plan_name":`, 400, "DLI.0001", "invalid request body"},
		{"no plan_name", "etl", planWith(ok, "plan_name", nil), 400, "DLI.0001", "plan_name is required"},
		{"empty plan_name", "etl", planWith(ok, "plan_name", ""), 400, "DLI.0001", "plan_name is required"},
		{"plan_name digits", "etl", planWith(ok, "plan_name", "123"), 400, "DLI.0001", "only digits"},
		{"plan_name underscore", "etl", planWith(ok, "plan_name", "_a"), 400, "DLI.0001", "underscore"},
		{"plan_name dash", "etl", planWith(ok, "plan_name", "a-b"), 400, "DLI.0001", "letters, digits and underscores"},
		{"no target_cu", "etl", planWith(ok, "target_cu", nil), 400, "DLI.0001", "target_cu is required"},
		{"target_cu not multiple of 16", "etl", planWith(ok, "target_cu", 40), 400, "DLI.0001", "multiple of 16"},
		{"target_cu zero", "etl", planWith(ok, "target_cu", 0), 400, "DLI.0001", "multiple of 16"},
		{"target_cu above limit", "etl", planWith(ok, "target_cu", 272), 400, "DLI.0001", "scale-out limit of 256"},
		{"target_cu below limit", "flinkq", planWith(ok, "target_cu", 32), 400, "DLI.0001", "scale-in limit of 64"},
		{"no start_hour", "etl", planWith(ok, "start_hour", nil), 400, "DLI.0001", "start_hour is required"},
		{"start_hour 24", "etl", planWith(ok, "start_hour", 24), 400, "DLI.0001", "start_hour 24"},
		{"start_hour negative", "etl", planWith(ok, "start_hour", -1), 400, "DLI.0001", "start_hour -1"},
		{"no start_minute", "etl", planWith(ok, "start_minute", nil), 400, "DLI.0001", "start_minute is required"},
		{"start_minute 60", "etl", planWith(ok, "start_minute", 60), 400, "DLI.0001", "start_minute 60"},
		{"bad repeat_day", "etl", planWith(ok, "repeat_day", []string{"FUNDAY"}), 400, "DLI.0001", `repeat_day "FUNDAY"`},
		{"repeat_day twice", "etl", planWith(ok, "repeat_day", []string{"MONDAY", "monday"}), 400, "DLI.0001", "MONDAY twice"},
		{"end before begin", "etl", planWith(ok, "valid_date_begin", ms(tue.Add(48*time.Hour)), "valid_date_end", ms(tue)), 400, "DLI.0001", "must be after valid_date_begin"},
		{"negative date", "etl", planWith(ok, "valid_date_begin", -5), 400, "DLI.0001", "13-digit"},
		{"validity over", "etl", planWith(ok, "valid_date_end", ms(qStart.Add(-time.Hour))), 400, "DLI.0999", "The plan plan_A can not generate a scale plan"},
		{"no matching day in validity", "etl", planWith(ok, "valid_date_begin", ms(tue), "valid_date_end", ms(tue.Add(23*time.Hour))), 400, "DLI.0999", "can not generate a scale plan"},
		{"bad activate", "etl", planWith(ok, "activate", "yes"), 400, "DLI.0001", "invalid request body"},
		{"duplicate name", "etl", planWith(ok, "plan_name", "existing", "start_hour", 3), 400, "DLI.0006", "already exists"},
		{"same time same day", "etl", planWith(ok, "start_hour", 6, "start_minute", 15), 400, "DLI.0006", "conflicts with plan existing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := qServer(t)
			qOK(t, srv, "POST", plansPath("etl"), planBodyOf("existing", 32, 6, 15, "MONDAY", "FRIDAY"))
			status, raw := call(t, srv, "POST", plansPath(tc.queue), tc.body)
			qWantErr(t, status, raw, tc.status, tc.code, tc.frag)
			if n := len(srv.Snapshot().Plans); n != 1 {
				t.Fatalf("a refused plan was stored: %d plans", n)
			}
		})
	}
}

func TestCreatePlanAccepts(t *testing.T) {
	srv := qServer(t)
	tue := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	for _, b := range []map[string]any{
		planBodyOf("lower_case_days", 32, 19, 30, "thursday", "friday"), // 6.10's example writes "friday"
		planWith(planBodyOf("once", 32, 9, 0), "repeat_day", nil),       // no repeat_day: once
		planBodyOf("once_empty", 48, 9, 5),
		planWith(planBodyOf("windowed", 64, 8, 0, "TUESDAY"), "valid_date_begin", tue.UnixMilli(), "valid_date_end", tue.Add(24*time.Hour).UnixMilli(), "activate", false),
		planWith(planBodyOf("string_bool", 64, 8, 30, "SUNDAY"), "activate", "true"),
		planBodyOf("same_time_other_day", 128, 19, 30, "MONDAY"),
	} {
		qOK(t, srv, "POST", plansPath("etl"), b)
	}
	plans := listPlans(t, srv, "etl")
	if len(plans) != 6 || strings.Join(plans[0].RepeatDay, ",") != "THURSDAY,FRIDAY" || plans[1].RepeatDay == nil ||
		len(plans[1].RepeatDay) != 0 || plans[3].Activate || !plans[4].Activate || plans[3].ValidDateBegin != tue.UnixMilli() {
		t.Fatalf("plans: %+v", plans)
	}
	if plans[0].ID >= plans[1].ID {
		t.Fatalf("ids not increasing: %+v", plans)
	}
}

func TestPlansFireInTimeOrder(t *testing.T) {
	srv := qServer(t) // Monday 10:00 UTC; etl has 64 CUs
	qOK(t, srv, "POST", plansPath("etl"), planBodyOf("up", 128, 11, 30, "MONDAY", "WEDNESDAY"))
	qOK(t, srv, "POST", plansPath("etl"), planBodyOf("down", 32, 12, 0, "MONDAY", "WEDNESDAY"))
	srv.Advance(89 * time.Minute)
	if q := qState(t, srv, "etl"); q.CUCount != 64 || len(q.PlanFirings) != 0 {
		t.Fatalf("fired early: %+v", q)
	}
	srv.Advance(time.Minute) // 11:30
	q := qState(t, srv, "etl")
	at := qStart.Add(90 * time.Minute)
	if q.CUCount != 128 || len(q.PlanFirings) != 1 ||
		q.PlanFirings[0] != (PlanFiring{PlanID: q.PlanFirings[0].PlanID, PlanName: "up", Scheduled: at, At: at, FromCU: 64, ToCU: 128}) {
		t.Fatalf("at 11:30: %+v", q)
	}
	if p := listPlans(t, srv, "etl")[0]; p.LastExecuteTime != at.UnixMilli() {
		t.Fatalf("last_execute_time %d, want %d", p.LastExecuteTime, at.UnixMilli())
	}
	// One big jump across the week applies every firing in order.
	srv.Advance(7 * 24 * time.Hour)
	q = qState(t, srv, "etl")
	var seq []string
	for _, f := range q.PlanFirings {
		seq = append(seq, fmt.Sprintf("%s@%s", f.PlanName, f.Scheduled.Format("Mon15:04")))
	}
	want := "up@Mon11:30,down@Mon12:00,up@Wed11:30,down@Wed12:00,up@Mon11:30"
	if strings.Join(seq, ",") != want {
		t.Fatalf("firings %s, want %s", strings.Join(seq, ","), want)
	}
	if q.CUCount != 128 || len(q.CUChanges) != 5 || q.CUChanges[1].Cause[:5] != "plan:" {
		t.Fatalf("after a week: %+v", q)
	}
	var ps PlanState
	for _, p := range srv.Snapshot().Plans {
		if p.PlanName == "up" {
			ps = p
		}
	}
	if ps.Firings != 3 || ps.NextRun == nil || !ps.NextRun.Equal(time.Date(2026, 12, 2, 11, 30, 0, 0, time.UTC)) {
		t.Fatalf("plan state: %+v", ps)
	}
}

func TestPlanValidityActivateAndOnce(t *testing.T) {
	srv := qServer(t)
	tue := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	every := []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}
	qOK(t, srv, "POST", plansPath("etl"), planWith(planBodyOf("windowed", 96, 9, 0, every...),
		"valid_date_begin", tue.UnixMilli(), "valid_date_end", tue.Add(48*time.Hour).UnixMilli()))
	qOK(t, srv, "POST", plansPath("flinkq"), planWith(planBodyOf("inactive", 256, 9, 0, every...), "activate", false))
	qOK(t, srv, "POST", plansPath("default"), planBodyOf("once", 32, 9, 0))
	srv.Advance(7 * 24 * time.Hour)
	var days []string
	for _, f := range qState(t, srv, "etl").PlanFirings {
		days = append(days, f.Scheduled.Weekday().String())
	}
	if strings.Join(days, ",") != "Tuesday,Wednesday" {
		t.Fatalf("windowed plan fired on %v, want Tuesday,Wednesday", days)
	}
	if q := qState(t, srv, "flinkq"); len(q.PlanFirings) != 0 || q.CUCount != 128 {
		t.Fatalf("inactive plan fired: %+v", q)
	}
	q := qState(t, srv, "default")
	if len(q.PlanFirings) != 1 || !q.PlanFirings[0].Scheduled.Equal(tue.Add(9*time.Hour)) || q.CUCount != 32 {
		t.Fatalf("once plan: %+v", q)
	}
	// Activating the plan (6.10) makes it fire.
	id := planID(t, srv, "flinkq", "inactive")
	qOK(t, srv, "PUT", fmt.Sprintf("%s/%d", plansPath("flinkq"), id), planWith(planBodyOf("inactive", 256, 9, 0, every...), "activate", true))
	srv.Advance(24 * time.Hour)
	if q := qState(t, srv, "flinkq"); len(q.PlanFirings) != 1 || q.CUCount != 256 {
		t.Fatalf("activated plan: %+v", q)
	}
}

func TestPlanJitter(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true, Start: qStart, Timing: Timing{PlanJitter: 2 * time.Minute}})
	if err := srv.AddQueue(QueueSpec{Name: "etl", CUCount: 64}); err != nil {
		t.Fatal(err)
	}
	qOK(t, srv, "POST", plansPath("etl"), planBodyOf("up", 128, 11, 0, "MONDAY"))
	srv.Advance(61 * time.Minute)
	if q := qState(t, srv, "etl"); q.CUCount != 64 {
		t.Fatalf("fired before the jitter: %+v", q)
	}
	srv.Advance(time.Minute)
	q := qState(t, srv, "etl")
	if q.CUCount != 128 || !q.PlanFirings[0].At.Equal(qStart.Add(62*time.Minute)) || !q.PlanFirings[0].Scheduled.Equal(qStart.Add(time.Hour)) {
		t.Fatalf("with jitter: %+v", q)
	}
}

func TestPlanModifyDeleteBatchDelete(t *testing.T) {
	srv := qServer(t)
	for i, n := range []string{"a", "b", "c", "d"} {
		qOK(t, srv, "POST", plansPath("etl"), planBodyOf("plan_"+n, 32, 1+i, 0, "MONDAY"))
	}
	a, b, c, d := planID(t, srv, "etl", "plan_a"), planID(t, srv, "etl", "plan_b"), planID(t, srv, "etl", "plan_c"), planID(t, srv, "etl", "plan_d")

	// 6.10 modify.
	raw := qOK(t, srv, "PUT", fmt.Sprintf("%s/%d", plansPath("etl"), a), planBodyOf("plan_a2", 64, 19, 30, "THURSDAY", "friday"))
	var upd struct {
		IsSuccess bool   `json:"is_success"`
		QueueName string `json:"queue_name"`
		PlanID    int64  `json:"plan_id"`
	}
	_ = json.Unmarshal(raw, &upd)
	if !upd.IsSuccess || upd.QueueName != "etl" || upd.PlanID != a {
		t.Fatalf("modify answer: %s", raw)
	}
	if p := listPlans(t, srv, "etl")[0]; p.ID != a || p.PlanName != "plan_a2" || p.TargetCU != 64 || strings.Join(p.RepeatDay, ",") != "THURSDAY,FRIDAY" {
		t.Fatalf("modified plan: %+v", p)
	}
	for _, tc := range []struct {
		path   string
		body   any
		status int
		code   string
		frag   string
	}{
		{fmt.Sprintf("%s/%d", plansPath("etl"), 999), planBodyOf("x", 32, 1, 0), 400, "DLI.0002", "The plan with id 999 does not exist."},
		{plansPath("etl") + "/abc", planBodyOf("x", 32, 1, 0), 400, "DLI.0001", "plan_id"},
		{fmt.Sprintf("%s/%d", plansPath("etl"), a), planBodyOf("plan_b", 32, 12, 0, "MONDAY"), 400, "DLI.0006", "already exists"},
		{fmt.Sprintf("%s/%d", plansPath("etl"), a), planBodyOf("plan_a3", 33, 12, 0, "MONDAY"), 400, "DLI.0001", "multiple of 16"},
		{fmt.Sprintf("%s/%d", plansPath("nope"), a), planBodyOf("plan_a3", 32, 12, 0, "MONDAY"), 400, "DLI.0008", "no queue named nope"},
		{fmt.Sprintf("%s/%d", plansPath("etl"), a), planWith(planBodyOf("plan_a3", 32, 12, 0, "MONDAY"), "valid_date_end", qStart.Add(-time.Hour).UnixMilli()), 400, "DLI.0999", "can not generate a scale plan"},
	} {
		status, raw := call(t, srv, "PUT", tc.path, tc.body)
		qWantErr(t, status, raw, tc.status, tc.code, tc.frag)
	}
	// Modifying a plan keeps its own time slot free of conflicts.
	qOK(t, srv, "PUT", fmt.Sprintf("%s/%d", plansPath("etl"), a), planBodyOf("plan_a2", 80, 19, 30, "THURSDAY"))

	// 6.9 delete.
	status, raw := call(t, srv, "DELETE", fmt.Sprintf("%s/%d", plansPath("etl"), 999), nil)
	qWantErr(t, status, raw, 400, "DLI.0002", "The plan with id 999 does not exist.")
	golden(t, "queues_plan_delete_response", qOK(t, srv, "DELETE", fmt.Sprintf("%s/%d", plansPath("etl"), a), nil))
	status, raw = call(t, srv, "DELETE", fmt.Sprintf("%s/%d", plansPath("etl"), a), nil)
	qWantErr(t, status, raw, 400, "DLI.0002", "does not exist")

	// 6.8 batch delete: all or nothing.
	batch := plansPath("etl") + "/batch-delete"
	for _, tc := range []struct {
		body any
		code string
		frag string
	}{
		{map[string]any{"plan_ids": []int64{}}, "DLI.0001", "plan_ids is required"},
		{map[string]any{}, "DLI.0001", "plan_ids is required"},
		{`{"plan_ids": [1,`, "DLI.0001", "invalid request body"},
		{map[string]any{"plan_ids": []int64{b, 998, 999}}, "DLI.0002", "The plans with id 998, 999 do not exist."},
	} {
		status, raw := call(t, srv, "POST", batch, tc.body)
		qWantErr(t, status, raw, 400, tc.code, tc.frag)
	}
	if n := len(listPlans(t, srv, "etl")); n != 3 {
		t.Fatalf("a refused batch delete removed plans: %d left", n)
	}
	golden(t, "queues_plan_batch_delete_response", qOK(t, srv, "POST", batch, map[string]any{"plan_ids": []int64{b, c}}))
	if ps := listPlans(t, srv, "etl"); len(ps) != 1 || ps[0].ID != d {
		t.Fatalf("after batch delete: %+v", ps)
	}
	// A deleted plan never fires.
	srv.Advance(7 * 24 * time.Hour)
	for _, f := range qState(t, srv, "etl").PlanFirings {
		if f.PlanID != d {
			t.Fatalf("deleted plan fired: %+v", f)
		}
	}
}

func TestPlansGolden(t *testing.T) {
	srv := qServer(t)
	golden(t, "queues_plan_create_response", qOK(t, srv, "POST", plansPath("etl"), planWith(planBodyOf("plan_A", 128, 11, 15, "MONDAY", "TUESDAY", "WEDNESDAY", "SUNDAY"),
		"valid_date_begin", int64(1795392000000), "valid_date_end", int64(1798761600000), "activate", true)))
	qOK(t, srv, "POST", plansPath("etl"), planBodyOf("plan_B", 32, 14, 25, "MONDAY"))
	srv.Advance(2 * time.Hour) // plan_A fires at 11:15
	golden(t, "queues_plan_list", qOK(t, srv, "GET", plansPath("etl"), nil))
	id := planID(t, srv, "etl", "plan_B")
	golden(t, "queues_plan_update_response", qOK(t, srv, "PUT", fmt.Sprintf("%s/%d", plansPath("etl"), id), planBodyOf("plan_Ad", 64, 19, 30, "THURSDAY", "friday")))
	status, raw := call(t, srv, "POST", plansPath("etl"), planWith(planBodyOf("plan_X", 64, 1, 0, "MONDAY"), "valid_date_end", int64(1590949800000)))
	if status != 400 {
		t.Fatal(status)
	}
	golden(t, "queues_plan_error", raw)
}

func BenchmarkCatchUp(b *testing.B) {
	srv := NewServer(b, Options{SkipAuth: true, Start: qStart})
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("q%d", i)
		if err := srv.AddQueue(QueueSpec{Name: name, CUCount: 64}); err != nil {
			b.Fatal(err)
		}
		for h := 0; h < 5; h++ {
			qOK(b, srv, "POST", plansPath(name), planBodyOf(fmt.Sprintf("p%d", h), 32+16*h, 2*h, 0, "MONDAY", "FRIDAY"))
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		srv.Advance(time.Second) // what every request does: catch up a short step
	}
}
