package obsimport

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/functions/obsimport/obsevent"
	"github.com/dlibot/dlibot/pkg/events"
)

func TestImportOneFile(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	key := "landing/sales/2026/11/26/hour=07/it's;\"x\"\\.csv"
	if out := h.im.Handle(ctx, objectEvent(t, key, "e1")); out.Kind() != events.KindAck {
		t.Fatalf("outcome %v", out)
	}
	e := h.entry("raw-data", key)
	if e == nil || e.State != StateSubmitted || e.JobID == "" {
		t.Fatalf("entry after handling: %+v", e)
	}
	h.drive(20)
	e = h.entry("raw-data", key)
	if e.State != StateLoaded || e.Rows == 0 {
		t.Fatalf("entry after the job: %+v", e)
	}
	reqs := h.importRequests()
	if len(reqs) != 1 || reqs[0] != "obs://raw-data/"+key {
		t.Fatalf("import requests %q", reqs)
	}
	imp := h.srv.Snapshot().Imports[0]
	if imp.Database != "analytics" || imp.Table != "sales" || imp.PartitionSpec["dt"] != "2026-11-26" || imp.PartitionSpec["hour"] != "07" || imp.Queue != "etl" {
		t.Errorf("import %+v", imp)
	}
	sub, ok := h.published(events.TypeImportSubmitted), h.published(events.TypeImportSucceeded)
	if len(sub) != 1 || len(ok) != 1 || ok[0].JobID != e.JobID || ok[0].Key != key || ok[0].Table != "analytics.sales" || ok[0].Rows != e.Rows || ok[0].DurationMS == 0 {
		t.Errorf("events submitted %+v succeeded %+v", sub, ok)
	}
	if n := len(h.slack.CallsTo("chat.postMessage")); n != 0 {
		t.Errorf("%d Slack messages for a success", n)
	}
}

// TestRedeliveredOutOfOrder delivers every event three times in random
// order, concurrently: one import per file.
func TestRedeliveredOutOfOrder(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BatchMax = 8 })
	const n = 40
	var evs []events.Event
	for i := range n {
		for range 3 {
			evs = append(evs, objectEvent(t, keyName(i), "etag"))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	var wg sync.WaitGroup
	ch := make(chan events.Event)
	for range 8 {
		wg.Go(func() {
			for e := range ch {
				if out := h.im.Handle(context.Background(), e); out.Kind() != events.KindAck {
					t.Errorf("outcome %v", out)
				}
			}
		})
	}
	for _, e := range evs {
		ch <- e
	}
	close(ch)
	wg.Wait()
	h.drive(100)
	counts := h.importCounts()
	for i := range n {
		if c := counts[keyName(i)]; c != 1 {
			t.Errorf("%s imported %d times", keyName(i), c)
		}
		if e := h.entry("raw-data", keyName(i)); e.State != StateLoaded {
			t.Errorf("%s: %s", keyName(i), e.State)
		}
	}
	if len(counts) != n {
		t.Errorf("%d keys imported, want %d", len(counts), n)
	}
	h.checkNoOverlap()
	if got := len(h.published(events.TypeImportSucceeded)); got != n {
		t.Errorf("%d succeeded events, want %d", got, n)
	}
}

// TestNeverTwoConcurrent: a second file for a table waits for the first
// import and goes in the next job.
func TestNeverTwoConcurrent(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.BatchMax = 1 })
	ctx := context.Background()
	h.im.Handle(ctx, objectEvent(t, keyName(1), "a"))
	h.im.Handle(ctx, objectEvent(t, keyName(2), "b"))
	if reqs := h.importRequests(); len(reqs) != 1 {
		t.Fatalf("%d imports submitted while the first runs, want 1", len(reqs))
	}
	if e := h.entry("raw-data", keyName(2)); e.State != StatePending {
		t.Fatalf("second file %s, want pending", e.State)
	}
	h.drive(40)
	if reqs := h.importRequests(); len(reqs) != 2 {
		t.Fatalf("imports %q", reqs)
	}
	h.checkNoOverlap()
}

// TestBatchesWhileRunning: files arriving during an import go together in
// the next job, named by a glob path.
func TestBatchesWhileRunning(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	h.im.Handle(ctx, objectEvent(t, keyName(0), "a"))
	for i := 1; i <= 5; i++ {
		h.im.Handle(ctx, objectEvent(t, keyName(i), "a"))
	}
	h.im.Handle(ctx, objectEvent(t, "landing/events/dt=2026-11-27/other-day.csv", "a")) // other partition: its own job
	h.drive(40)
	reqs := h.importRequests()
	if len(reqs) != 3 {
		t.Fatalf("imports %q, want 3 (first file, a batch of five, the other partition)", reqs)
	}
	if !strings.HasSuffix(reqs[1], "/{part-00001.csv,part-00002.csv,part-00003.csv,part-00004.csv,part-00005.csv}") &&
		!strings.HasSuffix(reqs[2], "/{part-00001.csv,part-00002.csv,part-00003.csv,part-00004.csv,part-00005.csv}") {
		t.Errorf("no batch glob in %q", reqs)
	}
	h.checkNoOverlap()
}

// TestImportFailure: DLI fails the job → import.failed, one Slack message,
// the event acknowledged.
func TestImportFailure(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	key := "landing/events/dt=2026-11-26/FAIL-me.csv"
	if out := h.im.Handle(ctx, objectEvent(t, key, "x")); out.Kind() != events.KindAck {
		t.Fatalf("outcome %v, want ack (a DLI failure is not a dead letter)", out)
	}
	h.drive(20)
	e := h.entry("raw-data", key)
	if e.State != StateFailed || !strings.Contains(e.Error, "FAIL") {
		t.Fatalf("entry %+v", e)
	}
	failed := h.published(events.TypeImportFailed)
	if len(failed) != 1 || failed[0].JobID == "" || failed[0].Status != "FAILED" || failed[0].Key != key {
		t.Fatalf("failed events %+v", failed)
	}
	calls := h.slack.CallsTo("chat.postMessage")
	if len(calls) != 1 {
		t.Fatalf("%d Slack messages, want 1", len(calls))
	}
	msgs := h.slack.Messages("#imports")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "analytics.events") || !strings.Contains(msgs[0].Text, failed[0].JobID) {
		t.Errorf("Slack message %+v", msgs)
	}
	// A redelivery of the same event does not import again.
	h.im.Handle(ctx, objectEvent(t, key, "x"))
	h.drive(5)
	if n := len(h.importRequests()); n != 1 {
		t.Errorf("%d imports after a redelivery, want 1", n)
	}
}

func TestSkippedObjects(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	for key, want := range map[string]Accepted{
		"other/unmatched.csv":                             AcceptNoRule,
		"landing/events/dt=2026-11-26/no-extension":       AcceptUnusable,
		"landing/batch/orders/dt=2026-11-26/part-1.csv":   AcceptAwaitsMarker,
		"landing/events/dt=2026-11-26/fine.csv":           AcceptQueued,
		"landing/clicks/region=eu/dt=2026-11-26/c1.json":  AcceptQueued,
		"landing/batch/orders/dt=2026-11-26/_SUCCESS":     AcceptQueued,
		"landing/batch/bad-name/dt=2026-11-26/_SUCCESS":   AcceptUnusable,
		"landing/sales/2026/11/26/hour=07/not-a-csv.json": AcceptNoRule,
	} {
		got, err := h.im.Accept(ctx, object(key, "e"))
		if err != nil || got != want {
			t.Errorf("%q: %s, %v; want %s", key, got, err, want)
		}
	}
	h.drive(20)
	var marker []string
	for _, p := range h.importRequests() {
		if strings.Contains(p, "landing/batch/") {
			marker = append(marker, p)
		}
	}
	if len(marker) != 1 || marker[0] != "obs://raw-data/landing/batch/orders/dt=2026-11-26/" {
		t.Errorf("marker imports %q, want the folder once", marker)
	}
}

func TestReuploadPolicies(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	reload := "landing/events/dt=2026-11-26/r.csv"              // events: reload (default)
	skip := "landing/sales/2026/11/26/hour=01/s.csv"            // sales: skip
	alert := "landing/clicks/region=eu/dt=2026-11-26/a.json"    // clicks: alert
	inflight := "landing/events/dt=2026-11-26/inflight-new.csv" // reload while running
	for _, k := range []string{reload, skip, alert} {
		if _, err := h.im.Accept(ctx, object(k, "v1")); err != nil {
			t.Fatal(err)
		}
	}
	h.drive(20)
	for k, want := range map[string]Accepted{reload: AcceptReuploadQueued, skip: AcceptReuploadSkipped, alert: AcceptReuploadAlerted} {
		got, err := h.im.Accept(ctx, object(k, "v2"))
		if err != nil || got != want {
			t.Errorf("%s: %s %v, want %s", k, got, err, want)
		}
	}
	// The old content arriving late is a duplicate, never a re-upload.
	if got, _ := h.im.Accept(ctx, object(reload, "v1")); got != AcceptDuplicate {
		t.Errorf("late old content: %s", got)
	}
	h.drive(20)
	counts := h.importCounts()
	if counts[reload] != 2 || counts[skip] != 1 || counts[alert] != 1 {
		t.Errorf("import counts %v", counts)
	}
	msgs := h.slack.Messages("#imports")
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "uploaded again") {
		t.Errorf("Slack %+v, want one re-upload alert", msgs)
	}
	// A re-upload while the first import runs is imported after it.
	if _, err := h.im.Accept(ctx, object(inflight, "v1")); err != nil {
		t.Fatal(err)
	}
	if got, _ := h.im.Accept(ctx, object(inflight, "v2")); got != AcceptReuploadNext {
		t.Errorf("in-flight re-upload: %s", got)
	}
	if got, _ := h.im.Accept(ctx, object(inflight, "v3")); got != AcceptReuploadNext {
		t.Errorf("second in-flight re-upload: %s", got)
	}
	h.drive(20)
	if c := h.importCounts()[inflight]; c != 2 {
		t.Errorf("in-flight re-upload imported %d times, want 2 (v1, then the newest v3)", c)
	}
	if e := h.entry("raw-data", inflight); e.State != StateLoaded || e.Content != "v3" {
		t.Errorf("entry %+v", e)
	}
	// The superseded v2 arriving late is a duplicate.
	if got, _ := h.im.Accept(ctx, object(inflight, "v2")); got != AcceptDuplicate {
		t.Errorf("late superseded content: %s", got)
	}
	h.checkNoOverlap()
}

// TestRetryableDLIErrors: DLI answering 503 before creating anything
// leaves the file queued; it is imported once DLI recovers.
func TestRetryableDLIErrors(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if err := h.srv.AddFault(dlitestFault(503, 2)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.im.Accept(ctx, object(keyName(1), "a")); err != nil {
		t.Fatal(err)
	}
	h.drive(30)
	if c := h.importCounts()[keyName(1)]; c != 3 {
		t.Errorf("import requests for the file %d, want 3 (two refused, one accepted)", c)
	}
	if e := h.entry("raw-data", keyName(1)); e.State != StateLoaded {
		t.Errorf("entry %+v", e)
	}
}

// TestCrashAtRandomPoints kills the importer at random points of a burst
// (a panic at a crash point; its memory is lost, KV and DLI keep theirs),
// restarts it, redelivers everything: no file lost, none imported twice.
func TestCrashAtRandomPoints(t *testing.T) {
	hit := map[string]int{}
	defer func() {
		for _, p := range []string{"recorded-entry", "intent", "submitted", "recorded", "ended", "finalize-entry"} {
			if hit[p] == 0 {
				t.Errorf("no run crashed at %q (hits %v)", p, hit)
			}
		}
	}()
	for seed := range uint64(8) {
		t.Run("seed"+string(rune('0'+seed)), func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.BatchMax = 4; c.RecoverAfter = 20 * time.Second })
			r := rand.New(rand.NewPCG(seed, 99))
			const n = 24
			points := []string{"recorded-entry", "intent", "submitted", "recorded", "ended", "finalize-entry"}
			crashes := 0
			perPoint := map[string]int{}
			var mu sync.Mutex
			arm := func(im *Importer) {
				im.crashAt = func(p string) {
					mu.Lock()
					defer mu.Unlock()
					if crashes < 12 && perPoint[p] < 2 && r.IntN(3) == 0 && contains(points, p) {
						crashes++
						perPoint[p]++
						hit[p]++
						panic(errCrash)
					}
				}
			}
			arm(h.im)
			survive := func(f func()) (crashed bool) {
				defer func() {
					if v := recover(); v != nil {
						if v != errCrash {
							panic(v)
						}
						crashed = true
					}
				}()
				f()
				return false
			}
			restart := func() {
				h.im = h.start()
				arm(h.im)
			}
			pending := make([]int, n)
			for i := range pending {
				pending[i] = i
			}
			for round := 0; round < 200; round++ {
				// Deliver (or redeliver) what has not been acknowledged.
				var left []int
				for _, i := range pending {
					var out events.Outcome
					if survive(func() { out = h.im.Handle(context.Background(), objectEvent(t, keyName(i), "e")) }) {
						restart()
						left = append(left, i)
						continue
					}
					if out.Kind() != events.KindAck {
						left = append(left, i)
					}
				}
				pending = left
				if survive(func() { _ = h.im.Sweep(context.Background()) }) {
					restart()
				}
				ths, err := h.im.tablesWithWork(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if len(pending) == 0 && len(ths) == 0 {
					break
				}
				h.srv.Advance(7 * time.Second)
			}
			if len(pending) > 0 {
				t.Fatalf("%d events never acknowledged", len(pending))
			}
			counts := h.importCounts()
			for i := range n {
				if c := counts[keyName(i)]; c != 1 {
					t.Errorf("%s imported %d times (crashes: %d)", keyName(i), c, crashes)
				}
				if e := h.entry("raw-data", keyName(i)); e == nil || e.State != StateLoaded {
					t.Errorf("%s: entry %+v", keyName(i), e)
				}
			}
			h.checkNoOverlap()
			t.Logf("seed %d: crashes %v, %d import requests", seed, perPoint, len(h.importRequests()))
		})
	}
}

var errCrash = errors.New("simulated crash")

func TestHandleMalformedAndIgnored(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	bad, _ := events.NewEvent("1", "/x", events.TypeObjectCreated, map[string]any{"key": "k"})
	if out := h.im.Handle(ctx, bad); out.Kind() != events.KindDrop || !strings.Contains(out.Reason(), "without bucket") {
		t.Errorf("bad data: %v", out)
	}
	other, _ := events.NewEvent("2", "/x", "com.example.other", nil)
	if out := h.im.Handle(ctx, other); out.Kind() != events.KindDrop {
		t.Errorf("other type: %v", out)
	}
	folder := obsevent.Object{ObjectCreated: events.ObjectCreated{Bucket: "raw-data", Key: "landing/events/dt=1/"}}
	fe, _ := folder.Event()
	if out := h.im.Handle(ctx, fe); out.Kind() != events.KindAck {
		t.Errorf("folder marker: %v", out)
	}
	if n := len(h.importRequests()); n != 0 {
		t.Errorf("%d imports", n)
	}
}

// TestMultipartCountsOnce: a multipart upload reported by its
// CompleteMultipartUpload and (by a misbehaving source) a Put of the same
// ETag, each redelivered, is imported once.
func TestMultipartCountsOnce(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	key := "landing/events/dt=2026-11-26/big.csv"
	for _, name := range []string{"ObjectCreated:CompleteMultipartUpload", "ObjectCreated:Put", "ObjectCreated:CompleteMultipartUpload"} {
		o := object(key, "4af981f98d22a0b9979da24b259e5e42-12")
		o.EventName = name
		e, err := o.Event()
		if err != nil {
			t.Fatal(err)
		}
		if out := h.im.Handle(ctx, e); out.Kind() != events.KindAck {
			t.Fatalf("%s: %v", name, out)
		}
	}
	h.drive(20)
	if c := h.importCounts()[key]; c != 1 {
		t.Errorf("imported %d times, want 1", c)
	}
}

// TestCrashBetweenReuploadAndQueue: a re-upload recorded in the ledger
// while the older content still waits in the queue, then a crash before
// the queue item names the new content; the redelivered event must queue
// the new content (the old item is stale and dropped), and it is imported.
func TestCrashBetweenReuploadAndQueue(t *testing.T) {
	h := newHarness(t, nil)
	h.im.intakeOnly = true
	ctx := context.Background()
	key := "landing/events/dt=2026-11-26/crash-reupload.csv"
	if got, err := h.im.Accept(ctx, object(key, "v1")); err != nil || got != AcceptQueued {
		t.Fatalf("v1: %s %v", got, err)
	}
	h.im.crashAt = func(p string) {
		if p == "recorded-reupload" {
			panic("crash")
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no crash")
			}
		}()
		_, _ = h.im.Accept(ctx, object(key, "v2"))
	}()
	h.im = h.start() // restart on the same KV
	h.im.intakeOnly = true
	if got, err := h.im.Accept(ctx, object(key, "v2")); err != nil || got != AcceptDuplicate {
		t.Fatalf("redelivered v2: %s %v", got, err)
	}
	h.im.intakeOnly = false
	h.drive(20)
	h.requireLoaded(t, key, "v2", 1)
}

// TestCrashFinalizingWithNext: a re-upload arrived while the first
// content's import ran (entry.Next); the importer dies after finalising the
// entry (which now names the new content, pending) and before queueing it.
// Finalising again after the restart must still queue the new content.
func TestCrashFinalizingWithNext(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	key := "landing/events/dt=2026-11-26/crash-next.csv"
	if got, err := h.im.Accept(ctx, object(key, "v1")); err != nil || got != AcceptQueued {
		t.Fatalf("v1: %s %v", got, err)
	}
	if got, err := h.im.Accept(ctx, object(key, "v2")); err != nil || got != AcceptReuploadNext {
		t.Fatalf("v2: %s %v", got, err)
	}
	crashed := false
	h.im.crashAt = func(p string) {
		if p == "finalize-entry" && !crashed {
			crashed = true
			panic("crash")
		}
	}
	func() {
		defer func() { _ = recover() }()
		h.drive(20)
	}()
	if !crashed {
		t.Fatal("no crash while finalising")
	}
	h.im = h.start()
	h.drive(20)
	h.requireLoaded(t, key, "v2", 2)
}

// TestQueueItemBehindEntry: the queue item names older content than the
// pending entry (a late write of the older item overtook the re-upload's
// own); the batch builder points it at the entry's content instead of
// dropping it as stale, and the new content is imported.
func TestQueueItemBehindEntry(t *testing.T) {
	h := newHarness(t, nil)
	h.im.intakeOnly = true
	ctx := context.Background()
	key := "landing/events/dt=2026-11-26/overtaken.csv"
	if got, err := h.im.Accept(ctx, object(key, "v1")); err != nil || got != AcceptQueued {
		t.Fatalf("v1: %s %v", got, err)
	}
	e := h.entry("raw-data", key)
	stale := h.im.queueItem(e) // the item for v1
	if got, err := h.im.Accept(ctx, object(key, "v2")); err != nil || got != AcceptReuploadQueued {
		t.Fatalf("v2: %s %v", got, err)
	}
	qk := queueKey(TableKey(e.Database, e.Table), stale.File)
	if err := h.im.l.put(ctx, qk, stale); err != nil {
		t.Fatal(err)
	}
	h.im.intakeOnly = false
	h.drive(20)
	h.requireLoaded(t, key, "v2", 1)
}

// requireLoaded stops the test unless the entry of raw-data/key is loaded
// with content and the emulator ran exactly imports imports of the key.
func (h *harness) requireLoaded(t *testing.T, key, content string, imports int) {
	t.Helper()
	if e := h.entry("raw-data", key); e.State != StateLoaded || e.Content != content {
		t.Fatalf("entry %s %s, want %s loaded", e.State, e.Content, content)
	}
	if c := h.importCounts()[key]; c != imports {
		t.Fatalf("imported %d times, want %d", c, imports)
	}
}
