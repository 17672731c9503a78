package dlitest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// sqlListStatuses are the job-status filter values the SDK knows
// (ListSqlJobsRequestJobStatus); only the five job statuses ever match.
var sqlListStatuses = map[string]bool{
	"LAUNCHING": true, "RUNNING": true, "FAILED": true, "CANCELLED": true, "COMPUTED": true,
	"SUSPENDED": true, "ACTIVE": true, "DELETED": true, "CREATING": true, "FINISHED": true, "SCALING": true,
}

// sqlListFilter is 7.3.5's query (plus the SDK's db_name, table_name and
// job_types).
type sqlListFilter struct {
	pageSize, page int64
	start, end     int64 // ms; 0 means unset
	hasStart       bool
	hasEnd         bool
	jobTypes       map[string]bool // empty: every type
	status         string
	jobID          string
	queue          string
	sqlPattern     string // lower case
	order          string
	engine         string
	owner          string
	db, table      string
	tags           []SQLTag
}

// sqlQueryInt parses an optional integer query parameter within [lo, hi].
func sqlQueryInt(q url.Values, name string, def, lo, hi int64) (int64, string) {
	v := q.Get(name)
	if v == "" {
		return def, ""
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		if hi == 1<<62 {
			return 0, fmt.Sprintf("%s %q must be an integer of at least %d", name, v, lo)
		}
		return 0, fmt.Sprintf("%s %q must be an integer from %d to %d", name, v, lo, hi)
	}
	return n, ""
}

// sqlParseListFilter validates the query; the string is an error message.
func sqlParseListFilter(q url.Values) (sqlListFilter, string) {
	var f sqlListFilter
	var msg string
	if f.pageSize, msg = sqlQueryInt(q, "page-size", 50, 1, 100); msg != "" {
		return f, msg
	}
	if f.page, msg = sqlQueryInt(q, "current-page", 1, 1, 1_000_000_000); msg != "" {
		return f, msg
	}
	if f.start, msg = sqlQueryInt(q, "start", 0, 0, 1<<62); msg != "" {
		return f, msg
	}
	if f.end, msg = sqlQueryInt(q, "end", 0, 0, 1<<62); msg != "" {
		return f, msg
	}
	f.hasStart, f.hasEnd = q.Get("start") != "", q.Get("end") != ""
	if f.hasStart && f.hasEnd && f.start > f.end {
		return f, fmt.Sprintf("start %d is after end %d", f.start, f.end)
	}
	f.jobTypes = map[string]bool{}
	var types []string
	if v := q.Get("job-type"); v != "" {
		types = append(types, v)
	}
	for _, v := range q["job_types"] {
		types = append(types, strings.Split(v, ",")...)
	}
	for _, t := range types {
		t = strings.ToUpper(strings.TrimSpace(t))
		if t == "ALL" {
			f.jobTypes = map[string]bool{}
			break
		}
		if !sqlJobTypes[t] {
			return f, fmt.Sprintf("job type %q is invalid: use one of DDL, DCL, IMPORT, EXPORT, QUERY, INSERT, DATA_MIGRATION, UPDATE, DELETE, RESTART_QUEUE, SCALE_QUEUE or ALL", t)
		}
		f.jobTypes[t] = true
	}
	if v := q.Get("job-status"); v != "" {
		f.status = strings.ToUpper(v)
		if !sqlListStatuses[f.status] {
			return f, fmt.Sprintf("job-status %q is invalid: use LAUNCHING, RUNNING, FINISHED, FAILED, CANCELLED or SCALING", v)
		}
	}
	f.jobID = q.Get("job-id")
	f.queue = q.Get("queue_name")
	if f.queue == "" {
		f.queue = q.Get("queue-name")
	}
	f.sqlPattern = strings.ToLower(q.Get("sql_pattern"))
	f.order = q.Get("order")
	switch f.order {
	case "":
		f.order = "start_time_desc"
	case "start_time_desc", "start_time_asc", "duration_desc", "duration_asc":
	default:
		return f, fmt.Sprintf("order %q is invalid: use start_time_desc, start_time_asc, duration_desc or duration_asc", f.order)
	}
	if v := q.Get("engine-type"); v != "" {
		e, ok := sqlEngine(v)
		if !ok {
			return f, fmt.Sprintf("engine-type %q is invalid: use spark or hetuEngine", v)
		}
		f.engine = e
	}
	f.owner = q.Get("owner")
	f.db = q.Get("db_name")
	f.table = q.Get("table_name")
	if v := q.Get("tags"); v != "" {
		for _, pair := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(pair, "=")
			if !ok || strings.TrimSpace(k) == "" {
				return f, fmt.Sprintf("tags %q is invalid: use key=value pairs separated by commas", v)
			}
			f.tags = append(f.tags, SQLTag{Key: strings.ToLower(strings.TrimSpace(k)), Value: strings.ToLower(strings.TrimSpace(val))})
		}
	}
	return f, ""
}

// match reports whether the job passes the filter.
func (f *sqlListFilter) match(j *sqlJob) bool {
	ms := j.start.UnixMilli()
	switch {
	case f.hasStart && ms < f.start,
		f.hasEnd && ms > f.end,
		len(f.jobTypes) > 0 && !f.jobTypes[j.jobType],
		f.status != "" && j.status != f.status,
		f.jobID != "" && j.id != f.jobID,
		f.queue != "" && !strings.EqualFold(j.queue, f.queue),
		f.sqlPattern != "" && !strings.Contains(j.stmtLower, f.sqlPattern),
		f.engine != "" && j.engine != f.engine,
		f.owner != "" && j.owner != f.owner,
		f.db != "" && !strings.EqualFold(j.database, f.db),
		f.table != "" && !strings.EqualFold(j.table, f.table):
		return false
	}
	// Tags: fuzzy, as the reference says: every requested key=value must
	// be contained (case-insensitively) in some tag of the job.
	for _, want := range f.tags {
		found := false
		for _, t := range j.tags {
			if strings.Contains(strings.ToLower(t.Key), want.Key) && strings.Contains(strings.ToLower(t.Value), want.Value) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sqlListResponse is 7.3.5's response.
type sqlListResponse struct {
	IsSuccess bool         `json:"is_success"`
	Message   string       `json:"message"`
	JobCount  int          `json:"job_count"`
	Jobs      []sqlJobView `json:"jobs"`
}

func (e *Emulator) sqlList(w http.ResponseWriter, r *http.Request) {
	f, msg := sqlParseListFilter(r.URL.Query())
	if msg != "" {
		writeError(w, http.StatusBadRequest, "DLI.0001", msg)
		return
	}
	now := e.clock.Now()
	var hits []*sqlJob
	for _, j := range e.sql.order {
		if f.match(j) {
			hits = append(hits, j)
		}
	}
	// Ties (equal start or duration) keep a stable order: newest created
	// first for the descending orders, oldest first for the ascending ones.
	// seq breaks every tie, so the order is total and needs no stable sort.
	slices.SortFunc(hits, func(a, b *sqlJob) int {
		var c int
		switch f.order {
		case "start_time_desc":
			c = b.start.Compare(a.start)
		case "start_time_asc":
			c = a.start.Compare(b.start)
		case "duration_desc":
			c = cmpInt64(b.duration(now), a.duration(now))
		case "duration_asc":
			c = cmpInt64(a.duration(now), b.duration(now))
		}
		if c != 0 {
			return c
		}
		if strings.HasSuffix(f.order, "_desc") {
			return cmpInt64(b.seq, a.seq)
		}
		return cmpInt64(a.seq, b.seq)
	})
	resp := sqlListResponse{IsSuccess: true, JobCount: len(hits), Jobs: []sqlJobView{}}
	from := (f.page - 1) * f.pageSize
	if from < int64(len(hits)) {
		for _, j := range hits[from:min(from+f.pageSize, int64(len(hits)))] {
			resp.Jobs = append(resp.Jobs, j.view(now))
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sqlPreviewLimit is 7.3.6's cap: only the first 1000 result rows can be
// previewed.
const sqlPreviewLimit = 1000

// sqlPreviewResponse is 7.3.6's response.
type sqlPreviewResponse struct {
	IsSuccess bool                `json:"is_success"`
	Message   string              `json:"message"`
	JobID     string              `json:"job_id"`
	JobType   string              `json:"job_type"`
	RowCount  int64               `json:"row_count"`
	InputSize int64               `json:"input_size"`
	Schema    []map[string]string `json:"schema"`
	Rows      [][]any             `json:"rows"`
}

// sqlPreview answers 7.3.6. page-size (1–1000, default 1000) and
// queue-name are the reference's parameters; current-page (default 1) is
// an emulator extension that pages within the first 1000 rows. row_count
// is the job's total number of result rows.
func (e *Emulator) sqlPreview(w http.ResponseWriter, r *http.Request) {
	j, ok := e.sqlLookup(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	size, msg := sqlQueryInt(q, "page-size", sqlPreviewLimit, 1, sqlPreviewLimit)
	if msg != "" {
		writeError(w, http.StatusBadRequest, "DLI.0001", msg)
		return
	}
	page, msg := sqlQueryInt(q, "current-page", 1, 1, 1_000_000_000)
	if msg != "" {
		writeError(w, http.StatusBadRequest, "DLI.0001", msg)
		return
	}
	if qn := q.Get("queue-name"); qn != "" {
		if _, ok := e.sqlResolveQueue(w, "queue-name", qn); !ok {
			return
		}
	}
	if j.jobType != "QUERY" {
		writeError(w, http.StatusBadRequest, "DLI.0007",
			fmt.Sprintf("job %s is a %s job: only QUERY jobs have results to preview", j.id, j.jobType))
		return
	}
	if j.status != SQLFinished {
		writeError(w, http.StatusBadRequest, "DLI.0012",
			fmt.Sprintf("job %s is %s: results can be previewed once it has FINISHED", j.id, j.status))
		return
	}
	from := (page - 1) * size
	n := max(0, min(size, sqlPreviewLimit-from))
	writeJSON(w, http.StatusOK, sqlPreviewResponse{
		IsSuccess: true, JobID: j.id, JobType: j.jobType, RowCount: j.result.rowCount,
		InputSize: j.result.inputSize, Schema: j.result.schema(), Rows: j.result.rows(from, n),
	})
}
