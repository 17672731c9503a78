package chatops

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

// Tests of deferred work: in Lambda a command or click slower than the ack
// budget is stored in KV before "working…" is answered, and the tick
// completes it when the invocation is frozen.

// lambdaEnv is a Lambda-mode service with no read cache (so every read
// reaches the emulator and its faults) and a 1 s ack budget: commands
// without a latency fault answer inline even on a loaded machine, those
// with one (1.5 s or more) are deferred.
func lambdaEnv(t *testing.T) *env {
	t.Helper()
	return newEnv(t, envOpts{lambda: true, cfg: func(c *Config) {
		c.AckBudget = time.Second
		c.ReadCacheTTL = 0
	}})
}

// invocation is another Lambda execution environment on the same NATS,
// DLI, Slack and clock (the one the schedule tick lands on).
func (e *env) invocation(t *testing.T) *Service {
	t.Helper()
	return startService(t, e.opts)
}

// freeze stands for Lambda freezing the environment after the answer: the
// background work is cancelled and never resumes.
func (e *env) freeze() {
	e.svc.bgCancel()
	e.svc.inflight.Wait()
}

// records lists the stored deferred work.
func records(t *testing.T, svc *Service) []deferred {
	t.Helper()
	es, err := svc.st.entries(context.Background(), "deferred")
	if err != nil {
		t.Fatal(err)
	}
	var out []deferred
	for _, e := range es {
		var d deferred
		if err := json.Unmarshal(e.Value(), &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// slow makes the next n matching DLI requests take ms milliseconds.
func (e *env) slow(t *testing.T, method, pathRegex string, ms, n int) {
	t.Helper()
	if err := e.emu.AddFault(dlitest.Fault{Method: method, PathRegex: pathRegex, LatencyMS: ms, Count: n}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) count(method, pathRegexSuffix string) int {
	n := 0
	for _, r := range e.emu.Requests() {
		if r.Method == method && strings.HasSuffix(r.Path, pathRegexSuffix) {
			n++
		}
	}
	return n
}

// finalResponses are the answers on a response_url, without interim
// "working…" ones.
func finalResponses(e *env, name string) []string {
	var out []string
	for _, r := range e.slack.Responses(name) {
		if !strings.HasPrefix(r.Text, "⏳ working") {
			out = append(out, r.Text)
		}
	}
	return out
}

func tickAll(t *testing.T, svcs ...*Service) {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range svcs {
		wg.Go(func() {
			if err := s.Tick(context.Background()); err != nil {
				t.Errorf("tick: %v", err)
			}
		})
	}
	wg.Wait()
}

// TestLambdaFrozenCommandAnsweredByTick: a read command slower than the ack
// budget in Lambda is stored before "working…"; the invocation freezes;
// the tick (in another environment) runs it once the lease is over and the
// response_url gets exactly one answer.
func TestLambdaFrozenCommandAnsweredByTick(t *testing.T) {
	e := lambdaEnv(t)
	e.slow(t, http.MethodGet, `/queues$`, 3000, 1)
	_, a := e.run(t, uViewer, "queues")
	if !strings.HasPrefix(a.Text, "⏳ working on it…") || !strings.Contains(a.Text, "saved") {
		t.Fatalf("answer %q", a.Text)
	}
	// the record is stored when the answer is given
	recs := records(t, e.svc)
	if len(recs) != 1 || recs[0].Kind != kindCommand || recs[0].Phase != phaseRunning || recs[0].Req.Text != "queues" ||
		recs[0].Req.User != uViewer || recs[0].Req.ResponseURL != e.slack.ResponseURL("cmd") {
		t.Fatalf("records %+v", recs)
	}
	e.freeze()
	tick := e.invocation(t)
	tickAll(t, tick) // the lease still runs: its owner may be alive
	if got := finalResponses(e, "cmd"); len(got) != 0 {
		t.Fatalf("answered while the owner's lease runs: %q", got)
	}
	e.clock.Advance(deferLease + time.Second)
	tickAll(t, tick)
	got := finalResponses(e, "cmd")
	if len(got) != 1 || !strings.Contains(got[0], "4 queues") {
		t.Fatalf("answers %q", got)
	}
	if r := e.slack.Responses("cmd"); !r[0].ReplaceOriginal {
		t.Errorf("the answer does not replace \"working…\": %+v", r[0])
	}
	if n := len(records(t, tick)); n != 0 {
		t.Errorf("%d records left", n)
	}
	e.clock.Advance(deferLease + time.Second)
	tickAll(t, tick)
	if got := finalResponses(e, "cmd"); len(got) != 1 {
		t.Errorf("a later tick answered again: %q", got)
	}
	if n := e.count(http.MethodGet, "/queues"); n != 2 {
		t.Errorf("%d queue listings, want 2 (the frozen one and the tick's)", n)
	}
	wantDecisions(t, e, DecisionAllowed)
	if a := e.aud.last(t); a.Outcome != OutcomeOK || a.Command != "queues" || a.User != uViewer {
		t.Errorf("audit %+v", a)
	}
}

// TestLambdaInFlightFinishesFirst: an invocation that stays alive finishes
// its own deferred work; the tick finds nothing.
func TestLambdaInFlightFinishesFirst(t *testing.T) {
	e := lambdaEnv(t)
	e.slow(t, http.MethodGet, `/queues$`, 1500, 1)
	_, a := e.run(t, uViewer, "queues")
	if !strings.HasPrefix(a.Text, "⏳ working") {
		t.Fatalf("answer %q", a.Text)
	}
	r := lastResponse(t, e.slack, "cmd", 1)
	if !strings.Contains(r.Text, "4 queues") {
		t.Fatalf("answer %+v", r)
	}
	e.settle()
	if n := len(records(t, e.svc)); n != 0 {
		t.Fatalf("%d records left after the answer", n)
	}
	e.clock.Advance(deferLease + time.Second)
	tickAll(t, e.invocation(t))
	if got := finalResponses(e, "cmd"); len(got) != 1 {
		t.Errorf("answers %q", got)
	}
	wantDecisions(t, e, DecisionAllowed)
}

// TestLambdaTwoTicksOneRun: two ticks at once take over one record; one
// runs it.
func TestLambdaTwoTicksOneRun(t *testing.T) {
	e := lambdaEnv(t)
	e.slow(t, http.MethodGet, `/queues$`, 3000, 1)
	e.run(t, uViewer, "queues")
	e.freeze()
	e.clock.Advance(deferLease + time.Second)
	tickAll(t, e.invocation(t), e.invocation(t), e.invocation(t))
	if got := finalResponses(e, "cmd"); len(got) != 1 {
		t.Fatalf("answers %q", got)
	}
	if n := e.count(http.MethodGet, "/queues"); n != 2 {
		t.Errorf("%d queue listings, want 2", n)
	}
}

// confirmSlowScale asks for "scale etl 128", then confirms it with the
// queue read of the execution slow (ms), and freezes.
func confirmSlowScale(t *testing.T, e *env, method, path string, ms int) {
	t.Helper()
	_, a := e.run(t, uOperator, "scale etl 128")
	id := confirmationID(t, a.Blocks, actionConfirm)
	e.slow(t, method, path, ms, 1)
	if st := e.click(t, uOperator, actionConfirm, id, "c1"); st != http.StatusOK {
		t.Fatalf("click status %d", st)
	}
	recs := records(t, e.svc)
	if len(recs) != 1 || recs[0].Kind != kindClick || recs[0].Pending == nil || recs[0].Pending.Text != "scale etl 128" {
		t.Fatalf("records %+v", recs)
	}
	e.freeze()
}

// TestLambdaDeferredConfirmedScaleRunsOnce: a confirmed scale frozen before
// it reached DLI is resumed by the tick from the stored confirmation; two
// ticks at once and a later one scale once.
func TestLambdaDeferredConfirmedScaleRunsOnce(t *testing.T) {
	e := lambdaEnv(t)
	confirmSlowScale(t, e, http.MethodGet, `/queues/etl$`, 3000)
	if n := len(e.dliCalls("PUT", "/queues/etl/action")); n != 0 {
		t.Fatalf("scaled before the tick: %d", n)
	}
	if got := finalResponses(e, "c1"); len(got) != 0 {
		t.Fatalf("answers before the tick %q", got)
	}
	e.clock.Advance(deferLease + time.Second)
	t1, t2 := e.invocation(t), e.invocation(t)
	tickAll(t, t1, t2)
	e.clock.Advance(deferLease + time.Second)
	tickAll(t, t1, t2)
	calls := e.dliCalls("PUT", "/queues/etl/action")
	if len(calls) != 1 || !strings.Contains(calls[0], "scale_out") {
		t.Fatalf("scale calls %v", calls)
	}
	got := finalResponses(e, "c1")
	if len(got) != 1 || !strings.Contains(got[0], "Scaling queue *etl* from 64 to 128 CU") {
		t.Fatalf("answers %q", got)
	}
	wantDecisions(t, e, DecisionConfirmRequested, DecisionConfirmed)
	if a := e.aud.last(t); a.Outcome != OutcomeOK || a.Command != "scale" || a.Text != "scale etl 128" || a.User != uOperator {
		t.Errorf("audit %+v", a)
	}
}

// TestLambdaFrozenDuringScaleNeverRepeats: frozen after the scale was sent
// to DLI, the tick does not send it again; it says the outcome is unknown
// and how to check.
func TestLambdaFrozenDuringScaleNeverRepeats(t *testing.T) {
	e := lambdaEnv(t)
	confirmSlowScale(t, e, http.MethodPut, `/queues/etl/action$`, 3000)
	e.clock.Advance(deferLease + time.Second)
	tick := e.invocation(t)
	tickAll(t, tick, e.invocation(t))
	if n := len(e.dliCalls("PUT", "/queues/etl/action")); n != 1 {
		t.Fatalf("%d scale calls, want 1 (the frozen one)", n)
	}
	got := finalResponses(e, "c1")
	if len(got) != 1 || !strings.Contains(got[0], "scaling queue etl from 64 to 128 CU") ||
		!strings.Contains(got[0], "may or may not have happened") || !strings.Contains(got[0], "/dli queue etl") {
		t.Fatalf("answers %q", got)
	}
	if r := e.slack.Responses("c1"); r[len(r)-1].ReplaceOriginal {
		t.Errorf("the unknown-outcome notice replaces the message (it may hide the real answer): %+v", r[len(r)-1])
	}
	if a := e.aud.last(t); a.Decision != DecisionConfirmed || a.Outcome != OutcomeError {
		t.Errorf("audit %+v", a)
	}
	if n := len(records(t, tick)); n != 0 {
		t.Errorf("%d records left", n)
	}
}

// TestLambdaThawedRunLosesToTaker: the invocation is not frozen but slower
// than its lease (it was paused); the tick takes over and scales; when the
// first run resumes it stops at its revision check: one scale, one answer.
func TestLambdaThawedRunLosesToTaker(t *testing.T) {
	e := lambdaEnv(t)
	_, a := e.run(t, uOperator, "scale etl 128")
	id := confirmationID(t, a.Blocks, actionConfirm)
	e.slow(t, http.MethodGet, `/queues/etl$`, 2500, 1)
	e.click(t, uOperator, actionConfirm, id, "c1")
	e.clock.Advance(deferLease + time.Second)
	tickAll(t, e.invocation(t))
	e.settle() // the first run comes back and finds its record taken
	if n := len(e.dliCalls("PUT", "/queues/etl/action")); n != 1 {
		t.Fatalf("%d scale calls, want 1", n)
	}
	if got := finalResponses(e, "c1"); len(got) != 1 || !strings.Contains(got[0], "Scaling queue *etl*") {
		t.Fatalf("answers %q", got)
	}
	wantDecisions(t, e, DecisionConfirmRequested, DecisionConfirmed)
}

// TestLambdaPausedRunHandsBackError: a run frozen past its lease that then
// fails (here DLI answers 503 as the environment thaws) does not answer
// with that error: it hands the work back and the tick runs it again.
func TestLambdaPausedRunHandsBackError(t *testing.T) {
	e := lambdaEnv(t)
	if err := e.emu.AddFault(dlitest.Fault{Method: http.MethodGet, PathRegex: `/queues$`, LatencyMS: 1600, Status: 503,
		ErrorCode: "DLI.0999", ErrorMsg: "busy", Count: 1}); err != nil {
		t.Fatal(err)
	}
	_, a := e.run(t, uViewer, "queues")
	if !strings.HasPrefix(a.Text, "⏳ working") {
		t.Fatalf("answer %q", a.Text)
	}
	e.clock.Advance(deferLease + time.Second) // paused past its lease
	e.settle()
	if got := finalResponses(e, "cmd"); len(got) != 0 {
		t.Fatalf("the paused run answered %q", got)
	}
	recs := records(t, e.svc)
	if len(recs) != 1 || !recs[0].Lease.IsZero() {
		t.Fatalf("records %+v", recs)
	}
	tickAll(t, e.invocation(t))
	if got := finalResponses(e, "cmd"); len(got) != 1 || !strings.Contains(got[0], "4 queues") {
		t.Fatalf("answers %q", got)
	}
	wantDecisions(t, e, DecisionAllowed)
}

// natsKiller stops the NATS server when a command starts listing queues:
// the command was verified (the replay guard needs NATS), the record of
// its deferral cannot be stored.
type natsKiller struct {
	DLI
	kill func()
}

func (k natsKiller) ListQueues(ctx context.Context, typ dli.QueueType) ([]dli.Queue, error) {
	k.kill()
	return k.DLI.ListQueues(ctx, typ)
}

// TestLambdaNATSDownSaysResultMayNotFollow: when the record cannot be
// stored, the answer says so instead of "working…".
func TestLambdaNATSDownSaysResultMayNotFollow(t *testing.T) {
	e := lambdaEnv(t)
	var once sync.Once
	e.svc.dli = natsKiller{DLI: e.svc.dli, kill: func() { once.Do(e.nats.Shutdown) }}
	e.slow(t, http.MethodGet, `/queues$`, 2500, 1)
	start := time.Now()
	_, a := e.run(t, uViewer, "queues")
	if took := time.Since(start); took > 2900*time.Millisecond {
		t.Errorf("answered after %s", took)
	}
	if strings.HasPrefix(a.Text, "⏳") || !strings.Contains(a.Text, "could not save it") || !strings.Contains(a.Text, "may not follow") {
		t.Fatalf("answer %q", a.Text)
	}
	// the process stays alive here: the result still follows
	if r := lastResponse(t, e.slack, "cmd", 1); !strings.Contains(r.Text, "4 queues") {
		t.Errorf("answer %+v", r)
	}
}

// queueKiller stops the NATS server when the execution of a confirmed
// scale reads the queue (after the confirmation was claimed).
type queueKiller struct {
	DLI
	kill func()
}

func (k queueKiller) GetQueue(ctx context.Context, name string) (dli.Queue, error) {
	k.kill()
	return k.DLI.GetQueue(ctx, name)
}

// TestLambdaNATSDownClickSaysSo: a slow click whose deferral cannot be
// stored says so in a message of its own; the change is not made (a record
// of it may have been stored after all, and a tick would then make it: the
// run never makes a change it could not record), and the answer says how
// to check.
func TestLambdaNATSDownClickSaysSo(t *testing.T) {
	e := lambdaEnv(t)
	_, a := e.run(t, uOperator, "scale etl 128")
	id := confirmationID(t, a.Blocks, actionConfirm)
	var once sync.Once
	e.svc.dli = queueKiller{DLI: e.svc.dli, kill: func() { once.Do(e.nats.Shutdown) }}
	e.slow(t, http.MethodGet, `/queues/etl$`, 2500, 1)
	e.click(t, uOperator, actionConfirm, id, "c1")
	e.settle()
	rs := e.slack.WaitResponses("c1", 2, 5*time.Second)
	if len(rs) != 2 {
		t.Fatalf("responses %+v", rs)
	}
	if !strings.Contains(rs[0].Text, "could not save it") || rs[0].ReplaceOriginal {
		t.Errorf("notice %+v", rs[0])
	}
	if !strings.Contains(rs[1].Text, "it was not made here") || !strings.Contains(rs[1].Text, "/dli queue etl") || !rs[1].ReplaceOriginal {
		t.Errorf("result %+v", rs[1])
	}
	if n := len(e.dliCalls("PUT", "/queues/etl/action")); n != 0 {
		t.Errorf("%d scale calls without a record", n)
	}
}

// lostAckKV stores the first deferred record but reports a failure, as
// when the acknowledgement of the create is lost.
type lostAckKV struct {
	jetstream.KeyValue
	once sync.Once
}

func (k *lostAckKV) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	rev, err := k.KeyValue.Create(ctx, key, value, opts...)
	lie := false
	if strings.HasPrefix(key, "deferred.") {
		k.once.Do(func() { lie = true })
	}
	if lie && err == nil {
		return 0, context.DeadlineExceeded
	}
	return rev, err
}

// TestLambdaLostCreateAckAdopted: the record was stored although its
// create reported a failure; the run adopts it before scaling, so the tick
// finds it finished instead of scaling again.
func TestLambdaLostCreateAckAdopted(t *testing.T) {
	e := lambdaEnv(t)
	_, a := e.run(t, uOperator, "scale etl 128")
	id := confirmationID(t, a.Blocks, actionConfirm)
	e.svc.st.kv = &lostAckKV{KeyValue: e.svc.st.kv}
	e.slow(t, http.MethodGet, `/queues/etl$`, 1800, 1)
	e.click(t, uOperator, actionConfirm, id, "c1")
	e.settle()
	rs := e.slack.Responses("c1")
	if len(rs) != 2 || !strings.Contains(rs[0].Text, "could not save it") || !strings.Contains(rs[1].Text, "Scaling queue *etl*") {
		t.Fatalf("responses %+v", rs)
	}
	if n := len(records(t, e.svc)); n != 0 {
		t.Errorf("%d records left", n)
	}
	e.clock.Advance(deferLease + time.Second)
	tickAll(t, e.invocation(t))
	if n := len(e.dliCalls("PUT", "/queues/etl/action")); n != 1 {
		t.Errorf("%d scale calls, want 1", n)
	}
	if got := finalResponses(e, "c1"); len(got) != 2 {
		t.Errorf("answers %q", got)
	}
}

// TestLambdaWithoutNATSSaysSo: without NATS in Lambda the "working…"
// answer says the result may not follow.
func TestLambdaWithoutNATSSaysSo(t *testing.T) {
	e := newEnv(t, envOpts{lambda: true, noNATS: true, cfg: func(c *Config) { c.AckBudget = 50 * time.Millisecond }})
	e.slow(t, http.MethodGet, `/queues$`, 300, 1)
	_, a := e.run(t, uViewer, "queues")
	if !strings.HasPrefix(a.Text, "⏳ working on it…") || !strings.Contains(a.Text, "without NATS") || !strings.Contains(a.Text, "run the command again") {
		t.Fatalf("answer %q", a.Text)
	}
	if r := lastResponse(t, e.slack, "cmd", 1); !strings.Contains(r.Text, "4 queues") {
		t.Errorf("answer %+v", r)
	}
}

// TestServeKeepsNoRecords: outside Lambda a slow command keeps its result
// in the process and stores nothing.
func TestServeKeepsNoRecords(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.AckBudget = 50 * time.Millisecond }})
	e.slow(t, http.MethodGet, `/queues$`, 300, 1)
	_, a := e.run(t, uViewer, "queues")
	if a.Text != "⏳ working on it…" {
		t.Fatalf("answer %q", a.Text)
	}
	if n := len(records(t, e.svc)); n != 0 {
		t.Errorf("%d records stored outside Lambda", n)
	}
	lastResponse(t, e.slack, "cmd", 1)
}

// TestLambdaDeferredPastWindow: a record found after Slack's reply window
// is not run; the channel is told.
func TestLambdaDeferredPastWindow(t *testing.T) {
	e := lambdaEnv(t)
	e.slow(t, http.MethodGet, `/queues$`, 3000, 1)
	e.run(t, uViewer, "queues")
	e.freeze()
	e.clock.Advance(e.cfg.ResponseWindow + time.Minute)
	tickAll(t, e.invocation(t))
	if got := finalResponses(e, "cmd"); len(got) != 0 {
		t.Errorf("posted to an expired response_url: %q", got)
	}
	msgs := e.slack.WaitCalls("chat.postMessage", 1, 5*time.Second)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "could not be delivered") {
		t.Fatalf("channel notices %+v", msgs)
	}
	if n := e.count(http.MethodGet, "/queues"); n != 1 {
		t.Errorf("%d listings: an expired record ran", n)
	}
}

// TestLambdaDoneRecordPostedByTick: a run that stored its answer and
// stopped before posting it (phase done) is posted by the tick, once.
func TestLambdaDoneRecordPostedByTick(t *testing.T) {
	e := lambdaEnv(t)
	now := e.clock.Now()
	rec := deferred{ID: "0123456789abcdef0123", Kind: kindCommand, Phase: phaseDone, Owner: "gone", Lease: now.Add(-time.Second),
		Runs: 1, Created: now, Since: now, Req: &request{User: uViewer, Channel: chanTeam, Text: "queues", ResponseURL: e.slack.ResponseURL("cmd")},
		Answer: &message{ResponseType: "ephemeral", ReplaceOriginal: true, Text: "stored answer"},
		Audit:  AuditRecord{User: uViewer, Channel: chanTeam, Text: "queues", Command: "queues"}}
	b, _ := json.Marshal(&rec)
	if _, err := e.svc.st.kv.Create(context.Background(), rec.key(), b); err != nil {
		t.Fatal(err)
	}
	tick := e.invocation(t)
	tickAll(t, tick, e.invocation(t))
	e.clock.Advance(deferLease + time.Second)
	tickAll(t, tick)
	if got := finalResponses(e, "cmd"); len(got) != 1 || got[0] != "stored answer" {
		t.Fatalf("answers %q", got)
	}
	if n := len(records(t, tick)); n != 0 {
		t.Errorf("%d records left", n)
	}
	if n := len(e.emu.Requests()); n != 0 {
		t.Errorf("%d DLI requests: a done record ran again", n)
	}
}

// TestLambdaDeferredGivesUp: a record run deferMaxRuns times without an
// answer (each run killed) is not run again; the user is told.
func TestLambdaDeferredGivesUp(t *testing.T) {
	e := lambdaEnv(t)
	now := e.clock.Now()
	rec := deferred{ID: "0123456789abcdef0124", Kind: kindCommand, Phase: phaseRunning, Owner: "gone", Lease: now.Add(-time.Second),
		Runs: deferMaxRuns, Created: now, Since: now, Req: &request{User: uViewer, Channel: chanTeam, Text: "queues", ResponseURL: e.slack.ResponseURL("cmd")},
		Audit: AuditRecord{User: uViewer, Channel: chanTeam, Text: "queues", Command: "queues"}}
	b, _ := json.Marshal(&rec)
	if _, err := e.svc.st.kv.Create(context.Background(), rec.key(), b); err != nil {
		t.Fatal(err)
	}
	tickAll(t, e.invocation(t))
	if got := finalResponses(e, "cmd"); len(got) != 1 || !strings.Contains(got[0], "after 3 attempts") {
		t.Fatalf("answers %q", got)
	}
	if n := len(e.emu.Requests()); n != 0 {
		t.Errorf("%d DLI requests after giving up", n)
	}
	if a := e.aud.last(t); a.Outcome != OutcomeError || a.Command != "queues" {
		t.Errorf("audit %+v", a)
	}
}

// BenchmarkDeferStore is what deferring adds before the "working…" answer
// in Lambda: storing the record (one KV create on embedded NATS).
func BenchmarkDeferStore(b *testing.B) {
	e := newEnv(b, envOpts{lambda: true})
	req := request{User: uViewer, Channel: chanTeam, Text: "queues", ResponseURL: e.slack.ResponseURL("cmd"), Received: e.clock.Now()}
	b.ReportAllocs()
	for b.Loop() {
		rn := newRun(e.svc)
		if err := rn.persist(context.Background(), &deferred{Kind: kindCommand, Req: &req, Since: req.Received}); err != nil {
			b.Fatal(err)
		}
		rn.end()
	}
}

// TestLambdaDeferredApprovalResumed: an approval click on a protected queue
// frozen before the scale reached DLI is carried out by the tick as the
// approval (in the channel, audited with the approver), once.
func TestLambdaDeferredApprovalResumed(t *testing.T) {
	e := lambdaEnv(t)
	_, a := e.run(t, uOperator, "scale prod 256")
	e.click(t, uOperator, actionConfirm, confirmationID(t, a.Blocks, actionConfirm), "confirm")
	ask := lastResponse(t, e.slack, "confirm", 1)
	approveID := confirmationID(t, ask.Blocks, actionApprove)
	e.slow(t, http.MethodGet, `/queues/prod$`, 3000, 1)
	e.click(t, uOperator2, actionApprove, approveID, "ok")
	e.freeze()
	if n := e.mutations(); n != 0 {
		t.Fatalf("%d changes before the tick", n)
	}
	e.clock.Advance(deferLease + time.Second)
	tickAll(t, e.invocation(t), e.invocation(t))
	if n := len(e.dliCalls("PUT", "/queues/prod/action")); n != 1 {
		t.Fatalf("%d scale calls, want 1", n)
	}
	r := lastResponse(t, e.slack, "ok", 1)
	if !strings.Contains(r.Text, "Approved by <@U0OPERATOR2>") || r.ResponseType != "in_channel" {
		t.Errorf("approval answer %+v", r)
	}
	last := e.aud.last(t)
	if last.Decision != DecisionApproved || last.Approver != uOperator2 || last.Requester != uOperator || last.Outcome != OutcomeOK {
		t.Errorf("audit %+v", last)
	}
}
