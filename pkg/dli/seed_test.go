package dli

import (
	"context"
	"testing"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

// TestDemoSeedDecodes reads everything of the emulator's demo data set
// through the client: every answer decodes with the SDK's models.
func TestDemoSeedDecodes(t *testing.T) {
	srv := dlitest.NewServer(t, dlitest.Options{Start: testStart, Seed: "demo"})
	c, _ := newClient(t, srv)
	ctx := context.Background()

	queues, err := c.ListQueues(ctx, QueueTypeAll)
	if err != nil || len(queues) == 0 {
		t.Fatalf("ListQueues = %d queues, %v", len(queues), err)
	}
	for _, q := range queues {
		if _, err := c.GetQueue(ctx, q.Name); err != nil {
			t.Errorf("GetQueue(%s): %v", q.Name, err)
		}
		if _, err := c.ListPlans(ctx, q.Name); err != nil {
			t.Errorf("ListPlans(%s): %v", q.Name, err)
		}
	}
	jobs, err := Collect(c.SQLJobs(ctx, SQLJobQuery{}))
	if err != nil {
		t.Fatalf("SQLJobs: %v", err)
	}
	for _, j := range jobs {
		if _, err := c.SQLJobStatus(ctx, j.ID); err != nil {
			t.Errorf("SQLJobStatus(%s): %v", j.ID, err)
		}
		if j.Status == SQLFinished && j.Type == "QUERY" {
			if _, err := c.PreviewSQLResult(ctx, j.ID, ""); err != nil {
				t.Errorf("PreviewSQLResult(%s): %v", j.ID, err)
			}
		}
		if j.Type == "IMPORT" {
			if _, err := c.SQLJobDetail(ctx, j.ID); err != nil {
				t.Errorf("SQLJobDetail(%s): %v", j.ID, err)
			}
		}
	}
	flink, err := Collect(c.FlinkJobs(ctx, FlinkJobQuery{ShowDetail: true}))
	if err != nil {
		t.Fatalf("FlinkJobs: %v", err)
	}
	for _, j := range flink {
		if _, err := c.GetFlinkJob(ctx, j.ID); err != nil {
			t.Errorf("GetFlinkJob(%d): %v", j.ID, err)
		}
	}
	batches, err := Collect(c.Batches(ctx, BatchQuery{}))
	if err != nil {
		t.Fatalf("Batches: %v", err)
	}
	for _, b := range batches {
		if _, err := c.GetBatch(ctx, b.ID); err != nil {
			t.Errorf("GetBatch(%s): %v", b.ID, err)
		}
		if _, err := c.BatchState(ctx, b.ID); err != nil {
			t.Errorf("BatchState(%s): %v", b.ID, err)
		}
		if _, err := c.BatchLogs(ctx, b.ID, LogQuery{}); err != nil {
			t.Errorf("BatchLogs(%s): %v", b.ID, err)
		}
	}
	t.Logf("demo seed: %d queues, %d SQL jobs, %d Flink jobs, %d Spark batches", len(queues), len(jobs), len(flink), len(batches))
	if len(jobs) == 0 || len(flink) == 0 || len(batches) == 0 {
		t.Errorf("the demo seed should have jobs of every kind")
	}
}
