package dli

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

func TestSparkBatches(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "batch", "general", 64)
	c, _ := newClient(t, srv)
	ctx := context.Background()

	b, err := c.CreateBatch(ctx, BatchRequest{File: "batchTest/spark-examples.jar", ClassName: "org.apache.spark.examples.SparkPi",
		Queue: "batch", Name: "pi", ScType: "A", Args: []string{"10"}, Conf: map[string]any{"spark.dynamicAllocation.enabled": "false"}})
	if err != nil {
		t.Fatalf("CreateBatch: %v", err)
	}
	if b.ID == "" || b.State != SparkStarting || b.Queue != "batch" || b.Name != "pi" || b.Created.IsZero() {
		t.Errorf("CreateBatch = %+v, want a starting batch pi on queue batch", b)
	}
	tm := srv.Options().Timing
	srv.Advance(tm.SparkStart + time.Second)
	if st, err := c.BatchState(ctx, b.ID); err != nil || st != SparkRunning || st.Terminal() {
		t.Errorf("BatchState after the start time = %q, %v; want running", st, err)
	}
	srv.Advance(tm.SparkRun + time.Second)
	got, err := c.GetBatch(ctx, b.ID)
	if err != nil || got.ID != b.ID || got.State != SparkSuccess || !got.State.Terminal() {
		t.Errorf("GetBatch after the run time = %+v, %v; want success", got, err)
	}
	logs, err := c.BatchLogs(ctx, b.ID, LogQuery{From: ptr(0), Size: 2})
	if err != nil || logs.ID != b.ID || len(logs.Lines) != 2 || logs.Total < 2 {
		t.Errorf("BatchLogs(from 0, size 2) = %+v, %v; want 2 lines", logs, err)
	}
	all, err := c.BatchLogs(ctx, b.ID, LogQuery{})
	if err != nil || int64(len(all.Lines)) != all.Total {
		t.Errorf("BatchLogs() = %+v, %v; want all %d lines", all, err, all.Total)
	}

	// Cancel a running batch; a finished one cannot be cancelled.
	b2, err := c.CreateBatch(ctx, BatchRequest{File: "x.jar", ClassName: "X", Queue: "batch"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CancelBatch(ctx, b2.ID); err != nil {
		t.Fatalf("CancelBatch: %v", err)
	}
	if st, err := c.BatchState(ctx, b2.ID); err != nil || st != SparkDead {
		t.Errorf("after cancel: %q, %v; want dead", st, err)
	}
	wantErr(t, c.CancelBatch(ctx, b.ID), nil, 400)
}

func TestSparkStateCase(t *testing.T) {
	for _, s := range []string{"Success", "SUCCESS", " success "} {
		if st := sparkState(s); st != SparkSuccess || !st.Terminal() {
			t.Errorf("sparkState(%q) = %q, want %q", s, st, SparkSuccess)
		}
	}
	if !SparkState("Dead").Is(SparkDead) || SparkState("dead").Is(SparkRunning) || !SparkState("Dead").Terminal() {
		t.Error("SparkState.Is must compare case-insensitively")
	}
}

// missingBatch is a well-formed batch id no batch has.
const missingBatch = "0a324461-d9d9-45da-a52a-3b3c7a3d809e"

func TestSparkErrors(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "default", "general", 16)
	c, _ := newClient(t, srv)
	ctx := context.Background()
	for name, err := range map[string]error{
		"GetBatch":    func() error { _, err := c.GetBatch(ctx, missingBatch); return err }(),
		"BatchState":  func() error { _, err := c.BatchState(ctx, missingBatch); return err }(),
		"BatchLogs":   func() error { _, err := c.BatchLogs(ctx, missingBatch, LogQuery{}); return err }(),
		"CancelBatch": c.CancelBatch(ctx, missingBatch),
		"CreateBatch": func() error {
			_, err := c.CreateBatch(ctx, BatchRequest{File: "x.jar", ClassName: "X", Queue: "nope"})
			return err
		}(),
	} {
		t.Run(name, func(t *testing.T) { wantErr(t, err, ErrNotFound, 0) })
	}
	_, err := c.CreateBatch(ctx, BatchRequest{File: "x.jar", ClassName: "X", Queue: "default", ScType: "Z"})
	wantErr(t, err, ErrInvalid, 400)

	before := len(srv.Requests())
	for _, err := range []error{
		func() error { _, err := c.CreateBatch(ctx, BatchRequest{Queue: "q"}); return err }(),
		func() error { _, err := c.CreateBatch(ctx, BatchRequest{File: "x.jar"}); return err }(),
		func() error { _, err := c.GetBatch(ctx, ""); return err }(),
		func() error { _, err := c.BatchState(ctx, ""); return err }(),
		func() error { _, err := c.BatchLogs(ctx, "", LogQuery{}); return err }(),
		func() error { _, err := c.BatchLogs(ctx, "x", LogQuery{Size: -1}); return err }(),
		c.CancelBatch(ctx, ""),
		func() error { _, err := c.ListBatches(ctx, BatchQuery{From: -1}); return err }(),
	} {
		wantErr(t, err, ErrInvalid, 0)
	}
	if n := len(srv.Requests()); n != before {
		t.Errorf("invalid calls sent %d requests", n-before)
	}
}

func TestBatchesPagination(t *testing.T) {
	srv := newServer(t)
	addQueue(t, srv, "batch", "general", 64)
	addQueue(t, srv, "other", "general", 16)
	var specs []dlitest.BatchSpec
	for i := range 27 {
		specs = append(specs, dlitest.BatchSpec{Name: fmt.Sprintf("b%02d", i), Queue: "batch", State: "success",
			CreatedAt: testStart.Add(time.Duration(i) * time.Minute)})
	}
	ids, err := srv.AddBatches(specs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddBatch(dlitest.BatchSpec{Name: "elsewhere", Queue: "other", State: "dead"}); err != nil {
		t.Fatal(err)
	}
	c, _ := newClient(t, srv)
	ctx := context.Background()

	got, err := Collect(c.Batches(ctx, BatchQuery{Size: 10, Queue: "batch"}))
	if err != nil {
		t.Fatalf("Batches: %v", err)
	}
	if len(got) != len(ids) {
		t.Fatalf("Batches returned %d, want %d", len(got), len(ids))
	}
	seen := map[string]bool{}
	for _, b := range got {
		seen[b.ID] = true
		if b.Queue != "batch" || b.State != SparkSuccess {
			t.Errorf("batch %s on %s in %s, want batch/success", b.ID, b.Queue, b.State)
		}
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("batch %s missing", id)
		}
	}
	if n := countRequests(srv, "GET", "/v2.0/"+srv.Options().ProjectID+"/batches"); n != 3 {
		t.Errorf("Batches made %d list calls for 27 batches in pages of 10, want 3", n)
	}
	page, err := c.ListBatches(ctx, BatchQuery{From: 20, Size: 10, Queue: "batch"})
	if err != nil || page.Total != 27 || len(page.Batches) != 7 || page.From != 20 {
		t.Errorf("ListBatches(from 20) = %d of %d from %d, %v; want 7 of 27 from 20", len(page.Batches), page.Total, page.From, err)
	}
	dead, err := Collect(c.Batches(ctx, BatchQuery{State: SparkDead}))
	if err != nil || len(dead) != 1 || dead[0].Name != "elsewhere" {
		t.Errorf("Batches(dead) = %+v, %v; want the one dead batch", dead, err)
	}
}
