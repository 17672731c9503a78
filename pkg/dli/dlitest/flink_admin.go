package dlitest

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// FlinkJobSpec describes a Flink job to create through AddFlinkJob or
// POST /_emulator/flink/jobs (DLI's own API cannot create Flink jobs in the
// emulator: 9.2/9.4 are not emulated).
type FlinkJobSpec struct {
	// Name is required, 1 to 57 characters.
	Name string `json:"name"`
	// Desc is the job description, at most 512 characters.
	Desc string `json:"desc,omitempty"`
	// QueueName is the queue the job runs on; default "default". It must
	// exist.
	QueueName string `json:"queue_name,omitempty"`
	// JobType is one of FlinkJobTypes; default "flink_sql_job".
	JobType string `json:"job_type,omitempty"`
	// Status is one of FlinkJobStatuses; default job_init. A status given
	// here is pinned: no lifecycle transition follows until the job is run
	// or stopped through the API.
	Status string `json:"status,omitempty"`
	// StatusDesc is the status description (e.g. an exception's text).
	StatusDesc string `json:"status_desc,omitempty"`
	// UserName is the job's owner; default "emulator_user".
	UserName string `json:"user_name,omitempty"`
	// Tags are the job's labels, filtered by 9.7's tags parameter.
	Tags map[string]string `json:"tags,omitempty"`
	// EnterpriseProject is filtered by 9.7's sys_enterprise_project_name;
	// default "default".
	EnterpriseProject string `json:"enterprise_project,omitempty"`
	// RootID is the edge parent job's id; 0 means none (reported as -1).
	// Jobs with a parent are listed only with root_job_id.
	RootID int64 `json:"root_id,omitempty"`
	// SQLBody, MainClass and Entrypoint fill the detail (9.8).
	SQLBody    string `json:"sql_body,omitempty"`
	MainClass  string `json:"main_class,omitempty"`
	Entrypoint string `json:"entrypoint,omitempty"`
	// CreatedAt is the creation instant; zero means the clock's now. A
	// job created with a started status (running, exception, stopped…) is
	// taken to have started at CreatedAt.
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// ErrNotFound is returned by the emulator's Go-level admin methods for an
// unknown job or batch id.
var ErrNotFound = errors.New("dlitest: no such resource")

// flinkStarted lists the statuses of a job that has been started at least
// once; flinkEnded those of one that is no longer running.
var (
	flinkStarted = map[string]bool{
		FlinkJobRunning: true, FlinkJobRunningException: true, FlinkJobIdle: true,
		FlinkJobCanceling: true, FlinkJobCancelSuccess: true, FlinkJobCancelFail: true,
		FlinkJobSavepointing: true, FlinkJobArrearageStopped: true,
		FlinkJobArrearageRecovering: true, FlinkJobFinish: true,
	}
	flinkEnded = map[string]bool{
		FlinkJobRunningException: true, FlinkJobCancelSuccess: true,
		FlinkJobArrearageStopped: true, FlinkJobFinish: true,
	}
)

// newFlinkJob validates spec and builds the job. Caller holds e.mu.
func (e *Emulator) newFlinkJob(spec FlinkJobSpec, now time.Time) (*flinkJob, error) {
	if n := len([]rune(spec.Name)); n < 1 || n > 57 {
		return nil, fmt.Errorf("name must be 1 to 57 characters long, got %d", n)
	}
	if len([]rune(spec.Desc)) > 512 {
		return nil, fmt.Errorf("desc must be at most 512 characters long")
	}
	spec.QueueName = strings.ToLower(spec.QueueName) // DLI queue names are case-insensitive
	if spec.QueueName == "" {
		spec.QueueName = "default"
	}
	if !e.queueExists(spec.QueueName) {
		return nil, fmt.Errorf("There is no queue named %s", spec.QueueName)
	}
	if spec.JobType == "" {
		spec.JobType = "flink_sql_job"
	}
	if !validFlinkType(spec.JobType) {
		return nil, fmt.Errorf("job_type %q is invalid; valid values: %v", spec.JobType, FlinkJobTypes)
	}
	if spec.Status == "" {
		spec.Status = FlinkJobInit
	}
	if !validFlinkStatus(spec.Status) {
		return nil, fmt.Errorf("status %q is invalid; valid values: %v", spec.Status, FlinkJobStatuses)
	}
	if spec.RootID < 0 {
		return nil, fmt.Errorf("root_id must not be negative")
	}
	if spec.UserName == "" {
		spec.UserName = emulatorUser
	}
	if spec.EnterpriseProject == "" {
		spec.EnterpriseProject = "default"
	}
	created := spec.CreatedAt.UTC().Truncate(time.Millisecond)
	if spec.CreatedAt.IsZero() {
		created = now
	}
	j := &flinkJob{
		id: e.nextID(), name: spec.Name, desc: spec.Desc, queue: spec.QueueName,
		jobType: spec.JobType, status: spec.Status, statusDesc: spec.StatusDesc,
		userName: spec.UserName, enterpriseProject: spec.EnterpriseProject,
		tags: maps.Clone(spec.Tags), rootID: spec.RootID, sqlBody: spec.SQLBody,
		mainClass: spec.MainClass, entrypoint: spec.Entrypoint,
		createTime: created, updateTime: created,
	}
	if j.rootID == 0 {
		j.rootID = -1
	}
	if flinkStarted[j.status] {
		j.startTime = created
	}
	if flinkEnded[j.status] {
		j.endTime = now
		if j.endTime.Before(created) {
			j.endTime = created
		}
	}
	return j, nil
}

// AddFlinkJob creates a Flink job and returns its id.
func (e *Emulator) AddFlinkJob(spec FlinkJobSpec) (int64, error) {
	ids, err := e.AddFlinkJobs([]FlinkJobSpec{spec})
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// AddFlinkJobs creates many Flink jobs at once (pagination tests,
// benchmarks): all of them or, when one spec is invalid, none.
func (e *Emulator) AddFlinkJobs(specs []FlinkJobSpec) ([]int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	now := e.clock.Now()
	jobs := make([]*flinkJob, 0, len(specs))
	seq := e.seq
	for i, spec := range specs {
		j, err := e.newFlinkJob(spec, now)
		if err != nil {
			e.seq = seq // hand the ids back
			return nil, fmt.Errorf("dlitest: flink job %d: %w", i, err)
		}
		jobs = append(jobs, j)
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		e.flink.add(j)
		ids[i] = j.id
	}
	return ids, nil
}

// SetFlinkJobStatus sets a job's status and status_desc, pinning it there
// (any scheduled transition is dropped).
func (e *Emulator) SetFlinkJobStatus(id int64, status, desc string) error {
	if !validFlinkStatus(status) {
		return fmt.Errorf("dlitest: status %q is invalid; valid values: %v", status, FlinkJobStatuses)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	j := e.flink.byID[id]
	if j == nil {
		return fmt.Errorf("%w: flink job %d", ErrNotFound, id)
	}
	now := e.clock.Now()
	j.unschedule()
	if flinkStarted[status] && (!flinkStarted[j.status] || flinkEnded[j.status]) && !flinkEnded[status] {
		j.startTime, j.endTime = now, time.Time{} // (re)started
	}
	if flinkStarted[status] && j.startTime.IsZero() {
		j.startTime = now
	}
	if flinkEnded[status] && j.endTime.IsZero() {
		j.endTime = now
	}
	j.status, j.statusDesc, j.updateTime = status, desc, now
	return nil
}

// FlinkJob returns a Flink job's state.
func (e *Emulator) FlinkJob(id int64) (FlinkJobState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	j := e.flink.byID[id]
	if j == nil {
		return FlinkJobState{}, false
	}
	return j.state(), true
}

// adminFlinkCreate is the body of POST /_emulator/flink/jobs: a
// FlinkJobSpec plus count (default 1, at most 100000) — with count > 1 the
// jobs are named "<name>-00001"… and the answer lists every id in job_ids.
type adminFlinkCreate struct {
	FlinkJobSpec
	Count int `json:"count,omitempty"`
}

func (e *Emulator) registerFlinkAdmin() {
	e.adminRoute("POST /_emulator/flink/jobs", func(w http.ResponseWriter, r *http.Request) {
		var req adminFlinkCreate
		if !decodeBody(w, r, &req) {
			return
		}
		adminCreate(w, req.FlinkJobSpec, req.Count, func(s *FlinkJobSpec) *string { return &s.Name }, e.AddFlinkJobs, "job_id", "job_ids")
	})
	e.adminRoute("PUT /_emulator/flink/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "DLI.0001", "job id must be an integer")
			return
		}
		var req struct {
			Status     string `json:"status"`
			StatusDesc string `json:"status_desc"`
		}
		if !decodeBody(w, r, &req) {
			return
		}
		if err := e.SetFlinkJobStatus(id, req.Status, req.StatusDesc); err != nil {
			writeAdminError(w, err)
			return
		}
		st, _ := e.FlinkJob(id)
		writeJSON(w, http.StatusOK, st)
	})
}

// seed loads the demo Flink jobs on queues default, etl and adhoc: two
// running, one failed (job_running_exception), one draft, one stopped and
// one that failed to submit. Caller holds e.mu.
func (s *flinkState) seed(e *Emulator) {
	now := e.clock.Now()
	specs := []FlinkJobSpec{
		{Name: "orders_enrichment", QueueName: "etl", JobType: "flink_opensource_sql_job", Status: FlinkJobRunning,
			Desc: "joins the order stream with the customer table", SQLBody: "INSERT INTO orders_enriched SELECT …",
			Tags: map[string]string{"team": "commerce"}, CreatedAt: now.Add(-72 * time.Hour)},
		{Name: "clickstream_sessions", QueueName: "default", JobType: "flink_jar_job", Status: FlinkJobRunning,
			MainClass: "com.example.Sessionize", Entrypoint: "clickstream-1.4.jar",
			Tags: map[string]string{"team": "web"}, CreatedAt: now.Add(-30 * time.Hour)},
		{Name: "payments_cdc", QueueName: "etl", JobType: "flink_opensource_sql_job", Status: FlinkJobRunningException,
			StatusDesc: "java.lang.OutOfMemoryError: Java heap space (TaskManager container lost)",
			Tags:       map[string]string{"team": "payments"}, CreatedAt: now.Add(-6 * time.Hour)},
		{Name: "sensor_rollup_draft", QueueName: "adhoc", JobType: "flink_sql_job", Status: FlinkJobInit,
			CreatedAt: now.Add(-3 * time.Hour)},
		{Name: "legacy_aggregator", QueueName: "default", JobType: "flink_jar_job", Status: FlinkJobCancelSuccess,
			MainClass: "com.example.Aggregate", Entrypoint: "legacy-agg.jar", CreatedAt: now.Add(-2 * time.Hour)},
		{Name: "fraud_scoring", QueueName: "adhoc", JobType: "flink_opensource_sql_job", Status: FlinkJobSubmitFail,
			StatusDesc: "queue adhoc has no free CUs", CreatedAt: now.Add(-time.Hour)},
	}
	for _, spec := range specs {
		j, err := e.newFlinkJob(spec, now)
		if err != nil {
			panic("dlitest: bad demo flink job: " + err.Error()) // a bug in this table
		}
		s.add(j)
	}
}
