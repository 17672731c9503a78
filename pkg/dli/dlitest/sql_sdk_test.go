package dlitest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1/model"
)

// SQL endpoints through the official SDK (signed requests, the SDK's own
// response models) and golden files of every SQL response shape.

func TestSQLThroughSDK(t *testing.T) {
	// Signed requests: the clock must be near the wall clock.
	srv := NewServer(t)
	if err := srv.AddQueue(QueueSpec{Name: "etl", Type: QueueTypeSQL, CUCount: 16}); err != nil {
		t.Fatal(err)
	}
	c := sdkClient(t, srv)
	t0 := srv.Clock().Now()

	// 7.3.3 submit, async query.
	sub, err := c.CreateSqlJob(&model.CreateSqlJobRequest{Body: &model.CreateSqlJobRequestBody{
		Sql: "SELECT id, name FROM db1.t1 LIMIT 3", Currentdb: ptr("db1"), QueueName: ptr("etl"),
		EngineType: ptr(model.GetCreateSqlJobRequestBodyEngineTypeEnum().SPARK),
		Conf:       &[]string{"spark.sql.shuffle.partitions=200"},
		Tags:       &[]model.Tag{{Key: "workspace", Value: "space1"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !*sub.IsSuccess || *sub.JobId == "" || sub.JobType.Value() != "QUERY" || sub.JobMode.Value() != "async" || sub.HttpStatusCode != 200 {
		t.Fatalf("submit: %+v", sub)
	}
	id := *sub.JobId

	// 7.3.7 status while launching.
	st, err := c.ShowSqlJobStatus(&model.ShowSqlJobStatusRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.Value() != SQLLaunching || st.JobType.Value() != "QUERY" || *st.QueueName != "etl" || *st.JobMode != "async" ||
		*st.StartTime != t0.UnixMilli() || *st.Statement != "SELECT id, name FROM db1.t1 LIMIT 3" || len(*st.Tags) != 1 || *st.Owner != sqlDefaultOwner {
		t.Errorf("status: %+v", st)
	}
	srv.Advance(7 * time.Second)
	st, err = c.ShowSqlJobStatus(&model.ShowSqlJobStatusRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.Value() != SQLFinished || *st.Duration != 7000 || *st.ResultCount != 3 || *st.DatabaseName != "db1" ||
		*st.TableName != "t1" || !strings.Contains(*st.Detail, `"name":"id","type":"integer"`) {
		t.Errorf("finished status: %+v", st)
	}

	// 7.3.6 preview.
	pv, err := c.PreviewSqlJobResult(&model.PreviewSqlJobResultRequest{JobId: id, QueueName: ptr("etl")})
	if err != nil {
		t.Fatal(err)
	}
	if *pv.RowCount != 3 || len(*pv.Rows) != 3 || (*pv.Schema)[0]["id"] != "int" || (*pv.Schema)[1]["name"] != "string" ||
		pv.JobType.Value() != "QUERY" || (*pv.Rows)[2][1] != "name_3" {
		t.Errorf("preview: %+v", pv)
	}

	// 7.3.3 synchronous DDL with schema and rows.
	ddl, err := c.CreateSqlJob(&model.CreateSqlJobRequest{Body: &model.CreateSqlJobRequestBody{Sql: "desc table1", Currentdb: ptr("db1")}})
	if err != nil {
		t.Fatal(err)
	}
	if ddl.JobMode.Value() != "sync" || ddl.JobType.Value() != "DDL" || len(*ddl.Schema) != 3 || len(*ddl.Rows) != 2 || (*ddl.Rows)[0][0] != "id" {
		t.Errorf("DDL: %+v", ddl)
	}

	// 7.3.1 import with the SDK's string partition_spec, then 7.3.8 detail.
	imp, err := c.ImportTable(&model.ImportTableRequest{Body: &model.ImportTableRequestBody{
		DataPath: "obs://bucket/landing/dt=2026-11-25/a.csv", DataType: "csv", DatabaseName: "db1", TableName: "events",
		WithColumnHeader: ptr(true), Delimiter: ptr(";"), QueueName: ptr("etl"), Overwrite: ptr(true),
		PartitionSpec: ptr(`{"dt":"2026-11-25"}`), Conf: &[]string{"dli.sql.dynamicPartitionOverwrite.enabled=true"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !*imp.IsSuccess || *imp.JobMode != "async" || *imp.Message != "import data to table events started" {
		t.Errorf("import: %+v", imp)
	}
	// A second import into the same table is refused while the first runs.
	_, err = c.ImportTable(&model.ImportTableRequest{Body: &model.ImportTableRequestBody{
		DataPath: "obs://bucket/landing/b.csv", DataType: "csv", DatabaseName: "db1", TableName: "events"}})
	var se *sdkerr.ServiceResponseError
	if !errors.As(err, &se) || se.StatusCode != 400 || se.ErrorCode != "DLI.0999" || !strings.Contains(se.ErrorMessage, "concurrent imports") {
		t.Errorf("second import: %v", err)
	}
	det, err := c.ShowSqlJobDetail(&model.ShowSqlJobDetailRequest{JobId: *imp.JobId})
	if err != nil {
		t.Fatal(err)
	}
	if *det.DataPath != "obs://bucket/landing/dt=2026-11-25/a.csv" || *det.DataType != "csv" || !*det.WithColumnHeader ||
		*det.Delimiter != ";" || *det.QuoteChar != `"` || *det.TableName != "events" || *det.DateFormat != "yyyy-MM-dd" {
		t.Errorf("detail: %+v", det)
	}

	// 7.3.4 cancel the import; cancelling again is refused.
	cn, err := c.CancelSqlJob(&model.CancelSqlJobRequest{JobId: *imp.JobId})
	if err != nil || !*cn.IsSuccess {
		t.Fatalf("cancel: %+v %v", cn, err)
	}
	_, err = c.CancelSqlJob(&model.CancelSqlJobRequest{JobId: *imp.JobId})
	if !errors.As(err, &se) || se.ErrorCode != "DLI.0007" {
		t.Errorf("second cancel: %v", err)
	}
	_, err = c.ShowSqlJobStatus(&model.ShowSqlJobStatusRequest{JobId: "no-such-job"})
	if !errors.As(err, &se) || se.StatusCode != 400 || se.ErrorCode != "DLI.0002" {
		t.Errorf("unknown job: %v", err)
	}

	// 7.3.5 list with the SDK's filters.
	if _, err := srv.AddSQLJobs(150, SQLJobSpec{Statement: "INSERT INTO db1.daily SELECT 1", Status: SQLFinished, StartTime: t0.Add(-time.Hour), Spacing: time.Second}); err != nil {
		t.Fatal(err)
	}
	ls, err := c.ListSqlJobs(&model.ListSqlJobsRequest{
		PageSize: ptr(int32(100)), CurrentPage: ptr(int32(2)),
		JobType: ptr(model.GetListSqlJobsRequestJobTypeEnum().INSERT), JobStatus: ptr(model.GetListSqlJobsRequestJobStatusEnum().FINISHED),
		Order: ptr(model.GetListSqlJobsRequestOrderEnum().START_TIME_ASC), QueueName: ptr("default"),
		SqlPattern: ptr("insert into"), EngineType: ptr(model.GetListSqlJobsRequestEngineTypeEnum().SPARK),
		Start: ptr(t0.Add(-2 * time.Hour).UnixMilli()), End: ptr(t0.UnixMilli()), DbName: ptr("db1"), TableName: ptr("daily"),
		JobTypes: &[]model.ListSqlJobsRequestJobTypes{model.GetListSqlJobsRequestJobTypesEnum().INSERT, model.GetListSqlJobsRequestJobTypesEnum().QUERY},
	})
	if err != nil {
		t.Fatal(err)
	}
	if *ls.JobCount != 150 || len(*ls.Jobs) != 50 {
		t.Fatalf("list: count %d, %d jobs", *ls.JobCount, len(*ls.Jobs))
	}
	j := (*ls.Jobs)[0]
	if j.Status.Value() != SQLFinished || j.JobType != "INSERT" || j.StartTime != t0.Add(-time.Hour+100*time.Second).UnixMilli() ||
		*j.Duration != 7000 || *j.EndTime != j.StartTime+7000 || j.ResultCount == 0 || *j.InputRowCount != j.ResultCount ||
		*j.TableName != "daily" || j.EngineType.Value() != "spark" || j.Statement != "INSERT INTO db1.daily SELECT 1" {
		t.Errorf("list entry: %+v", j)
	}
	ls, err = c.ListSqlJobs(&model.ListSqlJobsRequest{Tags: ptr("workspace=space1")})
	if err != nil || *ls.JobCount != 1 || (*ls.Jobs)[0].JobId != id || (*(*ls.Jobs)[0].Tags)[0].Value != "space1" {
		t.Errorf("tag filter: %v %+v", err, ls)
	}
	_, err = c.ListSqlJobs(&model.ListSqlJobsRequest{PageSize: ptr(int32(101))})
	if !errors.As(err, &se) || se.ErrorCode != "DLI.0001" {
		t.Errorf("page-size 101: %v", err)
	}
}

func TestSQLGolden(t *testing.T) {
	srv := sqlEmu(t)
	steps := []struct {
		name, method, path string
		body               any
		advance            time.Duration
	}{
		{"sql_submit_query", "POST", "/v1.0/{project_id}/jobs/submit-job", map[string]any{
			"currentdb": "db1", "sql": "select id, name, count(*) AS n from t1 group by id, name limit 2", "queue_name": "default",
			"conf": []string{"dli.sql.shuffle.partitions = 200"}, "tags": []map[string]string{{"key": "workspace", "value": "space1"}, {"key": "jobName", "value": "name1"}},
		}, 0},
		{"sql_submit_ddl", "POST", "/v1.0/{project_id}/jobs/submit-job", map[string]any{"currentdb": "db1", "sql": "desc table1", "queue_name": "default"}, 0},
		{"sql_import", "POST", "/v1.0/{project_id}/jobs/import-table", sqlImportBody(nil), 0},
		{"sql_status_running", "GET", "/v1.0/{project_id}/jobs/00000001-5a1e-4000-8000-000000000001/status", nil, 3 * time.Second},
		{"sql_status_finished", "GET", "/v1.0/{project_id}/jobs/00000001-5a1e-4000-8000-000000000001/status", nil, 4 * time.Second},
		{"sql_preview", "GET", "/v1.0/{project_id}/jobs/00000001-5a1e-4000-8000-000000000001/preview", nil, 0},
		{"sql_detail_import", "GET", "/v1.0/{project_id}/jobs/00000003-5a1e-4000-8000-000000000003/detail", nil, 10 * time.Second},
		{"sql_list", "GET", "/v1.0/{project_id}/jobs?page-size=10&order=start_time_asc", nil, 0},
		{"sql_cancel_error", "DELETE", "/v1.0/{project_id}/jobs/00000001-5a1e-4000-8000-000000000001", nil, 0},
		{"sql_error_not_found", "GET", "/v1.0/{project_id}/jobs/nope/status", nil, 0},
	}
	for _, st := range steps {
		srv.Advance(st.advance)
		r := sqlDo(t, srv, st.method, st.path, st.body)
		golden(t, st.name+".golden", r.raw)
	}
	// A cancel that succeeds.
	id := sqlSubmitOK(t, srv, map[string]any{"sql": "select 1"})
	golden(t, "sql_cancel.golden", sqlDo(t, srv, "DELETE", "/v1.0/{project_id}/jobs/"+id, nil).raw)
}
