//go:build linux

package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// lambdaCase is one function with the event a benchmark invokes it with.
type lambdaCase struct {
	handler string
	env     func(b *testing.B, w *world) []string
	event   func(b *testing.B, w *world) []byte
	check   func(b *testing.B, w *world, status int, body []byte)
}

var benchCases = []lambdaCase{
	{
		handler: "chatops",
		env:     func(b *testing.B, w *world) []string { return w.chatopsEnv(b) },
		event: func(b *testing.B, w *world) []byte {
			return slashCommand(b, "queues", signingSecret, time.Now(), w.slack.ResponseURL("bench"))
		},
		check: func(b *testing.B, w *world, status int, body []byte) {
			if r := apiResponse(b, status, body); r.StatusCode != http.StatusOK || !strings.Contains(r.Body, e2eQueue) {
				b.Fatalf("/dli queues not answered inline: %d %s", r.StatusCode, r.Body)
			}
		},
	},
	{
		handler: "jobwatch",
		env:     func(b *testing.B, w *world) []string { return w.env() },
		event:   func(b *testing.B, w *world) []byte { return scheduledEvent(b, "dlibot-jobwatch-tick", time.Now()) },
		check: func(b *testing.B, w *world, status int, body []byte) {
			if status != http.StatusOK || strings.Contains(string(body), "errorMessage") {
				b.Fatalf("tick: %d %s", status, body)
			}
		},
	},
	{
		handler: "obsimport",
		env:     func(b *testing.B, w *world) []string { return w.obsimportEnv(b) },
		event: func(b *testing.B, w *world) []byte {
			return s3Put(b, "raw-data", "landing/events/dt=2026-11-26/part 1.csv", time.Now())
		},
		check: func(b *testing.B, w *world, status int, body []byte) {
			if status != http.StatusOK || strings.Contains(string(body), "errorMessage") {
				b.Fatalf("S3 notification: %d %s", status, body)
			}
		},
	},
	{
		handler: "autoscale",
		env:     func(b *testing.B, w *world) []string { return w.autoscaleEnv() },
		event: func(b *testing.B, w *world) []byte {
			at := time.Now()
			return apiGatewayPost(b, "/events", "application/cloudevents+json", loadSample("bench-"+at.Format("150405.000000000"), at))
		},
		check: func(b *testing.B, w *world, status int, body []byte) {
			if r := apiResponse(b, status, body); r.StatusCode != http.StatusOK {
				b.Fatalf("POST /events: %d %s", r.StatusCode, r.Body)
			}
		},
	},
}

// BenchmarkLambdaCold starts the bootstrap under the RIE and invokes it once
// per iteration: ns/op is the whole cycle; init-ms is the RIE's INIT REPORT
// (process start to the runtime's first /next), first-ms the first
// invocation's latency as the caller sees it (init included).
func BenchmarkLambdaCold(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.handler, func(b *testing.B) {
			programs(b)
			w := newWorld(b)
			env := c.env(b, w)
			var initTotal, firstTotal time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				r, status, body := startFunctionNoCleanup(b, c.handler, env, c.event(b, w))
				first := time.Since(start)
				r.Stop() // all output collected
				d, ok := InitDuration(r.Output())
				if !ok {
					b.Fatalf("no INIT REPORT:\n%s", r.Output())
				}
				c.check(b, w, status, body)
				initTotal += d
				firstTotal += first
			}
			b.ReportMetric(float64(initTotal.Microseconds())/1000/float64(b.N), "init-ms")
			b.ReportMetric(float64(firstTotal.Microseconds())/1000/float64(b.N), "first-ms")
		})
	}
}

// BenchmarkLambdaWarm invokes a warm function (after one cold invocation):
// ns/op is the latency of an invocation through the RIE's invoke API.
func BenchmarkLambdaWarm(b *testing.B) {
	for _, c := range benchCases {
		b.Run(c.handler, func(b *testing.B) {
			w := newWorld(b)
			r, status, body := startFunction(b, c.handler, c.env(b, w), c.event(b, w))
			c.check(b, w, status, body)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				status, body := invoke(b, r, c.event(b, w))
				c.check(b, w, status, body)
			}
		})
	}
}

// startFunctionNoCleanup is startFunction for loops that stop each RIE
// themselves.
func startFunctionNoCleanup(b *testing.B, handler string, env []string, payload []byte) (*RIE, int, []byte) {
	b.Helper()
	bs, rieBin := programs(b)
	r, err := Start(b.Context(), Options{RIE: rieBin, Bootstrap: bs, Handler: handler, Env: env})
	if err != nil {
		b.Fatal(err)
	}
	status, body, err := r.Invoke(b.Context(), payload)
	if err != nil {
		r.Stop()
		b.Fatal(err)
	}
	return r, status, body
}
