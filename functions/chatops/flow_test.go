package chatops

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

func decisions(e *env) []string {
	var d []string
	for _, a := range e.aud.list() {
		d = append(d, a.Decision)
	}
	return d
}

func wantDecisions(t *testing.T, e *env, want ...string) {
	t.Helper()
	got := decisions(e)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit decisions %v, want %v", got, want)
	}
}

// lastResponse waits for the n-th answer on a response_url, not counting
// interim "working…" answers (a slow machine may push a click past the ack
// budget), and returns it.
func lastResponse(t *testing.T, s *slacktest.Server, name string, n int) slacktest.Response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var final []slacktest.Response
		for _, r := range s.Responses(name) {
			if !strings.HasPrefix(r.Text, "⏳ working") {
				final = append(final, r)
			}
		}
		if len(final) >= n {
			return final[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d answers on %s, want %d", len(final), name, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConfirmFlow(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, a := e.run(t, uOperator, "scale etl 128")
	id := confirmationID(t, a.Blocks, actionConfirm)
	if n := e.mutations(); n != 0 {
		t.Fatalf("%d DLI changes before the confirmation", n)
	}
	// someone else cannot confirm
	if st := e.click(t, uOperator2, actionConfirm, id, "c0"); st != 200 {
		t.Fatalf("status %d", st)
	}
	if r := lastResponse(t, e.slack, "c0", 1); !strings.Contains(r.Text, "Only <@U0OPERATOR>") || r.ReplaceOriginal {
		t.Errorf("other user's confirm: %+v", r)
	}
	if n := e.mutations(); n != 0 {
		t.Fatal("another user's click changed DLI")
	}
	e.click(t, uOperator, actionConfirm, id, "c1")
	r := lastResponse(t, e.slack, "c1", 1)
	if !strings.Contains(r.Text, "Scaling queue *etl* from 64 to 128 CU") || !r.ReplaceOriginal {
		t.Errorf("confirm answer %+v", r)
	}
	if calls := e.dliCalls("PUT", "/queues/etl/action"); len(calls) != 1 || !strings.Contains(calls[0], "scale_out") {
		t.Errorf("scale calls %v", calls)
	}
	// single use: a second click (e.g. a double click) runs nothing
	e.click(t, uOperator, actionConfirm, id, "c2")
	if r := lastResponse(t, e.slack, "c2", 1); !strings.Contains(r.Text, "unknown, expired or already used") {
		t.Errorf("second confirm: %+v", r)
	}
	if calls := e.dliCalls("PUT", "/queues/etl/action"); len(calls) != 1 {
		t.Errorf("scale ran %d times", len(calls))
	}
	wantDecisions(t, e, DecisionConfirmRequested, DecisionDenied, DecisionConfirmed, DecisionExpired)
	conf := e.aud.list()[2]
	if conf.User != uOperator || conf.Text != "scale etl 128" || conf.Outcome != OutcomeOK || conf.Command != "scale" ||
		len(conf.DLIIDs) != 1 || conf.DLIIDs[0] != "etl" || conf.Confirmation != id || conf.Channel != chanTeam {
		t.Errorf("audit of the confirmed scale: %+v", conf)
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, a := e.run(t, uOperator, "flink stop 13 --savepoint")
	id := confirmationID(t, a.Blocks, actionCancel)
	e.click(t, uOperator, actionCancel, id, "c")
	if r := lastResponse(t, e.slack, "c", 1); !strings.Contains(r.Text, "Cancelled") {
		t.Errorf("%+v", r)
	}
	if e.mutations() != 0 {
		t.Error("cancel changed DLI")
	}
	wantDecisions(t, e, DecisionConfirmRequested, DecisionCancelled)
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, a := e.run(t, uOperator, "spark cancel 0")
	_ = a
	_, a = e.run(t, uOperator, "scale etl 32")
	id := confirmationID(t, a.Blocks, actionConfirm)
	e.clock.Advance(e.cfg.ConfirmTTL + time.Second)
	e.click(t, uOperator, actionConfirm, id, "c")
	if r := lastResponse(t, e.slack, "c", 1); !strings.Contains(r.Text, "expired") {
		t.Errorf("%+v", r)
	}
	if e.mutations() != 0 {
		t.Error("expired confirmation changed DLI")
	}
	if d := decisions(e); d[len(d)-1] != DecisionExpired {
		t.Errorf("decisions %v", d)
	}
}

// TestApprovalFlow: a protected queue needs the requester's confirmation,
// then a second person's approval; the requester cannot approve, a viewer
// cannot approve, a second operator can.
func TestApprovalFlow(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, a := e.run(t, uOperator, "scale prod 256")
	id := confirmationID(t, a.Blocks, actionConfirm)
	e.click(t, uOperator, actionConfirm, id, "confirm")
	ask, wait := lastResponse(t, e.slack, "confirm", 1), lastResponse(t, e.slack, "confirm", 2)
	if ask.ResponseType != "in_channel" || !strings.Contains(ask.Text, "asks for approval") {
		t.Errorf("approval request %+v", ask)
	}
	if !strings.Contains(wait.Text, "Waiting for approval") || !wait.ReplaceOriginal {
		t.Errorf("requester's answer %+v", wait)
	}
	approveID := confirmationID(t, ask.Blocks, actionApprove)
	if e.mutations() != 0 {
		t.Fatal("changed before approval")
	}
	e.click(t, uOperator, actionApprove, approveID, "self")
	if r := lastResponse(t, e.slack, "self", 1); !strings.Contains(r.Text, "cannot approve your own") {
		t.Errorf("self approval: %+v", r)
	}
	e.click(t, uViewer, actionApprove, approveID, "viewer")
	if r := lastResponse(t, e.slack, "viewer", 1); !strings.Contains(r.Text, "may not approve") {
		t.Errorf("viewer approval: %+v", r)
	}
	if e.mutations() != 0 {
		t.Fatal("refused approvals changed DLI")
	}
	e.click(t, uOperator2, actionApprove, approveID, "ok")
	r := lastResponse(t, e.slack, "ok", 1)
	if !strings.Contains(r.Text, "Approved by <@U0OPERATOR2>") || r.ResponseType != "in_channel" {
		t.Errorf("approval answer %+v", r)
	}
	if calls := e.dliCalls("PUT", "/queues/prod/action"); len(calls) != 1 {
		t.Errorf("scale calls %v", calls)
	}
	wantDecisions(t, e, DecisionConfirmRequested, DecisionApprovalAsked, DecisionSelfApproval, DecisionDenied, DecisionApproved)
	ap := e.aud.last(t)
	if ap.Approver != uOperator2 || ap.Requester != uOperator || ap.User != uOperator2 {
		t.Errorf("approval audit %+v", ap)
	}
}

func TestApprovalExpiresAndDeny(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, a := e.run(t, uOperator, "scale prod 256")
	e.click(t, uOperator, actionConfirm, confirmationID(t, a.Blocks, actionConfirm), "confirm")
	ask := lastResponse(t, e.slack, "confirm", 1)
	approveID := confirmationID(t, ask.Blocks, actionApprove)
	e.clock.Advance(e.cfg.ConfirmTTL + time.Minute)
	e.click(t, uOperator2, actionApprove, approveID, "late")
	if r := lastResponse(t, e.slack, "late", 1); !strings.Contains(r.Text, "expired") {
		t.Errorf("late approval %+v", r)
	}
	// a fresh request, denied by the second person
	_, a = e.run(t, uOperator, "scale prod 192")
	e.click(t, uOperator, actionConfirm, confirmationID(t, a.Blocks, actionConfirm), "confirm2")
	ask = lastResponse(t, e.slack, "confirm2", 1)
	e.click(t, uOperator2, actionDeny, confirmationID(t, ask.Blocks, actionDeny), "deny")
	if r := lastResponse(t, e.slack, "deny", 1); !strings.Contains(r.Text, "rejected") {
		t.Errorf("deny %+v", r)
	}
	if e.mutations() != 0 {
		t.Error("expired or denied approvals changed DLI")
	}
}

func TestNeedsNATS(t *testing.T) {
	e := newEnv(t, envOpts{noNATS: true})
	_, a := e.run(t, uAdmin, "scale etl 128")
	if !strings.Contains(a.Text, "needs NATS") {
		t.Errorf("answer %q", a.Text)
	}
	_, a = e.run(t, uAdmin, "scale etl 128 --dry-run")
	if !strings.Contains(a.Text, "Dry run") {
		t.Errorf("dry run without NATS: %q", a.Text)
	}
	_, a = e.run(t, uAdmin, "queues")
	if !strings.Contains(a.Text, "4 queues") {
		t.Errorf("read without NATS: %q", a.Text)
	}
	if e.mutations() != 0 {
		t.Error("changed DLI without NATS")
	}
	wantDecisions(t, e, DecisionUnavailable, DecisionDryRun, DecisionAllowed)
	// a click without NATS
	e.click(t, uAdmin, actionConfirm, "0123456789abcdef0123", "c")
	if r := lastResponse(t, e.slack, "c", 1); !strings.Contains(r.Text, "needs NATS") {
		t.Errorf("%+v", r)
	}
}

// TestScaleForReverts: --for stores a revert in KV; a tick after the time
// (here on a second Service, as after a restart) scales back.
func TestScaleForReverts(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, a := e.run(t, uOperator, "scale etl 128 --for 2h")
	e.click(t, uOperator, actionConfirm, confirmationID(t, a.Blocks, actionConfirm), "c")
	if r := lastResponse(t, e.slack, "c", 1); !strings.Contains(r.Text, "reverts to 64 CU") {
		t.Fatalf("%+v", r)
	}
	e.emu.Advance(10 * time.Minute) // the scale completes
	if err := e.svc.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls := e.dliCalls("PUT", "/queues/etl/action"); len(calls) != 1 {
		t.Fatalf("reverted too early: %v", calls)
	}
	// "restart": a new service on the same KV
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = e.svc.Close(ctx)
	svc2 := startService(t, e.opts)
	e.clock.Advance(2*time.Hour + time.Second)
	if err := svc2.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls := e.dliCalls("PUT", "/queues/etl/action")
	if len(calls) != 2 || !strings.Contains(calls[1], "scale_in") || !strings.Contains(calls[1], `"cu_count":64`) {
		t.Errorf("revert calls %v", calls)
	}
	// done once: another tick does nothing
	_ = svc2.Tick(context.Background())
	if n := len(e.dliCalls("PUT", "/queues/etl/action")); n != 2 {
		t.Errorf("revert ran again: %d calls", n)
	}
	// the response_url's 30 minutes are over: the notice goes to the channel
	if ms := e.slack.Messages(chanTeam); len(ms) != 1 || !strings.Contains(ms[0].Text, "reverted to 64 CU") {
		t.Errorf("revert notice %+v", ms)
	}
	if rs := e.slack.Responses("cmd"); len(rs) != 0 {
		t.Errorf("expired response_url used: %+v", rs)
	}
	if d := decisions(e); d[len(d)-1] != DecisionAutoRevert {
		t.Errorf("decisions %v", d)
	}
}

// TestSQLFinishNotice: the submitter hears in the same conversation when a
// submitted job ends.
func TestSQLFinishNotice(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, a := e.run(t, uViewer, "sql SELECT * FROM demo.events LIMIT 5")
	if !strings.Contains(a.Text, "Submitted SQL job") {
		t.Fatalf("%q", a.Text)
	}
	e.emu.Advance(5 * time.Minute)
	r := lastResponse(t, e.slack, "cmd", 1)
	if !strings.Contains(r.Text, "<@U0VIEWER> your SQL job") || !strings.Contains(r.Text, "FINISHED") {
		t.Errorf("finish notice %+v", r)
	}
}

// TestSlowCommandFinishesThroughResponseURL: a command slower than the ack
// budget answers "working…" and delivers its result on the response_url.
func TestSlowCommandFinishesThroughResponseURL(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.AckBudget = 50 * time.Millisecond }})
	if err := e.emu.AddFault(dlitestDelay(300)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, a := e.run(t, uViewer, "queues")
	if time.Since(start) > 2500*time.Millisecond || !strings.Contains(a.Text, "working") {
		t.Fatalf("answer %q after %s", a.Text, time.Since(start))
	}
	r := lastResponse(t, e.slack, "cmd", 1)
	if !strings.Contains(r.Text, "4 queues") || !r.ReplaceOriginal {
		t.Errorf("delayed answer %+v", r)
	}
	if a := e.aud.last(t); a.Decision != DecisionAllowed || a.Outcome != OutcomeOK {
		t.Errorf("audit %+v", a)
	}
}

// panickyDLI panics on ListQueues (a bug in a dependency).
type panickyDLI struct{ DLI }

func (panickyDLI) ListQueues(context.Context, dli.QueueType) ([]dli.Queue, error) {
	panic("boom: internal state at 0xdeadbeef")
}

// TestPanicIsNotAStackTrace: a panic while running a command answers a
// plain error, never the panic text or a stack trace.
func TestPanicIsNotAStackTrace(t *testing.T) {
	e := newEnv(t, envOpts{noNATS: true})
	e.svc.dli = panickyDLI{e.svc.dli}
	status, a := e.run(t, uViewer, "queues")
	if status != 200 || !strings.Contains(a.Text, "Something went wrong") || strings.Contains(a.Text+string(a.Blocks), "deadbeef") {
		t.Errorf("%d %q", status, a.Text)
	}
	if last := e.aud.last(t); last.Outcome != OutcomeError {
		t.Errorf("audit %+v", last)
	}
}

// TestConcurrentConfirmsRunOnce: five simultaneous clicks on one Confirm
// button (double clicks, two replicas) run the change exactly once.
func TestConcurrentConfirmsRunOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, a := e.run(t, uOperator, "scale etl 128")
	id := confirmationID(t, a.Blocks, actionConfirm)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.click(t, uOperator, actionConfirm, id, "cc"+strconv.Itoa(i))
		}()
	}
	wg.Wait()
	e.settle()
	if calls := e.dliCalls("PUT", "/queues/etl/action"); len(calls) != 1 {
		t.Errorf("scale ran %d times", len(calls))
	}
	confirmed := 0
	for _, d := range decisions(e) {
		if d == DecisionConfirmed {
			confirmed++
		}
	}
	if confirmed != 1 {
		t.Errorf("decisions %v", decisions(e))
	}
}

// TestClickAckedWhileResponseURLHangs: a click is acknowledged within
// Slack's 3 seconds even when posting its answer hangs.
func TestClickAckedWhileResponseURLHangs(t *testing.T) {
	e := newEnv(t, envOpts{})
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(block) })
	_, a := e.run(t, uOperator, "scale etl 128")
	id := confirmationID(t, a.Blocks, actionCancel)
	payload := `{"type":"block_actions","user":{"id":"` + uOperator + `"},"channel":{"id":"` + chanTeam + `"},"response_url":"` + hang.URL +
		`/r","actions":[{"action_id":"cancel","value":"` + id + `"}]}`
	body := url.Values{"payload": {payload}}.Encode()
	start := time.Now()
	rec := httptest.NewRecorder()
	e.svc.ServeInteraction(rec, signedReq("/slack/interactions", body, testSecret, e.clock.Now()))
	if d := time.Since(start); rec.Code != 200 || d > 2900*time.Millisecond {
		t.Errorf("status %d after %s", rec.Code, d)
	}
}
