package dlitest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// qStart is a Monday, 2026-11-23 10:00 UTC.
var qStart = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

const qProj = "emulator-project"

// qServer is an emulator on a manual clock at qStart with auth off and the
// queues default (sql 16), etl (sql 64, 16–256) and flinkq (general 128).
func qServer(t testing.TB) *Server {
	t.Helper()
	srv := NewServer(t, Options{SkipAuth: true, Start: qStart})
	for _, s := range []QueueSpec{
		{Name: "default", CUCount: 16},
		{Name: "etl", CUCount: 64, MinCU: 16, MaxCU: 256},
		{Name: "flinkq", Type: QueueTypeGeneral, CUCount: 128, MinCU: 64, MaxCU: 512},
	} {
		if err := srv.AddQueue(s); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// qOK is call that wants 200 and returns the body.
func qOK(t testing.TB, srv *Server, method, path string, body any) []byte {
	t.Helper()
	status, raw := call(t, srv, method, path, body)
	if status != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, path, status, raw)
	}
	return raw
}

// qWantErr asserts a DLI error answer.
func qWantErr(t testing.TB, status int, raw []byte, wantStatus int, wantCode, wantFrag string) {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("error body %s: %v", raw, err)
	}
	if status != wantStatus || e.ErrorCode != wantCode || !strings.Contains(e.ErrorMsg, wantFrag) {
		t.Fatalf("got %d %s %q, want %d %s containing %q", status, e.ErrorCode, e.ErrorMsg, wantStatus, wantCode, wantFrag)
	}
}

func qState(t testing.TB, srv *Server, name string) QueueState {
	t.Helper()
	for _, q := range srv.Snapshot().Queues {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("no queue %s in the snapshot", name)
	return QueueState{}
}

func qNames(t testing.TB, raw []byte) []string {
	t.Helper()
	var r struct {
		Queues []struct {
			Name string `json:"queue_name"`
		} `json:"queues"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range r.Queues {
		names = append(names, q.Name)
	}
	return names
}

func TestListQueuesFilters(t *testing.T) {
	srv := qServer(t)
	if err := srv.AddQueue(QueueSpec{Name: "tagged", CUCount: 32, Tags: map[string]string{"team": "bi", "env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	base := "/v1.0/" + qProj + "/queues"
	tests := []struct {
		query string
		want  string
	}{
		{"", "default,etl,tagged"}, // queue_type defaults to sql
		{"?queue_type=sql", "default,etl,tagged"},
		{"?queue_type=general", "flinkq"},
		{"?queue_type=all", "default,etl,flinkq,tagged"},
		{"?queue_type=all&order=queue_name_desc", "tagged,flinkq,etl,default"},
		{"?queue_type=all&order=cu_asc", "default,tagged,etl,flinkq"},
		{"?queue_type=all&order=cu_desc", "flinkq,etl,tagged,default"},
		{"?queue_type=all&page-size=3", "default,etl,flinkq"},
		{"?queue_type=all&page-size=3&current-page=2", "tagged"},
		{"?queue_type=all&page-size=3&current-page=3", ""},
		{"?queue_type=all&tags=team=bi", "tagged"},
		{"?queue_type=all&tags=team=bi,env=dev", ""},
		{"?queue_type=all&tags=env", "tagged"},
		{"?queue_type=all&with-priv=true&with-charge-info=false", "default,etl,flinkq,tagged"},
	}
	for _, tc := range tests {
		got := strings.Join(qNames(t, qOK(t, srv, "GET", base+tc.query, nil)), ",")
		if got != tc.want {
			t.Errorf("%s: queues %q, want %q", tc.query, got, tc.want)
		}
	}
}

func TestListQueuesValidation(t *testing.T) {
	srv := qServer(t)
	base := "/v1.0/" + qProj + "/queues"
	for _, tc := range []struct{ query, frag string }{
		{"?queue_type=spark", "queue_type"},
		{"?page-size=0", "page-size"},
		{"?page-size=x", "page-size"},
		{"?current-page=-1", "current-page"},
		{"?order=size", "order"},
		{"?with-priv=maybe", "with-priv"},
		{"?tags==x", "tags"},
	} {
		status, raw := call(t, srv, "GET", base+tc.query, nil)
		qWantErr(t, status, raw, 400, "DLI.0001", tc.frag)
	}
	status, raw := call(t, srv, "GET", "/v1.0/other-project/queues", nil)
	qWantErr(t, status, raw, 404, "DLI.0002", "other-project")
}

func TestShowQueue(t *testing.T) {
	srv := qServer(t)
	status, raw := call(t, srv, "GET", "/v1.0/"+qProj+"/queues/nope", nil)
	qWantErr(t, status, raw, 400, "DLI.0008", "There is no queue named nope")
	// Queue names are case-insensitive.
	var r map[string]any
	if err := json.Unmarshal(qOK(t, srv, "GET", "/v1.0/"+qProj+"/queues/ETL", nil), &r); err != nil {
		t.Fatal(err)
	}
	if r["queueName"] != "etl" || r["cuCount"] != float64(64) || r["queueType"] != "sql" || r["is_success"] != true {
		t.Fatalf("show queue: %v", r)
	}
}

func TestQueueActionValidation(t *testing.T) {
	path := "/v1.0/" + qProj + "/queues/%s/action"
	tests := []struct {
		name   string
		queue  string
		body   any
		status int
		code   string
		frag   string
	}{
		{"unknown queue", "nope", map[string]any{"action": "scale_out", "cu_count": 16}, 400, "DLI.0008", "no queue named nope"},
		{"no action", "etl", map[string]any{"cu_count": 16}, 400, "DLI.0001", "action is required"},
		{"bad action", "etl", map[string]any{"action": "stop"}, 400, "DLI.0001", `action "stop"`},
		{"no cu_count", "etl", map[string]any{"action": "scale_out"}, 400, "DLI.0001", "cu_count is required"},
		{"cu_count not multiple of 16", "etl", map[string]any{"action": "scale_out", "cu_count": 20}, 400, "DLI.0001", "multiple of 16"},
		{"cu_count zero", "etl", map[string]any{"action": "scale_in", "cu_count": 0}, 400, "DLI.0001", "multiple of 16"},
		{"cu_count negative", "etl", map[string]any{"action": "scale_in", "cu_count": -16}, 400, "DLI.0001", "multiple of 16"},
		{"above scale-out limit", "etl", map[string]any{"action": "scale_out", "cu_count": 208}, 400, "DLI.0001", "scale-out limit of 256"},
		{"below scale-in limit", "etl", map[string]any{"action": "scale_in", "cu_count": 64}, 400, "DLI.0001", "scale-in limit of 16"},
		{"below scale-in limit general", "flinkq", map[string]any{"action": "scale_in", "cu_count": 80}, 400, "DLI.0001", "scale-in limit of 64"},
		{"restart general queue", "flinkq", map[string]any{"action": "restart"}, 400, "DLI.0007", "Only queues for SQL jobs"},
		{"bad force", "etl", map[string]any{"action": "restart", "force": "perhaps"}, 400, "DLI.0001", "invalid request body"},
		{"broken JSON", "etl", `{"action":`, 400, "DLI.0001", "invalid request body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := qServer(t)
			status, raw := call(t, srv, "PUT", strings.Replace(path, "%s", tc.queue, 1), tc.body)
			qWantErr(t, status, raw, tc.status, tc.code, tc.frag)
			if q := qState(t, srv, "etl"); q.CUCount != 64 || q.PendingScale != nil {
				t.Fatalf("a refused action changed the queue: %+v", q)
			}
		})
	}
}

func TestScaleTakesScaleDelay(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true, Start: qStart, Timing: Timing{ScaleDelay: 90 * time.Second}})
	if err := srv.AddQueue(QueueSpec{Name: "etl", CUCount: 64, MaxCU: 256}); err != nil {
		t.Fatal(err)
	}
	path := "/v1.0/" + qProj + "/queues/etl/action"
	golden(t, "queues_scale_response", qOK(t, srv, "PUT", path, map[string]any{"action": "scale_out", "cu_count": 32}))
	q := qState(t, srv, "etl")
	if q.CUCount != 64 || q.Status != QueueScaling || q.PendingScale == nil || q.PendingScale.TargetCU != 96 ||
		!q.PendingScale.DueAt.Equal(qStart.Add(90*time.Second)) {
		t.Fatalf("right after scale_out: %+v", q)
	}
	// Busy while scaling.
	status, raw := call(t, srv, "PUT", path, map[string]any{"action": "scale_in", "cu_count": 16})
	qWantErr(t, status, raw, 400, "DLI.0999", "busy (scaling)")
	status, raw = call(t, srv, "PUT", path, map[string]any{"action": "restart"})
	qWantErr(t, status, raw, 400, "DLI.0999", "busy")

	srv.Advance(89 * time.Second)
	if q := qState(t, srv, "etl"); q.CUCount != 64 {
		t.Fatalf("CUs changed before ScaleDelay: %+v", q)
	}
	srv.Advance(time.Second)
	q = qState(t, srv, "etl")
	if q.CUCount != 96 || q.Status != QueueAvailable || q.PendingScale != nil {
		t.Fatalf("after ScaleDelay: %+v", q)
	}
	if len(q.CUChanges) != 1 || q.CUChanges[0] != (CUChange{At: qStart.Add(90 * time.Second), FromCU: 64, ToCU: 96, Cause: "scale_out"}) {
		t.Fatalf("cu_changes: %+v", q.CUChanges)
	}
	// Show queue (6.4) reports the new CUs.
	var show struct {
		CUCount int `json:"cuCount"`
	}
	_ = json.Unmarshal(qOK(t, srv, "GET", "/v1.0/"+qProj+"/queues/etl", nil), &show)
	if show.CUCount != 96 {
		t.Fatalf("show queue cuCount %d, want 96", show.CUCount)
	}
	qOK(t, srv, "PUT", path, map[string]any{"action": "scale_in", "cu_count": 64})
	srv.Advance(90 * time.Second)
	if q := qState(t, srv, "etl"); q.CUCount != 32 || q.CUChanges[1].Cause != "scale_in" {
		t.Fatalf("after scale_in: %+v", q)
	}
}

func TestRestart(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true, Start: qStart, Timing: Timing{RestartTime: time.Minute}})
	if err := srv.AddQueue(QueueSpec{Name: "etl", CUCount: 64}); err != nil {
		t.Fatal(err)
	}
	path := "/v1.0/" + qProj + "/queues/etl/action"
	golden(t, "queues_restart_response", qOK(t, srv, "PUT", path, map[string]any{"action": "restart", "force": "false"}))
	if q := qState(t, srv, "etl"); q.Status != QueueRestarting || q.Restarts != 1 {
		t.Fatalf("restarting: %+v", q)
	}
	var list struct {
		Queues []struct {
			IsRestarting bool `json:"is_restarting"`
		} `json:"queues"`
	}
	_ = json.Unmarshal(qOK(t, srv, "GET", "/v1.0/"+qProj+"/queues", nil), &list)
	if len(list.Queues) != 1 || !list.Queues[0].IsRestarting {
		t.Fatalf("is_restarting not reported: %+v", list)
	}
	status, raw := call(t, srv, "PUT", path, map[string]any{"action": "scale_out", "cu_count": 16})
	qWantErr(t, status, raw, 400, "DLI.0999", "busy (restarting)")
	srv.Advance(time.Minute)
	if q := qState(t, srv, "etl"); q.Status != QueueAvailable {
		t.Fatalf("after RestartTime: %+v", q)
	}
	var forced struct {
		IsSuccess bool   `json:"is_success"`
		JobID     string `json:"job_id"`
	}
	_ = json.Unmarshal(qOK(t, srv, "PUT", path, map[string]any{"action": "restart", "force": true}), &forced)
	if !forced.IsSuccess || len(forced.JobID) != 36 {
		t.Fatalf("forced restart: %+v", forced)
	}
}

func TestAdminQueues(t *testing.T) {
	srv := NewServer(t, Options{Start: qStart}) // admin needs no signature
	tests := []struct {
		body   any
		status int
		code   string
		frag   string
	}{
		{map[string]any{"queue_name": "Etl", "queue_type": "sql", "cu_count": 64}, 201, "", ""},
		{map[string]any{"queue_name": "etl", "cu_count": 16}, 409, "DLI.0006", "already exists"},
		{map[string]any{"queue_name": "", "cu_count": 16}, 400, "DLI.0001", "queue_name is required"},
		{map[string]any{"queue_name": "_x", "cu_count": 16}, 400, "DLI.0001", "underscore"},
		{map[string]any{"queue_name": "123", "cu_count": 16}, 400, "DLI.0001", "only digits"},
		{map[string]any{"queue_name": "a-b", "cu_count": 16}, 400, "DLI.0001", "letters, digits and underscores"},
		{map[string]any{"queue_name": strings.Repeat("a", 129), "cu_count": 16}, 400, "DLI.0001", "1 to 128"},
		{map[string]any{"queue_name": "q", "queue_type": "spark", "cu_count": 16}, 400, "DLI.0001", "queue_type"},
		{map[string]any{"queue_name": "q", "cu_count": 24}, 400, "DLI.0001", "cu_count 24 must be a positive multiple of 16"},
		{map[string]any{"queue_name": "q", "cu_count": 16, "min_cu": 32}, 400, "DLI.0001", "min_cu ≤ cu_count"},
		{map[string]any{"queue_name": "q", "cu_count": 64, "max_cu": 32}, 400, "DLI.0001", "cu_count ≤ max_cu"},
		{`{"queue_name":`, 400, "DLI.0001", "invalid request body"},
		{map[string]any{"queue_name": "gen", "queue_type": "general", "cu_count": 32, "min_cu": 16, "max_cu": 64}, 201, "", ""},
	}
	for _, tc := range tests {
		status, raw := call(t, srv, "POST", "/_emulator/queues", tc.body)
		if tc.code == "" {
			if status != tc.status {
				t.Fatalf("%v: %d %s", tc.body, status, raw)
			}
			continue
		}
		qWantErr(t, status, raw, tc.status, tc.code, tc.frag)
	}
	if q := qState(t, srv, "gen"); q.Type != "general" || q.CUCount != 32 || q.MinCU != 16 || q.MaxCU != 64 || q.Owner != "emulator" {
		t.Fatalf("gen: %+v", q)
	}
	if q := qState(t, srv, "etl"); q.MinCU != 16 || q.MaxCU != 256 || !q.CreateTime.Equal(qStart) {
		t.Fatalf("defaults: %+v", q)
	}
	if q, ok := srv.Queue("ETL"); !ok || q.Name != "etl" || q.CUCount != 64 {
		t.Fatalf("Queue(ETL): %+v %v", q, ok)
	}
	if _, ok := srv.Queue("nope"); ok {
		t.Fatal("Queue(nope) found")
	}
	srv.Emulator.mu.Lock()
	ok := srv.queueExists("ETL") && !srv.queueExists("nope")
	srv.Emulator.mu.Unlock()
	if !ok {
		t.Fatal("queueExists")
	}
}

func TestQueuesGolden(t *testing.T) {
	srv := qServer(t)
	golden(t, "queues_list", qOK(t, srv, "GET", "/v1.0/"+qProj+"/queues?queue_type=all", nil))
	golden(t, "queues_show", qOK(t, srv, "GET", "/v1.0/"+qProj+"/queues/etl", nil))
	status, raw := call(t, srv, "GET", "/v1.0/"+qProj+"/queues/nope", nil)
	if status != 400 {
		t.Fatal(status)
	}
	golden(t, "queues_error", raw)
}

// TestAdvanceBeforeAnyRequest: a clock jump right after start fires the
// plans it passes (nothing has caught up before).
func TestAdvanceBeforeAnyRequest(t *testing.T) {
	for _, rt := range []bool{false, true} {
		e, err := New(Options{Seed: "demo", Start: qStart, RealTime: rt})
		if err != nil {
			t.Fatal(err)
		}
		e.Advance(24 * time.Hour)
		for _, q := range e.Snapshot().Queues {
			if q.Name == "etl" && len(q.PlanFirings) != 2 {
				t.Fatalf("real time %v: etl firings %+v, want nightly_up and morning_down", rt, q.PlanFirings)
			}
		}
	}
}

func TestDemoSeedQueues(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true, Seed: "demo", Start: qStart})
	s := srv.Snapshot()
	var names []string
	for _, q := range s.Queues {
		names = append(names, q.Name)
	}
	if strings.Join(names, ",") != "adhoc,default,etl,prod" {
		t.Fatalf("demo queues: %v", names)
	}
	var etlPlans int
	for _, p := range s.Plans {
		if p.QueueName == "etl" {
			etlPlans++
		}
	}
	if etlPlans != 2 {
		t.Fatalf("demo etl plans: %+v", s.Plans)
	}
	// The nightly plan fires at 01:00 UTC: etl goes to 128 CUs, then back to 64 at 07:00.
	srv.Advance(16 * time.Hour) // 02:00 next day
	if q := qState(t, srv, "etl"); q.CUCount != 128 || len(q.PlanFirings) != 1 || q.PlanFirings[0].PlanName != "nightly_up" {
		t.Fatalf("after 01:00: %+v", q)
	}
	srv.Advance(6 * time.Hour)
	if q := qState(t, srv, "etl"); q.CUCount != 64 || len(q.PlanFirings) != 2 {
		t.Fatalf("after 07:00: %+v", q)
	}
}

// TestQueuesConcurrent: API calls, admin reads and clock advances from many
// goroutines (run with -race).
func TestQueuesConcurrent(t *testing.T) {
	srv := qServer(t)
	qOK(t, srv, "POST", "/v1/"+qProj+"/queues/etl/plans", map[string]any{"plan_name": "up", "target_cu": 128,
		"start_hour": 11, "start_minute": 0, "repeat_day": []string{"MONDAY", "TUESDAY"}})
	done := make(chan struct{})
	errs := make(chan string, 6*30)
	for g := 0; g < 6; g++ {
		go func(g int) {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 30; i++ {
				path := ""
				switch (g + i) % 4 {
				case 0:
					path = "/v1.0/" + qProj + "/queues?queue_type=all"
				case 1:
					path = "/v1.0/" + qProj + "/queues/etl"
				case 2:
					path = "/_emulator/state"
				case 3:
					srv.Advance(17 * time.Minute)
					continue
				}
				// Not qCall: t.Fatal must not run outside the test goroutine.
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					errs <- err.Error()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- path + ": " + resp.Status
				}
			}
		}(g)
	}
	for g := 0; g < 6; g++ {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if q := qState(t, srv, "etl"); len(q.PlanFirings) == 0 {
		t.Fatalf("no firing after %v of advances: %+v", 6*30/4*17*time.Minute, q)
	}
}
