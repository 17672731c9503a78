package dli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

func TestSQLJobLifecycle(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 32)
	c, _ := newClient(t, srv)
	ctx := context.Background()

	sub, err := c.SubmitSQL(ctx, SQLRequest{SQL: "select * from t1", Database: "db1", Queue: "etl",
		Conf: []string{"spark.sql.shuffle.partitions=200"}, Tags: []Tag{{"workspace", "space1"}}})
	if err != nil {
		t.Fatalf("SubmitSQL: %v", err)
	}
	if sub.JobID == "" || sub.JobType != "QUERY" || sub.Mode != "async" {
		t.Fatalf("SubmitSQL = %+v, want a QUERY job id in async mode", sub)
	}
	st, err := c.SQLJobStatus(ctx, sub.JobID)
	if err != nil {
		t.Fatalf("SQLJobStatus: %v", err)
	}
	if st.ID != sub.JobID || st.Queue != "etl" || st.Statement != "select * from t1" || st.Status.Terminal() ||
		st.Started.IsZero() || len(st.Tags) != 1 || st.Tags[0] != (Tag{"workspace", "space1"}) {
		t.Errorf("SQLJobStatus = %+v, want the running job with its queue, statement, start and tag", st)
	}
	tm := srv.Options().Timing
	srv.Advance(tm.SQLLaunch + tm.SQLRun + time.Second)
	st, err = c.SQLJobStatus(ctx, sub.JobID)
	if err != nil || st.Status != SQLFinished || !st.Status.Terminal() || st.Duration == 0 {
		t.Fatalf("after the lifecycle: SQLJobStatus = %+v, %v; want FINISHED with a duration", st, err)
	}
	res, err := c.PreviewSQLResult(ctx, sub.JobID, "etl")
	if err != nil {
		t.Fatalf("PreviewSQLResult: %v", err)
	}
	if res.JobID != sub.JobID || len(res.Columns) == 0 || res.Columns[0].Name == "" || res.RowCount != len(res.Rows) {
		t.Errorf("PreviewSQLResult = %+v, want named columns and row_count rows", res)
	}
	for _, row := range res.Rows {
		if len(row) != len(res.Columns) {
			t.Errorf("row %v has %d values for %d columns", row, len(row), len(res.Columns))
		}
	}
	det, err := c.SQLJobDetail(ctx, sub.JobID)
	if err != nil || det.JobID != sub.JobID {
		t.Errorf("SQLJobDetail = %+v, %v", det, err)
	}

	// Cancel a running job.
	sub2, err := c.SubmitSQL(ctx, SQLRequest{SQL: "insert into t2 select * from t1", Queue: "etl"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CancelSQLJob(ctx, sub2.JobID); err != nil {
		t.Fatalf("CancelSQLJob: %v", err)
	}
	if st, err := c.SQLJobStatus(ctx, sub2.JobID); err != nil || st.Status != SQLCancelled {
		t.Errorf("after cancel: %+v, %v; want CANCELLED", st, err)
	}
	// A finished job cannot be cancelled.
	wantErr(t, c.CancelSQLJob(ctx, sub.JobID), nil, 400)
}

func TestSQLSyncDDL(t *testing.T) {
	srv := newServer(t)
	c, _ := newClient(t, srv)
	sub, err := c.SubmitSQL(context.Background(), SQLRequest{SQL: "desc table1", Database: "db1"})
	if err != nil {
		t.Fatalf("SubmitSQL(desc): %v", err)
	}
	if sub.JobType != "DDL" || sub.Mode != "sync" || len(sub.Schema) == 0 {
		t.Errorf("SubmitSQL(desc) = %+v, want a synchronous DDL with a schema", sub)
	}
}

func TestImportData(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 32)
	c, _ := newClient(t, srv)
	ctx := context.Background()
	req := ImportRequest{DataPath: "obs://raw/landing/events/dt=2026-11-26/a.csv", DataType: "csv",
		Database: "analytics", Table: "events", WithColumnHeader: true, Delimiter: ",", Queue: "etl",
		Partition: map[string]string{"dt": "2026-11-26"}}
	id, err := c.ImportData(ctx, req)
	if err != nil {
		t.Fatalf("ImportData: %v", err)
	}
	if id == "" {
		t.Fatal("ImportData returned no job id")
	}
	st, err := c.SQLJobStatus(ctx, id)
	if err != nil || st.Type != "IMPORT" || st.Database != "analytics" || st.Table != "events" {
		t.Errorf("SQLJobStatus(import) = %+v, %v; want an IMPORT job into analytics.events", st, err)
	}
	det, err := c.SQLJobDetail(ctx, id)
	if err != nil || det.DataPath != req.DataPath || det.DataType != "csv" || !det.WithColumnHeader || det.Delimiter != "," {
		t.Errorf("SQLJobDetail(import) = %+v, %v; want the import's path, type, header and delimiter", det, err)
	}
	// One import per table at a time.
	_, err = c.ImportData(ctx, req)
	wantErr(t, err, nil, 400)
	srv.Advance(srv.Options().Timing.ImportRun + srv.Options().Timing.SQLLaunch + time.Second)
	if st, err := c.SQLJobStatus(ctx, id); err != nil || st.Status != SQLFinished {
		t.Errorf("after the import's run time: %+v, %v; want FINISHED", st, err)
	}
	if _, err := c.ImportData(ctx, req); err != nil {
		t.Errorf("a second import after the first finished: %v", err)
	}
}

func TestSQLErrors(t *testing.T) {
	srv := newServer(t)
	c, _ := newClient(t, srv)
	ctx := context.Background()

	_, err := c.SubmitSQL(ctx, SQLRequest{SQL: "select 1", Queue: "nope"})
	wantErr(t, err, ErrNotFound, 0)
	_, err = c.SubmitSQL(ctx, SQLRequest{SQL: "frobnicate the table"})
	wantErr(t, err, ErrInvalid, 400)
	_, err = c.SQLJobStatus(ctx, "no-such-job")
	wantErr(t, err, ErrNotFound, 0)
	_, err = c.SQLJobDetail(ctx, "no-such-job")
	wantErr(t, err, ErrNotFound, 0)
	_, err = c.PreviewSQLResult(ctx, "no-such-job", "")
	wantErr(t, err, ErrNotFound, 0)
	wantErr(t, c.CancelSQLJob(ctx, "no-such-job"), ErrNotFound, 0)
	_, err = c.ImportData(ctx, ImportRequest{DataPath: "obs://bkt/x.csv", DataType: "csv", Database: "d", Table: "t", Queue: "nope"})
	wantErr(t, err, ErrNotFound, 0)
	_, err = c.ImportData(ctx, ImportRequest{DataPath: "obs://bkt/x.csv", DataType: "xls", Database: "d", Table: "t"})
	wantErr(t, err, ErrInvalid, 400)
	_, err = c.ListSQLJobs(ctx, SQLJobQuery{Status: "BOGUS"})
	wantErr(t, err, ErrInvalid, 400)

	before := len(srv.Requests())
	for _, err := range []error{
		func() error { _, err := c.SubmitSQL(ctx, SQLRequest{SQL: "  "}); return err }(),
		func() error {
			_, err := c.ImportData(ctx, ImportRequest{DataType: "csv", Database: "d", Table: "t"})
			return err
		}(),
		func() error {
			_, err := c.ImportData(ctx, ImportRequest{DataPath: "obs://b/x", Database: "d", Table: "t"})
			return err
		}(),
		func() error {
			_, err := c.ImportData(ctx, ImportRequest{DataPath: "obs://b/x", DataType: "csv"})
			return err
		}(),
		func() error { _, err := c.SQLJobStatus(ctx, ""); return err }(),
		func() error { _, err := c.SQLJobDetail(ctx, ""); return err }(),
		func() error { _, err := c.PreviewSQLResult(ctx, "", ""); return err }(),
		c.CancelSQLJob(ctx, ""),
		func() error { _, err := c.ListSQLJobs(ctx, SQLJobQuery{PageSize: 101}); return err }(),
		func() error { _, err := c.ListSQLJobs(ctx, SQLJobQuery{Page: -1}); return err }(),
	} {
		wantErr(t, err, ErrInvalid, 0)
	}
	if n := len(srv.Requests()); n != before {
		t.Errorf("invalid calls sent %d requests", n-before)
	}
}

func TestSQLJobsPagination(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "etl", "sql", 32)
	ids, err := srv.AddSQLJobs(25, dlitest.SQLJobSpec{Statement: "select * from t", Queue: "etl", Status: "FINISHED",
		StartTime: testStart.Add(-time.Hour), Spacing: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddSQLJobs(5, dlitest.SQLJobSpec{Statement: "select * from u", Status: "FAILED",
		StartTime: testStart.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, srv)
	ctx := context.Background()

	q := SQLJobQuery{PageSize: 10, Queue: "etl", Order: "start_time_asc"}
	got, err := Collect(c.SQLJobs(ctx, q))
	if err != nil {
		t.Fatalf("SQLJobs: %v", err)
	}
	if len(got) != len(ids) {
		t.Fatalf("SQLJobs returned %d jobs, want %d", len(got), len(ids))
	}
	for i, j := range got {
		if j.ID != ids[i] || j.Queue != "etl" || j.Status != SQLFinished {
			t.Errorf("job %d = %s on %s (%s), want %s on etl FINISHED", i, j.ID, j.Queue, j.Status, ids[i])
		}
	}
	if n := countRequests(srv, "GET", "/v1.0/"+srv.Options().ProjectID+"/jobs"); n != 3 {
		t.Errorf("SQLJobs made %d list calls for 25 jobs in pages of 10, want 3", n)
	}
	page, err := c.ListSQLJobs(ctx, SQLJobQuery{Page: 3, PageSize: 10, Queue: "etl"})
	if err != nil || page.Total != 25 || len(page.Jobs) != 5 {
		t.Errorf("ListSQLJobs(page 3) = %d jobs of %d, %v; want 5 of 25", len(page.Jobs), page.Total, err)
	}

	// Filters: status, time window.
	failed, err := Collect(c.SQLJobs(ctx, SQLJobQuery{Status: SQLFailed, PageSize: 2}))
	if err != nil || len(failed) != 5 {
		t.Errorf("SQLJobs(FAILED) = %d jobs, %v; want 5", len(failed), err)
	}
	window, err := Collect(c.SQLJobs(ctx, SQLJobQuery{Queue: "etl", Start: testStart.Add(-time.Hour + 9*time.Minute + time.Second),
		End: testStart.Add(-time.Hour + 20*time.Minute - time.Second), PageSize: 3}))
	if err != nil || len(window) != 10 {
		t.Errorf("SQLJobs(time window of 10 jobs) = %d jobs, %v", len(window), err)
	}

	// Breaking out of the loop stops fetching.
	before := len(srv.Requests())
	for range c.SQLJobs(ctx, SQLJobQuery{PageSize: 5}) {
		break
	}
	if n := len(srv.Requests()) - before; n != 1 {
		t.Errorf("breaking after the first job made %d calls, want 1", n)
	}

	// An error ends the iteration and is yielded.
	if err := srv.AddFault(dlitest.Fault{Method: "GET", PathRegex: "/jobs$", Status: 400, ErrorCode: "DLI.0001"}); err != nil {
		t.Fatal(err)
	}
	var n int
	var lastErr error
	for _, err := range c.SQLJobs(ctx, q) {
		n++
		lastErr = err
	}
	if n != 1 || lastErr == nil {
		t.Errorf("iteration over a failing list yielded %d items, last error %v; want 1 error", n, lastErr)
	}
	srv.ClearFaults()
}

// TestImportDataNonCSV imports parquet and json into the emulator, which
// refuses the CSV-only options for them (and the date formats for
// parquet), as DLI does (reference 7.3.1): options that do not apply to
// the data type are not sent.
func TestImportDataNonCSV(t *testing.T) {
	srv := newServer(t)
	c, _ := newClient(t, srv)
	ctx := context.Background()
	for _, tc := range []struct {
		typ   string
		sent  []string // body fields that must be sent
		unset []string // body fields that must not be
	}{
		{"parquet", nil, []string{"with_column_header", "delimiter", "quote_char", "escape_char", "date_format", "timestamp_format"}},
		{"json", []string{"date_format", "timestamp_format"}, []string{"with_column_header", "delimiter", "quote_char", "escape_char"}},
		{"CSV", []string{"with_column_header", "delimiter", "quote_char", "escape_char", "date_format", "timestamp_format"}, nil},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			srv.ClearRequests()
			// Every option set, as a caller that does not know the data
			// type's rules might do.
			id, err := c.ImportData(ctx, ImportRequest{DataPath: "obs://raw/landing/x/a." + strings.ToLower(tc.typ), DataType: tc.typ,
				Database: "analytics", Table: "t_" + strings.ToLower(tc.typ), WithColumnHeader: true, Delimiter: ";",
				QuoteChar: "'", EscapeChar: "\\", DateFormat: "yyyy-MM-dd", TimestampFormat: "yyyy-MM-dd HH:mm:ss"})
			if err != nil || id == "" {
				t.Fatalf("ImportData(%s) = %q, %v", tc.typ, id, err)
			}
			st, err := c.SQLJobStatus(ctx, id)
			if err != nil || st.Type != "IMPORT" || st.Table != "t_"+strings.ToLower(tc.typ) {
				t.Errorf("SQLJobStatus = %+v, %v", st, err)
			}
			var body map[string]any
			for _, r := range srv.Requests() {
				if strings.HasSuffix(r.Path, "/jobs/import-table") {
					if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
						t.Fatal(err)
					}
				}
			}
			if body == nil {
				t.Fatal("no import-table request recorded")
			}
			for _, k := range tc.sent {
				if _, ok := body[k]; !ok {
					t.Errorf("%s not sent: %v", k, body)
				}
			}
			for _, k := range tc.unset {
				if _, ok := body[k]; ok {
					t.Errorf("%s sent for %s: %v", k, tc.typ, body)
				}
			}
		})
	}
}
