package obsimport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
)

// metricValue is the value of a counter or gauge.
func metricValue(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Counter != nil {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

const (
	logDown = "DLI unavailable; holding"
	logUp   = "DLI answers again"
)

var err503 = &dli.Error{Op: "ListSQLJobs", Status: 503, Message: "down"}

// TestDLIGateBackoff: failed probes double the hold up to a minute, one
// probe at a time; a call DLI answers resets it; one log line per
// transition.
func TestDLIGateBackoff(t *testing.T) {
	now := testStart
	logs := &testsync.Buffer{}
	m := newMetrics(nil)
	g := newDLIGate(func() time.Time { return now }, slog.New(slog.NewTextHandler(logs, nil)), m, time.Minute)
	g.rand = func(n int64) int64 { return n - 1 } // longest hold: the ceiling
	p, _, ok := g.enter()
	if !ok {
		t.Fatal("gate held before any failure")
	}
	g.done(p, err503)
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60, 60}
	for i, c := range want {
		c *= time.Second
		if got := metricValue(t, m.dliHold); got != c.Seconds() {
			t.Fatalf("probe %d: hold gauge %v, want %v", i, got, c.Seconds())
		}
		_, wait, ok := g.enter()
		if ok || wait != c {
			t.Fatalf("probe %d: enter = %v, wait %v; want held for %v", i, ok, wait, c)
		}
		now = now.Add(c)
		p, _, ok := g.enter()
		if !ok {
			t.Fatalf("probe %d: no probe after the hold", i)
		}
		if _, _, ok := g.enter(); ok {
			t.Fatalf("probe %d: a second call passed while the probe was in flight", i)
		}
		g.done(dliPass{}, err503) // a call from before the outage: no effect
		g.done(p, err503)
	}
	// A probe given back unused (no call made) lets the next one through;
	// a cancelled call changes nothing either.
	now = now.Add(time.Minute)
	p, _, _ = g.enter()
	g.release(p)
	p, _, ok = g.enter()
	if !ok {
		t.Fatal("released probe still blocks")
	}
	g.done(p, fmt.Errorf("wrapped: %w", &dli.Error{Op: "X", Err: context.Canceled}))
	if !g.held() {
		t.Fatal("a cancelled call closed the gate")
	}
	p, _, ok = g.enter()
	if !ok {
		t.Fatal("cancelled probe still blocks")
	}
	g.done(p, nil)
	if g.held() || metricValue(t, m.dliHold) != 0 {
		t.Fatal("success did not reset the gate")
	}
	// Reset: the next outage starts again at one second.
	p, _, _ = g.enter()
	g.done(p, &dli.Error{Op: "SubmitSQL", Status: 502, Ambiguous: true})
	if _, wait, ok := g.enter(); ok || wait != time.Second {
		t.Fatalf("after a reset: enter = %v, wait %v; want held 1s", ok, wait)
	}
	// A definite client error is an answer: DLI is up.
	now = now.Add(time.Second)
	p, _, _ = g.enter()
	g.done(p, &dli.Error{Op: "ImportData", Status: 400, Code: "DLI.0001"})
	if g.held() {
		t.Fatal("a 400 answer did not close the gate")
	}
	if d, u := strings.Count(logs.String(), logDown), strings.Count(logs.String(), logUp); d != 2 || u != 2 {
		t.Errorf("%d %q and %d %q log lines for two outages, want 2 each:\n%s", d, logDown, u, logUp, logs.String())
	}
}

// TestDLIGateJitter: holds are drawn between half the ceiling and the
// ceiling.
func TestDLIGateJitter(t *testing.T) {
	for _, tc := range []struct {
		name string
		rand func(int64) int64
		want time.Duration
	}{
		{"shortest", func(int64) int64 { return 0 }, 2 * time.Second},
		{"longest", func(n int64) int64 { return n - 1 }, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := testStart
			g := newDLIGate(func() time.Time { return now }, quietLogger(), newMetrics(nil), time.Minute)
			g.rand = tc.rand
			for range 3 { // ceilings 1, 2, 4 s
				for {
					p, _, ok := g.enter()
					if ok {
						g.done(p, err503)
						break
					}
					now = now.Add(100 * time.Millisecond)
				}
			}
			if _, wait, _ := g.enter(); wait != tc.want {
				t.Errorf("hold %v with ceiling 4s, want %v", wait, tc.want)
			}
		})
	}
}

func TestDLIUnavailable(t *testing.T) {
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name              string
		err               error
		unavail, answered bool
	}{
		{"nil", nil, false, true},
		{"503", &dli.Error{Status: 503}, true, false},
		{"503 ambiguous submit", &dli.Error{Status: 503, Ambiguous: true}, true, false},
		{"429", &dli.Error{Status: 429}, true, false},
		{"408", &dli.Error{Status: 408}, true, false},
		{"network", &dli.Error{Err: netErr}, true, false},
		{"timeout", &dli.Error{Err: context.DeadlineExceeded}, true, false},
		{"cancelled", &dli.Error{Err: context.Canceled}, false, false},
		{"400", &dli.Error{Status: 400}, false, true},
		{"404 wrapped", fmt.Errorf("x: %w", &dli.Error{Status: 404}), false, true},
		{"not a DLI error", errUnsafePath, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dli.Unavailable(tc.err); got != tc.unavail {
				t.Errorf("dli.Unavailable = %v, want %v", got, tc.unavail)
			}
			if got := dliAnswered(tc.err); got != tc.answered {
				t.Errorf("dliAnswered = %v, want %v", got, tc.answered)
			}
		})
	}
}

// TestDLIOutage: DLI answers 503 to everything for 600 sweeps one second
// apart (the chaos harness's 10-minute outage) while files wait in three
// tables. obsimport's DLI calls stay bounded by the backoff — with the
// shortest holds the jitter can draw — instead of one per table per
// sweep; afterwards every file is imported exactly once and the gate is
// open again.
func TestDLIOutage(t *testing.T) {
	for _, backend := range []string{BackendImport, BackendSQL} {
		t.Run(backend, func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.Backend = backend })
			logs := &testsync.Buffer{}
			h.im.log = slog.New(slog.NewTextHandler(logs, nil))
			h.im.gate.log = h.im.log
			h.im.gate.rand = func(int64) int64 { return 0 }
			ctx := context.Background()
			if err := h.srv.AddFault(dlitest.Fault{Status: 503, ErrorCode: "DLI.0999", ErrorMsg: "outage"}); err != nil {
				t.Fatal(err)
			}
			h.srv.ClearRequests()
			keys := []string{
				"landing/sales/2026/11/26/hour=07/a.csv", "landing/sales/2026/11/26/hour=08/b.csv",
				"landing/clicks/region=eu/dt=2026-11-26/c.json", "landing/clicks/region=us/dt=2026-11-26/d.json",
				keyName(1), keyName(2),
			}
			const sweeps = 600
			for i := range sweeps {
				if i < len(keys) {
					// Files keep arriving during the outage; the handler
					// advances their table inline.
					if out := h.im.Handle(ctx, objectEvent(t, keys[i], "e")); out.Kind() != events.KindAck {
						t.Fatalf("%s: outcome %v", keys[i], out)
					}
				}
				if err := h.im.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
				h.srv.Advance(time.Second)
			}
			calls := len(h.srv.Requests())
			// Holds of ½ the ceiling: probes at about 0, 1, 2, 4, 8, 16,
			// 32 s, then every 30 s: 25 in 600 s.
			if calls > 26 || calls < 10 {
				t.Errorf("%d DLI calls during %d one-second sweeps of an outage with 3 tables; want ≤ 26 (about 25: the backoff), not one per table per sweep", calls, sweeps)
			}
			t.Logf("%d DLI calls during the outage", calls)
			if n := metricValue(t, h.im.m.jobs.WithLabelValues(backend, "deferred")); n < sweeps {
				t.Errorf("jobs_total{outcome=deferred} = %v, want ≥ %d (held steps)", n, sweeps)
			}
			if g := metricValue(t, h.im.m.dliHold); g != 60 {
				t.Errorf("hold gauge %v during the outage, want 60", g)
			}

			h.srv.ClearFaults()
			h.drive(200)
			if h.im.gate.held() || metricValue(t, h.im.m.dliHold) != 0 {
				t.Error("the gate is still closed after DLI answered")
			}
			counts := map[string]int{}
			for _, imp := range h.srv.Snapshot().Imports {
				_, ks := expandDataPath(t, imp.DataPath)
				for _, k := range ks {
					counts[k]++
				}
			}
			succeeded := map[string]int{}
			for _, e := range h.published(events.TypeImportSucceeded) {
				succeeded[e.Key]++
			}
			for _, k := range keys {
				if counts[k] != 1 || succeeded[k] != 1 {
					t.Errorf("%s: %d DLI imports, %d import.succeeded events; want 1 each", k, counts[k], succeeded[k])
				}
				if e := h.entry("raw-data", k); e == nil || e.State != StateLoaded {
					t.Errorf("%s: entry %+v, want loaded", k, e)
				}
			}
			h.checkNoOverlap()
			if d, u := strings.Count(logs.String(), logDown), strings.Count(logs.String(), logUp); d != 1 || u != 1 {
				t.Errorf("%d %q and %d %q log lines, want one each", d, logDown, u, logUp)
			}
		})
	}
}
