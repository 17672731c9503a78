package chatops

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/functions/chatops/command"
	"github.com/dlibot/dlibot/pkg/host"
	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

// preSigned returns n signed slash-command requests, each unique (so the
// replay guard lets each through once).
func preSigned(e *env, n int, user, text string, now time.Time) ([]*http.Request, [][]byte) {
	reqs := make([]*http.Request, n)
	bodies := make([][]byte, n)
	for i := range reqs {
		f := e.commandForm(user, text, "bench")
		f.Set("trigger_id", "bench."+strconv.Itoa(i))
		body := f.Encode()
		bodies[i] = []byte(body)
		r := httptest.NewRequest(http.MethodPost, "/slack/commands", nil)
		slacksig.SetHeaders(r.Header, testSecret, now, bodies[i])
		reqs[i] = r
	}
	return reqs, bodies
}

type bytesBody struct{ *strings.Reader }

func (bytesBody) Close() error { return nil }

// BenchmarkVerifyParsePolicy is the per-request cost before any DLI call:
// read the body, verify the v0 signature, refuse replays, decode the form,
// parse the command text and decide it with the policy (target ≤ 50 µs).
func BenchmarkVerifyParsePolicy(b *testing.B) {
	for _, kv := range []bool{false, true} {
		b.Run(map[bool]string{false: "replay=memory", true: "replay=kv"}[kv], func(b *testing.B) {
			e := newEnv(b, envOpts{noNATS: !kv, cfg: func(c *Config) { c.ReplayCacheSize = 1 << 20 }})
			reqs, bodies := preSigned(e, b.N, uOperator, "scale etl 128 --for 2h --dry-run", e.clock.Now())
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				r := reqs[i]
				r.Body = bytesBody{strings.NewReader(string(bodies[i]))}
				body, err := e.svc.readVerified(r)
				if err != nil {
					b.Fatal(err)
				}
				form, err := url.ParseQuery(string(body))
				if err != nil {
					b.Fatal(err)
				}
				cmd, err := command.Parse(form.Get("text"))
				if err != nil {
					b.Fatal(err)
				}
				role := e.svc.role(r.Context(), form.Get("user_id"), form.Get("channel_id"))
				if !role.Allows(cmd.Name()) || !role.AllowsCU(128) || e.svc.pol.Protected("etl") {
					b.Fatal("policy decided wrong")
				}
			}
			if cpu := cpuTime() - cpu0; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1000, "cpu-µs/op")
			}
		})
	}
}

// BenchmarkAckReadCommand200RPS sends `/dli queues` through dlibot's HTTP
// server (host.Server, the chatops route) to the DLI emulator at 200
// requests per second, open loop, and reports the acknowledgement latency
// percentiles (targets: p99 ≤ 300 ms, never over 3 s). Run it with a fixed
// count, e.g. -benchtime=1000x (5 s of traffic).
func BenchmarkAckReadCommand200RPS(b *testing.B) {
	e := newEnv(b, envOpts{cfg: func(c *Config) { c.ReplayCacheSize = 1 << 20 }})
	e.svc.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	e.clock.t = time.Now() // real time: requests are signed as they are sent
	e.svc.now = time.Now
	srv, err := host.NewServer(host.ServerOptions{Metrics: host.NewMetrics(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Routes: []host.Route{{Method: http.MethodPost, Path: "/slack/commands", Handler: http.HandlerFunc(e.svc.ServeCommand)}}})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 10 * time.Second}
	const rate = 200
	interval := time.Second / rate
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			f := e.commandForm(uViewer, "queues", "bench")
			f.Set("trigger_id", "e2e."+strconv.Itoa(i))
			body := f.Encode()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+"/slack/commands", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			t0 := time.Now()
			slacksig.SetHeaders(req.Header, testSecret, t0, []byte(body))
			resp, err := client.Do(req)
			d := time.Since(t0)
			lat[i] = d
			if err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
				return
			}
			b2, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(b2), "4 queues") {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%d %.80s", resp.StatusCode, b2))
				mu.Unlock()
			}
		}(i)
	}
	wg.Wait()
	b.StopTimer()
	if len(failures) > 0 {
		b.Fatalf("%d of %d failed, first: %s", len(failures), b.N, failures[0])
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
