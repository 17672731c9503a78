package obsimport

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
)

// DLI hold bounds: after a call that finds DLI unavailable, obsimport's
// DLI calls are held for up to dliHoldBase; each further failed probe
// doubles the ceiling up to dliHoldMax. Every hold is drawn uniformly
// between half the ceiling and the ceiling ("equal jitter"): replicas
// spread out, and the call rate has a hard bound — at most one probe per
// 30 s per replica once the ceiling is reached.
const (
	dliHoldBase = time.Second
	dliHoldMax  = time.Minute
)

// dliGate is the importer's DLI circuit: while DLI is unavailable (5xx,
// 408, 429 or no answer) it holds obsimport's DLI calls — submits,
// recovery searches, job status checks — and lets one probe through when
// each hold ends; the first call DLI answers closes it again. A held step
// changes nothing in the ledger: it only waits longer, as it would for a
// slow DLI, so exactly-once is untouched.
type dliGate struct {
	now    func() time.Time
	rand   func(n int64) int64 // [0, n); tests make it deterministic
	log    *slog.Logger
	m      *metrics
	probeT time.Duration // a probe that never reports is forgotten after this

	mu         sync.Mutex
	down       bool
	since      time.Time     // when DLI was found unavailable
	ceiling    time.Duration // current hold ceiling
	until      time.Time     // no call before this while down
	probe      uint64        // token of the probe in flight (0: none)
	probeUntil time.Time
	seq        uint64
	failed     int // failed probes since down
}

func newDLIGate(now func() time.Time, log *slog.Logger, m *metrics, probeTimeout time.Duration) *dliGate {
	return &dliGate{now: now, rand: rand.Int64N, log: log, m: m, probeT: probeTimeout}
}

// dliPass is the permission for one DLI call; report its outcome with
// done, or give it back with release when no call was made.
type dliPass struct{ tok uint64 }

// enter asks to call DLI. When DLI is held, ok is false and wait is how
// long until the next try may pass.
func (g *dliGate) enter() (p dliPass, wait time.Duration, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.down {
		return dliPass{}, 0, true
	}
	now := g.now()
	if now.Before(g.until) {
		return dliPass{}, g.until.Sub(now), false
	}
	if g.probe != 0 && now.Before(g.probeUntil) {
		return dliPass{}, dliHoldBase, false
	}
	g.seq++
	g.probe, g.probeUntil = g.seq, now.Add(g.probeT)
	return dliPass{tok: g.seq}, 0, true
}

// release gives back a pass whose DLI call was not made.
func (g *dliGate) release(p dliPass) {
	if p.tok == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.probe == p.tok {
		g.probe = 0
	}
}

// done reports the outcome of the DLI call made with p.
func (g *dliGate) done(p dliPass, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	probe := p.tok != 0 && g.probe == p.tok
	if probe {
		g.probe = 0
	}
	switch {
	case dli.Unavailable(err):
		now := g.now()
		switch {
		case !g.down:
			g.down, g.since, g.ceiling, g.failed = true, now, dliHoldBase, 1
			g.log.Warn("DLI unavailable; holding obsimport's DLI calls (submits, recovery searches, status checks) with backoff until it answers",
				"err", err, "max_hold", dliHoldMax)
		case probe:
			g.ceiling = min(g.ceiling*2, dliHoldMax)
			g.failed++
		default:
			return // a call started before DLI was found down
		}
		g.until = now.Add(g.ceiling/2 + time.Duration(g.rand(int64(g.ceiling/2)+1)))
		g.m.dliHold.Set(g.ceiling.Seconds())
	case dliAnswered(err):
		if g.down {
			g.log.Info("DLI answers again; obsimport's DLI calls resume", "held_for", g.now().Sub(g.since), "failed_probes", g.failed)
		}
		g.down, g.ceiling, g.failed, g.until, g.probe = false, 0, 0, time.Time{}, 0
		g.m.dliHold.Set(0)
	}
}

// held reports whether DLI calls are held now (tests, metrics).
func (g *dliGate) held() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.down
}

// dliAnswered reports whether the call reached a DLI that answered: a
// success or a definite client error.
func dliAnswered(err error) bool {
	if err == nil {
		return true
	}
	var de *dli.Error
	return errors.As(err, &de) && de.Status > 0 && !dli.Unavailable(err)
}
