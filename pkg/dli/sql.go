package dli

import (
	"context"
	"iter"
	"strings"
	"time"

	dlisdk "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1/model"
)

// SQLJobStatus is a SQL job's status (reference 7.3.5 and 7.3.7).
type SQLJobStatus string

// SQL job statuses.
const (
	SQLLaunching SQLJobStatus = "LAUNCHING"
	SQLRunning   SQLJobStatus = "RUNNING"
	SQLScaling   SQLJobStatus = "SCALING"
	SQLFinished  SQLJobStatus = "FINISHED"
	SQLFailed    SQLJobStatus = "FAILED"
	SQLCancelled SQLJobStatus = "CANCELLED"
)

// Terminal reports whether the job has ended (finished, failed or
// cancelled).
func (s SQLJobStatus) Terminal() bool {
	switch SQLJobStatus(strings.ToUpper(string(s))) {
	case SQLFinished, SQLFailed, SQLCancelled:
		return true
	}
	return false
}

// Tag is a job tag (key/value).
type Tag struct {
	Key, Value string
}

func sdkTags(tags []Tag) *[]model.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]model.Tag, len(tags))
	for i, t := range tags {
		out[i] = model.Tag{Key: t.Key, Value: t.Value}
	}
	return &out
}

func fromSDKTags(p *[]model.Tag) []Tag {
	if p == nil || len(*p) == 0 {
		return nil
	}
	out := make([]Tag, len(*p))
	for i, t := range *p {
		out[i] = Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

// SQLRequest is a SQL job to submit (reference 7.3.3).
type SQLRequest struct {
	// SQL is the statement. Required.
	SQL string
	// Database is the database the statement runs in (currentdb).
	Database string
	// Queue is the queue to run on; empty means DLI's default queue.
	Queue string
	// Conf holds "key=value" job settings, e.g.
	// "spark.sql.shuffle.partitions=200".
	Conf []string
	// Tags label the job.
	Tags []Tag
}

// SQLSubmission is DLI's answer to a submitted SQL job.
type SQLSubmission struct {
	JobID string
	// JobType is DDL, DCL, IMPORT, EXPORT, QUERY or INSERT.
	JobType string
	// Mode is "async" or "sync".
	Mode string
	// Schema and Rows hold the result of a synchronous statement (DDL).
	Schema []any
	Rows   [][]any
}

// SubmitSQL submits a SQL job (reference 7.3.3). It is not retried after
// an ambiguous failure: a second submit would run the statement twice.
func (c *Client) SubmitSQL(ctx context.Context, req SQLRequest) (SQLSubmission, error) {
	const op = "SubmitSQL"
	if strings.TrimSpace(req.SQL) == "" {
		return SQLSubmission{}, invalidf(op, "SQL statement is empty")
	}
	var out SQLSubmission
	err := c.call(ctx, op, false, func(s *dlisdk.DliClient) error {
		resp, err := s.CreateSqlJob(&model.CreateSqlJobRequest{Body: &model.CreateSqlJobRequestBody{
			Sql: req.SQL, Currentdb: opt(req.Database), QueueName: opt(req.Queue),
			Conf: optSlice(req.Conf), Tags: sdkTags(req.Tags),
		}})
		if err != nil {
			return err
		}
		if err := checkSuccess(resp.IsSuccess, resp.Message); err != nil {
			return err
		}
		out = SQLSubmission{JobID: deref(resp.JobId), JobType: enumValue(resp.JobType), Mode: enumValue(resp.JobMode),
			Schema: deref(resp.Schema), Rows: deref(resp.Rows)}
		return nil
	})
	return out, err
}

// ImportRequest is a data import from OBS into a table (reference 7.3.1).
type ImportRequest struct {
	// DataPath is the OBS path of the data, e.g. "obs://bucket/dir/file.csv".
	// Required.
	DataPath string
	// DataType is csv, parquet, orc, json or avro. Required.
	DataType string
	// Database and Table name the target table. Required.
	Database, Table string
	// WithColumnHeader: the CSV data's first line holds column names.
	// Sent (default false) only when DataType is csv: DLI accepts it for
	// CSV only.
	WithColumnHeader bool
	// Delimiter, QuoteChar and EscapeChar shape CSV data; empty means DLI's
	// default (",", `"`, `\`). Sent only when DataType is csv.
	Delimiter, QuoteChar, EscapeChar string
	// DateFormat and TimestampFormat parse CSV/JSON dates; empty means DLI's
	// default (yyyy-MM-dd, yyyy-MM-dd HH:mm:ss). Sent only when DataType is
	// csv or json.
	DateFormat, TimestampFormat string
	// BadRecordsPath is where bad records go instead of the table.
	BadRecordsPath string
	// Queue runs the import; empty means DLI's default queue.
	Queue string
	// Overwrite replaces the data instead of appending. Always sent.
	Overwrite bool
	// Partition is the partition_spec: partition column → value.
	Partition map[string]string
	// Conf holds job settings, e.g.
	// "dli.sql.dynamicPartitionOverwrite.enabled=true".
	Conf []string
}

// importTableRequest mirrors the SDK's ImportTableRequest with the body of
// reference 7.3.1, whose partition_spec is an object (the SDK model has a
// string).
type importTableRequest struct {
	Body *importTableBody `json:"body,omitempty"`
}

type importTableBody struct {
	DataPath         string            `json:"data_path"`
	DataType         string            `json:"data_type"`
	DatabaseName     string            `json:"database_name"`
	TableName        string            `json:"table_name"`
	WithColumnHeader *bool             `json:"with_column_header,omitempty"`
	Delimiter        *string           `json:"delimiter,omitempty"`
	QuoteChar        *string           `json:"quote_char,omitempty"`
	EscapeChar       *string           `json:"escape_char,omitempty"`
	DateFormat       *string           `json:"date_format,omitempty"`
	BadRecordsPath   *string           `json:"bad_records_path,omitempty"`
	TimestampFormat  *string           `json:"timestamp_format,omitempty"`
	QueueName        *string           `json:"queue_name,omitempty"`
	Overwrite        *bool             `json:"overwrite,omitempty"`
	PartitionSpec    map[string]string `json:"partition_spec,omitempty"`
	Conf             *[]string         `json:"conf,omitempty"`
}

// ImportData starts an asynchronous import and returns its job id
// (reference 7.3.1); follow it with SQLJobStatus. DLI allows one import
// into a table at a time. It is not retried after an ambiguous failure.
func (c *Client) ImportData(ctx context.Context, req ImportRequest) (jobID string, err error) {
	const op = "ImportData"
	switch {
	case req.DataPath == "":
		return "", invalidf(op, "data path is empty")
	case req.DataType == "":
		return "", invalidf(op, "data type is empty")
	case req.Database == "" || req.Table == "":
		return "", invalidf(op, "database and table are required")
	}
	body := &importTableBody{
		DataPath: req.DataPath, DataType: req.DataType, DatabaseName: req.Database, TableName: req.Table,
		BadRecordsPath: opt(req.BadRecordsPath), QueueName: opt(req.Queue), Overwrite: ptr(req.Overwrite),
		PartitionSpec: req.Partition, Conf: optSlice(req.Conf),
	}
	// DLI refuses the CSV-only options for other data types, and the
	// date formats for types other than CSV and JSON (reference 7.3.1).
	csv := strings.EqualFold(req.DataType, "csv")
	if csv {
		body.WithColumnHeader, body.Delimiter = ptr(req.WithColumnHeader), opt(req.Delimiter)
		body.QuoteChar, body.EscapeChar = opt(req.QuoteChar), opt(req.EscapeChar)
	}
	if csv || strings.EqualFold(req.DataType, "json") {
		body.DateFormat, body.TimestampFormat = opt(req.DateFormat), opt(req.TimestampFormat)
	}
	err = c.call(ctx, op, false, func(s *dlisdk.DliClient) error {
		r, err := s.HcClient.Sync(&importTableRequest{Body: body}, dlisdk.GenReqDefForImportTable())
		if err != nil {
			return err
		}
		resp := r.(*model.ImportTableResponse)
		if err := checkSuccess(resp.IsSuccess, resp.Message); err != nil {
			return err
		}
		jobID = deref(resp.JobId)
		return nil
	})
	return jobID, err
}

// CancelSQLJob cancels a SQL job (reference 7.3.4). A job that has
// finished or failed cannot be cancelled.
func (c *Client) CancelSQLJob(ctx context.Context, jobID string) error {
	const op = "CancelSQLJob"
	if jobID == "" {
		return invalidf(op, "job id is empty")
	}
	return c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		resp, err := s.CancelSqlJob(&model.CancelSqlJobRequest{JobId: jobID})
		if err != nil {
			return err
		}
		return checkSuccess(resp.IsSuccess, resp.Message)
	})
}

// SQLJob is a SQL job as listed (7.3.5) or its status (7.3.7).
type SQLJob struct {
	ID string
	// Type is DDL, DCL, IMPORT, EXPORT, QUERY, INSERT, …
	Type string
	// Mode is "async" or "sync" (status only).
	Mode      string
	Queue     string
	Owner     string
	Status    SQLJobStatus
	Started   time.Time
	Ended     time.Time // zero while running (list only)
	Duration  time.Duration
	Statement string
	// Detail is a JSON string describing the result columns.
	Detail string
	// Message is DLI's message, e.g. the failure reason.
	Message         string
	Database, Table string
	InputRowCount   int64
	BadRowCount     int64
	InputSize       int64 // bytes scanned
	ResultCount     int64
	Tags            []Tag
}

func fromSDKSQLJob(j model.SqlJob) SQLJob {
	return SQLJob{
		ID: j.JobId, Type: j.JobType, Queue: j.QueueName, Owner: j.Owner,
		Status: SQLJobStatus(strings.ToUpper(j.Status.Value())), Started: msTime(&j.StartTime), Ended: msTime(j.EndTime),
		Duration: msDuration(j.Duration), Statement: j.Statement, Detail: j.Detail, Message: deref(j.Message),
		Database: deref(j.DatabaseName), Table: deref(j.TableName), InputRowCount: deref(j.InputRowCount),
		BadRowCount: deref(j.BadRowCount), InputSize: j.InputSize, ResultCount: j.ResultCount, Tags: fromSDKTags(j.Tags),
	}
}

// SQLJobQuery filters and pages ListSQLJobs (reference 7.3.5).
type SQLJobQuery struct {
	// Page is the 1-based page number; 0 means 1.
	Page int
	// PageSize is the page size, 1..100; 0 means 100 (DLI's own default
	// is 50).
	PageSize int
	// Start and End keep jobs started after / before these instants; zero
	// means unbounded.
	Start, End time.Time
	// Queue keeps the jobs of one queue.
	Queue string
	// Status keeps jobs in one status.
	Status SQLJobStatus
	// Type keeps jobs of one type (DDL, QUERY, …; "ALL" for all).
	Type string
	// JobID keeps one job.
	JobID string
	// SQLPattern keeps jobs whose statement contains it (case-insensitive).
	SQLPattern string
	// Owner keeps the jobs of one user.
	Owner string
	// Order is start_time_desc (DLI's default), start_time_asc,
	// duration_desc or duration_asc.
	Order string
	// Tags filters by tags, "k1=v1,k2=v2".
	Tags string
}

// SQLJobPage is one page of SQL jobs.
type SQLJobPage struct {
	// Total is the number of jobs matching the query, all pages together.
	Total int
	Jobs  []SQLJob
}

func (q SQLJobQuery) normalize(op string) (SQLJobQuery, error) {
	if q.Page == 0 {
		q.Page = 1
	}
	if q.PageSize == 0 {
		q.PageSize = 100
	}
	switch {
	case q.Page < 1:
		return q, invalidf(op, "page %d is not positive", q.Page)
	case q.PageSize < 1 || q.PageSize > 100:
		return q, invalidf(op, "page size %d is not in 1..100", q.PageSize)
	}
	return q, nil
}

// ListSQLJobs returns one page of SQL jobs (reference 7.3.5).
func (c *Client) ListSQLJobs(ctx context.Context, q SQLJobQuery) (SQLJobPage, error) {
	const op = "ListSQLJobs"
	q, err := q.normalize(op)
	if err != nil {
		return SQLJobPage{}, err
	}
	var out SQLJobPage
	err = c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		resp, err := s.ListSqlJobs(&model.ListSqlJobsRequest{
			CurrentPage: ptr(int32(q.Page)), PageSize: ptr(int32(q.PageSize)),
			Start: toMS(q.Start), End: toMS(q.End), QueueName: opt(q.Queue),
			JobStatus: enumOf[model.ListSqlJobsRequestJobStatus](string(q.Status)),
			JobType:   enumOf[model.ListSqlJobsRequestJobType](q.Type),
			Order:     enumOf[model.ListSqlJobsRequestOrder](q.Order),
			JobId:     opt(q.JobID), SqlPattern: opt(q.SQLPattern), Owner: opt(q.Owner), Tags: opt(q.Tags),
		})
		if err != nil {
			return err
		}
		if err := checkSuccess(resp.IsSuccess, resp.Message); err != nil {
			return err
		}
		out = SQLJobPage{Total: int(deref(resp.JobCount))}
		for _, j := range deref(resp.Jobs) {
			out.Jobs = append(out.Jobs, fromSDKSQLJob(j))
		}
		return nil
	})
	return out, err
}

// SQLJobs iterates over every SQL job matching q, page by page from
// q.Page, each page one call (retried as ListSQLJobs is). A job seen on an
// earlier page is not yielded twice. The iteration stops at the first
// error, which it yields.
func (c *Client) SQLJobs(ctx context.Context, q SQLJobQuery) iter.Seq2[SQLJob, error] {
	q, err := q.normalize("SQLJobs")
	if err != nil {
		return failedSeq[SQLJob](err)
	}
	first := q.Page
	return pages(func(page int) ([]SQLJob, int, error) {
		q.Page = first + page
		p, err := c.ListSQLJobs(ctx, q)
		return p.Jobs, max(0, p.Total-(first-1)*q.PageSize), err
	}, func(j SQLJob) string { return j.ID }, q.PageSize)
}

// SQLJobStatus returns a SQL job's status and statistics (reference
// 7.3.7).
func (c *Client) SQLJobStatus(ctx context.Context, jobID string) (SQLJob, error) {
	const op = "SQLJobStatus"
	if jobID == "" {
		return SQLJob{}, invalidf(op, "job id is empty")
	}
	var out SQLJob
	err := c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		r, err := s.ShowSqlJobStatus(&model.ShowSqlJobStatusRequest{JobId: jobID})
		if err != nil {
			return err
		}
		if err := checkSuccess(r.IsSuccess, r.Message); err != nil {
			return err
		}
		out = SQLJob{
			ID: deref(r.JobId), Type: enumValue(r.JobType), Mode: deref(r.JobMode), Queue: deref(r.QueueName),
			Owner: deref(r.Owner), Status: SQLJobStatus(strings.ToUpper(enumValue(r.Status))), Started: msTime(r.StartTime),
			Duration: msDuration(r.Duration), Statement: deref(r.Statement), Detail: deref(r.Detail), Message: deref(r.Message),
			Database: deref(r.DatabaseName), Table: deref(r.TableName), InputRowCount: deref(r.InputRowCount),
			BadRowCount: deref(r.BadRowCount), InputSize: deref(r.InputSize), ResultCount: int64(deref(r.ResultCount)),
			Tags: fromSDKTags(r.Tags),
		}
		return nil
	})
	return out, err
}

// SQLJobDetail is the detail of an import or export job (reference 7.3.8).
type SQLJobDetail struct {
	JobID    string
	Owner    string
	Started  time.Time
	Duration time.Duration
	// ExportMode is ErrorIfExists or Overwrite (export jobs).
	ExportMode       string
	DataPath         string
	DataType         string
	Database, Table  string
	WithColumnHeader bool
	Delimiter        string
	QuoteChar        string
	EscapeChar       string
	DateFormat       string
	TimestampFormat  string
	// Compress is the export's compression.
	Compress string
	Tags     []Tag
}

// SQLJobDetail returns the detail of an import or export job (reference
// 7.3.8).
func (c *Client) SQLJobDetail(ctx context.Context, jobID string) (SQLJobDetail, error) {
	const op = "SQLJobDetail"
	if jobID == "" {
		return SQLJobDetail{}, invalidf(op, "job id is empty")
	}
	var out SQLJobDetail
	err := c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		r, err := s.ShowSqlJobDetail(&model.ShowSqlJobDetailRequest{JobId: jobID})
		if err != nil {
			return err
		}
		if err := checkSuccess(r.IsSuccess, r.Message); err != nil {
			return err
		}
		out = SQLJobDetail{
			JobID: deref(r.JobId), Owner: deref(r.Owner), Started: msTime(r.StartTime), Duration: msDuration(r.Duration),
			ExportMode: deref(r.ExportMode), DataPath: deref(r.DataPath), DataType: deref(r.DataType),
			Database: deref(r.DatabaseName), Table: deref(r.TableName), WithColumnHeader: deref(r.WithColumnHeader),
			Delimiter: deref(r.Delimiter), QuoteChar: deref(r.QuoteChar), EscapeChar: deref(r.EscapeChar),
			DateFormat: deref(r.DateFormat), TimestampFormat: deref(r.TimestampFormat), Compress: deref(r.Compress),
			Tags: fromSDKTags(r.Tags),
		}
		return nil
	})
	return out, err
}

// Column is a result column: name and type.
type Column struct {
	Name, Type string
}

// SQLResult is the preview of a query job's result (reference 7.3.6): at
// most the first 1000 rows.
type SQLResult struct {
	JobID     string
	JobType   string
	RowCount  int
	InputSize int64
	Columns   []Column
	Rows      [][]any
}

// PreviewSQLResult returns the first rows of a QUERY job's result
// (reference 7.3.6). queue, when not empty, is the queue that fetches them.
func (c *Client) PreviewSQLResult(ctx context.Context, jobID, queue string) (SQLResult, error) {
	const op = "PreviewSQLResult"
	if jobID == "" {
		return SQLResult{}, invalidf(op, "job id is empty")
	}
	var out SQLResult
	err := c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		r, err := s.PreviewSqlJobResult(&model.PreviewSqlJobResultRequest{JobId: jobID, QueueName: opt(queue)})
		if err != nil {
			return err
		}
		if err := checkSuccess(r.IsSuccess, r.Message); err != nil {
			return err
		}
		out = SQLResult{JobID: deref(r.JobId), JobType: enumValue(r.JobType), RowCount: int(deref(r.RowCount)),
			InputSize: deref(r.InputSize), Rows: deref(r.Rows)}
		for _, col := range deref(r.Schema) {
			for name, typ := range col { // one entry per column object
				out.Columns = append(out.Columns, Column{Name: name, Type: typ})
			}
		}
		return nil
	})
	return out, err
}
