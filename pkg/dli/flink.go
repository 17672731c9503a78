package dli

import (
	"context"
	"iter"
	"strings"
	"time"

	dlisdk "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1/model"
)

// FlinkJobStatus is a Flink job's status (reference 9.7 and 9.8).
type FlinkJobStatus string

// Flink job statuses: the twelve of the reference, plus the two arrears
// statuses the SDK knows.
const (
	FlinkInit               FlinkJobStatus = "job_init"              // draft
	FlinkSubmitting         FlinkJobStatus = "job_submitting"        // being submitted
	FlinkSubmitFail         FlinkJobStatus = "job_submit_fail"       // submission failed
	FlinkRunning            FlinkJobStatus = "job_running"           // running
	FlinkRunningException   FlinkJobStatus = "job_running_exception" // stopped by an exception
	FlinkDownloading        FlinkJobStatus = "job_downloading"       // being downloaded
	FlinkIdle               FlinkJobStatus = "job_idle"              // idle
	FlinkCanceling          FlinkJobStatus = "job_canceling"         // being stopped
	FlinkCancelSuccess      FlinkJobStatus = "job_cancel_success"    // stopped
	FlinkCancelFail         FlinkJobStatus = "job_cancel_fail"       // stopping failed
	FlinkSavepointing       FlinkJobStatus = "job_savepointing"      // creating a savepoint
	FlinkFinish             FlinkJobStatus = "job_finish"            // completed
	FlinkArrearageStopped   FlinkJobStatus = "job_arrearage_stopped" // stopped for arrears
	FlinkArrearageRecovered FlinkJobStatus = "job_arrearage_recovering"
)

// Failed reports whether the status is a failure (submission failed,
// stopped by an exception, stopping failed).
func (s FlinkJobStatus) Failed() bool {
	switch s {
	case FlinkSubmitFail, FlinkRunningException, FlinkCancelFail:
		return true
	}
	return false
}

// FlinkJob is a Flink job (reference 9.7 and 9.8).
type FlinkJob struct {
	ID          int64
	Name        string
	Description string
	// Type is flink_sql_job, flink_jar_job, flink_opensource_sql_job, …
	Type         string
	Status       FlinkJobStatus
	StatusDesc   string
	Queue        string
	User         string
	Created      time.Time
	Started      time.Time // zero if not started
	Updated      time.Time
	Duration     time.Duration
	RootID       int64
	HasSavepoint bool
	// RunMode is shared_cluster, exclusive_cluster or edge_node.
	RunMode       string
	SQL           string
	MainClass     string
	RestartTimes  int64
	SavepointPath string
	// CUs and Parallelism come from job_config when DLI returns it.
	CUs, ManagerCUs, Parallelism int
}

func fromSDKFlinkJob(j model.FlinkJob) FlinkJob {
	out := FlinkJob{
		ID: j.JobId, Name: deref(j.Name), Description: deref(j.Desc), Type: enumValue(j.JobType),
		Status: FlinkJobStatus(strings.ToLower(deref(j.Status))), StatusDesc: deref(j.StatusDesc),
		Queue: deref(j.QueueName), User: deref(j.UserName), Created: msTime(&j.CreateTime), Started: msTime(j.StartTime),
		Updated: msTime(j.UpdateTime), Duration: msDuration(j.Duration), RootID: deref(j.RootId),
		HasSavepoint: deref(j.HasSavepoint), RunMode: deref(j.RunMode), SQL: deref(j.SqlBody), MainClass: deref(j.MainClass),
		RestartTimes: deref(j.RestartTimes), SavepointPath: deref(j.SavepointPath),
	}
	if jc := j.JobConfig; jc != nil {
		out.CUs, out.ManagerCUs, out.Parallelism = int(deref(jc.CuNumber)), int(deref(jc.ManagerCuNumber)), int(deref(jc.ParallelNumber))
	}
	return out
}

// FlinkResult is DLI's answer for one job of a batch run or stop.
type FlinkResult struct {
	Success bool
	Message string
}

func fromSDKFlinkResults(p *[]model.FlinkSuccessResponse) []FlinkResult {
	var out []FlinkResult
	for _, r := range deref(p) {
		ok := false
		if r.IsSuccess != nil {
			ok, _ = parseFlexBool(*r.IsSuccess)
		}
		out = append(out, FlinkResult{Success: ok, Message: deref(r.Message)})
	}
	return out
}

// RunFlinkJobs starts Flink jobs (reference 9.6), from their latest
// savepoint when resumeSavepoint is set. DLI answers one result per job. It
// is not retried after an ambiguous failure.
func (c *Client) RunFlinkJobs(ctx context.Context, ids []int64, resumeSavepoint bool) ([]FlinkResult, error) {
	const op = "RunFlinkJobs"
	if len(ids) == 0 {
		return nil, invalidf(op, "no job ids")
	}
	var out []FlinkResult
	err := c.call(ctx, op, false, func(s *dlisdk.DliClient) error {
		resp, err := s.BatchRunFlinkJobs(&model.BatchRunFlinkJobsRequest{Body: &model.BatchRunFlinkJobsRequestBody{
			JobIds: ids, ResumeSavepoint: ptr(resumeSavepoint),
		}})
		if err != nil {
			return err
		}
		out = fromSDKFlinkResults(resp.Body)
		return nil
	})
	return out, err
}

// StopFlinkJobs stops Flink jobs (reference 9.10), creating a savepoint
// first when triggerSavepoint is set. DLI answers one result per job.
// Stopping is idempotent and retried like a read.
func (c *Client) StopFlinkJobs(ctx context.Context, ids []int64, triggerSavepoint bool) ([]FlinkResult, error) {
	const op = "StopFlinkJobs"
	if len(ids) == 0 {
		return nil, invalidf(op, "no job ids")
	}
	var out []FlinkResult
	err := c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		resp, err := s.BatchStopFlinkJobs(&model.BatchStopFlinkJobsRequest{Body: &model.StopFlinkJobsRequestBody{
			JobIds: ids, TriggerSavepoint: ptr(triggerSavepoint),
		}})
		if err != nil {
			return err
		}
		out = fromSDKFlinkResults(resp.Body)
		return nil
	})
	return out, err
}

// GetFlinkJob returns one Flink job's detail (reference 9.8).
func (c *Client) GetFlinkJob(ctx context.Context, id int64) (FlinkJob, error) {
	const op = "GetFlinkJob"
	if id <= 0 {
		return FlinkJob{}, invalidf(op, "job id %d is not positive", id)
	}
	var out FlinkJob
	err := c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		resp, err := s.ShowFlinkJob(&model.ShowFlinkJobRequest{JobId: id})
		if err != nil {
			return err
		}
		if err := checkSuccessString(resp.IsSuccess, resp.Message); err != nil {
			return err
		}
		if resp.JobDetail == nil {
			return &Error{Message: "DLI's answer has no job_detail"}
		}
		out = fromSDKFlinkJob(*resp.JobDetail)
		return nil
	})
	return out, err
}

// FlinkJobQuery filters and pages ListFlinkJobs (reference 9.7).
type FlinkJobQuery struct {
	// Offset is the number of jobs to skip.
	Offset int
	// Limit is the page size, 1..100; 0 means 100 (DLI's own default is
	// 10).
	Limit int
	// Status keeps jobs in one status.
	Status FlinkJobStatus
	// Queue keeps the jobs of one queue.
	Queue string
	// Name keeps jobs with this name.
	Name string
	// Type keeps jobs of one type (flink_sql_job, flink_jar_job, …).
	Type string
	// User keeps the jobs of one user.
	User string
	// Order is "desc" (by time, DLI's default) or "asc".
	Order string
	// ShowDetail asks for job details (job_config etc.).
	ShowDetail bool
	// Tags filters by tag.
	Tags string
}

// FlinkJobPage is one page of Flink jobs.
type FlinkJobPage struct {
	// Total is the number of jobs matching the query, all pages together.
	Total int
	Jobs  []FlinkJob
}

func (q FlinkJobQuery) normalize(op string) (FlinkJobQuery, error) {
	if q.Limit == 0 {
		q.Limit = 100
	}
	switch {
	case q.Offset < 0:
		return q, invalidf(op, "offset %d is negative", q.Offset)
	case q.Limit < 1 || q.Limit > 100:
		return q, invalidf(op, "limit %d is not in 1..100", q.Limit)
	}
	return q, nil
}

// ListFlinkJobs returns one page of Flink jobs (reference 9.7).
func (c *Client) ListFlinkJobs(ctx context.Context, q FlinkJobQuery) (FlinkJobPage, error) {
	const op = "ListFlinkJobs"
	q, err := q.normalize(op)
	if err != nil {
		return FlinkJobPage{}, err
	}
	var out FlinkJobPage
	err = c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		req := &model.ListFlinkJobsRequest{
			Offset: ptr(int64(q.Offset)), Limit: ptr(int32(q.Limit)), QueueName: opt(q.Queue), Name: opt(q.Name),
			Status:  enumOf[model.ListFlinkJobsRequestStatus](string(q.Status)),
			JobType: enumOf[model.ListFlinkJobsRequestJobType](q.Type),
			Order:   opt(q.Order), UserName: opt(q.User), Tags: opt(q.Tags),
		}
		if q.ShowDetail {
			req.ShowDetail = ptr(true)
		}
		resp, err := s.ListFlinkJobs(req)
		if err != nil {
			return err
		}
		if err := checkSuccessString(resp.IsSuccess, resp.Message); err != nil {
			return err
		}
		out = FlinkJobPage{}
		if jl := resp.JobList; jl != nil {
			out.Total = int(deref(jl.TotalCount))
			for _, j := range deref(jl.Jobs) {
				out.Jobs = append(out.Jobs, fromSDKFlinkJob(j))
			}
		}
		return nil
	})
	return out, err
}

// FlinkJobs iterates over every Flink job matching q, from q.Offset, one
// call per page of q.Limit jobs. A job seen on an earlier page is not
// yielded twice. The iteration stops at the first error, which it yields.
func (c *Client) FlinkJobs(ctx context.Context, q FlinkJobQuery) iter.Seq2[FlinkJob, error] {
	q, err := q.normalize("FlinkJobs")
	if err != nil {
		return failedSeq[FlinkJob](err)
	}
	return offsetPages(q.Offset, q.Limit, func(offset int) ([]FlinkJob, int, error) {
		q.Offset = offset
		p, err := c.ListFlinkJobs(ctx, q)
		return p.Jobs, p.Total, err
	}, func(j FlinkJob) int64 { return j.ID })
}
