package jobwatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

// runningFlinks adds n running Flink jobs named prefix_<nn> (queue
// default) and returns their ids.
func (f *fixture) runningFlinks(prefix string, n int) []int64 {
	f.t.Helper()
	var ids []int64
	for i := range n {
		ids = append(ids, f.flink(fmt.Sprintf("%s_%02d", prefix, i), dlitest.FlinkJobRunning))
	}
	return ids
}

// rootCounts counts, per needle, the root messages (any channel) whose text
// or blocks contain it: 1 each means every job was posted exactly once.
func (f *fixture) rootCounts(needles []string) map[string]int {
	got := map[string]int{}
	for _, c := range f.slack.CallsTo("chat.postMessage") {
		if !c.OK() || c.ThreadTS != "" {
			continue
		}
		text := c.Text + string(c.Blocks)
		for _, n := range needles {
			if strings.Contains(text, n) {
				got[n]++
			}
		}
	}
	return got
}

// wantEachOnce fails unless every id appears in exactly one root message.
func (f *fixture) wantEachOnce(ids []int64) {
	f.t.Helper()
	var needles []string
	for _, id := range ids {
		needles = append(needles, fmt.Sprintf("(%d)", id))
	}
	got := f.rootCounts(needles)
	for _, n := range needles {
		if got[n] != 1 {
			f.t.Errorf("job %s is in %d root messages, want exactly 1", n, got[n])
		}
	}
}

func TestDigestOneMessagePerChannelOneEventPerJob(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Routes = "queue=etl channel=C0ETL" })
	ids := f.runningFlinks("stream", 6)
	var etl []int64
	for i := range 2 {
		id, err := f.emu.AddFlinkJob(dlitest.FlinkJobSpec{Name: fmt.Sprintf("etl_%d", i), QueueName: "etl", Status: dlitest.FlinkJobRunning})
		if err != nil {
			t.Fatal(err)
		}
		etl = append(etl, id)
	}
	f.poll(nil)
	for _, id := range append(ids, etl...) {
		f.setFlink(id, dlitest.FlinkJobRunningException, "TaskManager lost")
	}
	f.tick()

	// Six due for the default channel: one digest. Two for C0ETL: two alerts.
	posts := f.posts()
	if len(posts) != 1 || !strings.Contains(posts[0].Text, "6 new incidents") {
		t.Fatalf("default channel: %d messages (%+v), want one digest of 6", len(posts), posts)
	}
	if n := len(f.slack.Messages("C0ETL")); n != 2 {
		t.Errorf("C0ETL messages = %d, want 2 single alerts (below JOBWATCH_DIGEST_MIN)", n)
	}
	f.wantEachOnce(append(ids, etl...))
	opened := f.events()[events.TypeIncidentOpened]
	if len(opened) != 8 {
		t.Fatalf("incident.opened = %d, want one per job (8)", len(opened))
	}
	seen := map[string]bool{}
	for _, ev := range opened {
		if seen[ev.JobID] || ev.Slack != nil {
			t.Errorf("opened event %+v: duplicate job or slack set", ev)
		}
		seen[ev.JobID] = true
	}

	// One member recovers: a reply in the digest's thread; the digest is
	// not edited (it lists the others too).
	f.setFlink(ids[0], dlitest.FlinkJobRunning, "")
	for range 6 {
		f.tick()
	}
	thread := f.slack.Thread(testChannel, posts[0].TS)
	if len(thread) != 1 || !strings.Contains(thread[0].Text, "stream_00* recovered") {
		t.Fatalf("digest thread = %+v, want one recovery reply for stream_00", thread)
	}
	if m, _ := f.slack.Message(testChannel, posts[0].TS); m.Edits != 0 {
		t.Errorf("digest edited %d times, want 0", m.Edits)
	}
	res := f.events()[events.TypeIncidentResolved]
	if len(res) != 1 || res[0].Slack == nil || res[0].Slack.TS != posts[0].TS {
		t.Fatalf("resolved events %+v, want one pointing at the digest", res)
	}
	if n := len(f.posts()); n != 1 {
		t.Errorf("root messages = %d after the recovery, want still 1", n)
	}
}

func TestDigestMinDecidesAndZeroTurnsItOff(t *testing.T) {
	for _, tc := range []struct {
		name      string
		min, jobs int
		wantRoots int
	}{
		{"below the minimum: one alert each", 4, 3, 3},
		{"at the minimum: one digest", 4, 4, 1},
		{"off: one alert each", 0, 6, 6},
		{"minimum 2", 2, 2, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) { c.DigestMin = tc.min })
			ids := f.runningFlinks("job", tc.jobs)
			f.poll(nil)
			for _, id := range ids {
				f.setFlink(id, dlitest.FlinkJobSubmitFail, "")
			}
			f.tick()
			f.tick()
			f.wantCounts(tc.wantRoots, tc.jobs)
			f.wantEachOnce(ids)
		})
	}
}

// A digest of many stays inside Slack's limits: DigestMax jobs named, the
// rest counted, and the Slack fake (which checks Block Kit limits like Slack)
// accepts it.
func TestDigestIsBounded(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.DigestMax = 30 })
	long := strings.Repeat("x", 50)
	var ids []int64
	for i := range 120 {
		ids = append(ids, f.flink(fmt.Sprintf("%s_%03d", long, i), dlitest.FlinkJobRunning))
	}
	f.poll(nil)
	for _, id := range ids {
		f.setFlink(id, dlitest.FlinkJobRunningException, strings.Repeat("java.lang.IllegalStateException <boom> & ", 40))
	}
	f.tick()
	f.wantCounts(1, 120)
	calls := f.slack.CallsTo("chat.postMessage")
	if len(calls) != 1 || !calls[0].OK() {
		t.Fatalf("postMessage calls %+v, want one accepted digest", calls)
	}
	var blocks []struct {
		Type string `json:"type"`
		Text *struct {
			Text string `json:"text"`
		} `json:"text"`
	}
	if err := json.Unmarshal(calls[0].Blocks, &blocks); err != nil {
		t.Fatal(err)
	}
	if len(blocks) > 50 {
		t.Errorf("%d blocks, Slack allows 50", len(blocks))
	}
	all := ""
	for _, b := range blocks {
		if b.Text != nil {
			if n := blockkit.Len(b.Text.Text); n > blockkit.MaxSectionText {
				t.Errorf("a %s block has %d characters, Slack allows %d", b.Type, n, blockkit.MaxSectionText)
			}
			all += b.Text.Text + "\n"
		}
	}
	named := 0
	for _, id := range ids {
		if strings.Contains(all, fmt.Sprintf("(%d)", id)) {
			named++
		}
	}
	if named != 30 || !strings.Contains(all, "… and 90 more") {
		t.Errorf("named %d jobs (want 30) and the rest counted (want \"… and 90 more\"):\n%s", named, all)
	}
	if len(calls[0].Blocks) > 16000 {
		t.Errorf("digest blocks are %d bytes; want a bounded message", len(calls[0].Blocks))
	}
}

// Crashes inside the digest protocol neither drop nor double a job.
func TestDigestCrashes(t *testing.T) {
	for _, tc := range []struct {
		name, at string
		// posts: root messages once the restarted replica polled before
		// the lease expired, and after it.
		beforeLease, after int
	}{
		// Members claimed, record written, nothing posted: after the lease
		// another replica posts them, once.
		{"before the post", "#digest", 0, 1},
		// Posted and committed, members not updated yet: adopted, never
		// posted again.
		{"after the commit", "#posted", 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			ids := f.runningFlinks("job", 5)
			f.poll(nil)
			for _, id := range ids {
				f.setFlink(id, dlitest.FlinkJobRunningException, "")
			}
			f.emu.Advance(f.cfg.Interval)
			f.w.afterClaim = func(key string) error {
				if strings.HasSuffix(key, tc.at) {
					return errCrash
				}
				return nil
			}
			if _, err := f.w.Poll(context.Background()); !errors.Is(err, errCrash) {
				t.Fatalf("poll err %v, want the crash", err)
			}
			restarted := f.replica()
			f.emu.Advance(f.cfg.Interval)
			f.poll(restarted)
			if n := len(f.posts()); n != tc.beforeLease {
				t.Fatalf("root messages = %d before the lease expired, want %d", n, tc.beforeLease)
			}
			for range 6 { // past PostLease (2m)
				f.emu.Advance(f.cfg.Interval)
				f.poll(restarted)
			}
			f.wantCounts(tc.after, 5)
			f.wantEachOnce(ids)
			// Every incident knows its message: recoveries reply in it.
			for _, id := range ids {
				f.setFlink(id, dlitest.FlinkJobRunning, "")
			}
			for range 6 {
				f.emu.Advance(f.cfg.Interval)
				f.poll(restarted)
			}
			root := f.posts()[0]
			if n := len(f.slack.Thread(testChannel, root.TS)); n != 5 {
				t.Errorf("recovery replies in the digest thread = %d, want 5", n)
			}
			if n := len(f.events()[events.TypeIncidentResolved]); n != 5 {
				t.Errorf("resolved events = %d, want 5", n)
			}
		})
	}
}

// A redelivered tick after a digest posts nothing again; a digest Slack
// refused with 429 is posted once Retry-After has passed, with every job.
func TestDigestRedeliveryAndSlack429(t *testing.T) {
	f := newFixture(t, nil)
	ids := f.runningFlinks("job", 5)
	f.poll(nil)
	f.slack.Fail("chat.postMessage", 1, slacktest.RateLimited(40*time.Second))
	for _, id := range ids {
		f.setFlink(id, dlitest.FlinkJobRunningException, "")
	}
	f.emu.Advance(f.cfg.Interval)
	tick := tickEvent(t, f.emu.Clock().Now().Truncate(f.cfg.Interval))
	if out := f.deliver(nil, tick, 1); out.Kind() != events.KindRetry || out.After() < 40*time.Second {
		t.Fatalf("outcome %v, want retry after Slack's 40s", out)
	}
	if n := len(f.posts()); n != 0 {
		t.Fatalf("posted %d while Slack said 429", n)
	}
	// Redelivered inside Retry-After: nothing yet.
	f.emu.Advance(20 * time.Second)
	if out := f.deliver(nil, tick, 2); out.Kind() != events.KindAck {
		t.Fatalf("redelivery outcome %v", out)
	}
	if n := len(f.posts()); n != 0 {
		t.Fatalf("posted %d before Retry-After passed", n)
	}
	// After it: one digest with all five.
	f.emu.Advance(25 * time.Second)
	if out := f.deliver(nil, tick, 3); out.Kind() != events.KindAck {
		t.Fatalf("redelivery outcome %v", out)
	}
	// Redelivered again, and two more ticks: nothing more.
	f.deliver(nil, tick, 4)
	f.tick()
	f.tick()
	f.wantCounts(1, 5)
	f.wantEachOnce(ids)
	if n := len(f.slack.CallsTo("chat.postMessage")); n != 2 {
		t.Errorf("postMessage calls = %d, want 2 (the 429 and the digest)", n)
	}
}

// Three replicas polling at once: every job in exactly one root message
// (replicas may split the burst into more than one digest, never double a
// job), and one event per job.
func TestDigestThreeReplicas(t *testing.T) {
	f := newFixture(t, nil)
	replicas := []*Watcher{f.w, f.replica(), f.replica()}
	ids := f.runningFlinks("job", 9)
	f.round(replicas)
	for _, id := range ids {
		f.setFlink(id, dlitest.FlinkJobRunningException, "")
	}
	for range 3 {
		f.round(replicas)
	}
	f.wantEachOnce(ids)
	if n := len(f.events()[events.TypeIncidentOpened]); n != 9 {
		t.Errorf("incident.opened = %d, want 9", n)
	}
	if n := len(f.posts()); n > 3 {
		t.Errorf("root messages = %d for 9 jobs, want at most one digest per replica", n)
	}
}

// listOrder records, for every DLI listing, the kind and whether it was a
// full Flink listing, and how many Slack root messages existed then.
type listOrder struct {
	DLI
	f   *fixture
	mu  sync.Mutex
	log []string // "<listing> posts=<root messages posted by then>"
}

func (l *listOrder) note(s string) {
	l.mu.Lock()
	l.log = append(l.log, fmt.Sprintf("%s posts=%d", s, len(l.f.posts())))
	l.mu.Unlock()
}

func (l *listOrder) FlinkJobs(ctx context.Context, q dli.FlinkJobQuery) iter.Seq2[dli.FlinkJob, error] {
	if q.Status == "" {
		l.note("flink")
	} else {
		l.note("flink " + string(q.Status))
	}
	return l.DLI.FlinkJobs(ctx, q)
}

func (l *listOrder) Batches(ctx context.Context, q dli.BatchQuery) iter.Seq2[dli.SparkBatch, error] {
	l.note(fmt.Sprintf("spark start=%v", !q.Start.IsZero()))
	return l.DLI.Batches(ctx, q)
}

// A poll finds new failures first (failed Flink jobs by status, Spark and
// SQL since their cursors), posts them, and only then lists every Flink job;
// Spark batches are listed from the oldest active one on, not all of them.
func TestPollFindsAndPostsFailuresBeforeTheFullListing(t *testing.T) {
	f := newFixture(t, nil)
	lo := &listOrder{DLI: f.dli, f: f}
	f.w.dli = lo
	running := f.runningFlinks("stream", 3)
	old := make([]dlitest.BatchSpec, 250)
	for i := range old {
		old[i] = dlitest.BatchSpec{Name: fmt.Sprintf("old_%03d", i), State: dlitest.BatchSuccess, CreatedAt: t0.Add(-3 * time.Hour)}
	}
	if _, err := f.emu.AddBatches(old); err != nil {
		t.Fatal(err)
	}
	long, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "long_running", State: dlitest.BatchRunning, CreatedAt: t0.Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	f.poll(nil) // baseline: everything, quietly
	f.tick()
	lo.mu.Lock()
	lo.log = nil
	lo.mu.Unlock()
	f.emu.ClearRequests()

	f.setFlink(running[0], dlitest.FlinkJobRunningException, "")
	if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "adhoc", State: dlitest.BatchDead}); err != nil {
		t.Fatal(err)
	}
	f.tick()
	f.wantCounts(2, 2)
	lo.mu.Lock()
	log := strings.Join(lo.log, "\n")
	lo.mu.Unlock()
	want := []string{
		"flink job_arrearage_stopped posts=0", "flink job_cancel_fail posts=0", "flink job_running_exception posts=0",
		"flink job_submit_fail posts=0", "spark start=true posts=0", "flink posts=2",
	}
	if got := strings.Split(log, "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("listings in this order:\n%s\nwant:\n%s", log, strings.Join(want, "\n"))
	}
	// 250 old batches are not listed again: one Spark page (the running
	// batch and the new one), not three.
	spark := 0
	for _, r := range f.emu.Requests() {
		if strings.HasSuffix(r.Path, "/batches") {
			spark++
		}
	}
	if spark != 1 {
		t.Errorf("Spark list calls = %d, want 1", spark)
	}
	// The long-running batch, older than the cursor's minute, is still
	// watched: its death alerts.
	if err := f.emu.SetBatchState(long, dlitest.BatchDead); err != nil {
		t.Fatal(err)
	}
	f.tick()
	f.wantCounts(3, 3)
}

func TestGoldenDigest(t *testing.T) {
	w := goldenWatcher(t)
	now := time.Date(2026, 11, 26, 12, 5, 0, 0, time.UTC)
	var recs []*Incident
	a := goldenIncident()
	a.LogTail = nil
	b := goldenIncident()
	b.Key, b.JobKind, b.JobID, b.JobName, b.Status = "inc/flink/10231/1", KindFlink, "10231", "orders_stream", "job_running_exception"
	b.StatusDesc = "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy; caused by TaskManager lost"
	c := goldenIncident()
	c.Key, c.Kind, c.JobKind, c.JobID, c.JobName, c.Queue, c.Status = "inc/sql/5e6f-0002/2", IncidentFailed, KindSQL, "5e6f-0002", "INSERT INTO sales SELECT * FROM raw_sales", "default", "FAILED"
	c.StatusDesc, c.Late = "DLI.0005: Table raw_sales does not exist", true
	d := goldenIncident()
	d.Key, d.Kind, d.JobKind, d.JobID, d.JobName, d.Status = "inc/flink/10232/1", IncidentBilling, KindFlink, "10232", "billing_stream", "job_arrearage_stopped"
	recs = append(recs, a, b, c, d)
	msgs := map[string]notify.Message{
		"digest": w.digestMessage("msg/digest/1764158700000-0a1b2c3d4e5f", "", recs, now),
	}
	w.cfg.DigestMax = 2
	msgs["digest-more"] = w.digestMessage("msg/digest/1764158700000-0a1b2c3d4e5f", "", recs, now)
	checkMessages(t, msgs)
}

// The Spark cursor is a DLI creation time: when jobwatch's clock runs ahead
// of DLI's by more than the cursor's minute, a batch DLI created just after
// a listing must still be in the next one (its failure alerts).
func TestSparkCursorSurvivesClockSkew(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Kinds = []string{KindSpark} })
	f.w.now = func() time.Time { return f.emu.Clock().Now().Add(3 * time.Minute) }
	if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "nightly", State: dlitest.BatchSuccess, CreatedAt: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.poll(nil) // baseline
	f.tick()
	if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "adhoc", State: dlitest.BatchDead}); err != nil {
		t.Fatal(err)
	}
	f.tick()
	f.wantCounts(1, 1)
}

// A Spark batch in a state jobwatch does not know (not one that has ended)
// keeps the cursor at its start: when it is running again, its incident
// recovers, as with the full listing.
func TestSparkCursorHoldsBatchInUnknownState(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Kinds = []string{KindSpark} })
	odd, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "odd", State: dlitest.BatchRunning, CreatedAt: t0.Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	busy := &batchStateMap{DLI: f.dli, id: odd}
	f.w.dli = busy
	f.poll(nil) // baseline
	busy.set("busy")
	f.tick()
	f.wantCounts(1, 1)
	// Newer batches move the cursor on.
	for i := range 3 {
		if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: fmt.Sprintf("hourly_%d", i), State: dlitest.BatchSuccess}); err != nil {
			t.Fatal(err)
		}
		f.tick()
	}
	busy.set("")
	for range 6 {
		f.tick()
	}
	if got := len(f.events()[events.TypeIncidentResolved]); got != 1 {
		t.Errorf("incident.resolved events = %d, want 1 (the batch runs again)", got)
	}
}

// batchStateMap is a DLI wrapper that answers state for one Spark batch (a
// state the emulator does not know); "" answers the real one.
type batchStateMap struct {
	DLI
	id    string
	mu    sync.Mutex
	state string
}

func (b *batchStateMap) set(state string) { b.mu.Lock(); b.state = state; b.mu.Unlock() }

func (b *batchStateMap) Batches(ctx context.Context, q dli.BatchQuery) iter.Seq2[dli.SparkBatch, error] {
	return func(yield func(dli.SparkBatch, error) bool) {
		for j, err := range b.DLI.Batches(ctx, q) {
			b.mu.Lock()
			if j.ID == b.id && b.state != "" {
				j.State = dli.SparkState(b.state)
			}
			b.mu.Unlock()
			if !yield(j, err) {
				return
			}
		}
	}
}
