package host

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/events"
)

// BenchmarkHTTPPipeline measures CloudEvents through the service's whole
// path: POST /events (structured JSON, 202 only after the JetStream ack) →
// DLIBOT_IN on file storage → the function's durable consumer → dedup claim
// (KV, file storage) → handler → ack. 8 HTTP clients, 16 handlers in flight,
// at most 64 events posted but not yet handled (closed loop, as in
// pkg/events' BenchmarkPipeline, so the two compare). Reports events/s,
// post-to-handled latency percentiles (p50_ms, p99_ms) and the process's
// peak RSS (rss_peak_mb: the benchmark, nats-server and dlibot together).
func BenchmarkHTTPPipeline(b *testing.B) {
	n := startTestNATS(b)
	lat := make([]time.Duration, b.N)
	var handled atomic.Int64
	window := make(chan struct{}, 64)
	reg := &Registry{}
	reg.Register(Registration{Name: "bench", New: func(ctx context.Context, env Env) (*Function, error) {
		return &Function{Subjects: []string{events.SubjectsObs}, Handler: func(ctx context.Context, e events.Event) events.Outcome {
			i := handled.Add(1) - 1
			if i < int64(len(lat)) {
				lat[i] = time.Since(e.Time())
			}
			<-window
			return events.Ack()
		}}, nil
	}})
	dliCfg := testDLI(b)
	url, stop := runService(b, Options{Config: &Config{NATSURL: n.url(), HTTPMaxBodyBytes: DefaultMaxBodyBytes},
		DLI: dliCfg, Registry: reg, ConsumerConfig: func(c *events.Config) { c.Concurrency = 16 }})
	defer stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	const clients = 8
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < b.N; i += clients {
				window <- struct{}{}
				body := fmt.Sprintf(`{"specversion":"1.0","id":"bench-%d","source":"/bench","type":"dlibot.obs.object.created","time":%q,"data":{"bucket":"raw","key":"k/%d.csv","size":1,"event_time":"2026-11-26T00:00:00Z"}}`,
					i, time.Now().UTC().Format(time.RFC3339Nano), i)
				resp, err := client.Post(url+"/events", events.ContentType, strings.NewReader(body))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(time.Minute)
	for handled.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("handled %d of %d", handled.Load(), b.N)
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	if rss := peakRSSMB(); rss > 0 {
		b.ReportMetric(rss, "rss_peak_mb")
	}
}

// peakRSSMB reads VmHWM from /proc/self/status (Linux), in MiB.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if f := strings.Fields(s.Text()); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
