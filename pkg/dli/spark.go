package dli

import (
	"context"
	"iter"
	"strings"
	"time"

	dlisdk "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1/model"
)

// SparkState is a Spark batch job's state (reference 10.1.1, Table 10-7).
// DLI's spelling varies ("success" in the table, "Success" in 10.1.5's
// example): the client lower-cases every state it decodes, and Is compares
// case-insensitively.
type SparkState string

// Spark batch states.
const (
	SparkStarting   SparkState = "starting"   // being started
	SparkRunning    SparkState = "running"    // executing
	SparkDead       SparkState = "dead"       // exited (failed or cancelled)
	SparkSuccess    SparkState = "success"    // succeeded
	SparkRecovering SparkState = "recovering" // being restored
)

// Is reports whether s and t are the same state, ignoring case.
func (s SparkState) Is(t SparkState) bool { return strings.EqualFold(string(s), string(t)) }

// Terminal reports whether the batch has ended (dead or success).
func (s SparkState) Terminal() bool { return s.Is(SparkDead) || s.Is(SparkSuccess) }

func sparkState(s string) SparkState { return SparkState(strings.ToLower(strings.TrimSpace(s))) }

// BatchResource is a resource package of a batch job (name and type, e.g.
// "jar", "pyFile", "file").
type BatchResource struct {
	Name, Type string
}

// BatchGroup is a package group and its resources.
type BatchGroup struct {
	Name      string
	Resources []BatchResource
}

// BatchRequest is a Spark batch job to create (reference 10.1.1). The SDK
// sends the Livy-style names the live service speaks (className,
// pyFiles, driverMemory, …) where the reference writes class_name,
// python_files, driver_memory, ….
type BatchRequest struct {
	// File is the main JAR or Python file: a package name or an OBS path.
	// Required.
	File string
	// ClassName is the Java/Spark main class (empty for Python).
	ClassName string
	// Queue is the general-purpose queue to run on. Required.
	Queue string
	// Name is the job's name, at most 128 characters.
	Name string
	// Args are the main class's arguments.
	Args []string
	// ScType is the resource type A, B or C.
	ScType string
	Jars   []string
	// PyFiles are Python dependencies (reference: python_files).
	PyFiles   []string
	Files     []string
	Modules   []string
	Resources []BatchResource
	Groups    []BatchGroup
	// Conf is the Spark configuration.
	Conf map[string]any
	// DriverMemory and ExecutorMemory carry a unit, e.g. "2G".
	DriverMemory, ExecutorMemory string
	DriverCores, ExecutorCores   int
	NumExecutors                 int
	ObsBucket                    string
	// AutoRecovery retries the job after an exception.
	AutoRecovery bool
	// MaxRetryTimes bounds AutoRecovery (DLI's default 20, at most 100).
	MaxRetryTimes int
	CatalogName   string
	SparkVersion  string
}

func (r BatchRequest) body() *model.CreateSparkJobRequestBody {
	res := func(in []BatchResource) *[]model.JobResource {
		if len(in) == 0 {
			return nil
		}
		out := make([]model.JobResource, len(in))
		for i, x := range in {
			out[i] = model.JobResource{Name: opt(x.Name), Type: opt(x.Type)}
		}
		return &out
	}
	var groups *[]model.JobResourcesGroup
	if len(r.Groups) > 0 {
		g := make([]model.JobResourcesGroup, len(r.Groups))
		for i, x := range r.Groups {
			g[i] = model.JobResourcesGroup{Name: opt(x.Name), Resources: res(x.Resources)}
		}
		groups = &g
	}
	b := &model.CreateSparkJobRequestBody{
		File: r.File, ClassName: r.ClassName, Queue: opt(r.Queue), Name: opt(r.Name), Args: optSlice(r.Args),
		ScType: opt(r.ScType), Jars: optSlice(r.Jars), PyFiles: optSlice(r.PyFiles), Files: optSlice(r.Files),
		Modules: optSlice(r.Modules), Resources: res(r.Resources), Groups: groups, Conf: r.Conf,
		DriverMemory: opt(r.DriverMemory), DriverCores: opt(int32(r.DriverCores)),
		ExecutorMemory: opt(r.ExecutorMemory), ExecutorCores: opt(int32(r.ExecutorCores)),
		NumExecutors: opt(int32(r.NumExecutors)), ObsBucket: opt(r.ObsBucket), MaxRetryTimes: opt(int32(r.MaxRetryTimes)),
		CatalogName: opt(r.CatalogName), SparkVersion: opt(r.SparkVersion),
	}
	if r.AutoRecovery {
		b.AutoRecovery = ptr(true)
	}
	return b
}

// SparkBatch is a Spark batch job (reference 10.1.1 response, 10.1.3 and
// 10.1.4).
type SparkBatch struct {
	ID        string
	AppID     string
	Name      string
	Owner     string
	ProxyUser string
	State     SparkState
	Kind      string
	// Log holds the last lines of the job's log.
	Log    []string
	ScType string
	// Queue is the job's queue (queue, or cluster_name when queue is
	// absent).
	Queue    string
	Created  time.Time
	Updated  time.Time
	Duration time.Duration
}

func queueOf(queue, cluster *string) string {
	if q := deref(queue); q != "" {
		return q
	}
	return deref(cluster)
}

func fromSDKSparkJob(j model.SparkJob) SparkBatch {
	return SparkBatch{
		ID: deref(j.Id), AppID: deref(j.AppId), Name: deref(j.Name), Owner: deref(j.Owner), ProxyUser: deref(j.ProxyUser),
		State: sparkState(deref(j.State)), Kind: deref(j.Kind), Log: deref(j.Log), ScType: deref(j.ScType),
		Queue: queueOf(j.Queue, j.ClusterName), Created: msTime(j.CreateTime), Updated: msTime(j.UpdateTime),
		Duration: msDuration(j.Duration),
	}
}

// CreateBatch creates a Spark batch job (reference 10.1.1). It is not
// retried after an ambiguous failure: a second create would run the job
// twice.
func (c *Client) CreateBatch(ctx context.Context, req BatchRequest) (SparkBatch, error) {
	const op = "CreateBatch"
	switch {
	case req.File == "":
		return SparkBatch{}, invalidf(op, "file is empty")
	case req.Queue == "":
		return SparkBatch{}, invalidf(op, "queue is empty")
	case len(req.Name) > 128:
		return SparkBatch{}, invalidf(op, "name is longer than 128 characters")
	}
	var out SparkBatch
	err := c.call(ctx, op, false, func(s *dlisdk.DliClient) error {
		j, err := s.CreateSparkJob(&model.CreateSparkJobRequest{Body: req.body()})
		if err != nil {
			return err
		}
		out = SparkBatch{
			ID: deref(j.Id), AppID: deref(j.AppId), Name: deref(j.Name), Owner: deref(j.Owner), ProxyUser: deref(j.ProxyUser),
			State: sparkState(deref(j.State)), Kind: deref(j.Kind), Log: deref(j.Log), ScType: deref(j.ScType),
			Queue: queueOf(j.Queue, j.ClusterName), Created: msTime(j.CreateTime), Updated: msTime(j.UpdateTime),
			Duration: msDuration(j.Duration),
		}
		return nil
	})
	return out, err
}

// CancelBatch cancels a Spark batch job (reference 10.1.2). Jobs that
// succeeded or failed cannot be cancelled.
func (c *Client) CancelBatch(ctx context.Context, id string) error {
	const op = "CancelBatch"
	if id == "" {
		return invalidf(op, "batch id is empty")
	}
	return c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		_, err := s.CancelSparkJob(&model.CancelSparkJobRequest{BatchId: id})
		return err
	})
}

// GetBatch returns a Spark batch job's detail (reference 10.1.4).
func (c *Client) GetBatch(ctx context.Context, id string) (SparkBatch, error) {
	const op = "GetBatch"
	if id == "" {
		return SparkBatch{}, invalidf(op, "batch id is empty")
	}
	var out SparkBatch
	err := c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		j, err := s.ShowSparkJob(&model.ShowSparkJobRequest{BatchId: id})
		if err != nil {
			return err
		}
		out = SparkBatch{
			ID: deref(j.Id), AppID: deref(j.AppId), Name: deref(j.Name), Owner: deref(j.Owner), ProxyUser: deref(j.ProxyUser),
			State: sparkState(deref(j.State)), Kind: deref(j.Kind), Log: deref(j.Log), ScType: deref(j.ScType),
			Queue: queueOf(j.Queue, j.ClusterName), Created: msTime(j.CreateTime), Updated: msTime(j.UpdateTime),
		}
		return nil
	})
	return out, err
}

// BatchState returns a Spark batch job's state, lower-cased (reference
// 10.1.5).
func (c *Client) BatchState(ctx context.Context, id string) (SparkState, error) {
	const op = "BatchState"
	if id == "" {
		return "", invalidf(op, "batch id is empty")
	}
	var out SparkState
	err := c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		r, err := s.ShowSparkJobStatus(&model.ShowSparkJobStatusRequest{BatchId: id})
		if err != nil {
			return err
		}
		out = sparkState(enumValue(r.State))
		return nil
	})
	return out, err
}

// LogQuery selects log lines for BatchLogs (reference 10.1.6).
type LogQuery struct {
	// From is the first line; nil means DLI's default (the last 100
	// lines).
	From *int
	// Size is the number of lines; 0 means DLI's default.
	Size int
	// Type "driver" selects the Spark driver log.
	Type string
	// Index selects the driver log of a retried job (with Type).
	Index int
}

// BatchLog is a slice of a Spark batch job's log.
type BatchLog struct {
	ID    string
	From  int
	Total int64
	Lines []string
}

// BatchLogs returns log lines of a Spark batch job (reference 10.1.6).
func (c *Client) BatchLogs(ctx context.Context, id string, q LogQuery) (BatchLog, error) {
	const op = "BatchLogs"
	switch {
	case id == "":
		return BatchLog{}, invalidf(op, "batch id is empty")
	case q.From != nil && *q.From < 0, q.Size < 0, q.Index < 0:
		return BatchLog{}, invalidf(op, "from, size and index must not be negative")
	}
	var out BatchLog
	err := c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		req := &model.ShowSparkJobLogRequest{BatchId: id, Size: opt(int32(q.Size)), Type: opt(q.Type), Index: opt(int32(q.Index))}
		if q.From != nil {
			req.From = ptr(int32(*q.From))
		}
		r, err := s.ShowSparkJobLog(req)
		if err != nil {
			return err
		}
		out = BatchLog{ID: deref(r.Id), From: int(deref(r.From)), Total: deref(r.Total), Lines: deref(r.Log)}
		return nil
	})
	return out, err
}

// BatchQuery filters and pages ListBatches (reference 10.1.3).
type BatchQuery struct {
	// From is the index of the first job (0-based).
	From int
	// Size is the page size; 0 means 100.
	Size int
	// Queue keeps the jobs of one queue (queue_name).
	Queue string
	// Name keeps jobs with this name.
	Name string
	// JobID keeps one job.
	JobID string
	// State keeps jobs in one state.
	State SparkState
	// Start and End keep jobs created after / before these instants.
	Start, End time.Time
	// Order sorts the jobs, e.g. "create_time_desc".
	Order string
}

// BatchPage is one page of Spark batch jobs.
type BatchPage struct {
	From    int
	Total   int
	Batches []SparkBatch
}

func (q BatchQuery) normalize(op string) (BatchQuery, error) {
	if q.Size == 0 {
		q.Size = 100
	}
	switch {
	case q.From < 0:
		return q, invalidf(op, "from %d is negative", q.From)
	case q.Size < 1:
		return q, invalidf(op, "size %d is not positive", q.Size)
	}
	return q, nil
}

// ListBatches returns one page of Spark batch jobs (reference 10.1.3).
func (c *Client) ListBatches(ctx context.Context, q BatchQuery) (BatchPage, error) {
	const op = "ListBatches"
	q, err := q.normalize(op)
	if err != nil {
		return BatchPage{}, err
	}
	var out BatchPage
	err = c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		r, err := s.ListSparkJobs(&model.ListSparkJobsRequest{
			From: ptr(int32(q.From)), Size: ptr(int32(q.Size)), QueueName: opt(q.Queue), JobName: opt(q.Name),
			JobId: opt(q.JobID), State: enumOf[model.ListSparkJobsRequestState](string(q.State)),
			Start: toMS(q.Start), End: toMS(q.End), Order: opt(q.Order),
		})
		if err != nil {
			return err
		}
		out = BatchPage{From: int(deref(r.From)), Total: int(deref(r.Total))}
		for _, j := range deref(r.Sessions) {
			out.Batches = append(out.Batches, fromSDKSparkJob(j))
		}
		return nil
	})
	return out, err
}

// Batches iterates over every Spark batch job matching q, from q.From, one
// call per page of q.Size jobs. A job seen on an earlier page is not
// yielded twice. The iteration stops at the first error, which it yields.
func (c *Client) Batches(ctx context.Context, q BatchQuery) iter.Seq2[SparkBatch, error] {
	q, err := q.normalize("Batches")
	if err != nil {
		return failedSeq[SparkBatch](err)
	}
	return offsetPages(q.From, q.Size, func(from int) ([]SparkBatch, int, error) {
		q.From = from
		p, err := c.ListBatches(ctx, q)
		return p.Batches, p.Total, err
	}, func(b SparkBatch) string { return b.ID })
}
