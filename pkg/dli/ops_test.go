package dli

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

// apiOp is one client operation with valid arguments, the request it must
// send and whether it is idempotent.
type apiOp struct {
	name       string
	method     string
	path       string // regexp on the path after /v…/{project}
	idempotent bool
	call       func(ctx context.Context, c *Client) error
}

func allOps() []apiOp {
	plan := PlanSpec{Name: "p1", TargetCU: 32, StartHour: 1, RepeatDays: []time.Weekday{time.Monday}}
	return []apiOp{
		{"ListQueues", "GET", `/queues$`, true, func(ctx context.Context, c *Client) error { _, err := c.ListQueues(ctx, ""); return err }},
		{"GetQueue", "GET", `/queues/etl$`, true, func(ctx context.Context, c *Client) error { _, err := c.GetQueue(ctx, "etl"); return err }},
		{"ScaleQueue", "PUT", `/queues/etl/action$`, false, func(ctx context.Context, c *Client) error { return c.ScaleQueue(ctx, "etl", ScaleOut, 16) }},
		{"RestartQueue", "PUT", `/queues/etl/action$`, false, func(ctx context.Context, c *Client) error { _, err := c.RestartQueue(ctx, "etl", false); return err }},
		{"CreatePlan", "POST", `/queues/etl/plans$`, false, func(ctx context.Context, c *Client) error { return c.CreatePlan(ctx, "etl", plan) }},
		{"ListPlans", "GET", `/queues/etl/plans$`, true, func(ctx context.Context, c *Client) error { _, err := c.ListPlans(ctx, "etl"); return err }},
		{"DeletePlans", "POST", `/queues/etl/plans/batch-delete$`, true, func(ctx context.Context, c *Client) error { return c.DeletePlans(ctx, "etl", []int64{1, 2}) }},
		{"DeletePlan", "DELETE", `/queues/etl/plans/1$`, true, func(ctx context.Context, c *Client) error { return c.DeletePlan(ctx, "etl", 1) }},
		{"UpdatePlan", "PUT", `/queues/etl/plans/1$`, true, func(ctx context.Context, c *Client) error { return c.UpdatePlan(ctx, "etl", 1, plan) }},
		{"ImportData", "POST", `/jobs/import-table$`, false, func(ctx context.Context, c *Client) error {
			_, err := c.ImportData(ctx, ImportRequest{DataPath: "obs://bkt/x.csv", DataType: "csv", Database: "db", Table: "t"})
			return err
		}},
		{"SubmitSQL", "POST", `/jobs/submit-job$`, false, func(ctx context.Context, c *Client) error {
			_, err := c.SubmitSQL(ctx, SQLRequest{SQL: "select 1"})
			return err
		}},
		{"CancelSQLJob", "DELETE", `/jobs/j1$`, true, func(ctx context.Context, c *Client) error { return c.CancelSQLJob(ctx, "j1") }},
		{"ListSQLJobs", "GET", `/jobs$`, true, func(ctx context.Context, c *Client) error { _, err := c.ListSQLJobs(ctx, SQLJobQuery{}); return err }},
		{"PreviewSQLResult", "GET", `/jobs/j1/preview$`, true, func(ctx context.Context, c *Client) error { _, err := c.PreviewSQLResult(ctx, "j1", ""); return err }},
		{"SQLJobStatus", "GET", `/jobs/j1/status$`, true, func(ctx context.Context, c *Client) error { _, err := c.SQLJobStatus(ctx, "j1"); return err }},
		{"SQLJobDetail", "GET", `/jobs/j1/detail$`, true, func(ctx context.Context, c *Client) error { _, err := c.SQLJobDetail(ctx, "j1"); return err }},
		{"RunFlinkJobs", "POST", `/streaming/jobs/run$`, false, func(ctx context.Context, c *Client) error {
			_, err := c.RunFlinkJobs(ctx, []int64{1}, false)
			return err
		}},
		{"ListFlinkJobs", "GET", `/streaming/jobs$`, true, func(ctx context.Context, c *Client) error {
			_, err := c.ListFlinkJobs(ctx, FlinkJobQuery{})
			return err
		}},
		{"GetFlinkJob", "GET", `/streaming/jobs/1$`, true, func(ctx context.Context, c *Client) error { _, err := c.GetFlinkJob(ctx, 1); return err }},
		{"StopFlinkJobs", "POST", `/streaming/jobs/stop$`, true, func(ctx context.Context, c *Client) error {
			_, err := c.StopFlinkJobs(ctx, []int64{1}, false)
			return err
		}},
		{"CreateBatch", "POST", `/batches$`, false, func(ctx context.Context, c *Client) error {
			_, err := c.CreateBatch(ctx, BatchRequest{File: "x.jar", ClassName: "X", Queue: "etl"})
			return err
		}},
		{"CancelBatch", "DELETE", `/batches/` + missingBatch + `$`, true, func(ctx context.Context, c *Client) error { return c.CancelBatch(ctx, missingBatch) }},
		{"ListBatches", "GET", `/batches$`, true, func(ctx context.Context, c *Client) error { _, err := c.ListBatches(ctx, BatchQuery{}); return err }},
		{"GetBatch", "GET", `/batches/` + missingBatch + `$`, true, func(ctx context.Context, c *Client) error { _, err := c.GetBatch(ctx, missingBatch); return err }},
		{"BatchState", "GET", `/batches/` + missingBatch + `/state$`, true, func(ctx context.Context, c *Client) error { _, err := c.BatchState(ctx, missingBatch); return err }},
		{"BatchLogs", "GET", `/batches/` + missingBatch + `/log$`, true, func(ctx context.Context, c *Client) error {
			_, err := c.BatchLogs(ctx, missingBatch, LogQuery{})
			return err
		}},
	}
}

// observed records the observer's reports.
type observed struct {
	mu      sync.Mutex
	reports []string // "op outcome"
}

func (o *observed) observe(op, outcome string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reports = append(o.reports, op+" "+outcome)
}

func (o *observed) last() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.reports) == 0 {
		return ""
	}
	return o.reports[len(o.reports)-1]
}

// TestOperationErrorClasses runs every operation against injected 401, 403,
// 429 and 5xx answers: each maps to its sentinel, outcome and retry answer,
// and each operation sends the request of its reference section.
func TestOperationErrorClasses(t *testing.T) {
	for _, op := range allOps() {
		t.Run(op.name, func(t *testing.T) {
			srv := newServer(t)
			cfg := testConfig(srv)
			cfg.MaxAttempts = 1
			obs := &observed{}
			c, _ := newClientCfg(t, cfg, WithObserver(obs.observe))
			ctx := context.Background()
			pathRE := regexp.MustCompile(`^/v[0-9.]+/` + srv.Options().ProjectID + op.path)

			for _, tc := range []struct {
				status     int
				code       string
				sentinel   error
				outcome    string
				retryAfter int
				retryable  bool
			}{
				{401, "DLI.0013", ErrAuth, OutcomeAuth, 0, false},
				{403, "", ErrAuth, OutcomeAuth, 0, false},
				{429, "", ErrThrottled, OutcomeThrottled, 3, true},
				{500, "DLI.0999", nil, OutcomeServerError, 0, op.idempotent},
				{503, "", nil, OutcomeServerError, 2, op.idempotent},
			} {
				if err := srv.AddFault(dlitest.Fault{Status: tc.status, ErrorCode: tc.code, ErrorMsg: "injected",
					RetryAfterS: tc.retryAfter, Count: 1}); err != nil {
					t.Fatal(err)
				}
				err := op.call(ctx, c)
				e := wantErr(t, err, tc.sentinel, tc.status)
				if tc.code != "" && (e.Code != tc.code || e.Message != "injected") {
					t.Errorf("%d: code %q message %q, want %q and DLI's message", tc.status, e.Code, e.Message, tc.code)
				}
				if got := time.Duration(tc.retryAfter) * time.Second; e.RetryAfter != got {
					t.Errorf("%d: RetryAfter %v, want %v", tc.status, e.RetryAfter, got)
				}
				if Retryable(err) != tc.retryable {
					t.Errorf("%d: Retryable = %v, want %v", tc.status, Retryable(err), tc.retryable)
				}
				if want := op.name + " " + tc.outcome; obs.last() != want {
					t.Errorf("%d: observer got %q, want %q", tc.status, obs.last(), want)
				}
				reqs := srv.Requests()
				last := reqs[len(reqs)-1]
				if last.Method != op.method || !pathRE.MatchString(last.Path) {
					t.Errorf("%s sent %s %s, want %s %s", op.name, last.Method, last.Path, op.method, pathRE)
				}
			}
		})
	}
}

// TestOperationWrongSK: every operation signed with a wrong SK gets the
// emulator's 401, and no error message carries a credential.
func TestOperationWrongSK(t *testing.T) {
	srv := newServer(t)
	cfg := testConfig(srv)
	cfg.SK = "wrong-secret-key-0123"
	c, sl := newClientCfg(t, cfg)
	for _, op := range allOps() {
		err := op.call(context.Background(), c)
		e := wantErr(t, err, ErrAuth, 401)
		if e.Code != "DLI.0013" {
			t.Errorf("%s: code %q, want DLI.0013", op.name, e.Code)
		}
		if msg := err.Error(); strings.Contains(msg, cfg.SK) || strings.Contains(msg, srv.Options().SK) || strings.Contains(msg, cfg.AK) {
			t.Errorf("%s: error %q contains a credential", op.name, msg)
		}
		if Retryable(err) {
			t.Errorf("%s: an auth failure must not be retryable", op.name)
		}
	}
	if w := sl.Waits(); len(w) != 0 {
		t.Errorf("auth failures were retried: waits %v", w)
	}
}

// TestSecurityToken: temporary credentials are signed with their token.
func TestSecurityToken(t *testing.T) {
	srv := dlitest.NewServer(t, dlitest.Options{Start: testStart, SecurityToken: "temporary-token-value"})
	addQueue(t, srv, "etl", "sql", 16)
	cfg := testConfig(srv)
	c, _ := newClientCfg(t, cfg)
	if _, err := c.GetQueue(context.Background(), "etl"); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	cfg.SecurityToken = ""
	c, _ = newClientCfg(t, cfg)
	_, err := c.GetQueue(context.Background(), "etl")
	wantErr(t, err, ErrAuth, 401)
}
