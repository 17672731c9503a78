package dlitest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewOptions(t *testing.T) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := e.Options()
	if o.ProjectID != "emulator-project" || o.AK != "emulator-ak" || o.SK != "emulator-sk" || o.MaxBodyBytes != 12<<20 ||
		o.Timing.ScaleDelay != time.Minute || o.Timing.RestartTime != 30*time.Second || o.Timing.PlanJitter != 0 {
		t.Fatalf("defaults: %+v", o)
	}
	if _, err := New(Options{Seed: "huge"}); err == nil || !strings.Contains(err.Error(), `unknown seed "huge"`) {
		t.Fatalf("unknown seed: %v", err)
	}
}

func TestClockModes(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	manual := newClock(start, false)
	if !manual.Now().Equal(start) {
		t.Fatal("manual clock moved by itself")
	}
	manual.advance(time.Hour)
	if !manual.Now().Equal(start.Add(time.Hour)) {
		t.Fatal("manual advance")
	}
	rt := newClock(time.Time{}, true)
	before := time.Now()
	rt.advance(24 * time.Hour)
	got := rt.Now()
	if got.Before(before.Add(24*time.Hour)) || got.After(time.Now().Add(24*time.Hour+time.Second)) {
		t.Fatalf("real-time clock with a day's advance: %v (wall %v)", got, before)
	}
	// A real-time emulator accepts SDK signatures (wall-clock dates) and
	// lets plans fire after an advance.
	srv := NewServer(t, Options{RealTime: true})
	if err := srv.AddQueue(QueueSpec{Name: "etl", CUCount: 64}); err != nil {
		t.Fatal(err)
	}
	o := srv.Options()
	r := sdkReq{method: "GET", path: "/v1.0/" + o.ProjectID + "/queues/etl", ak: o.AK, sk: o.SK}.build(t, srv.URL)
	if status, _, raw := authDo(t, r); status != http.StatusOK {
		t.Fatalf("signed request on a real-time emulator: %d %s", status, raw)
	}
}

func TestAPIEdges(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true, MaxBodyBytes: 64})
	status, raw := call(t, srv, "GET", "/v1.0/emulator-project/nothing-here", nil)
	qWantErr(t, status, raw, 404, "DLI.0002", "no DLI API GET /v1.0/emulator-project/nothing-here")
	status, raw = call(t, srv, "GET", "/v1.0/other/queues", nil)
	qWantErr(t, status, raw, 404, "DLI.0002", "project other does not exist")
	status, raw = call(t, srv, "POST", "/v1/emulator-project/queues/x/plans", strings.Repeat("x", 100))
	qWantErr(t, status, raw, 413, "DLI.0001", "too large")
}

// TestReferenceFieldNames checks that the answers carry every field name of
// the reference's response tables (6.3 Table 6-12 except labels, 6.4 Table
// 6-15, 6.5 Table 6-19, 6.7 Tables 6-28/6-29, 6.10 Table 6-43).
func TestReferenceFieldNames(t *testing.T) {
	srv := qServer(t)
	keys := func(raw []byte) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	want := func(section string, m map[string]any, names string) {
		t.Helper()
		for _, n := range strings.Fields(names) {
			if _, ok := m[n]; !ok {
				t.Errorf("%s: no field %q in %v", section, n, m)
			}
		}
	}
	list := keys(qOK(t, srv, "GET", "/v1.0/"+qProj+"/queues", nil))
	want("6.3", list, "is_success message queues")
	want("6.3 queue", list["queues"].([]any)[0].(map[string]any), "queue_name description owner create_time queue_type cu_count "+
		"resource_id enterprise_project_id cidr_in_vpc cidr_in_mgmt_subnet cidr_in_subnet resource_mode platform is_restarting "+
		"cu_spec cu_scale_out_limit cu_scale_in_limit")
	want("6.4", keys(qOK(t, srv, "GET", "/v1.0/"+qProj+"/queues/etl", nil)), "is_success message queueName description owner "+
		"createTime queueType cuCount resourceId resourceMode enterpriseProjectId cuSpec cuScaleOutLimit cuScaleInLimit")
	want("6.5 scale", keys(qOK(t, srv, "PUT", "/v1.0/"+qProj+"/queues/etl/action", map[string]any{"action": "scale_out", "cu_count": 16})),
		"is_success message queue_name result")
	want("6.5 restart", keys(qOK(t, srv, "PUT", "/v1.0/"+qProj+"/queues/default/action", map[string]any{"action": "restart", "force": true})),
		"is_success message job_id")
	want("6.6", keys(qOK(t, srv, "POST", plansPath("etl"), planWith(planBodyOf("p", 32, 1, 0, "TUESDAY"),
		"valid_date_begin", qStart.UnixMilli(), "valid_date_end", qStart.Add(240*time.Hour).UnixMilli()))), "is_success message")
	srv.Advance(24 * time.Hour)
	plans := keys(qOK(t, srv, "GET", plansPath("etl"), nil))
	want("6.7", plans, "is_success message plans")
	want("6.7 plan", plans["plans"].([]any)[0].(map[string]any), "id plan_name target_cu start_hour start_minute repeat_day "+
		"valid_date_begin valid_date_end activate last_execute_time")
	id := planID(t, srv, "etl", "p")
	want("6.10", keys(qOK(t, srv, "PUT", plansPath("etl")+"/"+itoa64(id), planBodyOf("p", 48, 2, 0, "MONDAY"))),
		"is_success message queue_name plan_id")
}

func itoa64(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
