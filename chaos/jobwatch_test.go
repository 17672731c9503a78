package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

// jobwatchEnv makes jobwatch poll as often as it allows (5 s).
var jobwatchEnv = []string{"JOBWATCH_INTERVAL=5s", "JOBWATCH_MAX_BACKOFF=10s"}

// flinkListPath is the DLI path jobwatch polls for Flink jobs.
func flinkListPath() string { return "/v1.0/" + PlantedProject + "/streaming/jobs" }

// fullFlinkListings counts the first pages of jobwatch's full Flink
// listings: one per poll (the status-filtered listings of the failed jobs
// at the start of a poll are not counted).
func fullFlinkListings(c *Cluster) int {
	n := 0
	for _, r := range c.Emulator.Requests() {
		if r.Method == "GET" && r.Path == flinkListPath() && r.Query.Get("status") == "" {
			if o := r.Query.Get("offset"); o == "" || o == "0" {
				n++
			}
		}
	}
	return n
}

// waitPolls waits until jobwatch has listed every Flink job n more times.
func waitPolls(t *testing.T, c *Cluster, n int, timeout time.Duration) {
	t.Helper()
	base := fullFlinkListings(c)
	if err := Eventually(timeout, func() error {
		if got := fullFlinkListings(c) - base; got < n {
			return fmt.Errorf("jobwatch listed Flink jobs %d/%d times in %s", got, n, timeout)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// alertPosts counts the successful top-level Slack posts naming each job.
func alertPosts(c *Cluster, names []string) map[string]int {
	got := map[string]int{}
	for _, call := range c.Slack.CallsTo("chat.postMessage") {
		if !call.OK() || call.ThreadTS != "" {
			continue
		}
		text := call.Text + string(call.Blocks)
		for _, n := range names {
			if strings.Contains(text, n) {
				got[n]++
			}
		}
	}
	return got
}

// addRunningFlinkJobs adds running Flink jobs named prefix-<i>.
func addRunningFlinkJobs(t *testing.T, c *Cluster, prefix string, n int) ([]int64, []string) {
	t.Helper()
	if _, ok := c.Emulator.Queue("default"); !ok {
		if err := c.Emulator.AddQueue(dlitest.QueueSpec{Name: "default", CUCount: 16}); err != nil {
			t.Fatal(err)
		}
	}
	var ids []int64
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		id, err := c.Emulator.AddFlinkJob(dlitest.FlinkJobSpec{Name: name, Status: "job_running"})
		if err != nil {
			t.Fatal(err)
		}
		ids, names = append(ids, id), append(names, name)
	}
	return ids, names
}

// checkOneAlertEach waits until every job has its alert, lets two more
// polls pass, and requires exactly one top-level alert per job.
func checkOneAlertEach(t *testing.T, c *Cluster, names []string, timeout time.Duration) string {
	t.Helper()
	start := time.Now()
	if err := Eventually(timeout, func() error {
		got := alertPosts(c, names)
		if len(got) < len(names) {
			return fmt.Errorf("alerts for %d/%d failed jobs after %s: %v", len(got), len(names), timeout, got)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	latency := time.Since(start)
	waitPolls(t, c, sizes(1, 3), 60*time.Second) // a doubled alert would come now
	got := alertPosts(c, names)
	for _, n := range names {
		if got[n] != 1 {
			t.Errorf("job %s: %d alerts, want exactly 1", n, got[n])
		}
	}
	return fmt.Sprintf("%d failed jobs → %d alerts (want %d, once each); all alerted %s after the failure",
		len(names), sum(got), len(names), latency.Round(100*time.Millisecond))
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// jobwatchFaults: jobs fail while DLI and Slack misbehave and a replica
// dies; each alerts once.
func jobwatchFaults(t *testing.T, c *Cluster) {
	scenario(t, "jobwatch/kill-9+faults", "Flink jobs fail while: kill -9 of a replica, DLI 500, 429+Retry-After, reset (×2 each; short form ×1) and 10 s latency (short form 3 s) on the job list, Slack 429+Retry-After (×2; short ×1) and 500×1 on chat.postMessage", func(t *testing.T) string {
		ids, names := addRunningFlinkJobs(t, c, "chaos-jw-a", 4)
		waitPolls(t, c, sizes(1, 2), 60*time.Second) // the running jobs are known
		for _, f := range []dlitest.Fault{
			{Method: "GET", PathRegex: "/streaming/jobs$", Status: 500, Count: sizes(1, 2)},
			{Method: "GET", PathRegex: "/streaming/jobs$", Status: 429, RetryAfterS: 1, Count: sizes(1, 2)},
			{Method: "GET", PathRegex: "/streaming/jobs$", Reset: true, Count: sizes(1, 2)},
			{Method: "GET", PathRegex: "/streaming/jobs$", LatencyMS: sizes(3000, 10000), Count: 1},
		} {
			if err := c.Emulator.AddFault(f); err != nil {
				t.Fatal(err)
			}
		}
		c.Slack.Fail("chat.postMessage", sizes(1, 2), slacktest.RateLimited(time.Second))
		c.Slack.Fail("chat.postMessage", 1, slacktest.HTTPError(500))
		for _, id := range ids {
			if err := c.Emulator.SetFlinkJobStatus(id, "job_running_exception", "chaos: injected failure"); err != nil {
				t.Fatal(err)
			}
		}
		victim := c.Replicas[1]
		victim.Kill()
		if err := victim.Start(); err != nil {
			t.Fatal(err)
		}
		detail := checkOneAlertEach(t, c, names, 120*time.Second)
		c.Emulator.ClearFaults()
		return detail
	})

}

// jobwatchOutage: a DLI outage across polls is visible, and jobs that
// failed during it alert once after it.
func jobwatchOutage(t *testing.T, c *Cluster) {
	scenario(t, "jobwatch/dli-outage", "DLI answers 503 to every call (long form: 3 more polls after the first failure is visible), then recovers; jobs fail during the outage", func(t *testing.T) string {
		before := sumMetric(t, c, "dlibot_dli_calls_total", `!outcome="ok"`)
		ids, names := addRunningFlinkJobs(t, c, "chaos-jw-b", 2)
		waitPolls(t, c, 2, 60*time.Second)
		if err := c.Emulator.AddFault(dlitest.Fault{Status: 503, ErrorCode: "DLI.0999", ErrorMsg: "chaos outage"}); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if err := c.Emulator.SetFlinkJobStatus(id, "job_running_exception", "chaos: failed during outage"); err != nil {
				t.Fatal(err)
			}
		}
		// Every failure is visible: a failed-call metric and a log line.
		var failed float64
		var logged int
		if err := Eventually(90*time.Second, func() error {
			failed = sumMetric(t, c, "dlibot_dli_calls_total", `!outcome="ok"`) - before
			logged = 0
			for _, r := range c.Replicas {
				logged += strings.Count(r.Output(), "jobwatch poll failed")
			}
			if failed < 1 || logged < 1 {
				return fmt.Errorf("during the outage: dlibot_dli_calls_total{outcome!=\"ok\"} +%.0f, %d \"jobwatch poll failed\" log lines; want both ≥ 1", failed, logged)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		waitPolls(t, c, sizes(1, 3), 90*time.Second) // the outage lasts a few more attempts
		c.Emulator.ClearFaults()
		detail := checkOneAlertEach(t, c, names, 120*time.Second)
		return fmt.Sprintf("outage visible: failed DLI calls +%.0f in metrics, %d \"poll failed\" log lines; after recovery: %s", failed, logged, detail)
	})
}
