package dlitest

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The SQL job endpoints (reference 7.3.3–7.3.8). Error codes follow table
// 14-3: 400 DLI.0001 parameter check, 400 DLI.0002 object does not exist
// (with the reference's own example message "There is no queue named X"),
// 400 DLI.0004 SQL syntax, 400 DLI.0005 SQL semantics, 400 DLI.0007
// operation not supported, 400 DLI.0012 resource unavailable.

func (e *Emulator) registerSQL() {
	e.route("POST /v1.0/{project_id}/jobs/submit-job", e.sqlSubmit)
	e.route("POST /v1.0/{project_id}/jobs/import-table", e.sqlImportTable)
	e.route("GET /v1.0/{project_id}/jobs", e.sqlList)
	e.route("DELETE /v1.0/{project_id}/jobs/{job_id}", e.sqlCancel)
	e.route("GET /v1.0/{project_id}/jobs/{job_id}/status", e.sqlStatus)
	e.route("GET /v1.0/{project_id}/jobs/{job_id}/detail", e.sqlDetail)
	e.route("GET /v1.0/{project_id}/jobs/{job_id}/preview", e.sqlPreview)
	e.adminRoute("PUT /_emulator/sql/jobs/{id}", e.sqlAdminSetStatus)
}

// sqlQueueNameRe is 7.3.3's queue name rule: digits, letters and
// underscores, not only digits, not starting with an underscore.
var sqlQueueNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_]*$`)

// sqlResolveQueue checks a requested queue name and returns the queue to
// use ("default" when none is given; DLI's default queue always exists).
// On failure it has answered.
func (e *Emulator) sqlResolveQueue(w http.ResponseWriter, field, name string) (string, bool) {
	if name == "" {
		return sqlDefaultQueue, true
	}
	if len(name) > 128 || !sqlQueueNameRe.MatchString(name) || sqlAllDigits(name) {
		writeError(w, http.StatusBadRequest, "DLI.0001",
			fmt.Sprintf("%s %q is invalid: use digits, letters and underscores, not only digits, not starting with an underscore", field, name))
		return "", false
	}
	if !strings.EqualFold(name, sqlDefaultQueue) && !e.queueExists(name) {
		writeError(w, http.StatusBadRequest, "DLI.0002", "There is no queue named "+name)
		return "", false
	}
	return strings.ToLower(name), true // DLI queue names are case-insensitive
}

func sqlAllDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// sqlCheckTags validates job tags (key required, ≤128 characters; value
// ≤255 characters). It returns an error message or "".
func sqlCheckTags(tags []SQLTag) string {
	for i, t := range tags {
		if strings.TrimSpace(t.Key) == "" {
			return fmt.Sprintf("tags[%d].key is required", i)
		}
		if len(t.Key) > 128 {
			return fmt.Sprintf("tags[%d].key is longer than 128 characters", i)
		}
		if len(t.Value) > 255 {
			return fmt.Sprintf("tags[%d].value is longer than 255 characters", i)
		}
	}
	return ""
}

// sqlParseConf validates "key=value" conf entries and returns them as a map.
func sqlParseConf(conf []string) (map[string]string, string) {
	m := make(map[string]string, len(conf))
	for i, c := range conf {
		k, v, ok := strings.Cut(c, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Sprintf("conf[%d] %q is not key=value", i, c)
		}
		m[k] = v
	}
	if v, ok := m["dli.sql.job.timeout"]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
			return nil, fmt.Sprintf("conf dli.sql.job.timeout %q must be a positive number of milliseconds", v)
		}
	}
	if v, ok := m["dli.sql.sqlasync.enabled"]; ok && v != "true" && v != "false" {
		return nil, fmt.Sprintf("conf dli.sql.sqlasync.enabled %q must be true or false", v)
	}
	return m, ""
}

// sqlEngine normalises an engine type ("spark" or "hetuEngine",
// case-insensitively; default spark). ok is false for anything else.
func sqlEngine(v string) (string, bool) {
	switch strings.ToLower(v) {
	case "", "spark":
		return "spark", true
	case "hetuengine", "hetu_engine":
		return "hetuEngine", true
	}
	return "", false
}

// sqlSubmitRequest is 7.3.3's request body (plus the SDK's engine_type and
// current_catalog).
type sqlSubmitRequest struct {
	SQL            string   `json:"sql"`
	Currentdb      string   `json:"currentdb"`
	CurrentCatalog string   `json:"current_catalog"`
	QueueName      string   `json:"queue_name"`
	EngineType     string   `json:"engine_type"`
	Conf           []string `json:"conf"`
	Tags           []SQLTag `json:"tags"`
}

// sqlSubmitResponse is 7.3.3's response.
type sqlSubmitResponse struct {
	IsSuccess bool                `json:"is_success"`
	Message   string              `json:"message"`
	JobID     string              `json:"job_id"`
	JobType   string              `json:"job_type"`
	JobMode   string              `json:"job_mode"`
	Schema    []map[string]string `json:"schema,omitempty"`
	Rows      [][]any             `json:"rows,omitempty"`
}

// sqlJobSpec is everything needed to create a job; shared by the API,
// AddSQLJobs and the seed.
type sqlJobSpec struct {
	statement string
	jobType   string
	queue     string
	currentdb string
	owner     string
	engine    string
	tags      []SQLTag
	conf      map[string]string
	confList  []string
	imp       *sqlImport
	// database/table override the ones parsed from the statement.
	database, table string
	// failText is where SQLFailMarker is looked for; default statement.
	failText string
}

// sqlNewJob builds a job submitted at now, with its whole lifecycle
// planned. It does not store it. Caller holds e.mu.
func (e *Emulator) sqlNewJob(sp sqlJobSpec, now time.Time) *sqlJob {
	seq := e.nextID()
	j := &sqlJob{
		seq: seq, id: sqlJobID(seq), jobType: sp.jobType, mode: "async", statement: sp.statement,
		stmtLower: strings.ToLower(sp.statement),
		queue:     sp.queue, owner: sp.owner, engine: sp.engine, tags: sp.tags, conf: sp.confList,
		status: SQLLaunching, start: now, imp: sp.imp, endStatus: SQLFinished,
	}
	if j.owner == "" {
		j.owner = sqlDefaultOwner
	}
	if j.engine == "" {
		j.engine = "spark"
	}
	j.database, j.table = sqlTarget(sp.jobType, sp.statement, sp.currentdb)
	if sp.database != "" || sp.table != "" {
		j.database, j.table = sp.database, sp.table
	}
	if j.jobType == "IMPORT" && j.imp == nil {
		j.imp = &sqlImport{}
		if l, ok := sqlParseLoad(sp.statement); ok {
			j.imp.dataPath, j.imp.overwrite = l.path, l.overwrite
		}
	}
	if j.imp != nil {
		j.imp.lockKey = sqlLockKey(j.database, j.table)
	}

	t := e.opts.Timing
	run := t.SQLRun
	switch j.jobType {
	case "QUERY":
		j.result = sqlQueryResult(sp.statement)
	case "INSERT", "UPDATE", "DELETE":
		n := 100 + int64(sqlHash(sp.statement)%900)
		j.result = sqlResult{rowCount: n, inputRows: n, inputSize: n * 64}
	case "IMPORT":
		run = t.ImportRun
		key := sp.statement
		if j.imp != nil && j.imp.dataPath != "" {
			key = j.imp.dataPath
		}
		n := 100 + int64(sqlHash(key)%900)
		j.result = sqlResult{rowCount: n, inputRows: n, inputSize: n * 64}
	case "DDL", "DCL":
		j.result = sqlDDLResult(sp.statement, j.database, j.table)
		if sp.conf["dli.sql.sqlasync.enabled"] != "true" {
			j.mode = "sync"
		}
	}

	failText := sp.failText
	if failText == "" {
		failText = sp.statement
	}
	failed := strings.Contains(failText, SQLFailMarker)
	if failed {
		j.endStatus = SQLFailed
		j.endMessage = "DLI.0005: emulated failure: the statement contains the " + SQLFailMarker + " marker"
		if sp.failText != "" {
			j.endMessage = "DLI.0005: emulated failure: the data path contains the " + SQLFailMarker + " marker"
		}
	}
	if j.mode == "sync" {
		// Synchronous DDL/DCL: done when the submit answers.
		j.runAt, j.doneAt = now, now
	} else {
		j.runAt = now.Add(t.SQLLaunch)
		j.doneAt = j.runAt.Add(run)
	}
	if v, ok := sp.conf["dli.sql.job.timeout"]; ok {
		ms, _ := strconv.ParseInt(v, 10, 64)
		if limit := now.Add(time.Duration(ms) * time.Millisecond); limit.Before(j.doneAt) {
			j.doneAt = limit
			if j.runAt.After(limit) {
				j.runAt = limit
			}
			j.endStatus = SQLCancelled
			j.endMessage = fmt.Sprintf("the job was cancelled after running longer than dli.sql.job.timeout (%s ms)", v)
		}
	}
	return j
}

// sqlHash is FNV-1a, used for deterministic fake figures.
func sqlHash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// sqlLockHolder returns the unfinished import holding the table, if any.
func (s *sqlState) sqlLockHolder(key string) *sqlJob {
	if key == "" {
		return nil
	}
	if j := s.locks[key]; j != nil && !sqlTerminal(j.status) {
		return j
	}
	return nil
}

// sqlImportBusy answers the "one concurrent import per table" rule. The
// reference states the rule ("Two or more concurrent tasks of importing
// data to the same table are not allowed", 7.3.1) but no error code, so
// the emulator answers 400 DLI.0999 with a message naming the table and the
// running job.
func sqlImportBusy(w http.ResponseWriter, holder *sqlJob) {
	writeError(w, http.StatusBadRequest, "DLI.0999", fmt.Sprintf(
		"concurrent imports into table %s.%s are not allowed: import job %s is %s",
		holder.database, holder.table, holder.id, holder.status))
}

func (e *Emulator) sqlSubmit(w http.ResponseWriter, r *http.Request) {
	var req sqlSubmitRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.SQL) == "" {
		writeError(w, http.StatusBadRequest, "DLI.0001", "sql is required")
		return
	}
	jobType := sqlClassify(req.SQL)
	if jobType == "" {
		writeError(w, http.StatusBadRequest, "DLI.0004", "SQL syntax parsing error: unsupported statement: "+sqlHead(req.SQL))
		return
	}
	engine, ok := sqlEngine(req.EngineType)
	if !ok {
		writeError(w, http.StatusBadRequest, "DLI.0001", fmt.Sprintf("engine_type %q is invalid: use spark or hetuEngine", req.EngineType))
		return
	}
	if msg := sqlCheckTags(req.Tags); msg != "" {
		writeError(w, http.StatusBadRequest, "DLI.0001", msg)
		return
	}
	conf, msg := sqlParseConf(req.Conf)
	if msg != "" {
		writeError(w, http.StatusBadRequest, "DLI.0001", msg)
		return
	}
	queue, ok := e.sqlResolveQueue(w, "queue_name", req.QueueName)
	if !ok {
		return
	}
	if jobType == "IMPORT" {
		if h := e.sql.sqlLockHolder(sqlLockKey(sqlTarget(jobType, req.SQL, req.Currentdb))); h != nil {
			sqlImportBusy(w, h)
			return
		}
	}
	now := e.clock.Now()
	j := e.sqlNewJob(sqlJobSpec{
		statement: req.SQL, jobType: jobType, queue: queue, currentdb: req.Currentdb, engine: engine,
		tags: req.Tags, conf: conf, confList: req.Conf,
	}, now)
	e.sql.add(j)
	e.sql.advance(j, now)
	if j.mode == "sync" && j.status == SQLFailed {
		// A synchronous statement's failure is the submit's answer.
		writeError(w, http.StatusBadRequest, "DLI.0005", j.message)
		return
	}
	resp := sqlSubmitResponse{IsSuccess: true, JobID: j.id, JobType: j.jobType, JobMode: j.mode}
	if j.mode == "sync" && len(j.result.columns) > 0 {
		resp.Schema = j.result.schema()
		resp.Rows = j.result.rows(0, j.result.rowCount)
	}
	writeJSON(w, http.StatusOK, resp)
}

// sqlHead is the start of a statement, for error messages.
func sqlHead(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// sqlLookup finds the job named in the path; on failure it has answered.
func (e *Emulator) sqlLookup(w http.ResponseWriter, r *http.Request) (*sqlJob, bool) {
	id := r.PathValue("job_id")
	j := e.sql.jobs[id]
	if j == nil {
		writeError(w, http.StatusBadRequest, "DLI.0002", "There is no job with id "+id)
		return nil, false
	}
	return j, true
}

// sqlOK is the plain success body (7.3.4).
type sqlOK struct {
	IsSuccess bool   `json:"is_success"`
	Message   string `json:"message"`
}

func (e *Emulator) sqlCancel(w http.ResponseWriter, r *http.Request) {
	j, ok := e.sqlLookup(w, r)
	if !ok {
		return
	}
	if sqlTerminal(j.status) {
		writeError(w, http.StatusBadRequest, "DLI.0007",
			fmt.Sprintf("job %s is %s and can no longer be cancelled", j.id, j.status))
		return
	}
	e.sql.finish(j, SQLCancelled, "the job was cancelled by the user", e.clock.Now())
	writeJSON(w, http.StatusOK, sqlOK{IsSuccess: true, Message: ""})
}

// sqlJobView is one job as 7.3.5 lists it and 7.3.7 shows it (see
// sqlStatusResponse).
type sqlJobView struct {
	JobID            string   `json:"job_id"`
	JobType          string   `json:"job_type"`
	QueueName        string   `json:"queue_name"`
	Owner            string   `json:"owner"`
	StartTime        int64    `json:"start_time"`
	Duration         int64    `json:"duration"`
	Status           string   `json:"status"`
	InputRowCount    *int64   `json:"input_row_count,omitempty"`
	BadRowCount      *int64   `json:"bad_row_count,omitempty"`
	InputSize        int64    `json:"input_size"`
	ResultCount      int64    `json:"result_count"`
	DatabaseName     string   `json:"database_name,omitempty"`
	TableName        string   `json:"table_name,omitempty"`
	WithColumnHeader *bool    `json:"with_column_header,omitempty"`
	Detail           string   `json:"detail"`
	EngineType       string   `json:"engine_type,omitempty"`
	Statement        string   `json:"statement"`
	Message          string   `json:"message"`
	EndTime          *int64   `json:"end_time,omitempty"`
	Tags             []SQLTag `json:"tags,omitempty"`
}

// view renders the job for 7.3.5 (list) at now. Counts appear once the job
// has FINISHED; input_row_count and bad_row_count only for INSERT and
// IMPORT jobs.
func (j *sqlJob) view(now time.Time) sqlJobView {
	v := sqlJobView{
		JobID: j.id, JobType: j.jobType, QueueName: j.queue, Owner: j.owner,
		StartTime: j.start.UnixMilli(), Duration: j.duration(now), Status: j.status,
		DatabaseName: j.database, TableName: j.table, Detail: j.result.detail(),
		EngineType: j.engine, Statement: j.statement, Tags: j.tags,
	}
	v.Message = j.message
	if !j.end.IsZero() {
		ms := j.end.UnixMilli()
		v.EndTime = &ms
	}
	if j.finished() {
		v.InputSize = j.result.inputSize
		v.ResultCount = j.result.rowCount
		if j.jobType == "INSERT" || j.jobType == "IMPORT" {
			in, bad := j.result.inputRows, j.result.badRows
			v.InputRowCount, v.BadRowCount = &in, &bad
		}
	}
	if j.imp != nil && j.imp.withHeader != nil {
		h := *j.imp.withHeader
		v.WithColumnHeader = &h
	}
	return v
}

func (e *Emulator) sqlStatus(w http.ResponseWriter, r *http.Request) {
	j, ok := e.sqlLookup(w, r)
	if !ok {
		return
	}
	v := j.view(e.clock.Now())
	v.WithColumnHeader = nil // not a 7.3.7 field
	v.EndTime = nil          // not a 7.3.7 field
	writeJSON(w, http.StatusOK, sqlStatusResponse{IsSuccess: true, Message: j.message, JobMode: j.mode, sqlJobView: v})
}

// sqlStatusResponse is 7.3.7's response: the job's fields after
// is_success, message (the job's message, e.g. why it FAILED) and job_mode.
type sqlStatusResponse struct {
	IsSuccess bool   `json:"is_success"`
	Message   string `json:"message"`
	JobMode   string `json:"job_mode"`
	sqlJobView
}

// sqlDetailResponse is 7.3.8's response.
type sqlDetailResponse struct {
	IsSuccess        bool     `json:"is_success"`
	Message          string   `json:"message"`
	JobID            string   `json:"job_id"`
	Owner            string   `json:"owner"`
	StartTime        int64    `json:"start_time"`
	Duration         int64    `json:"duration"`
	ExportMode       string   `json:"export_mode,omitempty"`
	DataPath         string   `json:"data_path"`
	DataType         string   `json:"data_type"`
	DatabaseName     string   `json:"database_name"`
	TableName        string   `json:"table_name"`
	WithColumnHeader *bool    `json:"with_column_header,omitempty"`
	Delimiter        *string  `json:"delimiter,omitempty"`
	QuoteChar        *string  `json:"quote_char,omitempty"`
	EscapeChar       *string  `json:"escape_char,omitempty"`
	DateFormat       *string  `json:"date_format,omitempty"`
	TimestampFormat  *string  `json:"timestamp_format,omitempty"`
	Compress         string   `json:"compress,omitempty"`
	Tags             []SQLTag `json:"tags,omitempty"`
}

// sqlDefaultOr returns *p, or def when p is nil.
func sqlDefaultOr(p *string, def string) *string {
	if p != nil {
		return p
	}
	return &def
}

func (e *Emulator) sqlDetail(w http.ResponseWriter, r *http.Request) {
	j, ok := e.sqlLookup(w, r)
	if !ok {
		return
	}
	d := sqlDetailResponse{
		IsSuccess: true, JobID: j.id, Owner: j.owner, StartTime: j.start.UnixMilli(),
		Duration: j.duration(e.clock.Now()), DatabaseName: j.database, TableName: j.table, Tags: j.tags,
	}
	if imp := j.imp; imp != nil {
		d.DataPath, d.DataType = imp.dataPath, imp.dataType
		// The import's options with DLI's documented defaults filled in.
		if imp.dataType == "csv" {
			hdr := imp.withHeader != nil && *imp.withHeader
			d.WithColumnHeader = &hdr
			d.Delimiter = sqlDefaultOr(imp.delimiter, ",")
			d.QuoteChar = sqlDefaultOr(imp.quoteChar, `"`)
			d.EscapeChar = sqlDefaultOr(imp.escapeChar, `\`)
		}
		if imp.dataType == "csv" || imp.dataType == "json" {
			d.DateFormat = sqlDefaultOr(imp.dateFormat, "yyyy-MM-dd")
			d.TimestampFormat = sqlDefaultOr(imp.timestampFormat, "yyyy-MM-dd HH:mm:ss")
		}
	}
	writeJSON(w, http.StatusOK, d)
}
