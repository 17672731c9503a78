package jobwatch

import (
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
)

// Each failure class gives exactly one Slack message and one incident.opened.
func TestFailureClassesAlertOnce(t *testing.T) {
	cases := []struct {
		name     string
		kind     string // incident kind wanted
		setup    func(f *fixture) func()
		tweak    func(*Config)
		wantText string
	}{
		{name: "flink running exception", kind: IncidentFailed, setup: func(f *fixture) func() {
			id := f.flink("orders_etl", dlitest.FlinkJobRunning)
			return func() { f.setFlink(id, dlitest.FlinkJobRunningException, "TaskManager lost") }
		}, wantText: "TaskManager lost"},
		{name: "flink submit fail", kind: IncidentFailed, setup: func(f *fixture) func() {
			return func() { f.flink("new_job", dlitest.FlinkJobSubmitFail) }
		}},
		{name: "flink cancel fail", kind: IncidentFailed, setup: func(f *fixture) func() {
			id := f.flink("sticky", dlitest.FlinkJobRunning)
			return func() { f.setFlink(id, dlitest.FlinkJobCancelFail, "") }
		}},
		{name: "flink arrears", kind: IncidentBilling, setup: func(f *fixture) func() {
			id := f.flink("billing_job", dlitest.FlinkJobRunning)
			return func() { f.setFlink(id, dlitest.FlinkJobArrearageStopped, "") }
		}, wantText: "arrears"},
		{name: "flink stopped without a stop request", kind: IncidentStopped, setup: func(f *fixture) func() {
			id := f.flink("stream", dlitest.FlinkJobRunning)
			return func() { f.setFlink(id, dlitest.FlinkJobFinish, "") }
		}},
		{name: "spark dead", kind: IncidentFailed, setup: func(f *fixture) func() {
			return func() {
				if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "nightly_load", State: dlitest.BatchDead,
					Log: []string{"INFO start", "ERROR java.lang.OutOfMemoryError: Java heap space", "password=hunter2"}}); err != nil {
					t.Fatal(err)
				}
			}
		}, wantText: "OutOfMemoryError"},
		{name: "sql failed", kind: IncidentFailed, setup: func(f *fixture) func() {
			return func() {
				if _, err := f.emu.AddSQLJobs(1, dlitest.SQLJobSpec{Statement: "INSERT INTO t SELECT * FROM s", Status: dlitest.SQLFailed,
					Message: "DLI.0005: table t not found", StartTime: f.emu.Clock().Now()}); err != nil {
					t.Fatal(err)
				}
			}
		}, wantText: "table t not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.tweak)
			act := tc.setup(f)
			f.poll(nil) // baseline
			f.wantCounts(0, 0)
			act()
			res := f.tick()
			if len(res.Opened) != 1 {
				t.Fatalf("opened %v, want one incident", res.Opened)
			}
			f.tick()
			f.tick()
			f.wantCounts(1, 1)
			ev := f.events()[events.TypeIncidentOpened][0]
			if ev.Kind != tc.kind {
				t.Errorf("incident kind %q, want %q", ev.Kind, tc.kind)
			}
			msg := f.posts()[0]
			if tc.wantText != "" && !strings.Contains(string(msg.Blocks), tc.wantText) {
				t.Errorf("message lacks %q: %s", tc.wantText, msg.Blocks)
			}
			if strings.Contains(string(msg.Blocks), "hunter2") {
				t.Errorf("secret from the log reached Slack: %s", msg.Blocks)
			}
			if ev.Slack != nil {
				t.Errorf("opened event carries a Slack ref before posting")
			}
		})
	}
}

func TestUnknownStatusReportedOnce(t *testing.T) {
	f := newFixture(t, nil)
	f.w.dli = &statusMap{DLI: f.dli, m: map[string]string{dlitest.FlinkJobIdle: "job_mystery"}}
	id := f.flink("odd", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(id, dlitest.FlinkJobIdle, "")
	f.tick()
	f.tick()
	f.wantCounts(1, 1)
	if k := f.events()[events.TypeIncidentOpened][0].Kind; k != IncidentUnknown {
		t.Errorf("kind %q, want unknown", k)
	}
}

func TestUserStopIsNotAnIncident(t *testing.T) {
	f := newFixture(t, nil)
	id := f.flink("stream", dlitest.FlinkJobRunning)
	f.poll(nil)
	f.setFlink(id, dlitest.FlinkJobCanceling, "")
	f.tick()
	f.setFlink(id, dlitest.FlinkJobCancelSuccess, "")
	f.tick()
	f.wantCounts(0, 0)
}

func TestStuckInTransitionalState(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Stuck = map[string]time.Duration{"job_savepointing": 3 * time.Minute} })
	f.poll(nil)
	f.flink("submitting", dlitest.FlinkJobSubmitting)
	sp := f.flink("savepointing", dlitest.FlinkJobRunning)
	f.tick()
	f.setFlink(sp, dlitest.FlinkJobSavepointing, "")
	for range 9 * 2 { // 9 minutes
		f.tick()
	}
	// savepointing passed its 3m override; submitting (10m) not yet.
	f.wantCounts(1, 1)
	for range 4 {
		f.tick()
	}
	f.wantCounts(2, 2)
	for _, ev := range f.events()[events.TypeIncidentOpened] {
		if ev.Kind != IncidentStuck {
			t.Errorf("kind %q, want stuck", ev.Kind)
		}
	}
}

func TestFlapping10TimesIn5MinutesIsOneIncident(t *testing.T) {
	f := newFixture(t, nil)
	id := f.flink("flappy", dlitest.FlinkJobRunning)
	f.poll(nil)
	for range 10 {
		f.setFlink(id, dlitest.FlinkJobRunningException, "checkpoint timeout")
		f.emu.Advance(15 * time.Second)
		f.poll(nil)
		f.setFlink(id, dlitest.FlinkJobRunning, "")
		f.emu.Advance(15 * time.Second)
		f.poll(nil)
	}
	f.wantCounts(1, 1)
	evs := f.events()
	if n := len(evs[events.TypeIncidentUpdated]); n != 1 {
		t.Errorf("incident.updated = %d, want 1 (became flapping)", n)
	}
	if n := len(evs[events.TypeIncidentResolved]); n != 0 {
		t.Errorf("resolved while flapping: %d", n)
	}
	root := f.posts()[0]
	if !strings.Contains(string(root.Blocks), "flapping") {
		t.Errorf("root not edited to flapping: %s", root.Blocks)
	}
	// Stable for ResolveAfter: one resolution.
	for range 5 {
		f.tick()
	}
	if n := len(f.events()[events.TypeIncidentResolved]); n != 1 {
		t.Errorf("resolved = %d, want 1", n)
	}
}

func TestSlowRunAgainstOwnHistory(t *testing.T) {
	f := newFixture(t, nil)
	f.poll(nil)
	for range 5 {
		if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "hourly_agg"}); err != nil {
			t.Fatal(err)
		}
		f.poll(nil)
		f.emu.Advance(20 * time.Second)
		f.poll(nil)
		f.emu.Advance(60 * time.Second)
		f.poll(nil)
	}
	if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "hourly_agg", State: dlitest.BatchRunning, CreatedAt: f.emu.Clock().Now()}); err != nil {
		t.Fatal(err)
	}
	for range 8 { // 4 minutes: below SlowMin (5m)
		f.tick()
	}
	f.wantCounts(0, 0)
	for range 4 {
		f.tick()
	}
	f.wantCounts(1, 1)
	if k := f.events()[events.TypeIncidentOpened][0].Kind; k != IncidentSlow {
		t.Errorf("kind %q, want slow", k)
	}
}
