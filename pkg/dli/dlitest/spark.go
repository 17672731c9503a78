package dlitest

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Spark batch jobs (reference 10.1.1 create, 10.1.2 cancel, 10.1.3 list,
// 10.1.4 detail, 10.1.5 state, 10.1.6 logs).
//
// Lifecycle on the emulator clock (Timing.SparkStart, Timing.SparkRun):
//
//	starting ──SparkStart──▶ running ──SparkRun──▶ success
//	                                    └─(FAIL)─▶ dead, or recovering ──SparkStart──▶ running …
//	cancel (DELETE) from starting, running or recovering ──▶ dead at once
//
// A batch whose name contains SparkFailMarker ("FAIL") fails at the end of
// each run: with auto recovery on (auto_recover / auto_recovery) it goes
// recovering and runs again up to max_retry_times (default 20) times, then
// ends dead; its log carries ERROR lines. success and dead are final:
// cancelling them is 400 DLI.0007.
//
// The log grows deterministically: submit lines on create, lines when it
// starts running, five stage-progress lines spread over each run (every
// SparkRun/6), and closing lines (success, failure, recovery or kill).
// Lines look like "2026-11-26 08:00:10,000 INFO Client: …".
//
// States are answered lowercase, as Table 10-7 lists them and as the SDK's
// ShowSparkJobStatusResponseState enum spells them (10.1.5's example shows
// "Success"; clients should compare case-insensitively).

// Spark batch states (reference Table 10-7).
const (
	BatchStarting   = "starting"
	BatchRunning    = "running"
	BatchDead       = "dead"
	BatchSuccess    = "success"
	BatchRecovering = "recovering"
)

// BatchStates lists every Spark batch state.
var BatchStates = []string{BatchStarting, BatchRunning, BatchDead, BatchSuccess, BatchRecovering}

// SparkFailMarker in a batch's name makes the emulated batch fail (see the
// lifecycle above).
const SparkFailMarker = "FAIL"

// sparkProgressLines is how many stage-progress lines a run logs.
const sparkProgressLines = 5

func validBatchState(s string) bool { return slices.Contains(BatchStates, s) }

func batchFinal(s string) bool { return s == BatchDead || s == BatchSuccess }

// sparkResources is a resolved resource spec (Table 10-3 or overrides).
type sparkResources struct {
	driverCores, executorCores, numExecutors int
	driverMemory, executorMemory             string
}

// sparkScTypes are the resource types of Table 10-3.
var sparkScTypes = map[string]sparkResources{
	"A": {2, 1, 6, "7G", "4G"},
	"B": {2, 2, 7, "7G", "8G"},
	"C": {4, 2, 14, "15G", "8G"},
}

// batch is one Spark batch job. Times are on the emulator clock.
type batch struct {
	seq                 int64
	id                  string
	name, owner, queue  string
	clusterName         string // the queue, as named by cluster_name (or queue)
	scType, kind        string
	file, className     string
	res                 sparkResources
	state               string
	appID               string
	createTime          time.Time
	updateTime          time.Time
	startTime           time.Time // first time running; zero: never ran
	endTime             time.Time // zero: not final
	log                 []string
	fail                bool
	autoRecover         bool
	maxRetries, retries int
	runStart            time.Time // current run attempt's start
	progress            int       // progress lines logged in the current run
	reqBody             string

	jobTimer
}

type sparkState struct {
	batches []*batch // ascending create time (then seq)
	byID    map[string]*batch
	due     dueQueue[string]
}

func (s *sparkState) init() {
	s.batches = nil
	s.byID = make(map[string]*batch)
	s.due = dueQueue[string]{}
}

// batchUUID derives a deterministic UUID-shaped id from a sequence number.
func batchUUID(seq int64) string {
	h := sha256.Sum256(fmt.Appendf(nil, "dlitest-batch-%d", seq))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// add inserts a batch keeping s.batches ordered by create time. Caller
// holds e.mu.
func (s *sparkState) add(b *batch) {
	s.byID[b.id] = b
	s.batches = insertByCreateTime(s.batches, b, func(b *batch) time.Time { return b.createTime })
}

// schedule arranges for b's next transition at t (replacing any other).
func (s *sparkState) schedule(b *batch, t time.Time) { s.due.schedule(&b.jobTimer, b.id, t) }

// catchUp performs every transition due at or before now, each at its own
// instant; O(1) when nothing is due.
func (s *sparkState) catchUp(e *Emulator, now time.Time) {
	catchUpDue(&s.due, s.byID, now, func(b *batch, at time.Time) { s.step(e, b, at) })
}

func (b *batch) logf(at time.Time, level, format string, args ...any) {
	b.log = append(b.log, at.Format("2006-01-02 15:04:05,000")+" "+level+" "+fmt.Sprintf(format, args...))
}

// begin logs the submission and schedules the start. Caller holds e.mu.
func (s *sparkState) begin(e *Emulator, b *batch, at time.Time) {
	b.state = BatchStarting
	b.logf(at, "INFO", "SparkSubmit: batch %s (%s) submitted to queue %s", b.id, b.name, b.queue)
	if b.kind == "pyspark" {
		b.logf(at, "INFO", "SparkSubmit: python application %s", b.file)
	} else {
		b.logf(at, "INFO", "SparkSubmit: main class %s from %s", b.className, b.file)
	}
	b.logf(at, "INFO", "Client: requesting resources (sc_type %s): driver %d cores/%s, %d executors of %d cores/%s",
		b.scType, b.res.driverCores, b.res.driverMemory, b.res.numExecutors, b.res.executorCores, b.res.executorMemory)
	s.schedule(b, at.Add(e.opts.Timing.SparkStart))
}

func (b *batch) assignAppID(at time.Time) {
	b.appID = fmt.Sprintf("application_%d_%04d", b.createTime.UnixMilli(), (b.seq%10000)*10+int64(b.retries%10))
}

// step performs b's scheduled transition at instant at.
func (s *sparkState) step(e *Emulator, b *batch, at time.Time) {
	b.updateTime = at
	run := e.opts.Timing.SparkRun
	every := run / (sparkProgressLines + 1)
	switch b.state {
	case BatchStarting, BatchRecovering:
		b.state = BatchRunning
		if b.startTime.IsZero() {
			b.startTime = at
		}
		b.runStart, b.progress = at, 0
		b.assignAppID(at)
		b.logf(at, "INFO", "Client: Application report for %s (state: RUNNING)", b.appID)
		b.logf(at, "INFO", "SparkContext: Running Spark application %s on queue %s", b.name, b.queue)
		if every > 0 {
			s.schedule(b, at.Add(every))
		} else {
			s.schedule(b, at.Add(run))
		}
	case BatchRunning:
		end := b.runStart.Add(run)
		if at.Before(end) {
			b.progress++
			b.logf(at, "INFO", "DAGScheduler: ResultStage %d finished (%d/%d stages done)", b.progress, b.progress, sparkProgressLines)
			next := at.Add(every)
			if b.progress >= sparkProgressLines || next.After(end) {
				next = end
			}
			s.schedule(b, next)
			return
		}
		if !b.fail {
			b.logf(at, "INFO", "DAGScheduler: Job 0 finished, took %.1f s", run.Seconds())
			b.logf(at, "INFO", "Client: Application report for %s (state: FINISHED, final status: SUCCEEDED)", b.appID)
			b.state, b.endTime = BatchSuccess, at
			return
		}
		b.logf(at, "ERROR", "ApplicationMaster: User class threw exception: java.lang.RuntimeException: emulated failure (the batch name contains %q)", SparkFailMarker)
		b.logf(at, "ERROR", "Client: Application report for %s (state: FINISHED, final status: FAILED)", b.appID)
		if b.autoRecover && b.retries < b.maxRetries {
			b.retries++
			b.logf(at, "WARN", "Client: attempt %d failed; auto recovery retry %d of %d", b.retries, b.retries, b.maxRetries)
			b.state = BatchRecovering
			s.schedule(b, at.Add(e.opts.Timing.SparkStart))
			return
		}
		b.state, b.endTime = BatchDead, at
	}
}

// cancel kills b (10.1.2); false when b is already final.
func (s *sparkState) cancel(b *batch, now time.Time) bool {
	if batchFinal(b.state) {
		return false
	}
	b.unschedule()
	b.logf(now, "INFO", "Client: batch %s killed on user request", b.id)
	b.state, b.endTime, b.updateTime = BatchDead, now, now
	return true
}

// durationMS is the batch's running time: from its first run to its end
// (or now); 0 when it never ran.
func (b *batch) durationMS(now time.Time) int64 {
	if b.startTime.IsZero() {
		return 0
	}
	end := now
	if !b.endTime.IsZero() {
		end = b.endTime
	}
	if end.Before(b.startTime) {
		return 0
	}
	return end.Sub(b.startTime).Milliseconds()
}

// lastLines returns the last n log lines (never nil).
func (b *batch) lastLines(n int) []string {
	l := b.log
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return append(make([]string, 0, len(l)), l...)
}

// BatchState is a Spark batch in the state snapshot (GET /_emulator/state).
// Times are on the emulator clock.
type BatchState struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Queue      string     `json:"queue"`
	Owner      string     `json:"owner"`
	Type       string     `json:"kind"`
	ScType     string     `json:"sc_type"`
	State      string     `json:"state"`
	AppID      string     `json:"app_id,omitempty"`
	CreateTime time.Time  `json:"create_time"`
	UpdateTime time.Time  `json:"update_time"`
	StartTime  *time.Time `json:"start_time,omitempty"`
	EndTime    *time.Time `json:"end_time,omitempty"`
	// LogLines is the number of lines in the batch's log.
	LogLines int `json:"log_lines"`
	// Retries is how many times auto recovery restarted the batch.
	Retries int `json:"retries"`
	// NextAt is when the next lifecycle step is due; nil when the state is
	// final or pinned through the admin API.
	NextAt *time.Time `json:"next_at,omitempty"`
}

// timePtr returns &t, nil for the zero time: an optional instant of a
// Flink job's or a batch's snapshot.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (b *batch) snap() BatchState {
	return BatchState{
		ID: b.id, Name: b.name, Queue: b.queue, Owner: b.owner, Type: b.kind, ScType: b.scType,
		State: b.state, AppID: b.appID, CreateTime: b.createTime, UpdateTime: b.updateTime,
		StartTime: timePtr(b.startTime), EndTime: timePtr(b.endTime), LogLines: len(b.log),
		Retries: b.retries, NextAt: timePtr(b.due),
	}
}

func (s *sparkState) snapshot() []BatchState {
	out := make([]BatchState, 0, len(s.batches))
	for _, b := range s.batches {
		out = append(out, b.snap())
	}
	return out
}

// batchJSON is a batch as 10.1.1/10.1.3/10.1.4 answer it (the SDK's
// SparkJob, CreateSparkJobResponse and ShowSparkJobResponse).
type batchJSON struct {
	ID          string   `json:"id"`
	AppID       string   `json:"appId"`
	Name        string   `json:"name"`
	Owner       string   `json:"owner"`
	ProxyUser   string   `json:"proxyUser"`
	State       string   `json:"state"`
	Kind        string   `json:"kind"`
	Log         []string `json:"log"`
	ScType      string   `json:"sc_type"`
	ClusterName string   `json:"cluster_name"`
	Queue       string   `json:"queue"`
	CreateTime  int64    `json:"create_time"`
	UpdateTime  int64    `json:"update_time"`
	Duration    int64    `json:"duration"`
	ReqBody     string   `json:"req_body,omitempty"`
}

func (b *batch) json(now time.Time, withReq bool) batchJSON {
	j := batchJSON{
		ID: b.id, AppID: b.appID, Name: b.name, Owner: b.owner, ProxyUser: b.owner, State: b.state,
		Kind: b.kind, Log: b.lastLines(10), ScType: b.scType, ClusterName: b.clusterName, Queue: b.queue,
		CreateTime: b.createTime.UnixMilli(), UpdateTime: b.updateTime.UnixMilli(), Duration: b.durationMS(now),
	}
	if withReq {
		j.ReqBody = b.reqBody
	}
	return j
}

// validQueueName applies DLI's queue name rule (letters, digits and
// underscores; not only digits; not starting with an underscore).
func validQueueName(s string) bool {
	if s == "" || s[0] == '_' || strings.Trim(s, "0123456789") == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validBatchID applies the SDK's batch id rule ^[A-Fa-f0-9_-]*$.
func validBatchID(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}
