package obsimport

import (
	"context"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/dlibot/dlibot/pkg/events"
)

// pauseAt makes im stop at the named point of its import path (once) until
// release is closed, like a SIGSTOPped replica; paused is closed when it
// gets there.
func pauseAt(im *Importer, point string) (paused <-chan struct{}, release chan struct{}) {
	p, r := make(chan struct{}), make(chan struct{})
	var once sync.Once
	im.crashAt = func(pt string) {
		if pt == point {
			once.Do(func() { close(p); <-r })
		}
	}
	return p, r
}

func jobCount(t *testing.T, im *Importer, outcome string) float64 {
	t.Helper()
	var m dto.Metric
	if err := im.m.jobs.WithLabelValues(BackendImport, outcome).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestFrozenPastRecoverAfter reproduces the chaos scenario
// obsimport/pause-past-recover-after in process: replica A records the
// intent and is paused before its submit for longer than RecoverAfter
// (injected clock); replica B, sharing the KV and the emulator, takes the
// batch over, finds no job and submits; then A resumes. The ledger's fence
// (a revision-checked lease renewal right before the call, and the local
// lease check after it) keeps A from submitting: one import. A pause after
// the last check ("send": the remaining window documented in
// docs/obsimport.md) does import twice, and A reports the duplicate.
func TestFrozenPastRecoverAfter(t *testing.T) {
	for _, tc := range []struct {
		point      string
		imports    int
		duplicates float64
	}{
		{point: "intent", imports: 1},              // before the fence: the revision check refuses
		{point: "fenced", imports: 1},              // after the fence: the lease check refuses
		{point: "send", imports: 2, duplicates: 1}, // after both: the window that remains
	} {
		t.Run(tc.point, func(t *testing.T) {
			h := newHarness(t, nil)
			ctx := context.Background()
			a := h.im
			b := h.start()
			if a.owner == b.owner {
				t.Fatal("two importers share an owner token")
			}
			paused, release := pauseAt(a, tc.point)
			const key = "landing/sales/2026/11/26/hour=07/frozen.csv"
			done := make(chan events.Outcome, 1)
			go func() { done <- a.Handle(ctx, objectEvent(t, key, "e1")) }()
			select {
			case <-paused:
			case out := <-done:
				t.Fatalf("A finished (%v) without reaching %q", out, tc.point)
			case <-time.After(30 * time.Second):
				t.Fatalf("A never reached %q", tc.point)
			}
			h.srv.Advance(h.cfg.RecoverAfter + 5*time.Second)
			if err := b.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			th := TableKey("analytics", "sales")
			lock, _, err := getJSON[Batch](ctx, b.l, lockKey(th))
			if err != nil {
				t.Fatal(err)
			}
			if lock == nil || lock.Owner != b.owner || lock.JobID == "" {
				t.Fatalf("B did not take the batch over: %+v", lock)
			}
			if tc.duplicates > 0 {
				// Let B's job end first: while it runs, DLI's one-import-
				// per-table rule would refuse A's copy.
				h.im = b
				h.drive(20)
			}
			close(release)
			if out := <-done; out.Kind() != events.KindAck {
				t.Fatalf("A's outcome %v", out)
			}
			h.im = b
			h.drive(20)
			if got := h.importCounts()[key]; got != tc.imports {
				t.Errorf("%s imported %d times, want %d (requests %q)", key, got, tc.imports, h.importRequests())
			}
			if e := h.entry("raw-data", key); e == nil || e.State != StateLoaded {
				t.Errorf("entry %+v", e)
			}
			if got := jobCount(t, a, "duplicate"); got != tc.duplicates {
				t.Errorf("A counted %v duplicate jobs, want %v", got, tc.duplicates)
			}
			// Paused before the fence, A finds the files submitted by B
			// already (and leaves them out) or the lock moved (fenced).
			if tc.point == "fenced" && jobCount(t, a, "fenced") != 1 {
				t.Errorf("A's refused submit not counted as fenced")
			}
			h.checkNoOverlap()
		})
	}
}

// TestTakenOverWhileSubmitting: A is paused right before its DLI call;
// B takes the batch over and is paused at the same point; A's request
// goes out first, and A records its job although the lock moved (B has no
// job yet). B's request is then refused by DLI (one import per table) and
// B releases nothing it does not hold: one job, followed to the end.
func TestTakenOverWhileSubmitting(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	a, b := h.im, h.start()
	pausedA, releaseA := pauseAt(a, "send")
	pausedB, releaseB := pauseAt(b, "send")
	const key = "landing/sales/2026/11/26/hour=07/race.csv"
	doneA := make(chan events.Outcome, 1)
	go func() { doneA <- a.Handle(ctx, objectEvent(t, key, "e1")) }()
	<-pausedA
	h.srv.Advance(h.cfg.RecoverAfter + 5*time.Second)
	doneB := make(chan error, 1)
	go func() { doneB <- b.Sweep(ctx) }()
	<-pausedB
	close(releaseA)
	if out := <-doneA; out.Kind() != events.KindAck {
		t.Fatalf("A's outcome %v", out)
	}
	th := TableKey("analytics", "sales")
	lock, _, err := getJSON[Batch](ctx, a.l, lockKey(th))
	if err != nil {
		t.Fatal(err)
	}
	if lock == nil || lock.State != BatchSubmitted || lock.JobID == "" || lock.Owner != b.owner {
		t.Fatalf("lock after A's submit: %+v", lock)
	}
	close(releaseB)
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	h.drive(20)
	var jobs []string
	for _, imp := range h.srv.Snapshot().Imports {
		jobs = append(jobs, imp.JobID)
	}
	if len(jobs) != 1 || jobs[0] != lock.JobID {
		t.Errorf("jobs in DLI %q, want only A's %s", jobs, lock.JobID)
	}
	if e := h.entry("raw-data", key); e == nil || e.State != StateLoaded || e.JobID != lock.JobID {
		t.Errorf("entry %+v", e)
	}
	if got := jobCount(t, a, "duplicate") + jobCount(t, b, "duplicate"); got != 0 {
		t.Errorf("%v duplicates counted", got)
	}
}

// TestPausedWhileFormingBatch: A reads the queue and the entries, then is
// paused before taking the table lock; B imports the file meanwhile and
// releases the lock. A resumes, takes the free lock and must not import
// the file again.
func TestPausedWhileFormingBatch(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	a, b := h.im, h.start()
	paused, release := pauseAt(a, "batch")
	const key = "landing/sales/2026/11/26/hour=07/formed.csv"
	done := make(chan events.Outcome, 1)
	go func() { done <- a.Handle(ctx, objectEvent(t, key, "e1")) }()
	<-paused
	h.im = b
	h.drive(20)
	if e := h.entry("raw-data", key); e == nil || e.State != StateLoaded {
		t.Fatalf("B did not import the file: %+v", e)
	}
	close(release)
	if out := <-done; out.Kind() != events.KindAck {
		t.Fatalf("A's outcome %v", out)
	}
	h.drive(20)
	if got := h.importCounts()[key]; got != 1 {
		t.Errorf("%s imported %d times (requests %q)", key, got, h.importRequests())
	}
}
