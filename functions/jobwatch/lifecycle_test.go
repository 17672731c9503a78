package jobwatch

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

func TestRecoveryRepliesInThreadAndEdits(t *testing.T) {
	f := newFixture(t, nil)
	id := f.flink("orders_etl", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(id, dlitest.FlinkJobRunningException, "boom")
	f.tick()
	f.wantCounts(1, 1)
	root := f.posts()[0]

	for range 6 { // 3 minutes, still failing
		f.tick()
	}
	f.setFlink(id, dlitest.FlinkJobRunning, "")
	f.tick() // healthy, but not for ResolveAfter yet
	if n := len(f.events()[events.TypeIncidentResolved]); n != 0 {
		t.Fatalf("resolved before ResolveAfter")
	}
	for range 4 {
		f.tick()
	}
	thread := f.slack.Thread(testChannel, root.TS)
	if len(thread) != 1 || !strings.Contains(thread[0].Text, "recovered after 3m 30s") {
		t.Fatalf("thread = %+v, want one recovery reply with the time to recover", thread)
	}
	edited, _ := f.slack.Message(testChannel, root.TS)
	if edited.Edits != 1 || !strings.Contains(edited.Text, "Resolved") {
		t.Errorf("original not edited to resolved: edits %d, text %q", edited.Edits, edited.Text)
	}
	res := f.events()[events.TypeIncidentResolved]
	if len(res) != 1 || res[0].TimeToRecoverS != 210 || res[0].Slack == nil {
		t.Fatalf("resolved events %+v", res)
	}
	for range 10 {
		f.tick()
	}
	if n := len(f.slack.Thread(testChannel, root.TS)); n != 1 {
		t.Errorf("thread replies = %d after more polls, want 1", n)
	}
	// A new failure is a new episode: a second incident.
	f.setFlink(id, dlitest.FlinkJobRunningException, "again")
	f.tick()
	f.wantCounts(2, 2)
	if k := f.events()[events.TypeIncidentOpened][1].Incident; !strings.HasSuffix(k, "/2") {
		t.Errorf("second incident key %q, want episode 2", k)
	}
}

func TestSparkRerunSucceedingResolves(t *testing.T) {
	f := newFixture(t, nil)
	f.poll(nil)
	if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "nightly", State: dlitest.BatchDead}); err != nil {
		t.Fatal(err)
	}
	f.tick()
	if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "nightly", State: dlitest.BatchSuccess}); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		f.tick()
	}
	f.wantCounts(1, 1)
	if n := len(f.events()[events.TypeIncidentResolved]); n != 1 {
		t.Errorf("resolved = %d, want 1", n)
	}
}

func TestThreeReplicasOneAlertPerIncident(t *testing.T) {
	// One message per incident (digests: TestDigestThreeReplicas).
	f := newFixture(t, func(c *Config) { c.DigestMin = 0 })
	replicas := []*Watcher{f.w, f.replica(), f.replica()}
	var ids []int64
	for i := range 5 {
		ids = append(ids, f.flink("job_"+string(rune('a'+i)), dlitest.FlinkJobRunning))
	}
	f.round(replicas)
	for _, id := range ids {
		f.setFlink(id, dlitest.FlinkJobRunningException, "")
	}
	for range 3 {
		f.round(replicas)
	}
	f.wantCounts(5, 5)
	for _, id := range ids {
		f.setFlink(id, dlitest.FlinkJobRunning, "")
	}
	for range 8 {
		f.round(replicas)
	}
	if n := len(f.events()[events.TypeIncidentResolved]); n != 5 {
		t.Errorf("resolved = %d, want 5", n)
	}
	replies := 0
	for _, m := range f.posts() {
		replies += len(f.slack.Thread(testChannel, m.TS))
	}
	if replies != 5 {
		t.Errorf("recovery replies = %d, want 5", replies)
	}
}

var errCrash = errors.New("simulated crash")

func TestCrashBetweenDetectionAndPosting(t *testing.T) {
	f := newFixture(t, nil)
	id := f.flink("orders", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	f.emu.Advance(f.cfg.Interval)
	f.w.afterClaim = func(key string) error {
		if strings.HasSuffix(key, "#post") {
			return nil
		}
		return errCrash
	}
	if _, err := f.w.Poll(context.Background()); !errors.Is(err, errCrash) {
		t.Fatalf("poll err %v, want the crash", err)
	}
	f.wantCounts(0, 0)
	restarted := f.replica()
	f.emu.Advance(f.cfg.Interval)
	f.poll(restarted)
	f.emu.Advance(f.cfg.Interval)
	f.poll(restarted)
	f.wantCounts(1, 1)
}

func TestCrashAfterPostingClaimWaitsForTheLease(t *testing.T) {
	f := newFixture(t, nil)
	id := f.flink("orders", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	f.emu.Advance(f.cfg.Interval)
	f.w.afterClaim = func(key string) error {
		if strings.HasSuffix(key, "#post") {
			return errCrash
		}
		return nil
	}
	if _, err := f.w.Poll(context.Background()); !errors.Is(err, errCrash) {
		t.Fatalf("poll err %v, want the crash", err)
	}
	restarted := f.replica()
	f.tick() // f.w still has the hook but is not used again
	f.poll(restarted)
	if n := len(f.posts()); n != 0 {
		t.Fatalf("posted %d while the crashed replica's lease holds", n)
	}
	for range 5 { // past PostLease (2m)
		f.emu.Advance(f.cfg.Interval)
		f.poll(restarted)
	}
	f.wantCounts(1, 1)
}

func TestQuietFirstStartSummarises50FailedJobs(t *testing.T) {
	f := newFixture(t, nil)
	for i := range 30 {
		f.flink("broken_"+itoa(i), dlitest.FlinkJobRunningException)
	}
	for i := range 10 {
		if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "dead_" + itoa(i), State: dlitest.BatchDead}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.emu.AddSQLJobs(10, dlitest.SQLJobSpec{Statement: "SELECT 1", Status: dlitest.SQLFailed, StartTime: t0.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.flink("healthy", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.tick()
	f.tick()
	f.wantCounts(1, 0)
	if !strings.Contains(f.posts()[0].Text, "50 jobs were already failing") {
		t.Errorf("summary text %q", f.posts()[0].Text)
	}
	// New failures alert normally afterwards.
	f.flink("fresh_failure", dlitest.FlinkJobSubmitFail)
	f.tick()
	f.wantCounts(2, 1)
}

func TestSlack429DelaysNotLoses(t *testing.T) {
	f := newFixture(t, nil)
	id := f.flink("orders", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.slack.Fail("chat.postMessage", 1, slacktest.RateLimited(40*time.Second))
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	res := f.tick()
	if res.SlackRetry < 40*time.Second || len(f.posts()) != 0 {
		t.Fatalf("after a 429: retry %v, posts %d", res.SlackRetry, len(f.posts()))
	}
	f.tick() // 30s later: still inside Retry-After
	if len(f.posts()) != 0 {
		t.Fatalf("posted before Retry-After passed")
	}
	f.tick()
	f.tick()
	f.wantCounts(1, 1)
	if n := len(f.slack.CallsTo("chat.postMessage")); n != 2 {
		t.Errorf("postMessage calls = %d, want 2 (one 429, one ok)", n)
	}
}

func TestDLIDown10MinutesSelfWatchOnceThenCatchUp(t *testing.T) {
	f := newFixture(t, nil)
	id := f.flink("orders", dlitest.FlinkJobRunning)
	f.poll(nil)
	if err := f.emu.AddFault(dlitest.Fault{Status: 500, ErrorCode: "DLI.0999", ErrorMsg: "internal error"}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // 10 minutes of 500s
		if i == 4 {
			f.setFlink(id, dlitest.FlinkJobRunningException, "failed while jobwatch was blind")
		}
		res := f.tick()
		if len(res.ListErrors) == 0 {
			t.Fatalf("tick %d: no listing error under a 500 fault", i)
		}
	}
	posts := f.posts()
	if len(posts) != 1 || !strings.Contains(posts[0].Text, "jobwatch cannot see DLI since") {
		t.Fatalf("posts during the outage: %+v", posts)
	}
	f.emu.ClearFaults()
	res := f.tick()
	if !res.Late {
		t.Errorf("catch-up poll not marked late")
	}
	f.tick()
	f.wantCounts(2, 1)
	sw := f.posts()[0]
	if th := f.slack.Thread(testChannel, sw.TS); len(th) != 1 || !strings.Contains(th[0].Text, "can see DLI again") {
		t.Errorf("self-watch thread %+v", th)
	}
	if m, _ := f.slack.Message(testChannel, sw.TS); m.Edits != 1 {
		t.Errorf("self-watch message edits = %d, want 1", m.Edits)
	}
	ev := f.events()[events.TypeIncidentOpened][0]
	if !ev.Late {
		t.Errorf("failure found after the outage not marked late")
	}
	if !strings.Contains(f.posts()[1].Text, "detected late") {
		t.Errorf("late alert text %q", f.posts()[1].Text)
	}
}

func TestThrottlingSlowsThePoll(t *testing.T) {
	f := newFixture(t, nil)
	f.poll(nil)
	if err := f.emu.AddFault(dlitest.Fault{Status: 429, ErrorCode: "APIGW.0308", ErrorMsg: "throttled", Count: 2}); err != nil {
		t.Fatal(err)
	}
	res := f.tick()
	if len(res.ListErrors) == 0 {
		t.Fatal("no throttling seen")
	}
	f.emu.ClearRequests()
	res = f.tick() // 30s later: the back-off (60s) holds the listing
	if res.Listed || len(f.emu.Requests()) != 0 {
		t.Fatalf("polled DLI during the back-off: listed %v, %d requests", res.Listed, len(f.emu.Requests()))
	}
	res = f.tick()
	if !res.Listed || len(res.ListErrors) != 0 {
		t.Fatalf("after the back-off: listed %v, errors %v", res.Listed, res.ListErrors)
	}
}

func TestRemindersEvery4hOrOff(t *testing.T) {
	for _, tc := range []struct {
		reminder time.Duration
		want     int
	}{{4 * time.Hour, 2}, {0, 0}} {
		f := newFixture(t, func(c *Config) { c.Reminder = tc.reminder })
		id := f.flink("orders", dlitest.FlinkJobRunning)
		f.poll(nil)
		f.setFlink(id, dlitest.FlinkJobRunningException, "")
		f.tick()
		f.emu.Advance(4 * time.Hour)
		f.poll(nil)
		f.tick()
		f.emu.Advance(4 * time.Hour)
		f.poll(nil)
		f.tick()
		root := f.posts()[0]
		if n := len(f.slack.Thread(testChannel, root.TS)); n != tc.want {
			t.Errorf("reminder %v: %d thread replies, want %d", tc.reminder, n, tc.want)
		}
	}
}

func TestRoutesAndMutes(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Routes = "queue=etl channel=C0ETL; mute name=tmp_*" })
	a, err := f.emu.AddFlinkJob(dlitest.FlinkJobSpec{Name: "etl_job", QueueName: "etl", Status: dlitest.FlinkJobRunning})
	if err != nil {
		t.Fatal(err)
	}
	b := f.flink("tmp_experiment", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(a, dlitest.FlinkJobRunningException, "")
	f.setFlink(b, dlitest.FlinkJobRunningException, "")
	f.tick()
	f.tick()
	if n := len(f.slack.Messages("C0ETL")); n != 1 {
		t.Errorf("C0ETL messages = %d, want 1", n)
	}
	f.wantCounts(0, 2)
	muted := 0
	for _, ev := range f.events()[events.TypeIncidentOpened] {
		if ev.Muted {
			muted++
		}
	}
	if muted != 1 {
		t.Errorf("muted events = %d, want 1", muted)
	}
}

func itoa(i int) string {
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}

func TestCatchUpAfterDowntimeReportsOnceMarkedLate(t *testing.T) {
	f := newFixture(t, nil)
	a := f.flink("recovers_while_down", dlitest.FlinkJobRunning)
	b := f.flink("fails_while_down", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(a, dlitest.FlinkJobRunningException, "")
	f.tick()
	f.wantCounts(1, 1)
	// jobwatch is down for an hour.
	f.emu.Advance(20 * time.Minute)
	f.setFlink(a, dlitest.FlinkJobRunning, "")
	f.setFlink(b, dlitest.FlinkJobRunningException, "")
	f.emu.Advance(40 * time.Minute)
	res := f.poll(f.replica())
	if !res.Late {
		t.Fatal("catch-up poll not late")
	}
	for range 6 {
		f.tick()
	}
	f.wantCounts(2, 2)
	evs := f.events()
	if !evs[events.TypeIncidentOpened][1].Late {
		t.Error("failure while down not marked late")
	}
	if len(evs[events.TypeIncidentResolved]) != 1 {
		t.Fatalf("resolved %d, want 1", len(evs[events.TypeIncidentResolved]))
	}
	th := f.slack.Thread(testChannel, f.posts()[0].TS)
	if len(th) != 1 || !strings.Contains(th[0].Text, "Detected late") {
		t.Errorf("late recovery reply %+v", th)
	}
}

func TestDeletedAlertMessageDoesNotBlockResolution(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ResolveAfter = 0 })
	id := f.flink("orders", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	f.tick()
	f.slack.Fail("chat.postMessage", 1, slacktest.SlackError("message_not_found"))
	f.slack.Fail("chat.update", 1, slacktest.SlackError("message_not_found"))
	f.setFlink(id, dlitest.FlinkJobRunning, "")
	res := f.tick()
	if res.SlackPermanent != nil {
		t.Errorf("a deleted message made the tick fail: %v", res.SlackPermanent)
	}
	if n := len(f.events()[events.TypeIncidentResolved]); n != 1 {
		t.Errorf("resolved = %d, want 1", n)
	}
}

// With the job states lost (shards deleted), a new failure still alerts: the
// old, resolved claim of episode 1 is skipped, not mistaken for this one.
func TestLostStateStillAlertsNewEpisode(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ResolveAfter = 0 })
	id := f.flink("orders", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	f.tick()
	f.setFlink(id, dlitest.FlinkJobRunning, "")
	f.tick()
	f.tick()
	if n := len(f.events()[events.TypeIncidentResolved]); n != 1 {
		t.Fatalf("resolved %d", n)
	}
	for n := range shards {
		_ = f.w.st.kv.Delete(context.Background(), shardKey(KindFlink, n))
	}
	f.tick() // the running job is seen anew
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	f.tick()
	f.wantCounts(2, 2)
	if k := f.events()[events.TypeIncidentOpened][1].Incident; !strings.HasSuffix(k, "/2") {
		t.Errorf("key %q, want episode 2", k)
	}
}

// hideFlink is a DLI whose Flink listing leaves out some jobs (deleted).
type hideFlink struct {
	DLI
	hide map[int64]bool
}

func (h *hideFlink) FlinkJobs(ctx context.Context, q dli.FlinkJobQuery) iter.Seq2[dli.FlinkJob, error] {
	return func(yield func(dli.FlinkJob, error) bool) {
		for j, err := range h.DLI.FlinkJobs(ctx, q) {
			if err == nil && h.hide[j.ID] {
				continue
			}
			if !yield(j, err) {
				return
			}
		}
	}
}

func TestDeletedFlinkJobResolvesItsIncident(t *testing.T) {
	f := newFixture(t, nil)
	h := &hideFlink{DLI: f.dli, hide: map[int64]bool{}}
	f.w.dli = h
	id := f.flink("doomed", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	f.tick()
	h.hide[id] = true
	f.tick()
	f.tick()
	res := f.events()[events.TypeIncidentResolved]
	if len(res) != 1 || !strings.Contains(res[0].Note, "no longer listed") {
		t.Fatalf("resolved events %+v", res)
	}
}

// One kind failing to list (say SQL permissions) does not make the other
// kinds' findings late.
func TestOneKindFailingDoesNotMarkOthersLate(t *testing.T) {
	f := newFixture(t, nil)
	id := f.flink("orders", dlitest.FlinkJobRunning)
	f.poll(nil)
	if err := f.emu.AddFault(dlitest.Fault{PathRegex: "^/v1.0/[^/]+/jobs$", Method: "GET", Status: 403, ErrorCode: "DLI.0013", ErrorMsg: "no permission"}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		f.tick()
	}
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	f.tick()
	evs := f.events()[events.TypeIncidentOpened]
	if len(evs) != 1 || evs[0].Late {
		t.Fatalf("opened %+v, want one timely incident", evs)
	}
}

// A failure right after a recovery was detected, but before it was
// delivered (Slack down), opens episode 2 and still delivers episode 1's
// recovery later.
func TestRecoveryDeliveredWhenANewEpisodeStartsFirst(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.ResolveAfter = 0 })
	id := f.flink("orders", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	f.tick()
	f.slack.Fail("chat.postMessage", 1, slacktest.HTTPError(503)) // the recovery reply fails
	f.setFlink(id, dlitest.FlinkJobRunning, "")
	f.tick()
	f.setFlink(id, dlitest.FlinkJobRunningException, "")
	f.tick()
	f.tick()
	f.wantCounts(2, 2)
	if n := len(f.events()[events.TypeIncidentResolved]); n != 1 {
		t.Errorf("episode 1 resolved events = %d, want 1", n)
	}
	if th := f.slack.Thread(testChannel, f.posts()[0].TS); len(th) != 1 {
		t.Errorf("episode 1 thread replies = %d, want 1", len(th))
	}
}
