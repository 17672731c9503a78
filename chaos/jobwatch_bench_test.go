package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

// BenchmarkServeJobwatch25k measures a `dlibot serve jobwatch` process
// (one replica, JOBWATCH_INTERVAL=30s, the default) while the emulator
// holds 25,000 jobs — 10,000 running Flink jobs, 10,000 finished Spark
// batches, 5,000 finished SQL jobs, as functions/jobwatch's in-process
// BenchmarkPoll25k — with the default DLI_QPS=10 and with the limit lifted
// (1000). Each iteration is three poll intervals, in each of which 15 jobs
// fail (5 of each kind) at random instants. Reported:
//
//   - peak-RSS-MiB: the process's VmHWM, which includes the first, full
//     listing of all 25,000 jobs (first-poll-ms);
//   - ms/poll: the mean tick duration (dlibot_handler_duration_seconds:
//     listing, classifying and delivering the alerts — Slack posts are
//     paced at one per second per channel);
//   - dli-ms/poll: the DLI calls' summed duration per poll
//     (dlibot_dli_call_duration_seconds, rate-limit waits included);
//   - dli-calls/poll: log-tail calls included;
//   - detect-p50-s, detect-p99-s: failure → its Slack alert seen by the
//     fake (100 ms resolution); duplicates: alerts posted more than once.
//
// Run it with:
//
//	go test -run '^$' -bench ServeJobwatch25k -benchtime 1x -count 3 -timeout 30m ./chaos
func BenchmarkServeJobwatch25k(b *testing.B) {
	for _, qps := range []string{"10", "1000"} {
		b.Run("DLI_QPS="+qps, func(b *testing.B) { benchJobwatch25k(b, qps) })
	}
}

// jobwatchIntervalsPerOp is how many poll intervals one benchmark
// iteration covers: the benchmark is run with -benchtime 1x (the testing
// package runs every benchmark once with b.N = 1 before any larger N, and
// here one iteration costs a whole cluster start and a 25,000-job first
// poll).
const jobwatchIntervalsPerOp = 3

func benchJobwatch25k(b *testing.B, qps string) {
	const interval = 30 * time.Second
	bin, _ := benchBinary(b, "jobwatch")
	var flinkIDs []int64
	c := Start(b, Options{Binary: bin, Replicas: 1, Functions: []string{"jobwatch"},
		Env: []string{"JOBWATCH_INTERVAL=" + interval.String(), "DLI_QPS=" + qps},
		Seed: func(e *dlitest.Emulator) error {
			if err := e.AddQueue(dlitest.QueueSpec{Name: "default", CUCount: 16}); err != nil {
				return err
			}
			now := e.Clock().Now()
			fs := make([]dlitest.FlinkJobSpec, 10000)
			for i := range fs {
				fs[i] = dlitest.FlinkJobSpec{Name: fmt.Sprintf("stream_%05d_", i), Status: dlitest.FlinkJobRunning, CreatedAt: now.Add(-time.Hour)}
			}
			var err error
			if flinkIDs, err = e.AddFlinkJobs(fs); err != nil {
				return err
			}
			bs := make([]dlitest.BatchSpec, 10000)
			for i := range bs {
				bs[i] = dlitest.BatchSpec{Name: fmt.Sprintf("batch_%04d_", i%2000), State: dlitest.BatchSuccess, CreatedAt: now.Add(-2 * time.Hour)}
			}
			if _, err := e.AddBatches(bs); err != nil {
				return err
			}
			_, err = e.AddSQLJobs(5000, dlitest.SQLJobSpec{Statement: "INSERT INTO sales SELECT * FROM raw", Status: dlitest.SQLFinished,
				StartTime: now.Add(-5 * time.Hour), Spacing: 3 * time.Second})
			return err
		}})
	e := c.Emulator
	polls := func() (n, secs, dliSecs float64) {
		n = sumMetric(b, c, "dlibot_handler_duration_seconds_count", `function="jobwatch"`)
		secs = sumMetric(b, c, "dlibot_handler_duration_seconds_sum", `function="jobwatch"`)
		dliSecs = sumMetric(b, c, "dlibot_dli_call_duration_seconds_sum")
		return n, secs, dliSecs
	}
	// The first poll lists everything (quiet start: no alerts).
	if err := Eventually(3*time.Minute, func() error {
		if n, _, _ := polls(); n < 1 {
			return fmt.Errorf("the first poll of 25,000 jobs has not finished within 3 minutes")
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	n0, s0, d0 := polls()
	firstPoll := time.Duration(s0 / n0 * float64(time.Second))
	e.ClearRequests()

	var mu sync.Mutex
	changed := map[string]time.Time{} // alert text to look for → when the job failed
	rng := rand.New(rand.NewPCG(1, 2))
	next := 0
	// Watch the Slack fake from the start, noting when each alert is first
	// seen (every 100 ms).
	seen := map[string]time.Time{}
	stopScan, scanDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(scanDone)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			now := time.Now()
			calls := c.Slack.CallsTo("chat.postMessage")
			mu.Lock()
			for _, call := range calls {
				if !call.OK() || call.ThreadTS != "" {
					continue
				}
				text := call.Text + string(call.Blocks)
				for key := range changed {
					if _, ok := seen[key]; !ok && strings.Contains(text, key) {
						seen[key] = now
					}
				}
			}
			mu.Unlock()
			select {
			case <-stopScan:
				return
			case <-tick.C:
			}
		}
	}()
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range b.N * jobwatchIntervalsPerOp {
		for k := range 15 {
			at := time.Duration(rng.Int64N(int64(interval)))
			id := i*15 + k
			kind := k % 3
			var fid int64
			if kind == 0 {
				fid = flinkIDs[next]
				next++
			}
			wg.Add(1)
			time.AfterFunc(at, func() {
				defer wg.Done()
				var key string
				var err error
				switch kind {
				case 0:
					err = e.SetFlinkJobStatus(fid, dlitest.FlinkJobRunningException, "TaskManager lost")
					key = fmt.Sprintf("(%d)", fid)
				case 1:
					key = fmt.Sprintf("adhoc_%05d_", id)
					_, err = e.AddBatch(dlitest.BatchSpec{Name: key, State: dlitest.BatchDead, Log: []string{"ERROR boom"}})
				case 2:
					var ids []string
					ids, err = e.AddSQLJobs(1, dlitest.SQLJobSpec{Statement: fmt.Sprintf("INSERT INTO t SELECT %d", id), Status: dlitest.SQLFailed})
					if err == nil {
						key = ids[0]
					}
				}
				if err != nil {
					b.Error(err)
					return
				}
				mu.Lock()
				changed[key] = time.Now()
				mu.Unlock()
			})
		}
		// The load itself: one poll interval of failures.
		time.Sleep(interval)
	}
	wg.Wait()
	// Wait for every alert.
	_ = Eventually(3*interval, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) < len(changed) {
			return fmt.Errorf("%d/%d alerted", len(seen), len(changed))
		}
		return nil
	})
	close(stopScan)
	<-scanDone
	took := time.Since(start)
	b.StopTimer()
	if len(seen) < len(changed) {
		b.Errorf("%d/%d failures alerted within %s of the last", len(seen), len(changed), 3*interval)
	}
	n1, s1, d1 := polls()
	calls := len(e.Requests())
	lat := make([]time.Duration, 0, len(seen))
	for k, at := range seen {
		lat = append(lat, at.Sub(changed[k]))
	}
	dups := 0
	for _, n := range alertPosts(c, keysOf(changed)) {
		dups += max(0, n-1)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		pct := func(p float64) float64 { return lat[int(p*float64(len(lat)-1))].Seconds() }
		b.ReportMetric(pct(0.50), "detect-p50-s")
		b.ReportMetric(pct(0.99), "detect-p99-s")
	}
	if dn := n1 - n0; dn > 0 {
		b.ReportMetric((s1-s0)/dn*1000, "ms/poll")
		b.ReportMetric((d1-d0)/dn*1000, "dli-ms/poll")
		b.ReportMetric(float64(calls)/dn, "dli-calls/poll")
	}
	b.ReportMetric(float64(firstPoll.Milliseconds()), "first-poll-ms")
	b.ReportMetric(float64(c.Replicas[0].PeakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(dups), "duplicates")
	b.Logf("%d polls in %s, %d DLI calls, %d failures alerted", int(n1-n0), took.Round(time.Second), calls, len(seen))
	reportLatencyParts(b, c.Replicas[0].Output, changed, seen)
}

// pollSpan is one poll as the "jobwatch poll" log line tells it.
type pollSpan struct {
	start, delivering, end time.Time
	list, detect, deliver  time.Duration
	posts                  int
}

// jobwatchPolls reads the polls that listed DLI from a replica's log.
func jobwatchPolls(out string) []pollSpan {
	var polls []pollSpan
	for _, line := range scanLines(out) {
		if !strings.Contains(line, `"msg":"jobwatch poll"`) {
			continue
		}
		var l struct {
			Time      time.Time `json:"time"`
			Listed    bool      `json:"listed"`
			Posts     int       `json:"posts"`
			ListMS    int64     `json:"list_ms"`
			DetectMS  int64     `json:"detect_ms"`
			DeliverMS int64     `json:"deliver_ms"`
			FirstMS   int64     `json:"first_deliver_ms"`
			TookMS    int64     `json:"took_ms"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || !l.Listed {
			continue
		}
		ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
		p := pollSpan{start: l.Time.Add(-ms(l.TookMS)), delivering: l.Time.Add(-ms(l.DeliverMS)), end: l.Time,
			list: ms(l.ListMS), detect: ms(l.DetectMS), deliver: ms(l.DeliverMS), posts: l.Posts}
		if l.FirstMS > 0 { // delivery began before the listing ended
			p.delivering = p.start.Add(ms(l.FirstMS))
		}
		polls = append(polls, p)
	}
	return polls
}

// reportLatencyParts splits each alert's detection latency into the wait
// for the poll that found it (failure → that poll's start), the poll's
// listing and detection (start → its first delivery begins) and the
// delivery (→ the alert seen by the Slack fake: KV steps and the channel's
// pacing), and reports the mean and the maximum of each part. A poll is
// read from jobwatch's "jobwatch poll" log line.
func reportLatencyParts(b *testing.B, out func() string, changed, seen map[string]time.Time) {
	polls := jobwatchPolls(out())
	var last time.Time
	for _, at := range seen {
		if at.After(last) {
			last = at
		}
	}
	// The poll that posted the last alert logs its line when it ends.
	_ = Eventually(time.Minute, func() error {
		if len(polls) == 0 || polls[len(polls)-1].end.Before(last) {
			polls = jobwatchPolls(out())
			return fmt.Errorf("the poll that posted the last alert has not logged yet")
		}
		return nil
	})
	if len(polls) == 0 {
		b.Logf("no \"jobwatch poll\" log lines: latency parts not reported")
		return
	}
	var wait, poll, deliver []time.Duration
	for k, at := range seen {
		i := -1
		for j, p := range polls {
			if !p.start.After(at) {
				i = j
			}
		}
		if i < 0 {
			continue
		}
		p := polls[i]
		wait = append(wait, p.start.Sub(changed[k]))
		poll = append(poll, p.delivering.Sub(p.start))
		deliver = append(deliver, at.Sub(p.delivering))
	}
	stat := func(name string, d []time.Duration) {
		if len(d) == 0 {
			return
		}
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		b.ReportMetric((sum / time.Duration(len(d))).Seconds(), name+"-mean-s")
		b.ReportMetric(slices.Max(d).Seconds(), name+"-max-s")
	}
	stat("wait", wait)
	stat("poll", poll)
	stat("deliver", deliver)
	var list, detect time.Duration
	posts := 0
	for _, p := range polls {
		list += p.list
		detect += p.detect
		posts += p.posts
	}
	n := time.Duration(len(polls))
	b.Logf("%d listing polls: mean list %s, detect %s; %d Slack writes", len(polls), (list / n).Round(time.Millisecond), (detect / n).Round(time.Millisecond), posts)
	for _, p := range polls {
		b.Logf("poll %s: list %s detect %s deliver %s (first at +%s) took %s, posts %d", p.start.Format("15:04:05.000"), p.list, p.detect,
			p.deliver, p.delivering.Sub(p.start).Round(time.Millisecond), p.end.Sub(p.start).Round(time.Millisecond), p.posts)
	}
}

func keysOf(m map[string]time.Time) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
