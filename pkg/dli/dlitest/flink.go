package dlitest

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Flink jobs (reference 9.6 run in batches, 9.7 list, 9.8 detail, 9.10 stop
// in batches).
//
// Wire quirks kept from the reference and the official SDK:
//   - is_success is a JSON string ("true"/"false") in every 9.x response;
//   - 9.6 and 9.10 answer a JSON array with one {is_success, message} per
//     requested job, in request order (9.10's example shows a single object,
//     the SDK decodes an array; the emulator answers the array);
//   - a missing job is 400 DLI.0002 in 9.8 (reference 14.2), while in the
//     batch calls a job that is missing or in the wrong status gets
//     is_success "false" and a message in its array element (HTTP 200);
//     a malformed body (no job_ids, ids ≤ 0) is 400 DLI.0001;
//   - the list answers job_list.total_count (all matching jobs) and
//     job_list.jobs (one page); jobs carry user_name (the reference's
//     example and the SDK, not the table's "username").
//
// Lifecycle on the emulator clock (Timing.FlinkStart, Timing.FlinkStop):
//
//	run:  job_init|stopped → job_submitting ──FlinkStart──▶ job_running
//	stop: job_running → job_canceling ──FlinkStop──▶ job_cancel_success
//	stop with trigger_savepoint: job_running → job_savepointing ──FlinkStop──▶
//	      job_canceling ──FlinkStop──▶ job_cancel_success (has_savepoint true)
//
// The reference has no "job_canceled" status: a stopped job is
// job_cancel_success. A job can be run from job_init, job_submit_fail,
// job_running_exception, job_cancel_success, job_cancel_fail, job_finish,
// job_idle and job_arrearage_stopped; any other status answers "cannot be
// started". A job can be stopped from job_submitting, job_running,
// job_downloading, job_idle, job_cancel_fail and job_arrearage_recovering.
// A status set through the admin API is pinned: no transition follows it
// until a run or stop request starts one.

// Flink job statuses of reference 9.7 (plus the two arrears statuses the
// official SDK's enum lists).
const (
	FlinkJobInit                = "job_init"
	FlinkJobSubmitting          = "job_submitting"
	FlinkJobSubmitFail          = "job_submit_fail"
	FlinkJobRunning             = "job_running"
	FlinkJobRunningException    = "job_running_exception"
	FlinkJobDownloading         = "job_downloading"
	FlinkJobIdle                = "job_idle"
	FlinkJobCanceling           = "job_canceling"
	FlinkJobCancelSuccess       = "job_cancel_success"
	FlinkJobCancelFail          = "job_cancel_fail"
	FlinkJobSavepointing        = "job_savepointing"
	FlinkJobArrearageStopped    = "job_arrearage_stopped"
	FlinkJobArrearageRecovering = "job_arrearage_recovering"
	FlinkJobFinish              = "job_finish"
)

// FlinkJobStatuses lists every Flink job status the emulator knows, in the
// reference's order.
var FlinkJobStatuses = []string{
	FlinkJobInit, FlinkJobSubmitting, FlinkJobSubmitFail, FlinkJobRunning,
	FlinkJobRunningException, FlinkJobDownloading, FlinkJobIdle, FlinkJobCanceling,
	FlinkJobCancelSuccess, FlinkJobCancelFail, FlinkJobSavepointing,
	FlinkJobArrearageStopped, FlinkJobArrearageRecovering, FlinkJobFinish,
}

// FlinkJobTypes lists the Flink job types of reference 9.7 and the SDK.
var FlinkJobTypes = []string{"flink_sql_job", "flink_opensource_sql_job", "flink_sql_edge_job", "flink_jar_job"}

var (
	flinkRunnable = map[string]bool{
		FlinkJobInit: true, FlinkJobSubmitFail: true, FlinkJobRunningException: true,
		FlinkJobCancelSuccess: true, FlinkJobCancelFail: true, FlinkJobFinish: true,
		FlinkJobIdle: true, FlinkJobArrearageStopped: true,
	}
	flinkStoppable = map[string]bool{
		FlinkJobSubmitting: true, FlinkJobRunning: true, FlinkJobDownloading: true,
		FlinkJobIdle: true, FlinkJobCancelFail: true, FlinkJobArrearageRecovering: true,
	}
)

// emulatorUser is the user name the emulator reports as the owner of jobs
// and batches that did not name one.
const emulatorUser = "emulator_user"

// Messages of the batch run/stop answers (reference 9.6 and 9.10 examples).
const (
	flinkRunOK  = "The request for submitting DLI jobs is delivered successfully."
	flinkStopOK = "The request for stopping DLI jobs is delivered successfully."
)

func validFlinkStatus(s string) bool { return slices.Contains(FlinkJobStatuses, s) }
func validFlinkType(s string) bool   { return slices.Contains(FlinkJobTypes, s) }

// flinkJob is one Flink job. Times are on the emulator clock.
type flinkJob struct {
	id                 int64
	name, desc         string
	queue, jobType     string
	status, statusDesc string
	userName           string
	enterpriseProject  string
	tags               map[string]string
	rootID             int64 // -1 for a job that is not an edge child
	sqlBody            string
	mainClass          string
	entrypoint         string
	createTime         time.Time
	startTime          time.Time // zero: never started
	endTime            time.Time // zero: not stopped since the last start
	updateTime         time.Time
	hasSavepoint       bool
	savepointPath      string

	jobTimer
}

type flinkState struct {
	jobs []*flinkJob // ascending create time (then id)
	byID map[int64]*flinkJob
	due  dueQueue[int64]
}

func (s *flinkState) init() {
	s.jobs = nil
	s.byID = make(map[int64]*flinkJob)
	s.due = dueQueue[int64]{}
}

// schedule arranges for j's next transition at t (replacing any other).
func (s *flinkState) schedule(j *flinkJob, t time.Time) { s.due.schedule(&j.jobTimer, j.id, t) }

// catchUp performs every transition due at or before now, each at its own
// instant. It is O(1) when nothing is due.
func (s *flinkState) catchUp(e *Emulator, now time.Time) {
	catchUpDue(&s.due, s.byID, now, func(j *flinkJob, at time.Time) { s.step(e, j, at) })
}

// step performs j's scheduled transition at instant at.
func (s *flinkState) step(e *Emulator, j *flinkJob, at time.Time) {
	j.updateTime = at
	switch j.status {
	case FlinkJobSubmitting:
		j.status, j.statusDesc = FlinkJobRunning, ""
		j.startTime, j.endTime = at, time.Time{}
	case FlinkJobSavepointing:
		j.hasSavepoint = true
		j.savepointPath = fmt.Sprintf("obs://dli-emulator/savepoints/%d/savepoint-%d", j.id, at.UnixMilli())
		j.status = FlinkJobCanceling
		s.schedule(j, at.Add(e.opts.Timing.FlinkStop))
	case FlinkJobCanceling:
		j.status, j.statusDesc = FlinkJobCancelSuccess, ""
		j.endTime = at
	}
}

// add inserts a job keeping s.jobs ordered by create time. Caller holds e.mu.
func (s *flinkState) add(j *flinkJob) {
	s.byID[j.id] = j
	s.jobs = insertByCreateTime(s.jobs, j, func(j *flinkJob) time.Time { return j.createTime })
}

// run starts j (9.6); it returns the answer's message and success.
func (s *flinkState) run(e *Emulator, j *flinkJob, now time.Time) (bool, string) {
	if !flinkRunnable[j.status] {
		return false, fmt.Sprintf("The job %d is in status %s and cannot be started.", j.id, j.status)
	}
	j.status, j.statusDesc = FlinkJobSubmitting, ""
	j.updateTime = now
	s.schedule(j, now.Add(e.opts.Timing.FlinkStart))
	return true, flinkRunOK
}

// stop stops j (9.10).
func (s *flinkState) stop(e *Emulator, j *flinkJob, savepoint bool, now time.Time) (bool, string) {
	if !flinkStoppable[j.status] {
		return false, fmt.Sprintf("The job %d is in status %s and cannot be stopped.", j.id, j.status)
	}
	j.updateTime = now
	if savepoint && j.status == FlinkJobRunning {
		j.status = FlinkJobSavepointing
	} else {
		j.status = FlinkJobCanceling
	}
	s.schedule(j, now.Add(e.opts.Timing.FlinkStop))
	return true, flinkStopOK
}

// FlinkJobState is a Flink job in the state snapshot (GET /_emulator/state).
// Times are on the emulator clock.
type FlinkJobState struct {
	ID         int64  `json:"job_id"`
	Name       string `json:"name"`
	Queue      string `json:"queue_name"`
	Type       string `json:"job_type"`
	Status     string `json:"status"`
	StatusDesc string `json:"status_desc"`
	UserName   string `json:"user_name"`
	// RootID is the edge parent job's id, -1 for none.
	RootID            int64             `json:"root_id"`
	Tags              map[string]string `json:"tags,omitempty"`
	EnterpriseProject string            `json:"enterprise_project"`
	CreateTime        time.Time         `json:"create_time"`
	StartTime         *time.Time        `json:"start_time,omitempty"`
	UpdateTime        time.Time         `json:"update_time"`
	HasSavepoint      bool              `json:"has_savepoint"`
	// NextAt is when the job's next lifecycle transition is due; nil when
	// its status is stable (or pinned through the admin API).
	NextAt *time.Time `json:"next_at,omitempty"`
}

func (j *flinkJob) state() FlinkJobState {
	return FlinkJobState{
		ID: j.id, Name: j.name, Queue: j.queue, Type: j.jobType, Status: j.status,
		StatusDesc: j.statusDesc, UserName: j.userName, RootID: j.rootID,
		Tags: maps.Clone(j.tags), EnterpriseProject: j.enterpriseProject,
		CreateTime: j.createTime, UpdateTime: j.updateTime, HasSavepoint: j.hasSavepoint,
		StartTime: timePtr(j.startTime), NextAt: timePtr(j.due),
	}
}

func (s *flinkState) snapshot() []FlinkJobState {
	out := make([]FlinkJobState, 0, len(s.jobs))
	for _, j := range s.jobs {
		out = append(out, j.state())
	}
	return out
}

// ---- wire types ----

// flinkBatchResult is one element of the 9.6 / 9.10 answer.
type flinkBatchResult struct {
	IsSuccess string `json:"is_success"`
	Message   string `json:"message"`
}

// flinkListItem is a job in the 9.7 list without show_detail.
type flinkListItem struct {
	JobID              int64  `json:"job_id"`
	Name               string `json:"name"`
	Desc               string `json:"desc"`
	UserName           string `json:"user_name"`
	JobType            string `json:"job_type"`
	Status             string `json:"status"`
	StatusDesc         string `json:"status_desc"`
	CreateTime         int64  `json:"create_time"`
	StartTime          int64  `json:"start_time"`
	Duration           int64  `json:"duration"`
	RootID             int64  `json:"root_id"`
	GraphEditorEnabled bool   `json:"graph_editor_enabled"`
	HasSavepoint       bool   `json:"has_savepoint"`
	QueueName          string `json:"queue_name"`
}

// flinkJobConfig is job_config of 9.8 (Table 9-42), the fields the SDK's
// FlinkJobConfig decodes.
type flinkJobConfig struct {
	CheckpointEnabled    bool     `json:"checkpoint_enabled"`
	CheckpointInterval   int      `json:"checkpoint_interval"`
	CheckpointMode       string   `json:"checkpoint_mode"`
	LogEnabled           bool     `json:"log_enabled"`
	ObsBucket            *string  `json:"obs_bucket"`
	RootID               int64    `json:"root_id"`
	EdgeGroupIDs         []string `json:"edge_group_ids"`
	GraphEditorEnabled   bool     `json:"graph_editor_enabled"`
	GraphEditorData      string   `json:"graph_editor_data"`
	ManagerCuNumber      int      `json:"manager_cu_number"`
	ExecutorNumber       *int     `json:"executor_number"`
	ExecutorCuNumber     *int     `json:"executor_cu_number"`
	CuNumber             int      `json:"cu_number"`
	ParallelNumber       int      `json:"parallel_number"`
	SmnTopic             *string  `json:"smn_topic"`
	RestartWhenException bool     `json:"restart_when_exception"`
	IdleStateRetention   int      `json:"idle_state_retention"`
	ConfigURL            *string  `json:"config_url"`
	UdfJarURL            *string  `json:"udf_jar_url"`
	DirtyDataStrategy    *string  `json:"dirty_data_strategy"`
	Entrypoint           *string  `json:"entrypoint"`
	DependencyJars       []string `json:"dependency_jars"`
	DependencyFiles      []string `json:"dependency_files"`
}

// flinkDetail is job_detail of 9.8, and a job of the 9.7 list with
// show_detail=true.
type flinkDetail struct {
	JobID          int64          `json:"job_id"`
	UserID         string         `json:"user_id"`
	QueueName      string         `json:"queue_name"`
	ProjectID      string         `json:"project_id"`
	Name           string         `json:"name"`
	Desc           string         `json:"desc"`
	SQLBody        string         `json:"sql_body"`
	RunMode        string         `json:"run_mode"`
	JobType        string         `json:"job_type"`
	JobConfig      flinkJobConfig `json:"job_config"`
	MainClass      *string        `json:"main_class"`
	EntrypointArgs *string        `json:"entrypoint_args"`
	ExecutionGraph *string        `json:"execution_graph"`
	Status         string         `json:"status"`
	StatusDesc     string         `json:"status_desc"`
	CreateTime     int64          `json:"create_time"`
	UpdateTime     int64          `json:"update_time"`
	StartTime      *int64         `json:"start_time"`
	SavepointPath  *string        `json:"savepoint_path"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// duration is the job's running time in ms at now: 0 when never started.
func (j *flinkJob) duration(now time.Time) int64 {
	if j.startTime.IsZero() {
		return 0
	}
	end := now
	if !j.endTime.IsZero() {
		end = j.endTime
	}
	if end.Before(j.startTime) {
		return 0
	}
	return end.Sub(j.startTime).Milliseconds()
}

func (j *flinkJob) listItem(now time.Time) flinkListItem {
	it := flinkListItem{
		JobID: j.id, Name: j.name, Desc: j.desc, UserName: j.userName, JobType: j.jobType,
		Status: j.status, StatusDesc: j.statusDesc, CreateTime: j.createTime.UnixMilli(),
		Duration: j.duration(now), RootID: j.rootID, HasSavepoint: j.hasSavepoint, QueueName: j.queue,
	}
	if !j.startTime.IsZero() {
		it.StartTime = j.startTime.UnixMilli()
	}
	return it
}

func (j *flinkJob) detail(project string) flinkDetail {
	d := flinkDetail{
		JobID: j.id, UserID: flinkUserID(j.userName), QueueName: j.queue, ProjectID: project,
		Name: j.name, Desc: j.desc, SQLBody: j.sqlBody, RunMode: "exclusive_cluster", JobType: j.jobType,
		JobConfig: flinkJobConfig{
			CheckpointInterval: 10, CheckpointMode: "exactly_once", RootID: j.rootID,
			ManagerCuNumber: 1, CuNumber: 2, ParallelNumber: 1, IdleStateRetention: 3600,
			Entrypoint: strPtr(j.entrypoint),
		},
		MainClass: strPtr(j.mainClass), Status: j.status, StatusDesc: j.statusDesc,
		CreateTime: j.createTime.UnixMilli(), UpdateTime: j.updateTime.UnixMilli(),
		SavepointPath: strPtr(j.savepointPath),
	}
	if !j.startTime.IsZero() {
		ms := j.startTime.UnixMilli()
		d.StartTime = &ms
	}
	return d
}

// flinkUserID is a stable, fake 32-hex user id for a user name.
func flinkUserID(user string) string {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(user); i++ {
		h ^= uint64(user[i])
		h *= 1099511628211
	}
	return fmt.Sprintf("%016x%016x", h, h^0x9e3779b97f4a7c15)
}

// ---- handlers ----

func (e *Emulator) registerFlink() {
	e.route("GET /v1.0/{project_id}/streaming/jobs", e.flinkList)
	e.route("GET /v1.0/{project_id}/streaming/jobs/{job_id}", e.flinkShow)
	e.route("POST /v1.0/{project_id}/streaming/jobs/run", e.flinkRun)
	e.route("POST /v1.0/{project_id}/streaming/jobs/stop", e.flinkStop)
	e.registerFlinkAdmin()
}

// flinkListQuery is the parsed 9.7 query.
type flinkListQuery struct {
	jobType, status, queue, name, user, project string
	tags                                        map[string]string // value "" matches any value
	rootID                                      int64             // 0: no root_job_id filter
	showDetail, asc                             bool
	offset, limit                               int64
}

func parseFlinkListQuery(q url.Values) (flinkListQuery, error) {
	f := flinkListQuery{limit: 10}
	var err error
	if f.jobType = q.Get("job_type"); f.jobType != "" && !validFlinkType(f.jobType) {
		return f, fmt.Errorf("job_type %q is invalid; valid values: %s", f.jobType, strings.Join(FlinkJobTypes, ", "))
	}
	if f.status = q.Get("status"); f.status != "" && !validFlinkStatus(f.status) {
		return f, fmt.Errorf("status %q is invalid; valid values: %s", f.status, strings.Join(FlinkJobStatuses, ", "))
	}
	f.queue, f.user, f.project = strings.ToLower(q.Get("queue_name")), q.Get("user_name"), q.Get("sys_enterprise_project_name")
	if f.name = q.Get("name"); len([]rune(f.name)) > 57 {
		return f, fmt.Errorf("name must be 0 to 57 characters long")
	}
	switch o := q.Get("order"); o {
	case "", "desc":
	case "asc":
		f.asc = true
	default:
		return f, fmt.Errorf("order %q is invalid; valid values: asc, desc", o)
	}
	if f.limit, err = queryInt(q, "limit", 10, 1, 100); err != nil {
		return f, err
	}
	if f.offset, err = queryInt(q, "offset", 0, 0, 1<<53); err != nil {
		return f, err
	}
	if f.rootID, err = queryInt(q, "root_job_id", 0, 1, 1<<62); err != nil {
		return f, err
	}
	if f.showDetail, err = queryBool(q, "show_detail"); err != nil {
		return f, err
	}
	if t := q.Get("tags"); t != "" {
		f.tags = map[string]string{}
		for _, kv := range strings.Split(t, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			if k == "" {
				return f, fmt.Errorf("tags %q is invalid; want key=value pairs separated by commas", t)
			}
			f.tags[k] = v
		}
	}
	return f, nil
}

// queryInt parses an optional integer query parameter within [min, max].
func queryInt(q url.Values, name string, def, min, max int64) (int64, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		if max >= 1<<53 {
			return 0, fmt.Errorf("%s must be an integer ≥ %d, got %q", name, min, s)
		}
		return 0, fmt.Errorf("%s must be an integer between %d and %d, got %q", name, min, max, s)
	}
	return n, nil
}

// queryBool parses an optional true/false query parameter.
func queryBool(q url.Values, name string) (bool, error) {
	switch s := strings.ToLower(q.Get(name)); s {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, fmt.Errorf("%s must be true or false, got %q", name, q.Get(name))
	}
}

func (f *flinkListQuery) match(j *flinkJob) bool {
	if f.rootID != 0 {
		if j.rootID != f.rootID {
			return false
		}
	} else if j.rootID > 0 {
		return false // edge child jobs only show with root_job_id
	}
	if f.jobType != "" && j.jobType != f.jobType ||
		f.status != "" && j.status != f.status ||
		f.queue != "" && j.queue != f.queue ||
		f.user != "" && j.userName != f.user ||
		f.project != "" && j.enterpriseProject != f.project {
		return false
	}
	if f.name != "" && !containsFold(j.name, f.name) {
		return false
	}
	for k, v := range f.tags {
		got, ok := j.tags[k]
		if !ok || v != "" && got != v {
			return false
		}
	}
	return true
}

// containsFold reports whether sub is in s, ignoring ASCII case.
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func (e *Emulator) flinkList(w http.ResponseWriter, r *http.Request) {
	f, err := parseFlinkListQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, "DLI.0001", err.Error())
		return
	}
	now := e.clock.Now()
	jobs := e.flink.jobs
	var page []any
	total := int64(0)
	emit := func(j *flinkJob) {
		if !f.match(j) {
			return
		}
		if total >= f.offset && total < f.offset+f.limit {
			if f.showDetail {
				page = append(page, j.detail(e.opts.ProjectID))
			} else {
				page = append(page, j.listItem(now))
			}
		}
		total++
	}
	if f.asc {
		for _, j := range jobs {
			emit(j)
		}
	} else {
		for i := len(jobs) - 1; i >= 0; i-- {
			emit(jobs[i])
		}
	}
	if page == nil {
		page = []any{}
	}
	var out struct {
		IsSuccess string `json:"is_success"`
		Message   string `json:"message"`
		JobList   struct {
			TotalCount int64 `json:"total_count"`
			Jobs       []any `json:"jobs"`
		} `json:"job_list"`
	}
	out.IsSuccess, out.Message = "true", "Querying of the job list succeeds."
	out.JobList.TotalCount, out.JobList.Jobs = total, page
	writeJSON(w, http.StatusOK, out)
}

// flinkJobByPath finds the job named by the {job_id} path segment, answering
// the error itself when there is none.
func (e *Emulator) flinkJobByPath(w http.ResponseWriter, r *http.Request) *flinkJob {
	raw := r.PathValue("job_id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "DLI.0001", fmt.Sprintf("job_id must be a positive integer, got %q", raw))
		return nil
	}
	j := e.flink.byID[id]
	if j == nil {
		writeError(w, http.StatusBadRequest, "DLI.0002", fmt.Sprintf("The job %d does not exist.", id))
		return nil
	}
	return j
}

func (e *Emulator) flinkShow(w http.ResponseWriter, r *http.Request) {
	j := e.flinkJobByPath(w, r)
	if j == nil {
		return
	}
	writeJSON(w, http.StatusOK, struct {
		IsSuccess string      `json:"is_success"`
		Message   string      `json:"message"`
		JobDetail flinkDetail `json:"job_detail"`
	}{"true", "Querying of the job details succeeds.", j.detail(e.opts.ProjectID)})
}

// flinkBatchBody is the body of 9.6 and 9.10.
type flinkBatchBody struct {
	JobIDs           *[]int64 `json:"job_ids"`
	ResumeSavepoint  *bool    `json:"resume_savepoint"`
	TriggerSavepoint *bool    `json:"trigger_savepoint"`
}

// maxFlinkBatch bounds the job_ids of one run or stop request.
const maxFlinkBatch = 1000

func decodeFlinkBatch(w http.ResponseWriter, r *http.Request) (flinkBatchBody, bool) {
	var b flinkBatchBody
	if !decodeBody(w, r, &b) {
		return b, false
	}
	switch {
	case b.JobIDs == nil:
		writeError(w, http.StatusBadRequest, "DLI.0001", "job_ids is mandatory")
		return b, false
	case len(*b.JobIDs) == 0:
		writeError(w, http.StatusBadRequest, "DLI.0001", "job_ids must not be empty")
		return b, false
	case len(*b.JobIDs) > maxFlinkBatch:
		writeError(w, http.StatusBadRequest, "DLI.0001", fmt.Sprintf("job_ids has %d ids; at most %d per request", len(*b.JobIDs), maxFlinkBatch))
		return b, false
	}
	for _, id := range *b.JobIDs {
		if id <= 0 {
			writeError(w, http.StatusBadRequest, "DLI.0001", fmt.Sprintf("job_ids must be positive integers, got %d", id))
			return b, false
		}
	}
	return b, true
}

func (e *Emulator) flinkRun(w http.ResponseWriter, r *http.Request) {
	e.flinkBatch(w, r, func(_ flinkBatchBody, j *flinkJob, now time.Time) (bool, string) {
		return e.flink.run(e, j, now)
	})
}

func (e *Emulator) flinkStop(w http.ResponseWriter, r *http.Request) {
	e.flinkBatch(w, r, func(b flinkBatchBody, j *flinkJob, now time.Time) (bool, string) {
		savepoint := b.TriggerSavepoint != nil && *b.TriggerSavepoint
		return e.flink.stop(e, j, savepoint, now)
	})
}

// flinkBatch serves 9.6 and 9.11: act runs on each job of the body's
// job_ids in order, and the answer lists one result a job, a job that
// does not exist failing alone.
func (e *Emulator) flinkBatch(w http.ResponseWriter, r *http.Request, act func(b flinkBatchBody, j *flinkJob, now time.Time) (bool, string)) {
	b, ok := decodeFlinkBatch(w, r)
	if !ok {
		return
	}
	now := e.clock.Now()
	out := make([]flinkBatchResult, 0, len(*b.JobIDs))
	for _, id := range *b.JobIDs {
		j := e.flink.byID[id]
		if j == nil {
			out = append(out, flinkBatchResult{"false", fmt.Sprintf("The job %d does not exist.", id)})
			continue
		}
		ok, msg := act(b, j, now)
		out = append(out, flinkBatchResult{strconv.FormatBool(ok), msg})
	}
	writeJSON(w, http.StatusOK, out)
}
