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

const flinkBase = "/v1.0/emulator-project/streaming/jobs"

// flinkListAnswer decodes 9.7 loosely enough to check is_success's type.
type flinkListAnswer struct {
	IsSuccess string `json:"is_success"`
	Message   string `json:"message"`
	JobList   struct {
		TotalCount int64           `json:"total_count"`
		Jobs       []flinkListItem `json:"jobs"`
	} `json:"job_list"`
}

type flinkDetailAnswer struct {
	IsSuccess string      `json:"is_success"`
	JobDetail flinkDetail `json:"job_detail"`
}

func addFlink(t testing.TB, e *Emulator, spec FlinkJobSpec) int64 {
	t.Helper()
	id, err := e.AddFlinkJob(spec)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func flinkStatus(t testing.TB, e *Emulator, id int64) string {
	t.Helper()
	st, ok := e.FlinkJob(id)
	if !ok {
		t.Fatalf("job %d missing", id)
	}
	return st.Status
}

func TestFlinkListValidation(t *testing.T) {
	srv := newJobsServer(t)
	for _, tc := range []struct{ query, frag string }{
		{"limit=0", "limit must be an integer between 1 and 100"},
		{"limit=101", "limit must be an integer between 1 and 100"},
		{"limit=ten", "limit must be an integer between 1 and 100"},
		{"offset=-1", "offset must be an integer ≥ 0"},
		{"offset=x", "offset must be an integer ≥ 0"},
		{"order=newest", `order "newest" is invalid`},
		{"status=job_canceled", `status "job_canceled" is invalid`},
		{"status=RUNNING", `status "RUNNING" is invalid`},
		{"job_type=spark", `job_type "spark" is invalid`},
		{"show_detail=yes", "show_detail must be true or false"},
		{"name=" + strings.Repeat("n", 58), "name must be 0 to 57 characters"},
		{"root_job_id=abc", "root_job_id must be an integer"},
		{"root_job_id=0", "root_job_id must be an integer"},
		{"tags==v", "tags \"=v\" is invalid"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			status, raw := call(t, srv, "GET", flinkBase+"?"+tc.query, nil)
			checkError(t, status, raw, http.StatusBadRequest, "DLI.0001", tc.frag)
		})
	}
}

func TestFlinkShowErrors(t *testing.T) {
	srv := newJobsServer(t)
	for _, tc := range []struct {
		id         string
		status     int
		code, frag string
	}{
		{"abc", 400, "DLI.0001", "job_id must be a positive integer"},
		{"0", 400, "DLI.0001", "job_id must be a positive integer"},
		{"-4", 400, "DLI.0001", "job_id must be a positive integer"},
		{"424242", 400, "DLI.0002", "The job 424242 does not exist."},
	} {
		t.Run(tc.id, func(t *testing.T) {
			status, raw := call(t, srv, "GET", flinkBase+"/"+tc.id, nil)
			checkError(t, status, raw, tc.status, tc.code, tc.frag)
		})
	}
	status, raw := call(t, srv, "GET", "/v1.0/other-project/streaming/jobs", nil)
	checkError(t, status, raw, http.StatusNotFound, "DLI.0002", "project other-project")
}

func TestFlinkBatchBodyValidation(t *testing.T) {
	srv := newJobsServer(t)
	many := make([]int64, maxFlinkBatch+1)
	for i := range many {
		many[i] = int64(i + 1)
	}
	for _, op := range []string{"run", "stop"} {
		for _, tc := range []struct {
			name string
			body any
			frag string
		}{
			{"not json", "{job_ids", "invalid request body"},
			{"no body", "", "invalid request body"},
			{"missing job_ids", `{"resume_savepoint": true}`, "job_ids is mandatory"},
			{"null job_ids", `{"job_ids": null}`, "job_ids is mandatory"},
			{"empty", `{"job_ids": []}`, "job_ids must not be empty"},
			{"zero id", `{"job_ids": [0]}`, "job_ids must be positive integers, got 0"},
			{"negative id", `{"job_ids": [5, -3]}`, "got -3"},
			{"string ids", `{"job_ids": ["5"]}`, "invalid request body"},
			{"too many", map[string]any{"job_ids": many}, "at most 1000 per request"},
			{"bad savepoint flag", `{"job_ids": [1], "trigger_savepoint": "yes", "resume_savepoint": "yes"}`, "invalid request body"},
		} {
			t.Run(op+"/"+tc.name, func(t *testing.T) {
				status, raw := call(t, srv, "POST", flinkBase+"/"+op, tc.body)
				checkError(t, status, raw, http.StatusBadRequest, "DLI.0001", tc.frag)
			})
		}
	}
}

func TestFlinkRunStopLifecycle(t *testing.T) {
	srv := newJobsServer(t)
	tm := srv.Options().Timing
	id := addFlink(t, srv.Emulator, FlinkJobSpec{Name: "life", QueueName: "etl"})
	if got := flinkStatus(t, srv.Emulator, id); got != FlinkJobInit {
		t.Fatalf("new job status %s", got)
	}

	var res []flinkBatchResult
	callJSON(t, srv, "POST", flinkBase+"/run", map[string]any{"job_ids": []int64{id}}, &res)
	if len(res) != 1 || res[0].IsSuccess != "true" || res[0].Message != flinkRunOK {
		t.Fatalf("run answer %+v", res)
	}
	if got := flinkStatus(t, srv.Emulator, id); got != FlinkJobSubmitting {
		t.Fatalf("after run: %s", got)
	}
	srv.Advance(tm.FlinkStart - time.Millisecond)
	if got := flinkStatus(t, srv.Emulator, id); got != FlinkJobSubmitting {
		t.Fatalf("just before FlinkStart: %s", got)
	}
	srv.Advance(time.Millisecond)
	st, _ := srv.FlinkJob(id)
	if st.Status != FlinkJobRunning || st.StartTime == nil || !st.StartTime.Equal(jobsStart.Add(tm.FlinkStart)) {
		t.Fatalf("after FlinkStart: %+v", st)
	}

	// Running it again is refused in its array element.
	callJSON(t, srv, "POST", flinkBase+"/run", map[string]any{"job_ids": []int64{id}}, &res)
	if res[0].IsSuccess != "false" || !strings.Contains(res[0].Message, "is in status job_running and cannot be started") {
		t.Fatalf("second run: %+v", res)
	}

	srv.Advance(time.Minute)
	var detail flinkDetailAnswer
	callJSON(t, srv, "GET", fmt.Sprintf("%s/%d", flinkBase, id), nil, &detail)
	var list flinkListAnswer
	callJSON(t, srv, "GET", flinkBase+"?name=life", nil, &list)
	if d := list.JobList.Jobs[0].Duration; d != time.Minute.Milliseconds() {
		t.Errorf("duration while running %d ms, want 60000", d)
	}

	callJSON(t, srv, "POST", flinkBase+"/stop", map[string]any{"job_ids": []int64{id}}, &res)
	if res[0].IsSuccess != "true" || res[0].Message != flinkStopOK {
		t.Fatalf("stop answer %+v", res)
	}
	if got := flinkStatus(t, srv.Emulator, id); got != FlinkJobCanceling {
		t.Fatalf("after stop: %s", got)
	}
	srv.Advance(tm.FlinkStop)
	if got := flinkStatus(t, srv.Emulator, id); got != FlinkJobCancelSuccess {
		t.Fatalf("after FlinkStop: %s", got)
	}
	srv.Advance(time.Hour) // the duration stops growing once stopped
	callJSON(t, srv, "GET", flinkBase+"?name=life", nil, &list)
	if d, want := list.JobList.Jobs[0].Duration, (time.Minute + tm.FlinkStop).Milliseconds(); d != want {
		t.Errorf("duration after stop %d ms, want %d (it runs until canceled)", d, want)
	}

	callJSON(t, srv, "POST", flinkBase+"/stop", map[string]any{"job_ids": []int64{id}}, &res)
	if res[0].IsSuccess != "false" || !strings.Contains(res[0].Message, "is in status job_cancel_success and cannot be stopped") {
		t.Fatalf("second stop: %+v", res)
	}

	// A stopped job runs again.
	callJSON(t, srv, "POST", flinkBase+"/run", map[string]any{"job_ids": []int64{id}, "resume_savepoint": true}, &res)
	if res[0].IsSuccess != "true" {
		t.Fatalf("rerun: %+v", res)
	}
	srv.Advance(tm.FlinkStart)
	if got := flinkStatus(t, srv.Emulator, id); got != FlinkJobRunning {
		t.Fatalf("rerun: %s", got)
	}
}

func TestFlinkStopWithSavepoint(t *testing.T) {
	srv := newJobsServer(t)
	tm := srv.Options().Timing
	id := addFlink(t, srv.Emulator, FlinkJobSpec{Name: "sp", Status: FlinkJobRunning})
	var res []flinkBatchResult
	callJSON(t, srv, "POST", flinkBase+"/stop", map[string]any{"job_ids": []int64{id}, "trigger_savepoint": true}, &res)
	if res[0].IsSuccess != "true" {
		t.Fatalf("stop: %+v", res)
	}
	steps := []string{FlinkJobSavepointing, FlinkJobCanceling, FlinkJobCancelSuccess}
	for i, want := range steps {
		if i > 0 {
			srv.Advance(tm.FlinkStop)
		}
		if got := flinkStatus(t, srv.Emulator, id); got != want {
			t.Fatalf("step %d: %s, want %s", i, got, want)
		}
	}
	var detail flinkDetailAnswer
	callJSON(t, srv, "GET", fmt.Sprintf("%s/%d", flinkBase, id), nil, &detail)
	if detail.JobDetail.SavepointPath == nil || !strings.HasPrefix(*detail.JobDetail.SavepointPath, "obs://") {
		t.Errorf("savepoint_path %v", detail.JobDetail.SavepointPath)
	}
	var list flinkListAnswer
	callJSON(t, srv, "GET", flinkBase+"?name=sp", nil, &list)
	if !list.JobList.Jobs[0].HasSavepoint {
		t.Error("has_savepoint false after a savepoint")
	}
}

func TestFlinkStopWhileSubmitting(t *testing.T) {
	srv := newJobsServer(t)
	tm := srv.Options().Timing
	id := addFlink(t, srv.Emulator, FlinkJobSpec{Name: "early"})
	var res []flinkBatchResult
	callJSON(t, srv, "POST", flinkBase+"/run", map[string]any{"job_ids": []int64{id}}, &res)
	srv.Advance(tm.FlinkStart / 2)
	callJSON(t, srv, "POST", flinkBase+"/stop", map[string]any{"job_ids": []int64{id}, "trigger_savepoint": true}, &res)
	if res[0].IsSuccess != "true" {
		t.Fatalf("stop: %+v", res)
	}
	// The run's pending transition is superseded: it never reaches running,
	// and without a running job there is no savepoint.
	srv.Advance(tm.FlinkStart)
	st, _ := srv.FlinkJob(id)
	if st.Status != FlinkJobCancelSuccess || st.HasSavepoint || st.StartTime != nil {
		t.Fatalf("after stop while submitting: %+v", st)
	}
}

func TestFlinkBatchMixedResults(t *testing.T) {
	srv := newJobsServer(t)
	draft := addFlink(t, srv.Emulator, FlinkJobSpec{Name: "a"})
	running := addFlink(t, srv.Emulator, FlinkJobSpec{Name: "b", Status: FlinkJobRunning})
	failed := addFlink(t, srv.Emulator, FlinkJobSpec{Name: "c", Status: FlinkJobRunningException})
	var res []flinkBatchResult
	callJSON(t, srv, "POST", flinkBase+"/run", map[string]any{"job_ids": []int64{draft, 999999, running, failed, draft}}, &res)
	want := []string{"true", "false", "false", "true", "false"}
	if len(res) != len(want) {
		t.Fatalf("answer %+v", res)
	}
	for i, w := range want {
		if res[i].IsSuccess != w {
			t.Errorf("element %d: %+v, want is_success %s", i, res[i], w)
		}
	}
	if res[1].Message != "The job 999999 does not exist." {
		t.Errorf("missing job message %q", res[1].Message)
	}
	if !strings.Contains(res[4].Message, "job_submitting") {
		t.Errorf("duplicate id message %q", res[4].Message)
	}
	callJSON(t, srv, "POST", flinkBase+"/stop", map[string]any{"job_ids": []int64{running, draft, failed, 999999}}, &res)
	want = []string{"true", "true", "true", "false"} // draft and failed are submitting now
	for i, w := range want {
		if res[i].IsSuccess != w {
			t.Errorf("stop element %d: %+v, want is_success %s", i, res[i], w)
		}
	}
}

// TestFlinkRunnableStatuses checks run and stop against every status.
func TestFlinkRunnableStatuses(t *testing.T) {
	srv := newJobsServer(t)
	for _, status := range FlinkJobStatuses {
		for _, op := range []string{"run", "stop"} {
			id := addFlink(t, srv.Emulator, FlinkJobSpec{Name: "s", Status: status})
			var res []flinkBatchResult
			callJSON(t, srv, "POST", flinkBase+"/"+op, map[string]any{"job_ids": []int64{id}}, &res)
			want := flinkRunnable[status]
			if op == "stop" {
				want = flinkStoppable[status]
			}
			if got := res[0].IsSuccess == "true"; got != want {
				t.Errorf("%s from %s: is_success %s, want %v (%s)", op, status, res[0].IsSuccess, want, res[0].Message)
			}
		}
	}
}

func TestFlinkListFiltersAndPagination(t *testing.T) {
	srv := newJobsServer(t)
	queues := []string{"default", "etl", "adhoc"}
	var specs []FlinkJobSpec
	for i := 0; i < 250; i++ {
		specs = append(specs, FlinkJobSpec{
			Name:              fmt.Sprintf("job_%03d", i),
			QueueName:         queues[i%3],
			JobType:           FlinkJobTypes[i%4],
			Status:            FlinkJobStatuses[i%len(FlinkJobStatuses)],
			UserName:          []string{"alice", "bob"}[i%2],
			EnterpriseProject: []string{"default", "analytics"}[i%5/4],
			Tags:              map[string]string{"team": []string{"web", "pay"}[i%2], fmt.Sprintf("k%d", i%7): "x"},
			CreatedAt:         jobsStart.Add(-time.Duration(250-i) * time.Minute),
		})
	}
	// Edge children of job_000: hidden unless root_job_id names their parent.
	ids, err := srv.AddFlinkJobs(specs)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		addFlink(t, srv.Emulator, FlinkJobSpec{Name: fmt.Sprintf("child_%d", i), JobType: "flink_sql_edge_job", RootID: ids[0]})
	}

	// Paging 250 jobs by 100 (desc: newest first) gives 100, 100, 50 in order.
	var seen []int64
	for page, wantLen := range []int{100, 100, 50, 0} {
		var list flinkListAnswer
		callJSON(t, srv, "GET", fmt.Sprintf("%s?limit=100&offset=%d", flinkBase, page*100), nil, &list)
		if list.IsSuccess != "true" || list.JobList.TotalCount != 250 || len(list.JobList.Jobs) != wantLen {
			t.Fatalf("page %d: is_success %q total %d len %d", page, list.IsSuccess, list.JobList.TotalCount, len(list.JobList.Jobs))
		}
		for _, j := range list.JobList.Jobs {
			seen = append(seen, j.JobID)
		}
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	if !slices.Equal(seen, want) {
		t.Fatalf("desc paging order wrong: first %v", seen[:5])
	}
	var asc flinkListAnswer
	callJSON(t, srv, "GET", flinkBase+"?order=asc&limit=3&offset=10", nil, &asc)
	if got := []int64{asc.JobList.Jobs[0].JobID, asc.JobList.Jobs[1].JobID, asc.JobList.Jobs[2].JobID}; !slices.Equal(got, ids[10:13]) {
		t.Fatalf("asc page %v, want %v", got, ids[10:13])
	}
	var def flinkListAnswer
	callJSON(t, srv, "GET", flinkBase, nil, &def)
	if len(def.JobList.Jobs) != 10 {
		t.Fatalf("default limit gave %d jobs", len(def.JobList.Jobs))
	}

	count := func(pred func(i int, s FlinkJobSpec) bool) int64 {
		n := int64(0)
		for i, s := range specs {
			if pred(i, s) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		query string
		want  int64
	}{
		{"queue_name=etl", count(func(_ int, s FlinkJobSpec) bool { return s.QueueName == "etl" })},
		{"status=job_running", count(func(_ int, s FlinkJobSpec) bool { return s.Status == FlinkJobRunning })},
		{"job_type=flink_jar_job", count(func(_ int, s FlinkJobSpec) bool { return s.JobType == "flink_jar_job" })},
		{"user_name=bob", count(func(_ int, s FlinkJobSpec) bool { return s.UserName == "bob" })},
		{"sys_enterprise_project_name=analytics", count(func(_ int, s FlinkJobSpec) bool { return s.EnterpriseProject == "analytics" })},
		{"name=JOB_01", count(func(_ int, s FlinkJobSpec) bool { return strings.Contains(s.Name, "job_01") })},
		{"tags=team%3Dpay", count(func(_ int, s FlinkJobSpec) bool { return s.Tags["team"] == "pay" })},
		{"tags=team%3Dpay,k3%3Dx", count(func(_ int, s FlinkJobSpec) bool { return s.Tags["team"] == "pay" && s.Tags["k3"] == "x" })},
		{"tags=k3", count(func(_ int, s FlinkJobSpec) bool { _, ok := s.Tags["k3"]; return ok })},
		{"queue_name=etl&status=job_running&user_name=alice", count(func(_ int, s FlinkJobSpec) bool {
			return s.QueueName == "etl" && s.Status == FlinkJobRunning && s.UserName == "alice"
		})},
		{"queue_name=nope", 0},
		{fmt.Sprintf("root_job_id=%d", ids[0]), 3},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var list flinkListAnswer
			callJSON(t, srv, "GET", flinkBase+"?limit=100&"+tc.query, nil, &list)
			if list.JobList.TotalCount != tc.want {
				t.Fatalf("total_count %d, want %d", list.JobList.TotalCount, tc.want)
			}
			if tc.want > 0 && tc.want <= 100 && int64(len(list.JobList.Jobs)) != tc.want {
				t.Fatalf("%d jobs on the page, want %d", len(list.JobList.Jobs), tc.want)
			}
		})
	}
}

func TestFlinkListShowDetail(t *testing.T) {
	srv := newJobsServer(t)
	addFlink(t, srv.Emulator, FlinkJobSpec{Name: "detailed", JobType: "flink_jar_job", MainClass: "com.example.Main", Entrypoint: "app.jar"})
	var list struct {
		JobList struct {
			Jobs []flinkDetail `json:"jobs"`
		} `json:"job_list"`
	}
	callJSON(t, srv, "GET", flinkBase+"?show_detail=true", nil, &list)
	j := list.JobList.Jobs[0]
	if j.ProjectID != "emulator-project" || j.JobConfig.CheckpointMode != "exactly_once" || j.MainClass == nil || *j.MainClass != "com.example.Main" {
		t.Fatalf("show_detail job %+v", j)
	}
}

func TestFlinkGolden(t *testing.T) {
	srv := newJobsServer(t)
	jar := addFlink(t, srv.Emulator, FlinkJobSpec{Name: "jptest", QueueName: "etl", JobType: "flink_jar_job",
		MainClass: "com.example.FemaleInfoCollection", Entrypoint: "FemaleInfoCollection.jar",
		CreatedAt: jobsStart.Add(-time.Hour)})
	addFlink(t, srv.Emulator, FlinkJobSpec{Name: "orders", JobType: "flink_opensource_sql_job", Status: FlinkJobRunningException,
		StatusDesc: "TaskManager lost", SQLBody: "INSERT INTO sink SELECT * FROM src", CreatedAt: jobsStart.Add(-30 * time.Minute)})
	srv.Advance(time.Minute)
	for _, tc := range []struct{ name, method, path, body string }{
		{"flink_run", "POST", flinkBase + "/run", fmt.Sprintf(`{"job_ids":[%d,99999],"resume_savepoint":false}`, jar)},
		{"flink_list", "GET", flinkBase + "?limit=10", ""},
		{"flink_list_detail", "GET", flinkBase + "?show_detail=true&order=asc", ""},
		{"flink_detail", "GET", fmt.Sprintf("%s/%d", flinkBase, jar), ""},
		{"flink_stop", "POST", flinkBase + "/stop", fmt.Sprintf(`{"job_ids":[%d],"trigger_savepoint":true}`, jar)},
		{"flink_error_not_found", "GET", flinkBase + "/99999", ""},
	} {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		_, raw := call(t, srv, tc.method, tc.path, body)
		golden(t, tc.name, raw)
		if tc.name == "flink_run" {
			srv.Advance(srv.Options().Timing.FlinkStart)
		}
	}
}

func TestFlinkAdminAPI(t *testing.T) {
	srv := newJobsServer(t)
	var created struct {
		JobID  int64   `json:"job_id"`
		JobIDs []int64 `json:"job_ids"`
	}
	callJSON(t, srv, "POST", "/_emulator/flink/jobs", map[string]any{
		"name": "adm", "queue_name": "etl", "job_type": "flink_jar_job", "status": "job_running"}, &created)
	st, ok := srv.FlinkJob(created.JobID)
	if !ok || st.Status != FlinkJobRunning || st.Queue != "etl" || st.Type != "flink_jar_job" || st.StartTime == nil {
		t.Fatalf("created %+v", st)
	}
	// Pinned: no transition follows an admin-set status.
	srv.Advance(time.Hour)
	if got := flinkStatus(t, srv.Emulator, created.JobID); got != FlinkJobRunning {
		t.Fatalf("pinned status moved to %s", got)
	}

	var put FlinkJobState
	callJSON(t, srv, "PUT", fmt.Sprintf("/_emulator/flink/jobs/%d", created.JobID), map[string]any{
		"status": "job_running_exception", "status_desc": "checkpoint failed"}, &put)
	if put.Status != FlinkJobRunningException || put.StatusDesc != "checkpoint failed" {
		t.Fatalf("after PUT: %+v", put)
	}
	var detail flinkDetailAnswer
	callJSON(t, srv, "GET", fmt.Sprintf("%s/%d", flinkBase, created.JobID), nil, &detail)
	if detail.JobDetail.StatusDesc != "checkpoint failed" {
		t.Fatalf("detail status_desc %q", detail.JobDetail.StatusDesc)
	}

	callJSON(t, srv, "POST", "/_emulator/flink/jobs", map[string]any{"name": "bulk", "count": 5}, &created)
	if len(created.JobIDs) != 5 || created.JobID != created.JobIDs[0] {
		t.Fatalf("bulk answer %+v", created)
	}
	if st, _ := srv.FlinkJob(created.JobIDs[4]); st.Name != "bulk-00005" {
		t.Fatalf("bulk name %q", st.Name)
	}

	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		code, frag               string
	}{
		{"no name", "POST", "/_emulator/flink/jobs", `{"queue_name":"etl"}`, 400, "DLI.0001", "name must be 1 to 57"},
		{"long name", "POST", "/_emulator/flink/jobs", `{"name":"` + strings.Repeat("x", 58) + `"}`, 400, "DLI.0001", "name must be 1 to 57"},
		{"bad status", "POST", "/_emulator/flink/jobs", `{"name":"x","status":"job_canceled"}`, 400, "DLI.0001", `status "job_canceled" is invalid`},
		{"bad type", "POST", "/_emulator/flink/jobs", `{"name":"x","job_type":"spark"}`, 400, "DLI.0001", `job_type "spark" is invalid`},
		{"unknown queue", "POST", "/_emulator/flink/jobs", `{"name":"x","queue_name":"nope"}`, 400, "DLI.0001", "There is no queue named nope"},
		{"bad count", "POST", "/_emulator/flink/jobs", `{"name":"x","count":-1}`, 400, "DLI.0001", "count must be"},
		{"bad json", "POST", "/_emulator/flink/jobs", `{"name":`, 400, "DLI.0001", "invalid request body"},
		{"put bad status", "PUT", fmt.Sprintf("/_emulator/flink/jobs/%d", created.JobID), `{"status":"done"}`, 400, "DLI.0001", `status "done" is invalid`},
		{"put unknown", "PUT", "/_emulator/flink/jobs/987654", `{"status":"job_running"}`, 404, "DLI.0002", "flink job 987654"},
		{"put bad id", "PUT", "/_emulator/flink/jobs/x", `{"status":"job_running"}`, 400, "DLI.0001", "job id must be an integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, raw := call(t, srv, tc.method, tc.path, tc.body)
			checkError(t, status, raw, tc.status, tc.code, tc.frag)
		})
	}

	if err := srv.SetFlinkJobStatus(123456, FlinkJobRunning, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetFlinkJobStatus on a missing job: %v", err)
	}
	if _, err := srv.AddFlinkJobs([]FlinkJobSpec{{Name: "ok"}, {Name: ""}}); err == nil {
		t.Error("AddFlinkJobs accepted an invalid spec")
	}
}

func TestFlinkSnapshotAndSeed(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true, Seed: "demo"})
	s := srv.Snapshot()
	statuses := map[string]bool{}
	queues := map[string]bool{}
	for _, j := range s.FlinkJobs {
		statuses[j.Status] = true
		queues[j.Queue] = true
	}
	for _, want := range []string{FlinkJobRunning, FlinkJobRunningException, FlinkJobInit, FlinkJobCancelSuccess} {
		if !statuses[want] {
			t.Errorf("demo seed has no %s job", want)
		}
	}
	for _, q := range []string{"default", "etl", "adhoc"} {
		if !queues[q] {
			t.Errorf("demo seed has no job on %s", q)
		}
	}
	// The seeded jobs list newest first.
	var list flinkListAnswer
	callJSON(t, srv, "GET", flinkBase+"?limit=100", nil, &list)
	if int(list.JobList.TotalCount) != len(s.FlinkJobs) {
		t.Fatalf("list total %d, snapshot %d", list.JobList.TotalCount, len(s.FlinkJobs))
	}
	for i := 1; i < len(list.JobList.Jobs); i++ {
		if list.JobList.Jobs[i].CreateTime > list.JobList.Jobs[i-1].CreateTime {
			t.Fatal("seeded jobs not newest first")
		}
	}
	// The snapshot reports a pending transition.
	id := s.FlinkJobs[3].ID // the draft
	var res []flinkBatchResult
	callJSON(t, srv, "POST", flinkBase+"/run", map[string]any{"job_ids": []int64{id}}, &res)
	st, _ := srv.FlinkJob(id)
	if st.NextAt == nil {
		t.Fatalf("no next_at while submitting: %+v", st)
	}
}

// TestFlinkSDKDecode drives every Flink endpoint through the official SDK
// (signed requests) and checks the answers decode, is_success included.
func TestFlinkSDKDecode(t *testing.T) {
	srv := withJobQueues(t, NewServer(t))
	c := sdkClient(t, srv)
	id := addFlink(t, srv.Emulator, FlinkJobSpec{Name: "sdkjob", QueueName: "etl", JobType: "flink_jar_job", MainClass: "a.B"})

	run, err := c.BatchRunFlinkJobs(&model.BatchRunFlinkJobsRequest{Body: &model.BatchRunFlinkJobsRequestBody{JobIds: []int64{id, 777777}}})
	if err != nil {
		t.Fatal(err)
	}
	if run.Body == nil || len(*run.Body) != 2 || *(*run.Body)[0].IsSuccess != "true" || *(*run.Body)[1].IsSuccess != "false" {
		t.Fatalf("run decoded %+v", run.Body)
	}
	srv.Advance(srv.Options().Timing.FlinkStart)

	limit, status := int32(5), model.GetListFlinkJobsRequestStatusEnum().JOB_RUNNING
	list, err := c.ListFlinkJobs(&model.ListFlinkJobsRequest{Limit: &limit, Status: &status})
	if err != nil {
		t.Fatal(err)
	}
	if *list.IsSuccess != "true" || *list.JobList.TotalCount != 1 {
		t.Fatalf("list decoded %+v", list)
	}
	j := (*list.JobList.Jobs)[0]
	if j.JobId != id || *j.Status != FlinkJobRunning || j.JobType.Value() != "flink_jar_job" || *j.QueueName != "etl" || j.CreateTime == 0 {
		t.Fatalf("list job decoded %+v", j)
	}
	detail := true
	if _, err := c.ListFlinkJobs(&model.ListFlinkJobsRequest{ShowDetail: &detail}); err != nil {
		t.Fatalf("show_detail list: %v", err)
	}

	show, err := c.ShowFlinkJob(&model.ShowFlinkJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	if *show.IsSuccess != "true" || show.JobDetail.JobId != id || *show.JobDetail.Status != FlinkJobRunning ||
		show.JobDetail.StartTime == nil || show.JobDetail.JobConfig.CheckpointMode.Value() != "exactly_once" || *show.JobDetail.MainClass != "a.B" {
		t.Fatalf("detail decoded %+v", show.JobDetail)
	}

	trig := true
	stop, err := c.BatchStopFlinkJobs(&model.BatchStopFlinkJobsRequest{Body: &model.StopFlinkJobsRequestBody{JobIds: []int64{id}, TriggerSavepoint: &trig}})
	if err != nil {
		t.Fatal(err)
	}
	if len(*stop.Body) != 1 || *(*stop.Body)[0].IsSuccess != "true" {
		t.Fatalf("stop decoded %+v", stop.Body)
	}

	_, err = c.ShowFlinkJob(&model.ShowFlinkJobRequest{JobId: 888888})
	var se *sdkerr.ServiceResponseError
	if !errors.As(err, &se) || se.StatusCode != 400 || se.ErrorCode != "DLI.0002" {
		t.Fatalf("missing job through the SDK: %v", err)
	}
}

// BenchmarkFlinkListPage lists one page of 100 out of 10,000 jobs.
func BenchmarkFlinkListPage(b *testing.B) {
	e := newJobsEmulator(b)
	specs := make([]FlinkJobSpec, 10000)
	for i := range specs {
		specs[i] = FlinkJobSpec{Name: fmt.Sprintf("j%05d", i), QueueName: []string{"default", "etl"}[i%2], Status: FlinkJobRunning}
	}
	if _, err := e.AddFlinkJobs(specs); err != nil {
		b.Fatal(err)
	}
	benchGet(b, e, flinkBase+"?limit=100&offset=2500&queue_name=etl")
}
