package dlitest

import (
	"container/heap"
	"fmt"
	"strings"
	"time"
)

// SQL jobs and data imports (reference 7.3.1, 7.3.3–7.3.8).
//
// Lifecycle: a job is LAUNCHING for Timing.SQLLaunch, RUNNING for
// Timing.SQLRun (Timing.ImportRun for IMPORT jobs), then FINISHED — or
// FAILED when its statement contains the case-sensitive marker "FAIL" (for
// import-table jobs: the data_path), or CANCELLED by 7.3.4, by the
// dli.sql.job.timeout conf, or by the admin API. DDL and DCL statements run
// synchronously (job_mode "sync", finished when the submit answers) unless
// the conf sets dli.sql.sqlasync.enabled=true.
//
// start_time is the submission instant; end_time is set once the job is in
// a terminal state; duration is end_time-start_time, or now-start_time while
// the job is unfinished.

// SQL job statuses (reference 7.3.5 and 7.3.7).
const (
	SQLLaunching = "LAUNCHING"
	SQLRunning   = "RUNNING"
	SQLScaling   = "SCALING"
	SQLFinished  = "FINISHED"
	SQLFailed    = "FAILED"
	SQLCancelled = "CANCELLED"
)

// SQLFailMarker is the case-sensitive text that makes an emulated SQL job
// (or, in an import-table request, the data_path) end FAILED.
const SQLFailMarker = "FAIL"

// sqlDefaultOwner is the owner of jobs submitted through the API.
const sqlDefaultOwner = "emulator_user"

// sqlDefaultQueue is the queue used when a request names none ("If no
// queue is specified, the default queue is used").
const sqlDefaultQueue = "default"

// SQLTag is a job tag (reference tables 7-59, 7-69).
type SQLTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// SQLJobState is a SQL job in the state snapshot (GET /_emulator/state).
type SQLJobState struct {
	ID        string `json:"job_id"`
	JobType   string `json:"job_type"`
	JobMode   string `json:"job_mode"`
	Statement string `json:"statement"`
	Queue     string `json:"queue_name"`
	// Database and Table are the target (or source) table when the
	// statement names one.
	Database   string   `json:"database_name,omitempty"`
	Table      string   `json:"table_name,omitempty"`
	Owner      string   `json:"owner"`
	EngineType string   `json:"engine_type"`
	Status     string   `json:"status"`
	Message    string   `json:"message,omitempty"`
	Tags       []SQLTag `json:"tags,omitempty"`
	Conf       []string `json:"conf,omitempty"`
	// StartTime is the submission instant; EndTime is set once the job is
	// FINISHED, FAILED or CANCELLED.
	StartTime time.Time  `json:"start_time"`
	EndTime   *time.Time `json:"end_time,omitempty"`
	// DurationMS is end-start, or now-start while unfinished (ms).
	DurationMS int64 `json:"duration_ms"`
	// ResultCount is the rows returned (QUERY) or written (INSERT, IMPORT);
	// zero until the job finishes.
	ResultCount int64 `json:"result_count"`
	// Frozen is true when the admin API forced a non-terminal status: the
	// job stays there until forced again or cancelled.
	Frozen bool `json:"frozen,omitempty"`
}

// ImportState is an import job in the state snapshot: every IMPORT job,
// made by 7.3.1 import-table or by a LOAD DATA statement.
type ImportState struct {
	JobID    string `json:"job_id"`
	DataPath string `json:"data_path"`
	// DataType is csv, parquet, orc, json or avro; empty for LOAD DATA.
	DataType      string            `json:"data_type,omitempty"`
	Database      string            `json:"database_name"`
	Table         string            `json:"table_name"`
	Queue         string            `json:"queue_name"`
	Overwrite     bool              `json:"overwrite"`
	PartitionSpec map[string]string `json:"partition_spec,omitempty"`
	Status        string            `json:"status"`
	Message       string            `json:"message,omitempty"`
	Tags          []SQLTag          `json:"tags,omitempty"`
	StartTime     time.Time         `json:"start_time"`
	EndTime       *time.Time        `json:"end_time,omitempty"`
	// Rows is the number of rows imported (set once FINISHED); BadRows the
	// rejected ones.
	Rows    int64 `json:"rows"`
	BadRows int64 `json:"bad_rows"`
}

// sqlJob is one job's full state. All fields are guarded by e.mu.
type sqlJob struct {
	seq        int64
	id         string
	jobType    string
	mode       string // "async" or "sync"
	statement  string
	stmtLower  string // statement in lower case, for sql_pattern
	queue      string
	database   string
	table      string
	owner      string
	engine     string
	tags       []SQLTag
	conf       []string
	status     string
	message    string
	start      time.Time
	runAt      time.Time // LAUNCHING → RUNNING
	doneAt     time.Time // RUNNING → endStatus
	endStatus  string    // FINISHED, FAILED or CANCELLED at doneAt
	endMessage string
	end        time.Time // zero while unfinished
	frozen     bool

	// result describes what a finished job produced.
	result sqlResult
	imp    *sqlImport
}

// sqlResult is the (fake, deterministic) outcome of a job.
type sqlResult struct {
	columns   []sqlColumn
	rowCount  int64 // rows returned (QUERY) or written (INSERT, IMPORT)
	inputRows int64
	badRows   int64
	inputSize int64 // bytes
	// fixedRows, when set, are the exact rows (DDL results).
	fixedRows [][]any
}

// sqlImport is what an IMPORT job loads.
type sqlImport struct {
	dataPath        string
	dataType        string
	withHeader      *bool
	delimiter       *string
	quoteChar       *string
	escapeChar      *string
	dateFormat      *string
	timestampFormat *string
	badRecordsPath  *string
	overwrite       bool
	partition       map[string]string
	lockKey         string // "db.table", lower case
}

type sqlState struct {
	jobs  map[string]*sqlJob
	order []*sqlJob          // creation order
	due   sqlDueHeap         // unfinished jobs by their next transition
	locks map[string]*sqlJob // import lock per "db.table"
	now   time.Time          // the instant of the last catchUp
}

func (s *sqlState) init() {
	s.jobs = make(map[string]*sqlJob)
	s.locks = make(map[string]*sqlJob)
}

// sqlJobID turns the emulator's sequence number into a UUID-shaped id like
// DLI's (deterministic, so golden files are stable).
func sqlJobID(seq int64) string {
	return fmt.Sprintf("%08x-5a1e-4000-8000-%012x", seq&0xffffffff, seq)
}

func sqlTerminal(status string) bool {
	return status == SQLFinished || status == SQLFailed || status == SQLCancelled
}

// sqlKnownStatus reports whether status is one of 7.3.7's statuses.
func sqlKnownStatus(status string) bool {
	switch status {
	case SQLLaunching, SQLRunning, SQLScaling, SQLFinished, SQLFailed, SQLCancelled:
		return true
	}
	return false
}

// add stores a new job; unfinished, unfrozen jobs are scheduled for their
// next transition and import jobs take their table's lock. Caller holds
// e.mu.
func (s *sqlState) add(j *sqlJob) {
	s.jobs[j.id] = j
	s.order = append(s.order, j)
	if !sqlTerminal(j.status) {
		if !j.frozen {
			heap.Push(&s.due, sqlDue{at: j.nextAt(), job: j})
		}
		if j.imp != nil && j.imp.lockKey != "" {
			if _, held := s.locks[j.imp.lockKey]; !held {
				s.locks[j.imp.lockKey] = j
			}
		}
	}
}

// nextAt is when the job's next automatic transition falls due.
func (j *sqlJob) nextAt() time.Time {
	if j.status == SQLLaunching {
		return j.runAt
	}
	return j.doneAt
}

// catchUp applies every transition due by now. Jobs wait in a heap keyed
// by their next transition, so a request costs O(log n) per due
// transition and nothing for jobs not yet due, finished, frozen or
// cancelled (those entries are dropped when they surface).
func (s *sqlState) catchUp(e *Emulator, now time.Time) {
	s.now = now
	for len(s.due) > 0 && !s.due[0].at.After(now) {
		d := heap.Pop(&s.due).(sqlDue)
		j := d.job
		if j.frozen || sqlTerminal(j.status) {
			continue
		}
		s.advance(j, now)
		if !sqlTerminal(j.status) {
			heap.Push(&s.due, sqlDue{at: j.nextAt(), job: j})
		}
	}
}

// sqlDue is a scheduled transition.
type sqlDue struct {
	at  time.Time
	job *sqlJob
}

// sqlDueHeap is a min-heap of transitions by time, then job creation order.
type sqlDueHeap []sqlDue

func (h sqlDueHeap) Len() int { return len(h) }
func (h sqlDueHeap) Less(i, k int) bool {
	if c := h[i].at.Compare(h[k].at); c != 0 {
		return c < 0
	}
	return h[i].job.seq < h[k].job.seq
}
func (h sqlDueHeap) Swap(i, k int) { h[i], h[k] = h[k], h[i] }

// Push appends an element (container/heap).
func (h *sqlDueHeap) Push(x any) { *h = append(*h, x.(sqlDue)) }

// Pop removes the last element (container/heap).
func (h *sqlDueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = sqlDue{}
	*h = old[:len(old)-1]
	return x
}

// advance applies the job's due transitions.
func (s *sqlState) advance(j *sqlJob, now time.Time) {
	if j.frozen || sqlTerminal(j.status) {
		return
	}
	if j.status == SQLLaunching && !now.Before(j.runAt) {
		j.status = SQLRunning
	}
	if j.status == SQLRunning && !now.Before(j.doneAt) {
		s.finish(j, j.endStatus, j.endMessage, j.doneAt)
	}
}

// finish puts a job into a terminal status at the given instant and frees
// its import lock. A heap entry it may still have is dropped when it
// surfaces.
func (s *sqlState) finish(j *sqlJob, status, msg string, at time.Time) {
	j.status = status
	j.message = msg
	j.end = at
	j.frozen = false
	if j.imp != nil && s.locks[j.imp.lockKey] == j {
		delete(s.locks, j.imp.lockKey)
	}
}

// duration is the job's running time in ms at now.
func (j *sqlJob) duration(now time.Time) int64 {
	end := j.end
	if end.IsZero() {
		end = now
	}
	d := end.Sub(j.start).Milliseconds()
	if d < 0 {
		return 0
	}
	return d
}

// finished reports whether the job produced its result.
func (j *sqlJob) finished() bool { return j.status == SQLFinished }

func (j *sqlJob) state(now time.Time) SQLJobState {
	st := SQLJobState{
		ID: j.id, JobType: j.jobType, JobMode: j.mode, Statement: j.statement, Queue: j.queue,
		Database: j.database, Table: j.table, Owner: j.owner, EngineType: j.engine,
		Status: j.status, Message: j.message, Tags: append([]SQLTag(nil), j.tags...),
		Conf: append([]string(nil), j.conf...), StartTime: j.start, DurationMS: j.duration(now),
		Frozen: j.frozen,
	}
	if !j.end.IsZero() {
		t := j.end
		st.EndTime = &t
	}
	if j.finished() {
		st.ResultCount = j.result.rowCount
	}
	return st
}

func (j *sqlJob) importState() ImportState {
	st := ImportState{
		JobID: j.id, DataPath: j.imp.dataPath, DataType: j.imp.dataType, Database: j.database,
		Table: j.table, Queue: j.queue, Overwrite: j.imp.overwrite, Status: j.status,
		Message: j.message, Tags: append([]SQLTag(nil), j.tags...), StartTime: j.start,
	}
	if len(j.imp.partition) > 0 {
		st.PartitionSpec = make(map[string]string, len(j.imp.partition))
		for k, v := range j.imp.partition {
			st.PartitionSpec[k] = v
		}
	}
	if !j.end.IsZero() {
		t := j.end
		st.EndTime = &t
	}
	if j.finished() {
		st.Rows = j.result.rowCount
		st.BadRows = j.result.badRows
	}
	return st
}

// snapshot returns every job (and every import) in creation order. The
// caller has caught the lifecycles up, so durations are measured at now.
func (s *sqlState) snapshot() ([]SQLJobState, []ImportState) {
	jobs := make([]SQLJobState, 0, len(s.order))
	imports := make([]ImportState, 0)
	for _, j := range s.order {
		jobs = append(jobs, j.state(s.now))
		if j.imp != nil {
			imports = append(imports, j.importState())
		}
	}
	return jobs, imports
}

// sqlLockKey is the import lock key of a table.
func sqlLockKey(db, table string) string {
	if table == "" {
		return ""
	}
	return strings.ToLower(db) + "." + strings.ToLower(table)
}
