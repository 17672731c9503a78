package dlitest

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1/model"
)

const sparkBase = "/v2.0/emulator-project/batches"

type sparkListAnswer struct {
	From     int64       `json:"from"`
	Total    int64       `json:"total"`
	Sessions []batchJSON `json:"sessions"`
}

type sparkLogAnswer struct {
	ID    string   `json:"id"`
	From  int64    `json:"from"`
	Total int64    `json:"total"`
	Log   []string `json:"log"`
}

func createBatch(t testing.TB, srv *Server, body any) batchJSON {
	t.Helper()
	var b batchJSON
	callJSON(t, srv, "POST", sparkBase, body, &b)
	return b
}

func batchState(t testing.TB, e *Emulator, id string) BatchState {
	t.Helper()
	st, ok := e.Batch(id)
	if !ok {
		t.Fatalf("batch %s missing", id)
	}
	return st
}

func TestSparkCreateValidation(t *testing.T) {
	srv := newJobsServer(t)
	const ok = `"file":"app.jar","class_name":"a.Main","queue":"etl"`
	for _, tc := range []struct{ name, body, frag string }{
		{"not json", `{"file":`, "invalid request body"},
		{"empty", `{}`, "file is mandatory"},
		{"blank file", `{"file":"  ","class_name":"a.Main","queue":"etl"}`, "file is mandatory"},
		{"jar without class", `{"file":"app.jar","queue":"etl"}`, "class_name (className) is mandatory"},
		{"class spellings disagree", `{"file":"app.jar","class_name":"a.A","className":"a.B","queue":"etl"}`, "class_name and className disagree"},
		{"no queue", `{"file":"app.jar","class_name":"a.Main"}`, "queue is mandatory"},
		{"queue and cluster_name", `{"file":"app.jar","class_name":"a.Main","queue":"etl","cluster_name":"etl"}`, "cannot coexist"},
		{"queue starts with underscore", `{"file":"app.jar","class_name":"a.Main","queue":"_etl"}`, "queue name \"_etl\" is invalid"},
		{"queue only digits", `{"file":"app.jar","class_name":"a.Main","cluster_name":"123"}`, "queue name \"123\" is invalid"},
		{"queue with dash", `{"file":"app.jar","class_name":"a.Main","queue":"my-q"}`, "is invalid"},
		{"long name", `{` + ok + `,"name":"` + strings.Repeat("n", 129) + `"}`, "name must be at most 128"},
		{"bad sc_type", `{` + ok + `,"sc_type":"D"}`, `sc_type "D" is invalid`},
		{"memory without unit", `{` + ok + `,"driver_memory":"2048"}`, "driver_memory must be a size with its unit"},
		{"sdk memory without unit", `{` + ok + `,"executorMemory":"lots"}`, "executor_memory must be a size with its unit"},
		{"zero executor cores", `{` + ok + `,"executor_cores":0}`, "executor_cores must be at least 1"},
		{"negative executors", `{` + ok + `,"numExecutors":-2}`, "num_executors must be at least 1"},
		{"cores spellings disagree", `{` + ok + `,"driver_cores":2,"driverCores":4}`, "driver_cores and driverCores disagree"},
		{"cores not a number", `{` + ok + `,"driver_cores":"two"}`, "invalid request body"},
		{"retries too many", `{` + ok + `,"max_retry_times":101}`, "max_retry_times must be between 0 and 100"},
		{"retries negative", `{` + ok + `,"max_retry_times":-1}`, "max_retry_times must be between 0 and 100"},
		{"recover spellings disagree", `{` + ok + `,"auto_recover":true,"auto_recovery":false}`, "auto_recover and auto_recovery disagree"},
		{"catalog", `{` + ok + `,"catalog_name":"hive"}`, `catalog_name must be "dli"`},
		{"custom feature without image", `{` + ok + `,"feature":"custom"}`, "image is mandatory"},
		{"bad feature", `{` + ok + `,"feature":"gpu"}`, `feature "gpu" is invalid`},
		{"conf not an object", `{` + ok + `,"conf":"spark.x=1"}`, "conf must be a JSON object"},
		{"conf a number", `{` + ok + `,"conf":5}`, "conf must be a JSON object"},
		{"resource without name", `{` + ok + `,"resources":[{"type":"jar"}]}`, "resources[0].name is mandatory"},
		{"group without name", `{` + ok + `,"groups":[{"resources":[]}]}`, "groups[0].name is mandatory"},
		{"args not an array", `{` + ok + `,"args":"-o x"}`, "invalid request body"},
		{"py files disagree", `{` + ok + `,"python_files":["a.py"],"pyFiles":["b.py"]}`, "python_files and pyFiles disagree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, raw := call(t, srv, "POST", sparkBase, tc.body)
			checkError(t, status, raw, http.StatusBadRequest, "DLI.0001", tc.frag)
		})
	}
	if len(srv.Snapshot().SparkBatches) != 0 {
		t.Fatal("a rejected request created a batch")
	}
	srv.mu.Lock()
	missingQueue := !srv.queueExists("no_such_queue")
	srv.mu.Unlock()
	if !missingQueue {
		t.Log("queueExists is still a stub; the unknown-queue case is not checked")
		return
	}
	status, raw := call(t, srv, "POST", sparkBase, `{"file":"app.jar","class_name":"a.Main","queue":"no_such_queue"}`)
	checkError(t, status, raw, http.StatusBadRequest, "DLI.0002", "There is no queue named no_such_queue")
}

func TestSparkCreateSpellings(t *testing.T) {
	srv := newJobsServer(t)
	ref := createBatch(t, srv, `{"file":"app.jar","class_name":"a.Main","queue":"etl","name":"ref",
		"driver_memory":"3 GB","driver_cores":4,"executor_memory":"2048M","executor_cores":2,"num_executors":9,
		"python_files":["x.py"],"auto_recover":true,"max_retry_times":3}`)
	sdk := createBatch(t, srv, `{"file":"app.jar","className":"a.Main","queue":"etl","name":"sdk",
		"driverMemory":"3 GB","driverCores":4,"executorMemory":"2048M","executorCores":2,"numExecutors":9,
		"pyFiles":["x.py"],"auto_recovery":true,"max_retry_times":3}`)
	for _, b := range []batchJSON{ref, sdk} {
		if b.ScType != "CUSTOMIZED" || b.State != BatchStarting || b.Queue != "etl" || b.ClusterName != "etl" || b.Kind != "spark" {
			t.Errorf("%s: %+v", b.Name, b)
		}
		log, _ := srv.BatchLog(b.ID)
		if want := "driver 4 cores/3GB, 9 executors of 2 cores/2048M"; !strings.Contains(strings.Join(log, "\n"), want) {
			t.Errorf("%s: log lacks %q:\n%s", b.Name, want, strings.Join(log, "\n"))
		}
	}
	py := createBatch(t, srv, `{"file":"obs://bucket/job.py","cluster_name":"adhoc","sc_type":"c"}`)
	if py.Kind != "pyspark" || py.Queue != "adhoc" || py.ScType != "C" {
		t.Errorf("python batch %+v", py)
	}
	var detail batchJSON
	callJSON(t, srv, "GET", sparkBase+"/"+ref.ID, nil, &detail)
	if !strings.Contains(detail.ReqBody, `"class_name":"a.Main"`) {
		t.Errorf("req_body %q", detail.ReqBody)
	}
}

func TestSparkLifecycle(t *testing.T) {
	srv := newJobsServer(t)
	tm := srv.Options().Timing
	b := createBatch(t, srv, map[string]any{"file": "app.jar", "class_name": "a.Main", "queue": "etl", "name": "good"})
	if b.State != BatchStarting || b.AppID != "" || len(b.Log) != 3 || b.CreateTime != jobsStart.UnixMilli() {
		t.Fatalf("created %+v", b)
	}
	srv.Advance(tm.SparkStart - time.Millisecond)
	if st := batchState(t, srv.Emulator, b.ID); st.State != BatchStarting {
		t.Fatalf("before SparkStart: %s", st.State)
	}
	srv.Advance(time.Millisecond)
	st := batchState(t, srv.Emulator, b.ID)
	if st.State != BatchRunning || !strings.HasPrefix(st.AppID, "application_") || st.LogLines != 5 {
		t.Fatalf("after SparkStart: %+v", st)
	}
	srv.Advance(tm.SparkRun / 2)
	if st := batchState(t, srv.Emulator, b.ID); st.LogLines != 8 {
		t.Fatalf("half way: %d log lines, want 8 (3 progress lines)", st.LogLines)
	}
	srv.Advance(tm.SparkRun / 2)
	st = batchState(t, srv.Emulator, b.ID)
	if st.State != BatchSuccess || st.LogLines != 12 || st.EndTime == nil {
		t.Fatalf("after SparkRun: %+v", st)
	}
	var state struct{ ID, State string }
	callJSON(t, srv, "GET", sparkBase+"/"+b.ID+"/state", nil, &state)
	if state.ID != b.ID || state.State != "success" {
		t.Fatalf("state answer %+v", state)
	}
	var list sparkListAnswer
	callJSON(t, srv, "GET", sparkBase+"?job_id="+b.ID, nil, &list)
	if list.Sessions[0].Duration != tm.SparkRun.Milliseconds() || len(list.Sessions[0].Log) != 10 {
		t.Fatalf("listed %+v", list.Sessions[0])
	}
	status, raw := call(t, srv, "DELETE", sparkBase+"/"+b.ID, nil)
	checkError(t, status, raw, http.StatusBadRequest, "DLI.0007", "is in state success and cannot be canceled")
}

func TestSparkFailMarker(t *testing.T) {
	srv := newJobsServer(t)
	tm := srv.Options().Timing
	plain := createBatch(t, srv, map[string]any{"file": "app.jar", "class_name": "a.Main", "queue": "etl", "name": "load_FAIL"})
	retry := createBatch(t, srv, map[string]any{"file": "app.jar", "class_name": "a.Main", "queue": "etl", "name": "retry_FAIL",
		"auto_recover": true, "max_retry_times": 2})
	srv.Advance(tm.SparkStart + tm.SparkRun)
	st := batchState(t, srv.Emulator, plain.ID)
	if st.State != BatchDead {
		t.Fatalf("FAIL batch: %s", st.State)
	}
	log, _ := srv.BatchLog(plain.ID)
	if !strings.Contains(log[len(log)-1], "ERROR") || !strings.Contains(log[len(log)-2], "ERROR") {
		t.Fatalf("FAIL batch log ends %q", log[len(log)-2:])
	}
	if st := batchState(t, srv.Emulator, retry.ID); st.State != BatchRecovering || st.Retries != 1 {
		t.Fatalf("retrying batch after one run: %+v", st)
	}
	srv.Advance(tm.SparkStart)
	if st := batchState(t, srv.Emulator, retry.ID); st.State != BatchRunning {
		t.Fatalf("retrying batch after recovery: %s", st.State)
	}
	srv.Advance(2 * (tm.SparkStart + tm.SparkRun))
	st = batchState(t, srv.Emulator, retry.ID)
	if st.State != BatchDead || st.Retries != 2 {
		t.Fatalf("retrying batch at the end: %+v", st)
	}
	var logs sparkLogAnswer
	callJSON(t, srv, "GET", sparkBase+"/"+retry.ID+"/log?type=driver&index=2", nil, &logs)
	if n := strings.Count(strings.Join(logs.Log, "\n"), "final status: FAILED"); n != 3 {
		t.Fatalf("%d failed attempts in the log, want 3", n)
	}
}

func TestSparkCancel(t *testing.T) {
	srv := newJobsServer(t)
	b := createBatch(t, srv, map[string]any{"file": "app.jar", "class_name": "a.Main", "queue": "etl"})
	var msg struct{ Msg string }
	callJSON(t, srv, "DELETE", sparkBase+"/"+b.ID, nil, &msg)
	if msg.Msg != "deleted" {
		t.Fatalf("cancel answer %+v", msg)
	}
	st := batchState(t, srv.Emulator, b.ID)
	if st.State != BatchDead || st.NextAt != nil {
		t.Fatalf("after cancel: %+v", st)
	}
	srv.Advance(time.Hour) // the superseded start never fires
	if st := batchState(t, srv.Emulator, b.ID); st.State != BatchDead {
		t.Fatalf("cancelled batch moved to %s", st.State)
	}
	running := createBatch(t, srv, map[string]any{"file": "app.jar", "class_name": "a.Main", "queue": "etl"})
	srv.Advance(srv.Options().Timing.SparkStart)
	callJSON(t, srv, "DELETE", sparkBase+"/"+running.ID, nil, &msg)
	log, _ := srv.BatchLog(running.ID)
	if !strings.Contains(log[len(log)-1], "killed on user request") {
		t.Fatalf("log after cancel ends %q", log[len(log)-1])
	}
	for _, tc := range []struct {
		name, id   string
		code, frag string
	}{
		{"again", b.ID, "DLI.0007", "is in state dead and cannot be canceled"},
		{"unknown", "0a324461-d9d9-45da-a52a-3b3c7a3d809e", "DLI.0002", "does not exist"},
		{"bad id", "not-a-uuid!", "DLI.0001", "is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, raw := call(t, srv, "DELETE", sparkBase+"/"+tc.id, nil)
			checkError(t, status, raw, http.StatusBadRequest, tc.code, tc.frag)
		})
	}
	for _, p := range []string{"", "/state", "/log"} {
		status, raw := call(t, srv, "GET", sparkBase+"/0a324461-d9d9-45da-a52a-3b3c7a3d809e"+p, nil)
		checkError(t, status, raw, http.StatusBadRequest, "DLI.0002", "does not exist")
	}
}

func TestSparkListValidation(t *testing.T) {
	srv := newJobsServer(t)
	for _, tc := range []struct{ query, frag string }{
		{"from=-1", "from must be an integer ≥ 0"},
		{"from=a", "from must be an integer ≥ 0"},
		{"size=0", "size must be an integer ≥ 1"},
		{"size=-5", "size must be an integer ≥ 1"},
		{"state=finished", `state "finished" is invalid`},
		{"queue_name=_q", `queue_name "_q" is invalid`},
		{"cluster_name=a-b", `cluster_name "a-b" is invalid`},
		{"cluster_name=a&queue_name=b", "name different queues"},
		{"job_id=xyz", `job_id "xyz" is invalid`},
		{"job-id=zz", `job_id "zz" is invalid`},
		{"start=-1", "start must be an integer ≥ 0"},
		{"end=x", "end must be an integer ≥ 0"},
		{"start=10&end=5", "start (10) must not be after end (5)"},
		{"order=NAME_ASC", `order "NAME_ASC" is invalid`},
	} {
		t.Run(tc.query, func(t *testing.T) {
			status, raw := call(t, srv, "GET", sparkBase+"?"+tc.query, nil)
			checkError(t, status, raw, http.StatusBadRequest, "DLI.0001", tc.frag)
		})
	}
}

func TestSparkListFiltersAndPagination(t *testing.T) {
	srv := newJobsServer(t)
	queues := []string{"default", "etl", "adhoc"}
	var specs []BatchSpec
	for i := 0; i < 250; i++ {
		specs = append(specs, BatchSpec{
			Name:      fmt.Sprintf("batch_%03d", i),
			Queue:     queues[i%3],
			State:     BatchStates[i%len(BatchStates)],
			Owner:     []string{"alice", "bob"}[i%2],
			CreatedAt: jobsStart.Add(-time.Duration(250-i) * time.Minute),
		})
	}
	ids, err := srv.AddBatches(specs)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for page, wantLen := range []int{100, 100, 50, 0} {
		var list sparkListAnswer
		callJSON(t, srv, "GET", fmt.Sprintf("%s?size=100&from=%d", sparkBase, page*100), nil, &list)
		if list.Total != 250 || list.From != int64(page*100) || len(list.Sessions) != wantLen {
			t.Fatalf("page %d: from %d total %d len %d", page, list.From, list.Total, len(list.Sessions))
		}
		for _, s := range list.Sessions {
			seen = append(seen, s.ID)
		}
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(seen, want) {
		t.Fatal("default order is not newest first")
	}
	var asc sparkListAnswer
	callJSON(t, srv, "GET", sparkBase+"?order=CREATE_TIME_ASC&size=2&from=5", nil, &asc)
	if asc.Sessions[0].ID != ids[5] || asc.Sessions[1].ID != ids[6] {
		t.Fatal("create_time_asc order wrong")
	}
	var def sparkListAnswer
	callJSON(t, srv, "GET", sparkBase, nil, &def)
	if len(def.Sessions) != 100 {
		t.Fatalf("default size gave %d", len(def.Sessions))
	}

	count := func(pred func(s BatchSpec) bool) int64 {
		n := int64(0)
		for _, s := range specs {
			if pred(s) {
				n++
			}
		}
		return n
	}
	ms := func(i int) int64 { return specs[i].CreatedAt.UnixMilli() }
	for _, tc := range []struct {
		query string
		want  int64
	}{
		{"queue_name=etl", count(func(s BatchSpec) bool { return s.Queue == "etl" })},
		{"cluster_name=adhoc", count(func(s BatchSpec) bool { return s.Queue == "adhoc" })},
		{"state=dead", count(func(s BatchSpec) bool { return s.State == BatchDead })},
		{"state=RUNNING", count(func(s BatchSpec) bool { return s.State == BatchRunning })},
		{"owner=bob", count(func(s BatchSpec) bool { return s.Owner == "bob" })},
		{"job_name=BATCH_02", count(func(s BatchSpec) bool { return strings.Contains(s.Name, "batch_02") })},
		{"job_id=" + ids[17], 1},
		{"job-id=" + strings.ToUpper(ids[17]), 1},
		{fmt.Sprintf("start=%d", ms(200)), 50},
		{fmt.Sprintf("end=%d", ms(9)), 10},
		{fmt.Sprintf("start=%d&end=%d", ms(10), ms(19)), 10},
		{"queue_name=etl&state=success&owner=alice", count(func(s BatchSpec) bool {
			return s.Queue == "etl" && s.State == BatchSuccess && s.Owner == "alice"
		})},
		{"queue_name=nope", 0},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var list sparkListAnswer
			callJSON(t, srv, "GET", sparkBase+"?size=1000&"+tc.query, nil, &list)
			if list.Total != tc.want || int64(len(list.Sessions)) != tc.want {
				t.Fatalf("total %d, %d sessions, want %d", list.Total, len(list.Sessions), tc.want)
			}
		})
	}

	// Duration order: pinned final batches ran 0 ms, pinned running and
	// recovering ones run since their creation.
	var byDur sparkListAnswer
	callJSON(t, srv, "GET", sparkBase+"?order=duration_desc&size=3", nil, &byDur)
	if byDur.Sessions[0].Duration < byDur.Sessions[1].Duration || byDur.Sessions[0].Duration == 0 {
		t.Fatalf("duration_desc: %d, %d", byDur.Sessions[0].Duration, byDur.Sessions[1].Duration)
	}
	callJSON(t, srv, "GET", sparkBase+"?order=duration_asc&size=1000", nil, &byDur)
	for i := 1; i < len(byDur.Sessions); i++ {
		if byDur.Sessions[i].Duration < byDur.Sessions[i-1].Duration {
			t.Fatal("duration_asc not ascending")
		}
	}
}

func TestSparkLogPaging(t *testing.T) {
	srv := newJobsServer(t)
	lines := make([]string, 250)
	for i := range lines {
		lines[i] = fmt.Sprintf("line %d", i)
	}
	id, err := srv.AddBatch(BatchSpec{Name: "logs", State: BatchDead, Log: lines})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query       string
		from, n     int64
		first, last string
	}{
		{"", 150, 100, "line 150", "line 249"},
		{"from=0&size=10", 0, 10, "line 0", "line 9"},
		{"from=245", 245, 5, "line 245", "line 249"},
		{"from=300", 300, 0, "", ""},
		{"size=5&type=driver&index=0", 150, 5, "line 150", "line 154"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var l sparkLogAnswer
			callJSON(t, srv, "GET", sparkBase+"/"+id+"/log?"+tc.query, nil, &l)
			if l.ID != id || l.Total != 250 || l.From != tc.from || int64(len(l.Log)) != tc.n {
				t.Fatalf("answer id %s from %d total %d lines %d", l.ID, l.From, l.Total, len(l.Log))
			}
			if tc.n > 0 && (l.Log[0] != tc.first || l.Log[len(l.Log)-1] != tc.last) {
				t.Fatalf("lines %q … %q", l.Log[0], l.Log[len(l.Log)-1])
			}
			if tc.n == 0 && l.Log == nil {
				t.Fatal("log is null, want []")
			}
		})
	}
	for _, tc := range []struct{ query, frag string }{
		{"from=-1", "from must be"},
		{"size=0", "size must be"},
		{"type=executor", `type "executor" is invalid`},
		{"index=1", "index must be an integer between 0 and 0"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			status, raw := call(t, srv, "GET", sparkBase+"/"+id+"/log?"+tc.query, nil)
			checkError(t, status, raw, http.StatusBadRequest, "DLI.0001", tc.frag)
		})
	}
}

func TestSparkAdminAPI(t *testing.T) {
	srv := newJobsServer(t)
	var created struct {
		ID  string   `json:"id"`
		IDs []string `json:"ids"`
	}
	callJSON(t, srv, "POST", "/_emulator/spark/batches", map[string]any{
		"name": "adm", "queue": "etl", "state": "running", "log": []string{"first"}}, &created)
	st := batchState(t, srv.Emulator, created.ID)
	if st.State != BatchRunning || st.Queue != "etl" || st.AppID == "" || st.LogLines != 1 || st.NextAt != nil {
		t.Fatalf("created %+v", st)
	}
	srv.Advance(time.Hour)
	if st := batchState(t, srv.Emulator, created.ID); st.State != BatchRunning {
		t.Fatalf("pinned batch moved to %s", st.State)
	}
	var put BatchState
	callJSON(t, srv, "PUT", "/_emulator/spark/batches/"+created.ID, map[string]any{"state": "dead", "log": []string{"ERROR boom"}}, &put)
	if put.State != BatchDead || put.LogLines != 2 || put.EndTime == nil {
		t.Fatalf("after PUT: %+v", put)
	}
	callJSON(t, srv, "PUT", "/_emulator/spark/batches/"+created.ID, map[string]any{"log": []string{"only"}, "replace_log": true}, &put)
	if log, _ := srv.BatchLog(created.ID); !slices.Equal(log, []string{"only"}) || put.State != BatchDead {
		t.Fatalf("replaced log %q, state %s", log, put.State)
	}

	// Without a state the batch runs its lifecycle.
	callJSON(t, srv, "POST", "/_emulator/spark/batches", map[string]any{"name": "life"}, &created)
	srv.Advance(srv.Options().Timing.SparkStart + srv.Options().Timing.SparkRun)
	if st := batchState(t, srv.Emulator, created.ID); st.State != BatchSuccess || st.Queue != "default" {
		t.Fatalf("lifecycle batch %+v", st)
	}
	callJSON(t, srv, "POST", "/_emulator/spark/batches", map[string]any{"name": "many", "state": "success", "count": 4}, &created)
	if len(created.IDs) != 4 || created.IDs[0] != created.ID {
		t.Fatalf("bulk answer %+v", created)
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, frag               string
	}{
		{"bad state", "POST", "/_emulator/spark/batches", `{"name":"x","state":"finished"}`, 400, "DLI.0001", `state "finished" is invalid`},
		{"bad queue", "POST", "/_emulator/spark/batches", `{"name":"x","queue":"_q"}`, 400, "DLI.0001", "queue name"},
		{"long name", "POST", "/_emulator/spark/batches", `{"name":"` + strings.Repeat("x", 129) + `"}`, 400, "DLI.0001", "at most 128"},
		{"unknown queue", "POST", "/_emulator/spark/batches", `{"name":"x","queue":"nope"}`, 400, "DLI.0001", "There is no queue named nope"},
		{"bad count", "POST", "/_emulator/spark/batches", `{"count":100001}`, 400, "DLI.0001", "count must be"},
		{"bad json", "POST", "/_emulator/spark/batches", `[`, 400, "DLI.0001", "invalid request body"},
		{"put bad state", "PUT", "/_emulator/spark/batches/" + created.ID, `{"state":"done"}`, 400, "DLI.0001", `state "done" is invalid`},
		{"put unknown", "PUT", "/_emulator/spark/batches/abc", `{"state":"dead"}`, 404, "DLI.0002", "spark batch abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, raw := call(t, srv, tc.method, tc.path, tc.body)
			checkError(t, status, raw, tc.status, tc.code, tc.frag)
		})
	}
	if err := srv.SetBatchState("nope", BatchDead); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetBatchState on a missing batch: %v", err)
	}
	if _, err := srv.AddBatches([]BatchSpec{{Name: "ok"}, {Name: "bad", ScType: "Z"}}); err == nil {
		t.Error("AddBatches accepted an invalid spec")
	}
}

func TestSparkSeed(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true, Seed: "demo"})
	states := map[string]string{}
	for _, b := range srv.Snapshot().SparkBatches {
		states[b.Name] = b.State
	}
	want := map[string]string{"daily_sales_report": BatchSuccess, "nightly_ingest": BatchDead, "hourly_rollup": BatchRunning, "adhoc_exploration": BatchStarting, "backfill_FAIL": BatchStarting}
	for name, st := range want {
		if states[name] != st {
			t.Errorf("demo batch %s: state %q, want %q", name, states[name], st)
		}
	}
	var list sparkListAnswer
	callJSON(t, srv, "GET", sparkBase+"?state=dead", nil, &list)
	if list.Total != 1 || !strings.Contains(strings.Join(list.Sessions[0].Log, "\n"), "ERROR") {
		t.Fatalf("dead demo batch %+v", list)
	}
	srv.Advance(srv.Options().Timing.SparkStart + srv.Options().Timing.SparkRun)
	callJSON(t, srv, "GET", sparkBase+"?job_name=adhoc_exploration", nil, &list)
	if list.Sessions[0].State != BatchSuccess {
		t.Fatalf("the lifecycle demo batch is %s", list.Sessions[0].State)
	}
	callJSON(t, srv, "GET", sparkBase+"?job_name=backfill_FAIL", nil, &list)
	if list.Sessions[0].State != BatchDead {
		t.Fatalf("the failing demo batch is %s", list.Sessions[0].State)
	}
}

func TestSparkGolden(t *testing.T) {
	srv := newJobsServer(t)
	b := createBatch(t, srv, `{"file":"batchTest/spark-examples_2.11-2.1.0.luxor.jar","class_name":"org.apache.spark.examples.SparkPi",
		"sc_type":"A","jars":["demo-1.0.0.jar"],"files":["count.txt"],"queue":"etl","name":"TestDemo4"}`)
	if _, err := srv.AddBatch(BatchSpec{Name: "old_FAIL", Queue: "adhoc", State: BatchDead, CreatedAt: jobsStart.Add(-time.Hour),
		Log: []string{"stdout: ", "stderr: ", "YARN Diagnostics: "}}); err != nil {
		t.Fatal(err)
	}
	srv.Advance(srv.Options().Timing.SparkStart + srv.Options().Timing.SparkRun/2)
	for _, tc := range []struct{ name, method, path, body string }{
		{"spark_create", "POST", sparkBase, `{"file":"app.py","queue":"default","name":"py"}`},
		{"spark_detail", "GET", sparkBase + "/" + b.ID, ""},
		{"spark_list", "GET", sparkBase + "?size=2&from=1", ""},
		{"spark_state", "GET", sparkBase + "/" + b.ID + "/state", ""},
		{"spark_log", "GET", sparkBase + "/" + b.ID + "/log?from=2&size=4", ""},
		{"spark_cancel", "DELETE", sparkBase + "/" + b.ID, ""},
		{"spark_error_cancel_final", "DELETE", sparkBase + "/" + b.ID, ""},
	} {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		_, raw := call(t, srv, tc.method, tc.path, body)
		golden(t, tc.name, raw)
	}
}

// TestSparkSDKDecode drives every batch endpoint through the official SDK
// (signed, camelCase request bodies) and checks the answers decode.
func TestSparkSDKDecode(t *testing.T) {
	srv := withJobQueues(t, NewServer(t))
	c := sdkClient(t, srv)
	queue, name, mem, cores := "etl", "sdk_batch", "2G", int32(2)
	user := "dli_tester"
	created, err := c.CreateSparkJob(&model.CreateSparkJobRequest{UserId: &user, Body: &model.CreateSparkJobRequestBody{
		File: "app.jar", ClassName: "a.Main", Queue: &queue, Name: &name, DriverMemory: &mem, ExecutorCores: &cores,
		Conf: map[string]any{"spark.sql.shuffle.partitions": 8}}})
	if err != nil {
		t.Fatal(err)
	}
	if created.Id == nil || *created.State != BatchStarting || *created.Owner != user || *created.ScType != "CUSTOMIZED" || *created.Queue != "etl" || created.CreateTime == nil {
		t.Fatalf("create decoded %+v", created)
	}
	id := *created.Id
	srv.Advance(srv.Options().Timing.SparkStart)

	show, err := c.ShowSparkJob(&model.ShowSparkJobRequest{BatchId: id})
	if err != nil {
		t.Fatal(err)
	}
	if *show.State != BatchRunning || show.AppId == nil || !strings.HasPrefix(*show.AppId, "application_") || len(*show.Log) == 0 || *show.ProxyUser != user {
		t.Fatalf("detail decoded %+v", show)
	}
	state, err := c.ShowSparkJobStatus(&model.ShowSparkJobStatusRequest{BatchId: id})
	if err != nil {
		t.Fatal(err)
	}
	if state.State.Value() != model.GetShowSparkJobStatusResponseStateEnum().RUNNING.Value() {
		t.Fatalf("state decoded %v", state.State.Value())
	}
	from, size := int32(0), int32(3)
	logs, err := c.ShowSparkJobLog(&model.ShowSparkJobLogRequest{BatchId: id, From: &from, Size: &size})
	if err != nil {
		t.Fatal(err)
	}
	if *logs.Id != id || *logs.Total != 5 || len(*logs.Log) != 3 {
		t.Fatalf("log decoded %+v", logs)
	}
	st := model.GetListSparkJobsRequestStateEnum().RUNNING
	start, end, order := srv.Clock().Now().Add(-time.Hour).UnixMilli(), srv.Clock().Now().UnixMilli(), "CREATE_TIME_DESC"
	list, err := c.ListSparkJobs(&model.ListSparkJobsRequest{QueueName: &queue, State: &st, JobId: &id, Start: &start, End: &end, Order: &order, From: &from, Size: &size})
	if err != nil {
		t.Fatal(err)
	}
	if *list.Total != 1 || *(*list.Sessions)[0].Id != id || *list.From != 0 {
		t.Fatalf("list decoded %+v", list)
	}
	cancel, err := c.CancelSparkJob(&model.CancelSparkJobRequest{BatchId: id})
	if err != nil {
		t.Fatal(err)
	}
	if *cancel.Msg != "deleted" {
		t.Fatalf("cancel decoded %+v", cancel)
	}
	_, err = c.CancelSparkJob(&model.CancelSparkJobRequest{BatchId: id})
	var se *sdkerr.ServiceResponseError
	if !errors.As(err, &se) || se.StatusCode != 400 || se.ErrorCode != "DLI.0007" {
		t.Fatalf("second cancel through the SDK: %v", err)
	}
}

// BenchmarkSparkListPage lists one page of 100 out of 10,000 batches.
func BenchmarkSparkListPage(b *testing.B) {
	e := newJobsEmulator(b)
	specs := make([]BatchSpec, 10000)
	for i := range specs {
		specs[i] = BatchSpec{Name: fmt.Sprintf("b%05d", i), Queue: []string{"default", "etl"}[i%2], State: BatchSuccess}
	}
	if _, err := e.AddBatches(specs); err != nil {
		b.Fatal(err)
	}
	benchGet(b, e, sparkBase+"?size=100&from=2500&queue_name=etl")
}

// BenchmarkJobsCatchUpIdle is the per-request lifecycle cost with 10,000
// Flink jobs and 10,000 batches of which none is due.
func BenchmarkJobsCatchUpIdle(b *testing.B) {
	e := newJobsEmulator(b)
	fs := make([]FlinkJobSpec, 10000)
	bs := make([]BatchSpec, 10000)
	for i := range fs {
		fs[i] = FlinkJobSpec{Name: fmt.Sprintf("j%d", i)}
		bs[i] = BatchSpec{Name: fmt.Sprintf("b%d", i)} // lifecycle batches, all starting
	}
	if _, err := e.AddFlinkJobs(fs); err != nil {
		b.Fatal(err)
	}
	if _, err := e.AddBatches(bs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e.mu.Lock()
		e.catchUpLocked()
		e.mu.Unlock()
	}
}
