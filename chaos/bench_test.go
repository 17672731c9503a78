package chaos

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

// benchBinary returns the dlibot binary and the functions registered in
// it, skipping the benchmark when one of fns is not.
func benchBinary(b *testing.B, fns ...string) (string, []string) {
	b.Helper()
	bin, err := Binary(binDir)
	if err != nil {
		b.Fatal(err)
	}
	registered, err := Registered(bin)
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range fns {
		if !slices.Contains(registered, f) {
			b.Skipf("%s not registered in cmd/dlibot", f)
		}
	}
	return bin, registered
}

// benchCluster starts one replica serving fns, with the harness's
// function configuration plus extra.
func benchCluster(b *testing.B, fns []string, extra ...string) *Cluster {
	b.Helper()
	bin, registered := benchBinary(b, fns...)
	_, env := functionEnv(b, registered)
	return Start(b, Options{Binary: bin, Replicas: 1, Functions: fns, Env: append(env, extra...)})
}

func report(b *testing.B, lat []time.Duration, took time.Duration, c *Cluster) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(lat))/took.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(c.Replicas[0].PeakRSS())/(1<<20), "peak-RSS-MiB")
}

// BenchmarkServeIngest measures POST /events → JetStream (file storage)
// through a real `dlibot serve` process: 16 senders in a closed loop,
// object events for a bucket no rule matches. Reports req/s, p50/p99 of
// the 202 answers and the process's peak RSS.
//
//	go test -run '^$' -bench ServeIngest -benchtime 5000x ./chaos
func BenchmarkServeIngest(b *testing.B) {
	c := benchCluster(b, nil)
	reqs := objectEvents(b, "bench-ingest", b.N)
	b.ResetTimer()
	res := Send(context.Background(), c.Live, reqs, LoadOptions{Concurrency: 16, Timeout: 10 * time.Second, Deadline: 10 * time.Minute})
	b.StopTimer()
	if len(res.Failed) > 0 {
		b.Fatalf("%d events not accepted (%v)", len(res.Failed), res.Statuses)
	}
	report(b, res.Latencies, res.Took, c)
}

// BenchmarkChatopsReadCommand sends signed `/dli queues` slash commands
// at a fixed 200 per second (the chatops issue's load) to a `dlibot serve
// chatops` process and measures the acknowledgement latency (the HTTP
// answer Slack waits at most 3 s for), with the default DLI rate limit
// and without it. Reports the achieved req/s, p50/p99, answers over 3 s
// and peak RSS.
//
//	go test -run '^$' -bench ChatopsReadCommand -benchtime 2000x ./chaos
func BenchmarkChatopsReadCommand(b *testing.B) {
	// DLI_QPS=10 is the default client-side DLI rate limit: 200 commands/s
	// each needing a DLI call queue on it. 1000 lifts it.
	for _, qps := range []string{"10", "1000"} {
		b.Run("DLI_QPS="+qps, func(b *testing.B) { benchChatops(b, "DLI_QPS="+qps) })
	}
}

func benchChatops(b *testing.B, env ...string) {
	c := benchCluster(b, []string{"chatops"}, append(env, "CHATOPS_RESPONSE_URL_HOSTS=127.0.0.1", "CHATOPS_RESPONSE_URL_ALLOW_HTTP=true")...)
	base := c.Live()[0]
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const rate = 200
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	var mu sync.Mutex
	var lat []time.Duration
	var failed []string
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"command": {"/dli"}, "text": {"queues"}, "user_id": {"U0CHAOSADMIN"}, "user_name": {"bench"},
				"channel_id": {SlackChannel}, "team_id": {"T0CHAOS"}, "response_url": {c.Slack.ResponseURL(fmt.Sprintf("b%d", i))},
				"trigger_id": {fmt.Sprintf("bench.%d", i)}}.Encode()
			req, _ := http.NewRequest("POST", base+"/slack/commands", strings.NewReader(form))
			slacksig.SetHeaders(req.Header, PlantedSigningSecret, time.Now(), []byte(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			t0 := time.Now()
			resp, err := client.Do(req)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed = append(failed, err.Error())
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed = append(failed, resp.Status)
				return
			}
			lat = append(lat, d)
		}()
	}
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	if len(failed) > 0 {
		b.Errorf("%d/%d commands failed, e.g. %s", len(failed), b.N, failed[0])
	}
	report(b, lat, took, c)
	over := 0
	for _, d := range lat {
		if d > 3*time.Second {
			over++
		}
	}
	b.ReportMetric(float64(over), "over-3s")
}
