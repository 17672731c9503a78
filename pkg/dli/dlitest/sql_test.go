package dlitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// sqlStart is the clock start of every SQL test (golden files depend on it).
var sqlStart = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// sqlEmu starts an emulator without auth (these tests do not sign).
func sqlEmu(t *testing.T) *Server {
	t.Helper()
	return NewServer(t, Options{SkipAuth: true, Start: sqlStart})
}

// sqlResp is a decoded answer.
type sqlResp struct {
	status int
	raw    []byte
	body   map[string]any
}

func (r sqlResp) str(k string) string {
	s, _ := r.body[k].(string)
	return s
}

func (r sqlResp) num(k string) float64 {
	f, _ := r.body[k].(float64)
	return f
}

// sqlDo sends a request to the emulator with the test project.
func sqlDo(t *testing.T, srv *Server, method, path string, body any) sqlResp {
	t.Helper()
	path = strings.ReplaceAll(path, "{project_id}", srv.Options().ProjectID)
	status, raw := call(t, srv, method, path, body)
	out := sqlResp{status: status, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return out
}

// sqlSubmitOK submits a statement and returns the job id.
func sqlSubmitOK(t *testing.T, srv *Server, body map[string]any) string {
	t.Helper()
	r := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/submit-job", body)
	if r.status != 200 {
		t.Fatalf("submit %v: %d %s", body, r.status, r.raw)
	}
	return r.str("job_id")
}

func sqlStatusOf(t *testing.T, srv *Server, id string) sqlResp {
	t.Helper()
	r := sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/"+id+"/status", nil)
	if r.status != 200 {
		t.Fatalf("status %s: %d %s", id, r.status, r.raw)
	}
	return r
}

// sqlWantError checks a DLI error answer.
func sqlWantError(t *testing.T, r sqlResp, status int, code, fragment string) {
	t.Helper()
	if r.status != status || r.str("error_code") != code || !strings.Contains(r.str("error_msg"), fragment) {
		t.Errorf("got %d %s, want %d %s containing %q", r.status, r.raw, status, code, fragment)
	}
}

func TestSQLSubmitValidation(t *testing.T) {
	srv := sqlEmu(t)
	long := strings.Repeat("k", 129)
	tests := []struct {
		name     string
		body     any
		status   int
		code     string
		fragment string
	}{
		{"not JSON", `{"sql":`, 400, "DLI.0001", "invalid request body"},
		{"sql wrong type", `{"sql": 5}`, 400, "DLI.0001", "invalid request body"},
		{"sql missing", map[string]any{"queue_name": "default"}, 400, "DLI.0001", "sql is required"},
		{"sql blank", map[string]any{"sql": "   "}, 400, "DLI.0001", "sql is required"},
		{"unknown statement", map[string]any{"sql": "FROBNICATE t"}, 400, "DLI.0004", "unsupported statement"},
		{"engine type", map[string]any{"sql": "select 1", "engine_type": "flink"}, 400, "DLI.0001", "engine_type"},
		{"queue name starts with underscore", map[string]any{"sql": "select 1", "queue_name": "_q"}, 400, "DLI.0001", "queue_name"},
		{"queue name only digits", map[string]any{"sql": "select 1", "queue_name": "123"}, 400, "DLI.0001", "queue_name"},
		{"queue name with dash", map[string]any{"sql": "select 1", "queue_name": "a-b"}, 400, "DLI.0001", "queue_name"},
		{"conf not key=value", map[string]any{"sql": "select 1", "conf": []string{"spark.x"}}, 400, "DLI.0001", "conf[0]"},
		{"conf timeout not a number", map[string]any{"sql": "select 1", "conf": []string{"dli.sql.job.timeout=soon"}}, 400, "DLI.0001", "dli.sql.job.timeout"},
		{"conf sqlasync not bool", map[string]any{"sql": "select 1", "conf": []string{"dli.sql.sqlasync.enabled=yes"}}, 400, "DLI.0001", "sqlasync"},
		{"tag without key", map[string]any{"sql": "select 1", "tags": []map[string]string{{"value": "v"}}}, 400, "DLI.0001", "tags[0].key is required"},
		{"tag key too long", map[string]any{"sql": "select 1", "tags": []map[string]string{{"key": long, "value": "v"}}}, 400, "DLI.0001", "128"},
		{"tag value too long", map[string]any{"sql": "select 1", "tags": []map[string]string{{"key": "k", "value": strings.Repeat("v", 256)}}}, 400, "DLI.0001", "255"},
		{"sync DDL with FAIL marker", map[string]any{"sql": "CREATE TABLE FAIL_t (a int)"}, 400, "DLI.0005", "FAIL marker"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/submit-job", tc.body)
			sqlWantError(t, r, tc.status, tc.code, tc.fragment)
		})
	}
}

func TestSQLSubmitUnknownQueue(t *testing.T) {
	srv := sqlEmu(t)
	srv.mu.Lock()
	exists := srv.queueExists("no_such_queue")
	srv.mu.Unlock()
	if exists {
		t.Skip("queueExists is still the stub that accepts every queue")
	}
	r := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/submit-job", map[string]any{"sql": "select 1", "queue_name": "no_such_queue"})
	sqlWantError(t, r, 400, "DLI.0002", "There is no queue named no_such_queue")
}

func TestSQLClassify(t *testing.T) {
	tests := []struct {
		stmt, jobType, db, table string
	}{
		{"select * from db1.t1", "QUERY", "db1", "t1"},
		{"  -- comment\n SELECT a FROM t WHERE x", "QUERY", "cur", "t"},
		{"/* hi */ (select 1)", "QUERY", "cur", ""},
		{"WITH x AS (select 1) SELECT * FROM x", "QUERY", "cur", "x"},
		{"WITH x AS (select 1) INSERT INTO t2 SELECT * FROM x", "INSERT", "cur", "t2"},
		{"insert into `db2`.`t3` values (1)", "INSERT", "db2", "t3"},
		{"INSERT OVERWRITE TABLE t4 SELECT 1", "INSERT", "cur", "t4"},
		{"create table if not exists db.t5 (a int)", "DDL", "db", "t5"},
		{"DROP TABLE t6", "DDL", "cur", "t6"},
		{"desc table1", "DDL", "cur", "table1"},
		{"show tables", "DDL", "cur", ""},
		{"GRANT SELECT ON t TO u", "DCL", "cur", ""},
		{"revoke all on t from u", "DCL", "cur", ""},
		{"LOAD DATA INPATH 'obs://bkt/p' INTO TABLE db.t7 OPTIONS('header'='true')", "IMPORT", "db", "t7"},
		{"load data inpath 'obs://bkt/p' overwrite into table t8", "IMPORT", "cur", "t8"},
		{"UPDATE t9 SET a = 1", "UPDATE", "cur", "t9"},
		{"delete from db.t10 where a = 1", "DELETE", "db", "t10"},
		{"EXPORT TABLE t", "EXPORT", "cur", ""},
		{"hello", "", "", ""},
		{"", "", "", ""},
	}
	for _, tc := range tests {
		got := sqlClassify(tc.stmt)
		if got != tc.jobType {
			t.Errorf("sqlClassify(%q) = %q, want %q", tc.stmt, got, tc.jobType)
			continue
		}
		if got == "" {
			continue
		}
		db, table := sqlTarget(got, tc.stmt, "cur")
		if db != tc.db || table != tc.table {
			t.Errorf("sqlTarget(%q) = %q.%q, want %q.%q", tc.stmt, db, table, tc.db, tc.table)
		}
	}
}

func TestSQLQueryResult(t *testing.T) {
	tests := []struct {
		stmt   string
		schema string
		rows   int64
		first  string
	}{
		{"select * from t", `[{"id":"int"},{"name":"string"}]`, 10, `[1,"name_1"]`},
		{"SELECT a, b.c, count(*) AS n, 'x' lit, 2 two FROM t GROUP BY a LIMIT 3", `[{"a":"string"},{"c":"string"},{"n":"bigint"},{"lit":"string"},{"two":"int"}]`, 3, `["a_1","c_1",3,"x",2]`},
		{"select count(*) from t", `[{"_c0":"bigint"}]`, 1, `[1]`},
		{"select country, COUNT (x) c from t group by country", `[{"country":"string"},{"c":"bigint"}]`, 10, `["country_1",2]`},
		{"select 1", `[{"_c0":"int"}]`, 1, `[1]`},
		{"select user_id, avg(x) total from t limit 20000", `[{"user_id":"int"},{"total":"double"}]`, 10000, `[1,1.5]`},
	}
	for _, tc := range tests {
		r := sqlQueryResult(tc.stmt)
		schema, _ := json.Marshal(r.schema())
		first, _ := json.Marshal(r.rows(0, 1)[0])
		if string(schema) != tc.schema || r.rowCount != tc.rows || string(first) != tc.first {
			t.Errorf("%q: schema %s rows %d first %s; want %s %d %s", tc.stmt, schema, r.rowCount, first, tc.schema, tc.rows, tc.first)
		}
	}
}

func TestSQLLifecycle(t *testing.T) {
	srv := sqlEmu(t)
	id := sqlSubmitOK(t, srv, map[string]any{"sql": "select * from db1.t1", "tags": []map[string]string{{"key": "k", "value": "v"}}})
	steps := []struct {
		after    time.Duration
		status   string
		duration float64
		result   float64
	}{
		{0, SQLLaunching, 0, 0},
		{1999 * time.Millisecond, SQLLaunching, 1999, 0},
		{time.Millisecond, SQLRunning, 2000, 0},
		{4999 * time.Millisecond, SQLRunning, 6999, 0},
		{time.Millisecond, SQLFinished, 7000, 10},
		{time.Hour, SQLFinished, 7000, 10},
	}
	for i, st := range steps {
		srv.Advance(st.after)
		r := sqlStatusOf(t, srv, id)
		if r.str("status") != st.status || r.num("duration") != st.duration || r.num("result_count") != st.result {
			t.Errorf("step %d: %s", i, r.raw)
		}
		if r.body["is_success"] != true || r.str("job_type") != "QUERY" || r.str("job_mode") != "async" ||
			r.str("queue_name") != "default" || r.num("start_time") != float64(sqlStart.UnixMilli()) ||
			r.str("database_name") != "db1" || r.str("table_name") != "t1" || r.str("statement") != "select * from db1.t1" {
			t.Errorf("step %d: fields: %s", i, r.raw)
		}
	}
	srv.mu.Lock()
	active := len(srv.sql.due)
	srv.mu.Unlock()
	if active != 0 {
		t.Errorf("%d finished jobs still visited by every catch-up", active)
	}
	st := srv.Snapshot().SQLJobs[0]
	if st.EndTime == nil || !st.EndTime.Equal(sqlStart.Add(7*time.Second)) || st.ResultCount != 10 || len(st.Tags) != 1 {
		t.Errorf("snapshot: %+v", st)
	}
}

func TestSQLImportRunTiming(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true, Start: sqlStart, Timing: Timing{SQLLaunch: time.Second, SQLRun: 2 * time.Second, ImportRun: 30 * time.Second}})
	q := sqlSubmitOK(t, srv, map[string]any{"sql": "insert into t select 1"})
	imp := sqlSubmitOK(t, srv, map[string]any{"sql": "LOAD DATA INPATH 'obs://bkt/x.csv' INTO TABLE db.t"})
	srv.Advance(3 * time.Second)
	if s := sqlStatusOf(t, srv, q).str("status"); s != SQLFinished {
		t.Errorf("insert after 3s: %s", s)
	}
	if s := sqlStatusOf(t, srv, imp).str("status"); s != SQLRunning {
		t.Errorf("import after 3s: %s", s)
	}
	srv.Advance(28 * time.Second)
	r := sqlStatusOf(t, srv, imp)
	if r.str("status") != SQLFinished || r.num("input_row_count") == 0 || r.num("input_row_count") != r.num("result_count") {
		t.Errorf("import after 31s: %s", r.raw)
	}
}

func TestSQLSyncDDL(t *testing.T) {
	srv := sqlEmu(t)
	r := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/submit-job", map[string]any{"sql": "desc table1", "currentdb": "db1"})
	if r.status != 200 || r.str("job_type") != "DDL" || r.str("job_mode") != "sync" {
		t.Fatalf("desc: %d %s", r.status, r.raw)
	}
	schema, _ := json.Marshal(r.body["schema"])
	rows, _ := json.Marshal(r.body["rows"])
	if string(schema) != `[{"col_name":"string"},{"data_type":"string"},{"comment":"string"}]` ||
		string(rows) != `[["id","int",null],["name","string",null]]` {
		t.Errorf("desc schema %s rows %s", schema, rows)
	}
	if s := sqlStatusOf(t, srv, r.str("job_id")); s.str("status") != SQLFinished || s.num("duration") != 0 {
		t.Errorf("desc status: %s", s.raw)
	}
	// dli.sql.sqlasync.enabled=true makes DDL asynchronous.
	id := sqlSubmitOK(t, srv, map[string]any{"sql": "create table t (a int)", "conf": []string{"dli.sql.sqlasync.enabled = true"}})
	if s := sqlStatusOf(t, srv, id); s.str("status") != SQLLaunching || s.str("job_mode") != "async" {
		t.Errorf("async DDL: %s", s.raw)
	}
	// DCL is synchronous without schema.
	r = sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/submit-job", map[string]any{"sql": "GRANT SELECT ON t TO u"})
	if r.status != 200 || r.str("job_type") != "DCL" || r.str("job_mode") != "sync" || r.body["schema"] != nil {
		t.Errorf("grant: %s", r.raw)
	}
	// A failing synchronous statement is still recorded.
	sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/submit-job", map[string]any{"sql": "DROP TABLE FAIL"})
	jobs := srv.Snapshot().SQLJobs
	if last := jobs[len(jobs)-1]; last.Status != SQLFailed || !strings.Contains(last.Message, "FAIL marker") {
		t.Errorf("failed sync job: %+v", last)
	}
}

func TestSQLFailMarker(t *testing.T) {
	srv := sqlEmu(t)
	failing := sqlSubmitOK(t, srv, map[string]any{"sql": "select 'FAIL' from t"})
	lower := sqlSubmitOK(t, srv, map[string]any{"sql": "select * from failures"})
	srv.Advance(2 * time.Second)
	if s := sqlStatusOf(t, srv, failing).str("status"); s != SQLRunning {
		t.Errorf("failing job runs first: %s", s)
	}
	srv.Advance(5 * time.Second)
	r := sqlStatusOf(t, srv, failing)
	if r.str("status") != SQLFailed || !strings.Contains(r.str("message"), "FAIL marker") || r.num("result_count") != 0 || r.num("duration") != 7000 {
		t.Errorf("failing job: %s", r.raw)
	}
	if s := sqlStatusOf(t, srv, lower).str("status"); s != SQLFinished {
		t.Errorf("marker is case-sensitive: %s", s)
	}
}

func TestSQLTimeoutConf(t *testing.T) {
	srv := sqlEmu(t)
	id := sqlSubmitOK(t, srv, map[string]any{"sql": "select * from t", "conf": []string{"dli.sql.job.timeout=3000"}})
	srv.Advance(2999 * time.Millisecond)
	if s := sqlStatusOf(t, srv, id).str("status"); s != SQLRunning {
		t.Errorf("before timeout: %s", s)
	}
	srv.Advance(time.Millisecond)
	r := sqlStatusOf(t, srv, id)
	if r.str("status") != SQLCancelled || r.num("duration") != 3000 || !strings.Contains(r.str("message"), "dli.sql.job.timeout") {
		t.Errorf("after timeout: %s", r.raw)
	}
}

func TestSQLCancel(t *testing.T) {
	srv := sqlEmu(t)
	id := sqlSubmitOK(t, srv, map[string]any{"sql": "select * from t"})
	srv.Advance(3 * time.Second)
	r := sqlDo(t, srv, "DELETE", "/v1.0/{project_id}/jobs/"+id, nil)
	if r.status != 200 || r.body["is_success"] != true || r.str("message") != "" {
		t.Fatalf("cancel: %d %s", r.status, r.raw)
	}
	srv.Advance(time.Hour)
	s := sqlStatusOf(t, srv, id)
	if s.str("status") != SQLCancelled || s.num("duration") != 3000 {
		t.Errorf("cancelled job: %s", s.raw)
	}
	tests := []struct {
		name, id, code, fragment string
	}{
		{"already cancelled", id, "DLI.0007", "CANCELLED and can no longer be cancelled"},
		{"unknown job", "nope", "DLI.0002", "There is no job with id nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sqlWantError(t, sqlDo(t, srv, "DELETE", "/v1.0/{project_id}/jobs/"+tc.id, nil), 400, tc.code, tc.fragment)
		})
	}
	for _, p := range []string{"/status", "/detail", "/preview"} {
		sqlWantError(t, sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/nope"+p, nil), 400, "DLI.0002", "There is no job with id nope")
	}
	sqlWantError(t, sqlDo(t, srv, "GET", "/v1.0/other-project/jobs/"+id+"/status", nil), 404, "DLI.0002", "other-project")
}

func TestSQLDetailPlainJob(t *testing.T) {
	srv := sqlEmu(t)
	id := sqlSubmitOK(t, srv, map[string]any{"sql": "select * from db1.t1"})
	srv.Advance(time.Second)
	r := sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/"+id+"/detail", nil)
	if r.status != 200 || r.str("job_id") != id || r.num("duration") != 1000 || r.str("database_name") != "db1" ||
		r.str("table_name") != "t1" || r.str("owner") != sqlDefaultOwner || r.body["delimiter"] != nil {
		t.Errorf("detail: %d %s", r.status, r.raw)
	}
}

// sqlListIDs lists jobs with the query and returns job_count and the ids.
func sqlListIDs(t *testing.T, srv *Server, query string) (int, []string) {
	t.Helper()
	r := sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs?"+query, nil)
	if r.status != 200 {
		t.Fatalf("list %s: %d %s", query, r.status, r.raw)
	}
	var ids []string
	jobs, _ := r.body["jobs"].([]any)
	for _, j := range jobs {
		ids = append(ids, j.(map[string]any)["job_id"].(string))
	}
	return int(r.num("job_count")), ids
}

func TestSQLListValidation(t *testing.T) {
	srv := sqlEmu(t)
	tests := []struct {
		query, fragment string
	}{
		{"page-size=0", "page-size"},
		{"page-size=101", "from 1 to 100"},
		{"page-size=x", "page-size"},
		{"current-page=0", "current-page"},
		{"start=-1", "start"},
		{"end=abc", "end"},
		{"start=10&end=5", "after end"},
		{"job-type=SELECT", "job type"},
		{"job_types=QUERY&job_types=NOPE", "NOPE"},
		{"job-status=DONE", "job-status"},
		{"order=name", "order"},
		{"engine-type=flink", "engine-type"},
		{"tags=novalue", "tags"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			sqlWantError(t, sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs?"+tc.query, nil), 400, "DLI.0001", tc.fragment)
		})
	}
}

func TestSQLListFiltersAndPagination(t *testing.T) {
	srv := sqlEmu(t)
	add := func(n int, sp SQLJobSpec) []string {
		t.Helper()
		ids, err := srv.AddSQLJobs(n, sp)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	t0 := sqlStart.Add(-time.Hour)
	queries := add(120, SQLJobSpec{Statement: "SELECT * FROM db.events", Status: SQLFinished, StartTime: t0, Spacing: time.Second,
		Tags: []SQLTag{{Key: "workspace", Value: "Space1"}, {Key: "jobName", Value: "nightly"}}})
	inserts := add(3, SQLJobSpec{Statement: "INSERT INTO db.daily SELECT 1", Status: SQLFailed, StartTime: t0.Add(10 * time.Minute),
		Duration: time.Minute, Owner: "alice", EngineType: "hetuEngine"})
	running := add(1, SQLJobSpec{Statement: "select 2", Status: SQLRunning, StartTime: t0.Add(20 * time.Minute)})
	natural := add(1, SQLJobSpec{Statement: "LOAD DATA INPATH 'obs://bkt/x' INTO TABLE db.events"})
	all := 125

	n, ids := sqlListIDs(t, srv, "")
	if n != all || len(ids) != 50 || ids[0] != natural[0] || ids[1] != running[0] {
		t.Fatalf("default list: %d jobs, first page %d: %v", n, len(ids), ids[:3])
	}
	// Pages of 40 cover every job exactly once, newest first.
	var seen []string
	for page := 1; page <= 4; page++ {
		n, ids := sqlListIDs(t, srv, fmt.Sprintf("page-size=40&current-page=%d", page))
		if n != all {
			t.Fatalf("page %d: job_count %d", page, n)
		}
		seen = append(seen, ids...)
	}
	if len(seen) != all || seen[len(seen)-1] != queries[0] {
		t.Errorf("paged %d jobs, last %s", len(seen), seen[len(seen)-1])
	}
	if _, ids := sqlListIDs(t, srv, "page-size=40&current-page=9"); len(ids) != 0 {
		t.Errorf("page past the end: %v", ids)
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"job-type=INSERT&order=start_time_asc", inserts},
		{"job-type=all&job-status=RUNNING", running},
		{"job_types=INSERT,IMPORT&order=start_time_asc", append(append([]string{}, inserts...), natural...)},
		{"job-status=failed&order=start_time_asc", inserts},
		{"owner=alice&order=start_time_asc", inserts},
		{"engine-type=hetuengine&order=start_time_asc", inserts},
		{"job-id=" + running[0], running},
		{"sql_pattern=LOAD%20data", natural},
		{"tags=workspace%3Dspace1%2Cjobname%3Dnight&page-size=2&order=start_time_asc", queries[:2]},
		{"tags=workspace%3Dother", nil},
		{fmt.Sprintf("start=%d&end=%d&order=start_time_asc", t0.Add(time.Second).UnixMilli(), t0.Add(2*time.Second).UnixMilli()), queries[1:3]},
		{"table_name=daily&db_name=db&order=start_time_asc", inserts},
		{"queue_name=etl", nil},
		{"order=duration_desc&page-size=1", running},
		{"order=duration_asc&page-size=1", natural},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			n, ids := sqlListIDs(t, srv, tc.query)
			if strings.Contains(tc.query, "page-size") {
				n = len(ids)
			}
			if n != len(tc.want) || strings.Join(ids, ",") != strings.Join(tc.want, ",") {
				t.Errorf("got %d %v, want %v", n, ids, tc.want)
			}
		})
	}
}

func TestSQLListJobFields(t *testing.T) {
	srv := sqlEmu(t)
	id := sqlSubmitOK(t, srv, map[string]any{"sql": "insert into db.t select 1", "tags": []map[string]string{{"key": "k", "value": "v"}}})
	srv.Advance(10 * time.Second)
	r := sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs", nil)
	j := r.body["jobs"].([]any)[0].(map[string]any)
	if j["job_id"] != id || j["status"] != SQLFinished || j["end_time"] != float64(sqlStart.Add(7*time.Second).UnixMilli()) ||
		j["duration"] != float64(7000) || j["input_row_count"] == nil || j["bad_row_count"] != float64(0) ||
		j["owner"] != sqlDefaultOwner || j["detail"] != "" || j["engine_type"] != "spark" || j["table_name"] != "t" {
		t.Errorf("list entry: %v", j)
	}
}

func TestSQLPreview(t *testing.T) {
	srv := sqlEmu(t)
	q := sqlSubmitOK(t, srv, map[string]any{"sql": "select id, name from t limit 1500"})
	ddl := sqlSubmitOK(t, srv, map[string]any{"sql": "create table x (a int)"})
	sqlWantError(t, sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/"+q+"/preview", nil), 400, "DLI.0012", "LAUNCHING")
	srv.Advance(7 * time.Second)
	tests := []struct {
		name, id, query string
		status          int
		code, fragment  string
	}{
		{"not a query", ddl, "", 400, "DLI.0007", "only QUERY jobs"},
		{"page-size 0", q, "page-size=0", 400, "DLI.0001", "page-size"},
		{"page-size 1001", q, "page-size=1001", 400, "DLI.0001", "from 1 to 1000"},
		{"current-page 0", q, "current-page=0", 400, "DLI.0001", "current-page"},
		{"queue name invalid", q, "queue-name=_x", 400, "DLI.0001", "queue-name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sqlWantError(t, sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/"+tc.id+"/preview?"+tc.query, nil), tc.status, tc.code, tc.fragment)
		})
	}
	r := sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/"+q+"/preview", nil)
	rows := r.body["rows"].([]any)
	schema, _ := json.Marshal(r.body["schema"])
	if r.status != 200 || r.num("row_count") != 1500 || len(rows) != 1000 || string(schema) != `[{"id":"int"},{"name":"string"}]` ||
		r.str("job_type") != "QUERY" || r.num("input_size") == 0 {
		t.Fatalf("preview: %d row_count %v rows %d schema %s", r.status, r.body["row_count"], len(rows), schema)
	}
	r = sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/"+q+"/preview?page-size=3&current-page=2&queue-name=default", nil)
	got, _ := json.Marshal(r.body["rows"])
	if string(got) != `[[4,"name_4"],[5,"name_5"],[6,"name_6"]]` {
		t.Errorf("page 2 of 3: %s", got)
	}
	r = sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/"+q+"/preview?page-size=600&current-page=2", nil)
	if rows := r.body["rows"].([]any); len(rows) != 400 {
		t.Errorf("second page stops at the 1000-row cap: %d rows", len(rows))
	}
}

func TestSQLQueues(t *testing.T) {
	srv := sqlEmu(t)
	if err := srv.AddQueue(QueueSpec{Name: "etl", Type: QueueTypeSQL, CUCount: 16}); err != nil {
		t.Fatal(err)
	}
	id := sqlSubmitOK(t, srv, map[string]any{"sql": "select 1", "queue_name": "ETL"})
	if q := sqlStatusOf(t, srv, id).str("queue_name"); q != "etl" {
		t.Errorf("queue %q", q)
	}
	// The default queue always exists, even without the demo seed.
	sqlSubmitOK(t, srv, map[string]any{"sql": "select 1", "queue_name": "default"})
	for _, path := range []string{"submit-job", "import-table"} {
		r := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/"+path, map[string]any{"sql": "select 1", "queue_name": "no_such_queue",
			"data_path": "obs://bucket/a.csv", "data_type": "csv", "database_name": "db", "table_name": "t"})
		sqlWantError(t, r, 400, "DLI.0002", "There is no queue named no_such_queue")
	}
	sqlWantError(t, sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/"+id+"/preview?queue-name=nope", nil), 400, "DLI.0002", "There is no queue named nope")
	if n, _ := sqlListIDs(t, srv, "queue_name=Etl"); n != 1 {
		t.Errorf("queue filter: %d", n)
	}
}

// sqlImportBody is a valid import request; edit returns a modified copy.
func sqlImportBody(edit func(m map[string]any)) map[string]any {
	m := map[string]any{
		"data_path": "obs://home/data1/DLI/t1.csv", "data_type": "csv", "database_name": "db2", "table_name": "t2",
		"with_column_header": false, "delimiter": ",", "quote_char": `"`, "escape_char": `"`, "date_format": "yyyy-MM-dd",
		"timestamp_format": "yyyy-MM-dd'T'HH:mm:ss.SSSZ", "overwrite": false,
		"partition_spec": map[string]any{"column1": "2020-01-01", "column2": "columnPartValue"},
	}
	if edit != nil {
		edit(m)
	}
	return m
}

func TestSQLImportValidation(t *testing.T) {
	srv := sqlEmu(t)
	set := func(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }
	del := func(k string) func(map[string]any) { return func(m map[string]any) { delete(m, k) } }
	parquet := func(extra ...string) func(map[string]any) {
		return func(m map[string]any) {
			for _, k := range []string{"with_column_header", "delimiter", "quote_char", "escape_char", "date_format", "timestamp_format"} {
				delete(m, k)
			}
			m["data_type"] = "parquet"
			for _, k := range extra {
				m[k] = sqlImportBody(nil)[k]
			}
		}
	}
	tests := []struct {
		name     string
		edit     func(map[string]any)
		code     string
		fragment string
	}{
		{"data_path missing", del("data_path"), "DLI.0001", "data_path is required"},
		{"data_path not OBS", set("data_path", "hdfs://x/y"), "DLI.0001", "must be an OBS path"},
		{"data_type missing", del("data_type"), "DLI.0001", "data_type is required"},
		{"data_type unknown", set("data_type", "xml"), "DLI.0001", "use csv, parquet, orc, json or avro"},
		{"database_name missing", del("database_name"), "DLI.0001", "database_name is required"},
		{"database_name invalid", set("database_name", "db-2"), "DLI.0001", "database_name"},
		{"table_name missing", del("table_name"), "DLI.0001", "table_name is required"},
		{"table_name invalid", set("table_name", "t 2"), "DLI.0001", "table_name"},
		{"header not bool", set("with_column_header", "yes"), "DLI.0001", "want true or false"},
		{"overwrite not bool", set("overwrite", 1), "DLI.0001", "want true or false"},
		{"delimiter two chars", set("delimiter", ",,"), "DLI.0001", "single character"},
		{"quote_char empty", set("quote_char", ""), "DLI.0001", "single character"},
		{"escape_char two chars", set("escape_char", `\\`), "DLI.0001", "single character"},
		{"delimiter with parquet", parquet("delimiter"), "DLI.0001", "delimiter can only be specified when CSV"},
		{"header with parquet", parquet("with_column_header"), "DLI.0001", "with_column_header can only be specified when CSV"},
		{"date_format with orc", func(m map[string]any) { parquet("date_format")(m); m["data_type"] = "orc" }, "DLI.0001", "CSV or JSON"},
		{"date_format bad letter", set("date_format", "yyyy-MM-dd QQ"), "DLI.0001", "unknown pattern letter 'Q'"},
		{"timestamp_format unclosed quote", set("timestamp_format", "yyyy'T"), "DLI.0001", "unclosed quote"},
		{"bad_records_path not OBS", set("bad_records_path", "/tmp/bad"), "DLI.0001", "bad_records_path"},
		{"partition_spec array", set("partition_spec", []string{"a"}), "DLI.0001", "partition_spec"},
		{"partition_spec bad string", set("partition_spec", "dt"), "DLI.0001", "column=value"},
		{"partition_spec nested", set("partition_spec", map[string]any{"a": map[string]any{}}), "DLI.0001", "partition_spec value of a"},
		{"conf not key=value", set("conf", []string{"x"}), "DLI.0001", "conf[0]"},
		{"queue_name invalid", set("queue_name", "_q"), "DLI.0001", "queue_name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/import-table", sqlImportBody(tc.edit))
			sqlWantError(t, r, 400, tc.code, tc.fragment)
		})
	}
	sqlWantError(t, sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/import-table", "[]"), 400, "DLI.0001", "invalid request body")
	if n := len(srv.Snapshot().SQLJobs); n != 0 {
		t.Errorf("rejected imports made %d jobs", n)
	}
}

func TestSQLImportAcceptedForms(t *testing.T) {
	srv := sqlEmu(t)
	tests := []struct {
		name string
		edit func(map[string]any)
		part map[string]string
	}{
		{"reference example", nil, map[string]string{"column1": "2020-01-01", "column2": "columnPartValue"}},
		{"SDK string partition_spec, JSON", func(m map[string]any) { m["partition_spec"] = `{"dt":"2026-11-25"}` }, map[string]string{"dt": "2026-11-25"}},
		{"SDK string partition_spec, pairs", func(m map[string]any) { m["partition_spec"] = "dt='2026-11-25', h=3" }, map[string]string{"dt": "2026-11-25", "h": "3"}},
		{"numeric partition value, string bools", func(m map[string]any) {
			m["partition_spec"] = map[string]any{"h": 3}
			m["with_column_header"], m["overwrite"] = "true", "true"
		}, map[string]string{"h": "3"}},
		{"parquet minimal, s3a path", func(m map[string]any) {
			clear(m)
			m["data_path"], m["data_type"], m["database_name"] = "s3a://bucket/p/", "PARQUET", "db"
		}, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := sqlImportBody(tc.edit)
			body["table_name"] = fmt.Sprintf("t%d", i) // distinct tables: no concurrency conflict
			r := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/import-table", body)
			if r.status != 200 || r.body["is_success"] != true || r.str("job_mode") != "async" ||
				r.str("message") != fmt.Sprintf("import data to table t%d started", i) {
				t.Fatalf("import: %d %s", r.status, r.raw)
			}
			imps := srv.Snapshot().Imports
			got := imps[len(imps)-1]
			if got.JobID != r.str("job_id") || fmt.Sprint(got.PartitionSpec) != fmt.Sprint(tc.part) {
				t.Errorf("import state %+v", got)
			}
		})
	}
}

func TestSQLImportLifecycleAndDetail(t *testing.T) {
	srv := sqlEmu(t)
	r := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/import-table", sqlImportBody(func(m map[string]any) {
		m["with_column_header"] = true
		delete(m, "escape_char")
		delete(m, "date_format")
	}))
	id := r.str("job_id")
	st := sqlStatusOf(t, srv, id)
	if st.str("job_type") != "IMPORT" || st.str("status") != SQLLaunching || st.str("database_name") != "db2" || st.str("table_name") != "t2" ||
		st.str("statement") != "LOAD DATA INPATH 'obs://home/data1/DLI/t1.csv' INTO TABLE db2.t2 PARTITION (column1='2020-01-01', column2='columnPartValue') OPTIONS ('data_type'='csv')" {
		t.Fatalf("import status: %s", st.raw)
	}
	srv.Advance(2 * time.Second)
	if s := sqlStatusOf(t, srv, id).str("status"); s != SQLRunning {
		t.Errorf("after launch: %s", s)
	}
	srv.Advance(10 * time.Second)
	st = sqlStatusOf(t, srv, id)
	imp := srv.Snapshot().Imports[0]
	if st.str("status") != SQLFinished || st.num("duration") != 12000 || imp.Rows == 0 || float64(imp.Rows) != st.num("result_count") ||
		float64(imp.Rows) != st.num("input_row_count") || imp.EndTime == nil || imp.Status != SQLFinished {
		t.Errorf("finished import: %s / %+v", st.raw, imp)
	}
	d := sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/"+id+"/detail", nil)
	want := map[string]any{
		"job_id": id, "data_path": "obs://home/data1/DLI/t1.csv", "data_type": "csv", "database_name": "db2", "table_name": "t2",
		"with_column_header": true, "delimiter": ",", "quote_char": `"`, "escape_char": `\`, "date_format": "yyyy-MM-dd",
		"timestamp_format": "yyyy-MM-dd'T'HH:mm:ss.SSSZ", "duration": float64(12000), "is_success": true,
	}
	for k, v := range want {
		if d.body[k] != v {
			t.Errorf("detail %s = %v, want %v", k, d.body[k], v)
		}
	}
}

func TestSQLImportOnePerTable(t *testing.T) {
	srv := sqlEmu(t)
	imp := func(table, path string) sqlResp {
		return sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/import-table", sqlImportBody(func(m map[string]any) {
			m["table_name"], m["data_path"] = table, path
		}))
	}
	first := imp("t2", "obs://bkt/one.csv")
	if first.status != 200 {
		t.Fatalf("%s", first.raw)
	}
	busy := "concurrent imports into table db2.t2 are not allowed: import job " + first.str("job_id")
	sqlWantError(t, imp("t2", "obs://bkt/two.csv"), 400, "DLI.0999", busy+" is LAUNCHING")
	sqlWantError(t, imp("T2", "obs://bkt/two.csv"), 400, "DLI.0999", busy) // table names are case-insensitive
	// LOAD DATA through submit-job is an import too.
	r := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/submit-job", map[string]any{"sql": "LOAD DATA INPATH 'obs://bkt/3.csv' INTO TABLE t2", "currentdb": "db2"})
	sqlWantError(t, r, 400, "DLI.0999", busy)
	if other := imp("t3", "obs://bkt/one.csv"); other.status != 200 {
		t.Errorf("another table: %s", other.raw)
	}
	srv.Advance(3 * time.Second)
	sqlWantError(t, imp("t2", "obs://bkt/two.csv"), 400, "DLI.0999", busy+" is RUNNING")
	srv.Advance(9 * time.Second) // the first import has finished
	second := imp("t2", "obs://bkt/two.csv")
	if second.status != 200 {
		t.Fatalf("after the first finished: %s", second.raw)
	}
	// Cancelling frees the table too, and a failed import does not hold it.
	sqlDo(t, srv, "DELETE", "/v1.0/{project_id}/jobs/"+second.str("job_id"), nil)
	failing := imp("t2", "obs://bkt/FAIL.csv")
	if failing.status != 200 {
		t.Fatalf("after cancel: %s", failing.raw)
	}
	srv.Advance(12 * time.Second)
	st := sqlStatusOf(t, srv, failing.str("job_id"))
	if st.str("status") != SQLFailed || !strings.Contains(st.str("message"), "data path contains the FAIL marker") {
		t.Errorf("failing import: %s", st.raw)
	}
	if r := imp("t2", "obs://bkt/four.csv"); r.status != 200 {
		t.Errorf("after failure: %s", r.raw)
	}
}

func TestSQLAdminSetStatus(t *testing.T) {
	srv := sqlEmu(t)
	id := sqlSubmitOK(t, srv, map[string]any{"sql": "select * from t"})
	put := func(id string, body any) sqlResp {
		return sqlDo(t, srv, "PUT", "/_emulator/sql/jobs/"+id, body)
	}
	r := put(id, map[string]any{"status": "RUNNING", "message": "stuck"})
	if r.status != 200 || r.str("status") != SQLRunning || r.body["frozen"] != true {
		t.Fatalf("force RUNNING: %d %s", r.status, r.raw)
	}
	srv.Advance(time.Hour)
	st := sqlStatusOf(t, srv, id)
	if st.str("status") != SQLRunning || st.num("duration") != 3600000 || st.str("message") != "stuck" {
		t.Errorf("frozen job after an hour: %s", st.raw)
	}
	r = put(id, map[string]any{"status": "FAILED"})
	if r.status != 200 || r.str("status") != SQLFailed || !strings.Contains(r.str("message"), "admin API") {
		t.Errorf("force FAILED: %s", r.raw)
	}
	srv.Advance(time.Minute)
	r = put(id, map[string]any{"status": "FINISHED", "message": "ok after all"})
	if st := sqlStatusOf(t, srv, id); st.str("status") != SQLFinished || st.num("duration") != 3600000 || st.str("message") != "ok after all" {
		t.Errorf("re-forced terminal keeps its end: %s", st.raw)
	}
	tests := []struct {
		name, id string
		body     any
		status   int
		code     string
		fragment string
	}{
		{"unknown status", id, map[string]any{"status": "DONE"}, 400, "DLI.0001", `status "DONE"`},
		{"lower case status", id, map[string]any{"status": "running"}, 400, "DLI.0001", "status"},
		{"unknown job", "nope", map[string]any{"status": "FAILED"}, 404, "DLI.0002", "nope"},
		{"bad body", id, `{"status":`, 400, "DLI.0001", "invalid request body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sqlWantError(t, put(tc.id, tc.body), tc.status, tc.code, tc.fragment)
		})
	}
	if err := srv.SetSQLJobStatus("nope", SQLFailed, ""); !errors.Is(err, ErrSQLJobNotFound) {
		t.Errorf("SetSQLJobStatus unknown: %v", err)
	}
	if err := srv.SetSQLJobStatus(id, "X", ""); !errors.Is(err, ErrSQLJobSpec) {
		t.Errorf("SetSQLJobStatus bad status: %v", err)
	}
}

func TestSQLAdminImportLock(t *testing.T) {
	srv := sqlEmu(t)
	body := sqlImportBody(nil)
	first := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/import-table", body)
	if err := srv.SetSQLJobStatus(first.str("job_id"), SQLFailed, "boom"); err != nil {
		t.Fatal(err)
	}
	second := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/import-table", body)
	if second.status != 200 {
		t.Fatalf("forced failure frees the table: %s", second.raw)
	}
	if err := srv.SetSQLJobStatus(second.str("job_id"), SQLFinished, ""); err != nil {
		t.Fatal(err)
	}
	// Re-opening an import takes the table again.
	if err := srv.SetSQLJobStatus(first.str("job_id"), SQLRunning, ""); err != nil {
		t.Fatal(err)
	}
	sqlWantError(t, sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/import-table", body), 400, "DLI.0999", first.str("job_id")+" is RUNNING")
}

func TestSQLAddJobs(t *testing.T) {
	srv := sqlEmu(t)
	bad := []SQLJobSpec{
		{},
		{Statement: "frobnicate"},
		{Statement: "select 1", Status: "DONE"},
		{Statement: "select 1", Queue: "no_such_queue"},
		{Statement: "select 1", EngineType: "flink"},
	}
	for _, sp := range bad {
		if _, err := srv.AddSQLJobs(1, sp); !errors.Is(err, ErrSQLJobSpec) {
			t.Errorf("AddSQLJobs(%+v) = %v, want ErrSQLJobSpec", sp, err)
		}
	}
	// The natural lifecycle from a past start is caught up at once.
	ids, err := srv.AddSQLJobs(2, SQLJobSpec{Statement: "select * from t", StartTime: sqlStart.Add(-time.Hour), Spacing: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		st, ok := srv.SQLJob(id)
		if !ok || st.Status != SQLFinished || !st.StartTime.Equal(sqlStart.Add(-time.Hour+time.Duration(i)*time.Minute)) || st.DurationMS != 7000 {
			t.Errorf("job %d: %+v", i, st)
		}
	}
	ids, _ = srv.AddSQLJobs(1, SQLJobSpec{Statement: "select FAIL", StartTime: sqlStart.Add(-time.Second)})
	if st, _ := srv.SQLJob(ids[0]); st.Status != SQLLaunching {
		t.Errorf("young job: %+v", st)
	}
	srv.Advance(10 * time.Second)
	if st, _ := srv.SQLJob(ids[0]); st.Status != SQLFailed {
		t.Errorf("FAIL job: %+v", st)
	}
	if _, ok := srv.SQLJob("nope"); ok {
		t.Error("SQLJob(nope) found")
	}
}

func TestSQLSeed(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true, Start: sqlStart, Seed: "demo"})
	st := srv.Snapshot()
	statuses := map[string]int{}
	for _, j := range st.SQLJobs {
		statuses[j.Status]++
		if j.Queue != "default" {
			t.Errorf("seed job on %s", j.Queue)
		}
	}
	for _, s := range []string{SQLLaunching, SQLRunning, SQLFinished, SQLFailed, SQLCancelled} {
		if statuses[s] == 0 {
			t.Errorf("no seeded job is %s: %v", s, statuses)
		}
	}
	if len(st.Imports) != 1 || st.Imports[0].Status != SQLFinished || st.Imports[0].Rows == 0 || st.Imports[0].Table != "events" {
		t.Errorf("seeded imports: %+v", st.Imports)
	}
	// The seeded finished query can be previewed; frozen jobs stay put.
	srv.Advance(24 * time.Hour)
	n, ids := sqlListIDs(t, srv, "job-type=QUERY&job-status=FINISHED")
	if n != 1 {
		t.Fatalf("finished queries: %d", n)
	}
	if r := sqlDo(t, srv, "GET", "/v1.0/{project_id}/jobs/"+ids[0]+"/preview", nil); r.status != 200 || r.num("row_count") != 5 {
		t.Errorf("preview seeded query: %s", r.raw)
	}
	if n, _ := sqlListIDs(t, srv, "job-status=RUNNING"); n != 1 {
		t.Errorf("running after a day: %d", n)
	}
}

// TestSQLParseLoad: the LOAD DATA path is a Spark string literal (either
// quote, backslash escapes), so a key with quotes, backslashes, semicolons
// or comment markers still shows the target table.
func TestSQLParseLoad(t *testing.T) {
	tests := []struct {
		stmt      string
		ok        bool
		path      string
		overwrite bool
		table     string
	}{
		{"LOAD DATA INPATH 'obs://b/p' INTO TABLE db.t", true, "obs://b/p", false, "db.t"},
		{"load data local inpath \"obs://b/p\" overwrite into table `db`.`t`", true, "obs://b/p", true, "`db`.`t`"},
		{`LOAD DATA INPATH 'obs://b/it\'s.csv' INTO TABLE db.t`, true, "obs://b/it's.csv", false, "db.t"},
		{`LOAD DATA INPATH "obs://b/say \"hi\".csv" INTO TABLE t`, true, `obs://b/say "hi".csv`, false, "t"},
		{`LOAD DATA INPATH 'obs://b/say "hi" it''s' INTO TABLE t`, false, "", false, ""}, // '' is two literals in Spark, not an escape
		{`LOAD DATA INPATH "it's" INTO TABLE t`, true, "it's", false, "t"},
		{`LOAD DATA INPATH 'back\\slash\\' INTO TABLE t`, true, `back\slash\`, false, "t"},
		// The key it's "x" \; DROP TABLE events; -- as obsimport quotes it.
		{`LOAD DATA INPATH 'obs://raw-data/it\'s \"x\" \\; DROP TABLE events; --' INTO TABLE ` + "`analytics`.`events`" + ` PARTITION (dt='1')`,
			true, `obs://raw-data/it's "x" \; DROP TABLE events; --`, false, "`analytics`.`events`"},
		{`LOAD DATA INPATH '\'; DROP TABLE x; --' OVERWRITE INTO TABLE db.t`, true, `'; DROP TABLE x; --`, true, "db.t"},
		{`LOAD DATA INPATH 'a\nb\tc\rd\0e\Zf\bg' INTO TABLE t`, true, "a\nb\tc\rd\x00e\x1af\bg", false, "t"},
		{`LOAD DATA INPATH 'nul\u0000 esc\u001b \u4e2d \001\101' INTO TABLE t`, true, "nul\x00 esc\x1b 中 \x01A", false, "t"},
		{`LOAD DATA INPATH 'like\%\_ \q\y' INTO TABLE t`, true, `like\%\_ qy`, false, "t"},
		{`LOAD DATA INPATH 'short\u12' INTO TABLE t`, true, "shortu12", false, "t"},
		{`LOAD DATA INPATH R'raw\' INTO TABLE t`, true, `raw\`, false, "t"},
		{`LOAD DATA INPATH r"C:\dir\" INTO TABLE t`, true, `C:\dir\`, false, "t"},
		{"-- lead\n/* block; 'x' */ LOAD DATA INPATH 'obs://b/a--b/*c*/' INTO TABLE db.t", true, "obs://b/a--b/*c*/", false, "db.t"},
		{`LOAD DATA INPATH 'unterminated\' INTO TABLE t`, false, "", false, ""},
		{`LOAD DATA INPATH 'ends with backslash\`, false, "", false, ""},
		{`LOAD DATA INPATH obs://b/p INTO TABLE t`, false, "", false, ""},
		{`LOAD DATA INPATH 'p'`, false, "", false, ""},
		{`SELECT 'LOAD DATA INPATH'`, false, "", false, ""},
	}
	for _, tc := range tests {
		l, ok := sqlParseLoad(tc.stmt)
		if ok != tc.ok || ok && (l.path != tc.path || l.overwrite != tc.overwrite || l.table != tc.table) {
			t.Errorf("sqlParseLoad(%q) = %+v, %v; want {%q %v %q}, %v", tc.stmt, l, ok, tc.path, tc.overwrite, tc.table, tc.ok)
		}
	}
}

// TestSQLLoadDataEscapedPathLocks: a LOAD DATA whose path has escaped
// quotes holds its table like any import; the job records the decoded path.
func TestSQLLoadDataEscapedPathLocks(t *testing.T) {
	srv := sqlEmu(t)
	key := `obs://raw-data/it's "x" \; DROP TABLE events; --.csv`
	stmt := `LOAD DATA INPATH 'obs://raw-data/it\'s \"x\" \\; DROP TABLE events; --.csv' INTO TABLE ` + "`analytics`.`events`"
	first := sqlSubmitOK(t, srv, map[string]any{"sql": stmt})
	st := sqlStatusOf(t, srv, first)
	if st.str("database_name") != "analytics" || st.str("table_name") != "events" || st.str("job_type") != "IMPORT" {
		t.Errorf("status %s", st.raw)
	}
	var found bool
	for _, imp := range srv.Snapshot().Imports {
		found = found || imp.JobID == first && imp.DataPath == key && imp.Table == "events"
	}
	if !found {
		t.Errorf("no import of %q into events: %+v", key, srv.Snapshot().Imports)
	}
	for _, again := range []string{
		stmt,
		`LOAD DATA INPATH "obs://raw-data/other \"y\".csv" INTO TABLE analytics.events`,
	} {
		r := sqlDo(t, srv, "POST", "/v1.0/{project_id}/jobs/submit-job", map[string]any{"sql": again})
		sqlWantError(t, r, 400, "DLI.0999", "concurrent imports into table analytics.events are not allowed: import job "+first)
	}
}
