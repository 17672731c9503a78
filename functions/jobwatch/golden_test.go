package jobwatch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/internal/golden"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

func goldenWatcher(t *testing.T) *Watcher {
	cfg := DefaultConfig()
	cfg.Region = "ap-southeast-1"
	return &Watcher{cfg: cfg}
}

func goldenIncident() *Incident {
	failed := time.Date(2026, 11, 26, 12, 4, 2, 0, time.UTC)
	ref := notify.Ref{Channel: "C0ALERTS", TS: "1764158642.000100"}
	return &Incident{Key: "inc/spark/0a1b2c3d-0001/1", Kind: IncidentFailed, JobKind: KindSpark, JobID: "0a1b2c3d-0001",
		JobName: "nightly_orders", Queue: "etl", Owner: "etl_user", Status: "dead", StatusDesc: "",
		Started: failed.Add(-42 * time.Minute), FailedAt: failed, Detected: failed.Add(20 * time.Second), State: StateOpen,
		LogTail: []string{
			"26/11/26 12:03:58 INFO DAGScheduler: ResultStage 4 (save at Load.scala:88) failed",
			"26/11/26 12:04:01 ERROR Executor: Exception in task 3.0 in stage 4.0: java.lang.OutOfMemoryError: Java heap space",
			"26/11/26 12:04:02 ERROR ApplicationMaster: User class threw exception: <org.apache.spark.SparkException> & more",
		}, Failures: 1, Ref: &ref, PostedAt: failed.Add(21 * time.Second)}
}

func TestGoldenMessages(t *testing.T) {
	w := goldenWatcher(t)
	now := time.Date(2026, 11, 26, 16, 5, 0, 0, time.UTC)
	resolved := goldenIncident()
	resolved.Recovered = resolved.FailedAt.Add(17*time.Minute + 30*time.Second)
	resolved.RecoveryNote = "healthy again since 2026-11-26 12:21:32 UTC"
	late := goldenIncident()
	late.Kind, late.JobKind, late.JobID, late.JobName, late.Status, late.LogTail = IncidentFailed, KindFlink, "10231", "orders_stream", "job_running_exception", nil
	late.Key, late.Late = "inc/flink/10231/3", true
	late.StatusDesc = "org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy"
	summary := &Incident{Key: "msg/summary", Kind: "summary", Detected: now, SummaryCount: 3, Summary: []summaryItem{
		{Kind: KindFlink, ID: "10231", Name: "orders_stream", Queue: "etl", Status: "job_running_exception"},
		{Kind: KindSpark, ID: "0a1b2c3d-0001", Name: "nightly_orders", Queue: "etl", Status: "dead"},
		{Kind: KindSQL, ID: "5e6f-0002", Name: "INSERT INTO sales SELECT * FROM raw_sales", Queue: "default", Status: "FAILED"},
	}}
	self := &Incident{Key: "msg/selfwatch/1764158400", Kind: "selfwatch", FailedAt: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC),
		Detected: time.Date(2026, 11, 26, 12, 5, 0, 0, time.UTC), Detail: "flink: dli: ListFlinkJobs: HTTP 500 DLI.0999: internal error"}
	selfResolved := *self
	selfResolved.Recovered = time.Date(2026, 11, 26, 12, 10, 30, 0, time.UTC)
	msgs := map[string]notify.Message{
		"alert":              w.rootMessage(goldenIncident(), now),
		"alert-late":         w.rootMessage(late, now),
		"resolved-edit":      w.resolvedMessage(resolved),
		"resolved-reply":     w.recoveryReply(resolved),
		"reminder":           w.reminderReply(goldenIncident(), now),
		"summary":            w.summaryMessage(summary),
		"selfwatch":          w.selfwatchMessage(self),
		"selfwatch-resolved": w.resolvedMessage(&selfResolved),
	}
	checkMessages(t, msgs)
}

// checkMessages checks each message is valid Block Kit and matches
// testdata/<name>.golden.json (text and blocks as Slack gets them).
func checkMessages(t *testing.T, msgs map[string]notify.Message) {
	t.Helper()
	for name, m := range msgs {
		t.Run(name, func(t *testing.T) {
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(struct {
				Text   string `json:"text"`
				Blocks any    `json:"blocks,omitempty"`
			}{m.Text, blockkit.Fit(m.Blocks)}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, name+".golden.json", append(got, '\n'))
		})
	}
}

// The golden messages are accepted by the Slack fake (which checks Block Kit
// limits like Slack does).
func TestGoldenMessagesAcceptedBySlackFake(t *testing.T) {
	w := goldenWatcher(t)
	sl := slacktest.Start(t)
	n, err := notify.NewSlack(notify.Config{Token: sl.Token(), APIURL: sl.URL(), Channel: testChannel}, notify.WithChannelInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	inc := goldenIncident()
	inc.StatusDesc = strings.Repeat("Caused by: java.io.IOException <x> ", 200) // oversized: Fit must cut it
	inc.LogTail = strings.Split(strings.Repeat("ERROR a long log line\n", 300), "\n")
	if _, err := n.Post(t.Context(), w.rootMessage(inc, time.Now())); err != nil {
		t.Fatal(err)
	}
}
