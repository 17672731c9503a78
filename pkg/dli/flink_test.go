package dli

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

func TestFlinkJobs(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "stream", "general", 64)
	id, err := srv.AddFlinkJob(dlitest.FlinkJobSpec{Name: "clicks", QueueName: "stream", JobType: "flink_sql_job", SQLBody: "select 1"})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, srv)
	ctx := context.Background()

	j, err := c.GetFlinkJob(ctx, id)
	if err != nil {
		t.Fatalf("GetFlinkJob: %v", err)
	}
	if j.ID != id || j.Name != "clicks" || j.Queue != "stream" || j.Status != FlinkInit || j.Type != "flink_sql_job" || j.Created.IsZero() {
		t.Errorf("GetFlinkJob = %+v, want clicks on stream in job_init", j)
	}

	res, err := c.RunFlinkJobs(ctx, []int64{id}, false)
	if err != nil {
		t.Fatalf("RunFlinkJobs: %v", err)
	}
	if len(res) != 1 || !res[0].Success || res[0].Message == "" {
		t.Errorf("RunFlinkJobs = %+v, want one success with a message", res)
	}
	srv.Advance(srv.Options().Timing.FlinkStart + time.Second)
	if j, err := c.GetFlinkJob(ctx, id); err != nil || j.Status != FlinkRunning || j.Started.IsZero() {
		t.Errorf("after the start time: %+v, %v; want job_running with a start time", j, err)
	}

	res, err = c.StopFlinkJobs(ctx, []int64{id}, true)
	if err != nil || len(res) != 1 || !res[0].Success {
		t.Fatalf("StopFlinkJobs = %+v, %v", res, err)
	}
	srv.Advance(time.Minute) // savepoint, then stop
	if j, err := c.GetFlinkJob(ctx, id); err != nil || j.Status != FlinkCancelSuccess || j.SavepointPath == "" {
		t.Errorf("after the stop time: %+v, %v; want job_cancel_success with a savepoint", j, err)
	}

	// One result per job, failures included (an unknown job id).
	res, err = c.RunFlinkJobs(ctx, []int64{id, 987654}, false)
	if err != nil {
		t.Fatalf("RunFlinkJobs(mixed): %v", err)
	}
	if len(res) != 2 || !res[0].Success || res[1].Success {
		t.Errorf("RunFlinkJobs(known, unknown) = %+v, want success then failure", res)
	}
}

func TestFlinkErrors(t *testing.T) {
	srv := newServer(t)
	c, _ := newClient(t, srv)
	ctx := context.Background()
	_, err := c.GetFlinkJob(ctx, 987654)
	wantErr(t, err, ErrNotFound, 0)
	ids := []int64{-1} // DLI checks ids are positive
	_, err = c.RunFlinkJobs(ctx, ids, false)
	wantErr(t, err, ErrInvalid, 400)
	_, err = c.StopFlinkJobs(ctx, ids, false)
	wantErr(t, err, ErrInvalid, 400)
	_, err = c.ListFlinkJobs(ctx, FlinkJobQuery{Status: "job_bogus"})
	wantErr(t, err, ErrInvalid, 400)

	before := len(srv.Requests())
	for _, err := range []error{
		func() error { _, err := c.GetFlinkJob(ctx, 0); return err }(),
		func() error { _, err := c.RunFlinkJobs(ctx, nil, false); return err }(),
		func() error { _, err := c.StopFlinkJobs(ctx, nil, false); return err }(),
		func() error { _, err := c.ListFlinkJobs(ctx, FlinkJobQuery{Limit: 101}); return err }(),
		func() error { _, err := c.ListFlinkJobs(ctx, FlinkJobQuery{Offset: -1}); return err }(),
	} {
		wantErr(t, err, ErrInvalid, 0)
	}
	if n := len(srv.Requests()); n != before {
		t.Errorf("invalid calls sent %d requests", n-before)
	}
}

func TestFlinkJobsPagination(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "stream", "general", 64)
	var specs []dlitest.FlinkJobSpec
	for i := range 23 {
		specs = append(specs, dlitest.FlinkJobSpec{Name: fmt.Sprintf("job%02d", i), QueueName: "stream",
			Status: "job_running", CreatedAt: testStart.Add(time.Duration(i) * time.Minute)})
	}
	ids, err := srv.AddFlinkJobs(specs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddFlinkJob(dlitest.FlinkJobSpec{Name: "other", QueueName: "stream", Status: "job_running_exception"}); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, srv)
	ctx := context.Background()

	got, err := Collect(c.FlinkJobs(ctx, FlinkJobQuery{Limit: 10, Status: FlinkRunning, Order: "asc"}))
	if err != nil {
		t.Fatalf("FlinkJobs: %v", err)
	}
	if len(got) != len(ids) {
		t.Fatalf("FlinkJobs returned %d jobs, want %d", len(got), len(ids))
	}
	seen := map[int64]bool{}
	for _, j := range got {
		seen[j.ID] = true
		if j.Status != FlinkRunning {
			t.Errorf("job %d has status %s", j.ID, j.Status)
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("job %d missing", id)
		}
	}
	if n := countRequests(srv, "GET", "/v1.0/"+srv.Options().ProjectID+"/streaming/jobs"); n != 3 {
		t.Errorf("FlinkJobs made %d list calls for 23 jobs in pages of 10, want 3", n)
	}
	page, err := c.ListFlinkJobs(ctx, FlinkJobQuery{Offset: 20, Limit: 10, Status: FlinkRunning})
	if err != nil || page.Total != 23 || len(page.Jobs) != 3 {
		t.Errorf("ListFlinkJobs(offset 20) = %d of %d, %v; want 3 of 23", len(page.Jobs), page.Total, err)
	}
	detailed, err := c.ListFlinkJobs(ctx, FlinkJobQuery{Limit: 5, ShowDetail: true})
	if err != nil || len(detailed.Jobs) != 5 || detailed.Jobs[0].CUs == 0 {
		t.Errorf("ListFlinkJobs(show_detail) = %+v, %v; want 5 jobs with their job_config", detailed.Jobs, err)
	}
	failed, err := Collect(c.FlinkJobs(ctx, FlinkJobQuery{Status: FlinkRunningException}))
	if err != nil || len(failed) != 1 || !failed[0].Status.Failed() {
		t.Errorf("FlinkJobs(exception) = %+v, %v; want the one failed job", failed, err)
	}
}
