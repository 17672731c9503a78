package jobwatch

import (
	"context"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

// BenchmarkPoll25k measures one steady-state poll of 10,000 Flink jobs,
// 10,000 Spark batches and 5,000 SQL jobs in the emulator, with 5 new
// failures of each kind per poll (changes at random instants within the
// interval). Reported: DLI calls per poll (and the budget: pages + failures),
// poll duration, detection latency p99 (emulator time from the change to the
// tick plus the poll's wall time until the post), heap in use, process RSS,
// root Slack messages per poll (the 15 failures share one digest), and
// duplicates (a job named in more than one root message) and missing alerts.
// Results: docs/benchmarks.md (jobwatch).
func BenchmarkPoll25k(b *testing.B) {
	f := newFixture(b, nil)
	ctx := context.Background()
	now := f.emu.Clock().Now()
	flinkSpecs := make([]dlitest.FlinkJobSpec, 10000)
	for i := range flinkSpecs {
		flinkSpecs[i] = dlitest.FlinkJobSpec{Name: "stream_" + strconv.Itoa(i), Status: dlitest.FlinkJobRunning, CreatedAt: now.Add(-time.Hour)}
	}
	flinkIDs, err := f.emu.AddFlinkJobs(flinkSpecs)
	if err != nil {
		b.Fatal(err)
	}
	batchSpecs := make([]dlitest.BatchSpec, 10000)
	for i := range batchSpecs {
		batchSpecs[i] = dlitest.BatchSpec{Name: "batch_" + strconv.Itoa(i%2000), State: dlitest.BatchSuccess, CreatedAt: now.Add(-2 * time.Hour)}
	}
	if _, err := f.emu.AddBatches(batchSpecs); err != nil {
		b.Fatal(err)
	}
	if _, err := f.emu.AddSQLJobs(5000, dlitest.SQLJobSpec{Statement: "INSERT INTO sales SELECT * FROM raw", Status: dlitest.SQLFinished,
		StartTime: now.Add(-5 * time.Hour), Spacing: 3 * time.Second}); err != nil {
		b.Fatal(err)
	}
	f.emu.ClearRequests()
	first := time.Now()
	res := f.poll(nil) // baseline (quiet start)
	b.Logf("baseline poll: %d jobs, %d DLI calls, %v", res.Jobs, len(f.emu.Requests()), time.Since(first).Round(time.Millisecond))

	rng := rand.New(rand.NewPCG(1, 2))
	next := 0
	var latencies []time.Duration
	var calls, budget, polls, opened int
	var openedKeys []string
	var pollWall time.Duration
	var pollPeak uint64 // heap growth during a poll: jobwatch and the emulator's answers
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// Changes at random instants within the interval.
		type change struct{ at time.Time }
		var changes []change
		elapsed := time.Duration(0)
		for k := range 15 {
			step := time.Duration(rng.Int64N(int64(f.cfg.Interval) / 16))
			f.emu.Advance(step)
			elapsed += step
			switch k % 3 {
			case 0:
				f.setFlink(flinkIDs[next], dlitest.FlinkJobRunningException, "TaskManager lost")
				next++
			case 1:
				if _, err := f.emu.AddBatch(dlitest.BatchSpec{Name: "adhoc_" + strconv.Itoa(next*3+k), State: dlitest.BatchDead, Log: []string{"ERROR boom"}}); err != nil {
					b.Fatal(err)
				}
			case 2:
				if _, err := f.emu.AddSQLJobs(1, dlitest.SQLJobSpec{Statement: "SELECT FAIL " + strconv.Itoa(next*3+k), Status: dlitest.SQLFailed, StartTime: f.emu.Clock().Now()}); err != nil {
					b.Fatal(err)
				}
			}
			changes = append(changes, change{f.emu.Clock().Now()})
		}
		f.emu.Advance(f.cfg.Interval - elapsed)
		tickAt := f.emu.Clock().Now()
		f.emu.ClearRequests()
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := make(chan struct{})
		peakc := make(chan uint64)
		go func() { // sample the heap while the poll runs
			var peak uint64
			var m runtime.MemStats
			t := time.NewTicker(5 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					peakc <- peak
					return
				case <-t.C:
					runtime.ReadMemStats(&m)
					peak = max(peak, m.HeapInuse)
				}
			}
		}()
		b.StartTimer()
		start := time.Now()
		res, err := f.w.Poll(ctx)
		wall := time.Since(start)
		b.StopTimer()
		close(stop)
		if p := <-peakc; p > before.HeapInuse {
			pollPeak = max(pollPeak, p-before.HeapInuse)
		}
		if err != nil {
			b.Fatal(err)
		}
		reqs := f.emu.Requests()
		logCalls := 0
		for _, r := range reqs {
			if strings.HasSuffix(r.Path, "/log") {
				logCalls++
			}
		}
		pages := len(reqs) - logCalls
		calls += len(reqs)
		budget += pages + len(res.Opened)
		polls++
		opened += len(res.Opened)
		openedKeys = append(openedKeys, res.Opened...)
		pollWall += wall
		for _, c := range changes {
			latencies = append(latencies, tickAt.Sub(c.at)+wall)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(latencies)
	p99 := latencies[(len(latencies)*99+99)/100-1]
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	// Duplicates: a job named in more than one root message (a digest names
	// several); missing: an incident no root message names.
	var needles []string
	for _, k := range openedKeys {
		var inc Incident
		if _, _, err := f.w.st.get(ctx, k, &inc); err != nil {
			b.Fatal(err)
		}
		needles = append(needles, "("+inc.JobID+")")
	}
	dups, missing := 0, 0
	named := f.rootCounts(needles)
	for _, n := range needles {
		dups += max(0, named[n]-1)
		if named[n] == 0 {
			missing++
		}
	}
	b.ReportMetric(float64(calls)/float64(polls), "dli_calls/poll")
	b.ReportMetric(float64(budget)/float64(polls), "budget/poll")
	b.ReportMetric(float64(pollWall.Milliseconds())/float64(polls), "ms/poll")
	b.ReportMetric(p99.Seconds(), "latency_p99_s")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap_MiB")
	b.ReportMetric(rssMiB(), "rss_MiB")
	b.ReportMetric(float64(pollPeak)/(1<<20), "poll_heap_peak_MiB")
	b.ReportMetric(float64(dups), "duplicates")
	b.ReportMetric(float64(missing), "missing")
	b.ReportMetric(float64(len(f.posts()))/float64(polls), "root_posts/poll")
	state := 0
	for _, kind := range []string{KindFlink, KindSpark, KindSQL} {
		for n := range shards {
			if e, err := f.w.st.kv.Get(ctx, shardKey(kind, n)); err == nil {
				state += len(e.Value())
			}
		}
	}
	b.ReportMetric(float64(state)/1024, "kv_state_KiB")
}

// rssMiB is the process's peak resident set (VmHWM) in MiB, 0 if unknown.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
