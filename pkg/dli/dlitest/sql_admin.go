package dlitest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrSQLJobNotFound is returned by the SQL job helpers for an unknown id.
var ErrSQLJobNotFound = errors.New("dlitest: no such SQL job")

// ErrSQLJobSpec is returned (wrapped) for an invalid status, statement or
// queue given to the SQL job helpers.
var ErrSQLJobSpec = errors.New("dlitest: invalid SQL job")

// SQLJobSpec describes SQL jobs made by AddSQLJobs (tests, benchmarks and
// the demo seed), bypassing the API's validation and the
// one-import-per-table rule.
type SQLJobSpec struct {
	// Statement is the job's SQL (required). It contains SQLFailMarker to
	// make a job with the natural lifecycle end FAILED.
	Statement string
	// JobType defaults to the type inferred from Statement.
	JobType string
	// Queue defaults to "default"; any other queue must exist.
	Queue string
	// Database is the current database (the table's database when the
	// statement does not name one).
	Database string
	// Owner defaults to "emulator_user"; EngineType to "spark".
	Owner      string
	EngineType string
	Tags       []SQLTag
	// Status "" (the default) gives the natural lifecycle from StartTime
	// (LAUNCHING, RUNNING, then FINISHED or FAILED). FINISHED, FAILED and
	// CANCELLED make jobs that ended at StartTime+Duration. LAUNCHING,
	// RUNNING and SCALING make jobs frozen in that status until forced
	// again or cancelled.
	Status string
	// Message is the job's message (for FAILED the default names the
	// admin API).
	Message string
	// StartTime defaults to the emulator clock's now.
	StartTime time.Time
	// Duration is how long an ended job ran; default Timing.SQLLaunch +
	// Timing.SQLRun (ImportRun for IMPORT jobs).
	Duration time.Duration
	// Spacing separates the start times: job i starts at
	// StartTime + i*Spacing (default 0; list ties are ordered by creation).
	Spacing time.Duration
}

// AddSQLJobs creates n jobs from spec and returns their ids in creation
// order. It is fast enough for many thousands of jobs (pagination tests,
// benchmarks).
func (e *Emulator) AddSQLJobs(n int, spec SQLJobSpec) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	return e.sqlAddJobsLocked(n, spec)
}

// sqlAddJobsLocked is AddSQLJobs with e.mu held.
func (e *Emulator) sqlAddJobsLocked(n int, sp SQLJobSpec) ([]string, error) {
	if n < 0 {
		return nil, fmt.Errorf("%w: n %d is negative", ErrSQLJobSpec, n)
	}
	if strings.TrimSpace(sp.Statement) == "" {
		return nil, fmt.Errorf("%w: statement is required", ErrSQLJobSpec)
	}
	jobType := strings.ToUpper(sp.JobType)
	if jobType == "" {
		jobType = sqlClassify(sp.Statement)
	}
	if !sqlJobTypes[jobType] {
		return nil, fmt.Errorf("%w: job type %q (statement %q)", ErrSQLJobSpec, jobType, sqlHead(sp.Statement))
	}
	if sp.Status != "" && !sqlKnownStatus(sp.Status) {
		return nil, fmt.Errorf("%w: status %q is not one of LAUNCHING, RUNNING, SCALING, FINISHED, FAILED, CANCELLED", ErrSQLJobSpec, sp.Status)
	}
	queue := strings.ToLower(sp.Queue)
	if queue == "" {
		queue = sqlDefaultQueue
	}
	if queue != sqlDefaultQueue && !e.queueExists(queue) {
		return nil, fmt.Errorf("%w: there is no queue named %s", ErrSQLJobSpec, queue)
	}
	engine, ok := sqlEngine(sp.EngineType)
	if !ok {
		return nil, fmt.Errorf("%w: engine type %q", ErrSQLJobSpec, sp.EngineType)
	}
	now := e.clock.Now()
	start := sp.StartTime
	if start.IsZero() {
		start = now
	}
	start = start.UTC().Truncate(time.Millisecond)
	base := e.sqlNewJob(sqlJobSpec{
		statement: sp.Statement, jobType: jobType, queue: queue, currentdb: sp.Database,
		owner: sp.Owner, engine: engine, tags: append([]SQLTag(nil), sp.Tags...),
	}, start)
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		cp := *base // base itself is never stored: every job is a fresh copy
		if i > 0 {
			cp.seq = e.nextID()
			cp.id = sqlJobID(cp.seq)
		}
		shift := time.Duration(i) * sp.Spacing
		cp.start, cp.runAt, cp.doneAt = base.start.Add(shift), base.runAt.Add(shift), base.doneAt.Add(shift)
		if base.imp != nil {
			imp := *base.imp
			cp.imp = &imp
		}
		j := &cp
		switch {
		case sp.Status == "":
		case sqlTerminal(sp.Status):
			d := sp.Duration
			if d == 0 {
				d = j.doneAt.Sub(j.start)
			}
			msg := sp.Message
			if msg == "" && sp.Status == SQLFailed {
				msg = "the job was failed by the emulator"
			}
			j.status, j.message, j.end = sp.Status, msg, j.start.Add(d)
		default:
			j.status, j.message, j.frozen = sp.Status, sp.Message, true
		}
		e.sql.add(j)
		e.sql.advance(j, now)
		ids = append(ids, j.id)
	}
	return ids, nil
}

// SetSQLJobStatus forces a job's status (what PUT /_emulator/sql/jobs/{id}
// does). A terminal status (FINISHED, FAILED, CANCELLED) ends the job now
// (keeping the end time of a job that had already ended); LAUNCHING,
// RUNNING or SCALING freeze the job in that status until it is forced
// again or cancelled. An empty message for FAILED gets a default one.
func (e *Emulator) SetSQLJobStatus(id, status, message string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	j := e.sql.jobs[id]
	if j == nil {
		return fmt.Errorf("%w: %s", ErrSQLJobNotFound, id)
	}
	if !sqlKnownStatus(status) {
		return fmt.Errorf("%w: status %q is not one of LAUNCHING, RUNNING, SCALING, FINISHED, FAILED, CANCELLED", ErrSQLJobSpec, status)
	}
	if message == "" && status == SQLFailed {
		message = "the job was failed by the emulator admin API"
	}
	now := e.clock.Now()
	if sqlTerminal(status) {
		end := now
		if sqlTerminal(j.status) {
			end = j.end
		}
		e.sql.finish(j, status, message, end)
		return nil
	}
	j.status, j.message, j.end, j.frozen = status, message, time.Time{}, true
	if j.imp != nil && e.sql.sqlLockHolder(j.imp.lockKey) == nil && j.imp.lockKey != "" {
		e.sql.locks[j.imp.lockKey] = j
	}
	return nil
}

// SQLJob returns one job's state.
func (e *Emulator) SQLJob(id string) (SQLJobState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	j := e.sql.jobs[id]
	if j == nil {
		return SQLJobState{}, false
	}
	return j.state(e.clock.Now()), true
}

// sqlAdminSetStatus is PUT /_emulator/sql/jobs/{id} {status, message}; it
// answers the job's new state.
func (e *Emulator) sqlAdminSetStatus(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	err := e.SetSQLJobStatus(id, req.Status, req.Message)
	switch {
	case errors.Is(err, ErrSQLJobNotFound):
		writeError(w, http.StatusNotFound, "DLI.0002", "There is no job with id "+id)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "DLI.0001", err.Error())
		return
	}
	st, _ := e.SQLJob(id)
	writeJSON(w, http.StatusOK, st)
}

// seed adds the demo SQL jobs on queue "default": one in each status (the
// LAUNCHING and RUNNING ones frozen, so a demo keeps showing them) and a
// finished CSV import. Caller holds e.mu.
func (s *sqlState) seed(e *Emulator) {
	now := e.clock.Now()
	specs := []SQLJobSpec{
		{Statement: "SELECT * FROM demo.events LIMIT 5", Status: SQLFinished, StartTime: now.Add(-50 * time.Minute), Duration: 7 * time.Second,
			Tags: []SQLTag{{Key: "workspace", Value: "demo"}}},
		{Statement: "INSERT INTO demo.daily SELECT dt, count(*) FROM demo.events GROUP BY dt", Status: SQLFailed, StartTime: now.Add(-40 * time.Minute),
			Duration: 95 * time.Second, Message: "DLI.0005: Table or view not found: demo.daily"},
		{Statement: "SELECT user_id, count(*) AS n FROM demo.events GROUP BY user_id", Status: SQLCancelled, StartTime: now.Add(-30 * time.Minute),
			Duration: 12 * time.Minute, Message: "the job was cancelled by the user"},
		{Statement: "INSERT OVERWRITE TABLE demo.sessions SELECT * FROM demo.events", Status: SQLRunning, StartTime: now.Add(-20 * time.Minute)},
		{Statement: "SELECT count(*) FROM demo.events", Status: SQLLaunching, StartTime: now.Add(-time.Minute)},
	}
	for _, sp := range specs {
		if _, err := e.sqlAddJobsLocked(1, sp); err != nil {
			panic("dlitest: bad SQL seed: " + err.Error()) // a bug in the seed itself
		}
	}
	imp := &sqlImport{dataPath: "obs://demo-bucket/landing/events/dt=2026-11-25/part-0.csv", dataType: "csv",
		partition: map[string]string{"dt": "2026-11-25"}}
	hdr := true
	imp.withHeader = &hdr
	j := e.sqlNewJob(sqlJobSpec{
		statement: sqlImportStatement(imp, "demo", "events"), jobType: "IMPORT", queue: sqlDefaultQueue,
		imp: imp, failText: imp.dataPath, database: "demo", table: "events",
		tags: []SQLTag{{Key: "source", Value: "obsimport"}},
	}, now.Add(-10*time.Minute))
	e.sql.add(j)
	e.sql.advance(j, now)
}
