package dlitest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// BatchSpec describes a Spark batch to create through AddBatch or
// POST /_emulator/spark/batches.
type BatchSpec struct {
	// Name is the batch name, at most 128 characters; SparkFailMarker in it
	// makes a lifecycle batch fail.
	Name string `json:"name"`
	// Queue is the queue the batch runs on; default "default". It must
	// exist.
	Queue string `json:"queue,omitempty"`
	// State, when set (one of BatchStates), creates the batch in that state
	// and pins it there: no lifecycle step follows. Empty means a normal
	// submission: starting, then the lifecycle on the emulator clock.
	State string `json:"state,omitempty"`
	// Log is the batch's initial log lines (added after the submission
	// lines of a lifecycle batch).
	Log []string `json:"log,omitempty"`
	// Owner is the submitting user; default "emulator_user".
	Owner string `json:"owner,omitempty"`
	// ScType is A, B or C; default A.
	ScType string `json:"sc_type,omitempty"`
	// File and ClassName default to a SparkPi example JAR.
	File      string `json:"file,omitempty"`
	ClassName string `json:"class_name,omitempty"`
	// AutoRecover turns on retries of a failing batch (MaxRetryTimes,
	// default 20).
	AutoRecover   bool `json:"auto_recover,omitempty"`
	MaxRetryTimes int  `json:"max_retry_times,omitempty"`
	// CreatedAt is the creation instant; zero means the clock's now. A
	// pinned running or final batch is taken to have started at CreatedAt.
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// BatchUpdate changes a batch through UpdateBatch or
// PUT /_emulator/spark/batches/{id}.
type BatchUpdate struct {
	// State, when set (one of BatchStates), moves the batch there and pins
	// it: the scheduled lifecycle step, if any, is dropped.
	State string `json:"state,omitempty"`
	// Log lines are appended to the batch's log, or replace it when
	// ReplaceLog is true.
	Log        []string `json:"log,omitempty"`
	ReplaceLog bool     `json:"replace_log,omitempty"`
}

// newAdminBatch validates spec and builds the batch. Caller holds e.mu.
func (e *Emulator) newAdminBatch(spec BatchSpec, now time.Time) (*batch, error) {
	if spec.Queue == "" {
		spec.Queue = "default"
	}
	if spec.File == "" {
		spec.File = "spark-examples.jar"
		if spec.ClassName == "" {
			spec.ClassName = "org.apache.spark.examples.SparkPi"
		}
	}
	maxRetry := spec.MaxRetryTimes
	if maxRetry == 0 {
		maxRetry = 20
	}
	body := sparkCreateBody{File: spec.File, ClassName: spec.ClassName, Queue: spec.Queue, Name: spec.Name,
		ScType: spec.ScType, AutoRecover: &spec.AutoRecover, MaxRetryTimes: &maxRetry}
	sp, err := validateSparkCreate(&body)
	if err != nil {
		return nil, err
	}
	if !e.queueExists(sp.queue) {
		return nil, fmt.Errorf("There is no queue named %s", sp.queue)
	}
	if spec.State != "" && !validBatchState(spec.State) {
		return nil, fmt.Errorf("state %q is invalid; valid values: %s", spec.State, strings.Join(BatchStates, ", "))
	}
	owner := spec.Owner
	if owner == "" {
		owner = emulatorUser
	}
	created := spec.CreatedAt.UTC().Truncate(time.Millisecond)
	if spec.CreatedAt.IsZero() {
		created = now
	}
	return e.newBatch(sp, owner, created), nil
}

// AddBatch creates a Spark batch and returns its id.
func (e *Emulator) AddBatch(spec BatchSpec) (string, error) {
	ids, err := e.AddBatches([]BatchSpec{spec})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// AddBatches creates many Spark batches at once (pagination tests,
// benchmarks): all of them or, when one spec is invalid, none.
func (e *Emulator) AddBatches(specs []BatchSpec) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	now := e.clock.Now()
	seq := e.seq
	bs := make([]*batch, 0, len(specs))
	for i, spec := range specs {
		b, err := e.newAdminBatch(spec, now)
		if err != nil {
			e.seq = seq
			return nil, fmt.Errorf("dlitest: spark batch %d: %w", i, err)
		}
		bs = append(bs, b)
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		spec := specs[i]
		e.spark.add(b)
		if spec.State == "" {
			e.spark.begin(e, b, b.createTime)
		} else {
			e.pinBatch(b, spec.State, b.createTime)
		}
		b.log = append(b.log, spec.Log...)
		ids[i] = b.id
	}
	return ids, nil
}

// pinBatch moves b to state at instant at and drops its scheduled step.
// Caller holds e.mu.
func (e *Emulator) pinBatch(b *batch, state string, at time.Time) {
	b.unschedule()
	b.state, b.updateTime = state, at
	if state != BatchStarting && b.startTime.IsZero() {
		b.startTime = at
	}
	if state != BatchStarting && b.appID == "" {
		b.assignAppID(at)
	}
	if batchFinal(state) {
		if b.endTime.IsZero() {
			b.endTime = at
		}
	} else {
		b.endTime = time.Time{}
	}
}

// UpdateBatch changes a batch's state and/or log (see BatchUpdate).
func (e *Emulator) UpdateBatch(id string, u BatchUpdate) error {
	if u.State != "" && !validBatchState(u.State) {
		return fmt.Errorf("dlitest: state %q is invalid; valid values: %s", u.State, strings.Join(BatchStates, ", "))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	b := e.spark.byID[strings.ToLower(id)]
	if b == nil {
		return fmt.Errorf("%w: spark batch %s", ErrNotFound, id)
	}
	now := e.clock.Now()
	if u.State != "" {
		e.pinBatch(b, u.State, now)
	}
	if u.ReplaceLog {
		b.log = append([]string{}, u.Log...)
	} else {
		b.log = append(b.log, u.Log...)
	}
	b.updateTime = now
	return nil
}

// SetBatchState moves a batch to state and pins it there.
func (e *Emulator) SetBatchState(id, state string) error {
	if state == "" {
		return errors.New("dlitest: state is empty")
	}
	return e.UpdateBatch(id, BatchUpdate{State: state})
}

// Batch returns a Spark batch's state.
func (e *Emulator) Batch(id string) (BatchState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	b := e.spark.byID[strings.ToLower(id)]
	if b == nil {
		return BatchState{}, false
	}
	return b.snap(), true
}

// BatchLog returns a copy of a Spark batch's whole log.
func (e *Emulator) BatchLog(id string) ([]string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	b := e.spark.byID[strings.ToLower(id)]
	if b == nil {
		return nil, false
	}
	return append([]string{}, b.log...), true
}

// adminBatchCreate is the body of POST /_emulator/spark/batches: a
// BatchSpec plus count (default 1, at most 100000) — with count > 1 the
// batches are named "<name>-00001"… and the answer lists every id in ids.
type adminBatchCreate struct {
	BatchSpec
	Count int `json:"count,omitempty"`
}

func (e *Emulator) registerSparkAdmin() {
	e.adminRoute("POST /_emulator/spark/batches", func(w http.ResponseWriter, r *http.Request) {
		var req adminBatchCreate
		if !decodeBody(w, r, &req) {
			return
		}
		adminCreate(w, req.BatchSpec, req.Count, func(s *BatchSpec) *string { return &s.Name }, e.AddBatches, "id", "ids")
	})
	e.adminRoute("PUT /_emulator/spark/batches/{id}", func(w http.ResponseWriter, r *http.Request) {
		var u BatchUpdate
		if !decodeBody(w, r, &u) {
			return
		}
		id := r.PathValue("id")
		if err := e.UpdateBatch(id, u); err != nil {
			writeAdminError(w, err)
			return
		}
		st, _ := e.Batch(id)
		writeJSON(w, http.StatusOK, st)
	})
}

// seed loads the demo Spark batches on queues default, etl and adhoc: a
// succeeded one, a dead one with an error log, a pinned running one, and
// two fresh ones that run their lifecycle: adhoc_exploration ends success,
// backfill_FAIL ends dead (the FAIL marker). Caller holds e.mu.
func (s *sparkState) seed(e *Emulator) {
	now := e.clock.Now()
	ts := func(d time.Duration) string { return now.Add(d).Format("2006-01-02 15:04:05,000") }
	specs := []BatchSpec{
		{Name: "daily_sales_report", Queue: "etl", State: BatchSuccess, CreatedAt: now.Add(-26 * time.Hour),
			Log: []string{
				ts(-26*time.Hour) + " INFO SparkContext: Running Spark application daily_sales_report on queue etl",
				ts(-25*time.Hour) + " INFO DAGScheduler: Job 0 finished, took 3580.2 s",
				ts(-25*time.Hour) + " INFO Client: final status: SUCCEEDED",
			}},
		{Name: "nightly_ingest", Queue: "etl", State: BatchDead, CreatedAt: now.Add(-5 * time.Hour),
			Log: []string{
				ts(-5*time.Hour) + " INFO SparkContext: Running Spark application nightly_ingest on queue etl",
				ts(-4*time.Hour) + " ERROR Executor: Exception in task 3.0 in stage 2.0 (TID 41): java.io.FileNotFoundException: obs://raw-data/landing/2026/part-0007.csv (No such file or directory)",
				ts(-4*time.Hour) + " ERROR ApplicationMaster: User class threw exception: org.apache.spark.SparkException: Job aborted due to stage failure",
				ts(-4*time.Hour) + " ERROR Client: final status: FAILED",
			}},
		{Name: "hourly_rollup", Queue: "default", State: BatchRunning, CreatedAt: now.Add(-40 * time.Minute),
			Log: []string{ts(-40*time.Minute) + " INFO SparkContext: Running Spark application hourly_rollup on queue default"}},
		{Name: "adhoc_exploration", Queue: "adhoc", ScType: "B"},
		{Name: "backfill_FAIL", Queue: "etl"},
	}
	for _, spec := range specs {
		b, err := e.newAdminBatch(spec, now)
		if err != nil {
			panic("dlitest: bad demo spark batch: " + err.Error()) // a bug in this table
		}
		s.add(b)
		if spec.State == "" {
			s.begin(e, b, now)
		} else {
			e.pinBatch(b, spec.State, b.createTime)
		}
		b.log = append(b.log, spec.Log...)
	}
}
