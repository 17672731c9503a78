package chatops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

// Deferred work (Lambda only).
//
// In Lambda the execution environment is frozen as soon as the handler
// returns, so a command still running when the ack budget passes cannot
// count on its goroutine. Before answering "working…" the command (or
// click) is stored create-only under deferred.<id> in the KV bucket, owned
// by the running invocation with a lease it renews while it is alive.
// Whoever runs next completes it: the invocation itself if it is thawed and
// finishes first, or the schedule tick, which takes over a record whose
// lease ran out (a revision-checked update, so one taker wins) and runs it
// again from where it stood. Every step that matters is a revision-checked
// transition of the record:
//
//	running  → the command or click runs; nothing has changed DLI yet: a
//	           taker runs it again.
//	claimed  → a click took its confirmation (pending.<id> is consumed): a
//	           taker resumes with the stored confirmation instead of
//	           clicking again.
//	effect   → a change was sent to DLI (scale, plan, flink, spark, SQL):
//	           a taker never sends it again; it tells the user the outcome
//	           is unknown and how to check.
//	done     → the answer is stored: a taker posts it (again).
//
// The record is deleted once the answer is posted. A run that loses its
// record (a taker won) stops at its next transition and posts nothing.

// Phases of deferred work.
const (
	phaseRunning = "running"
	phaseClaimed = "claimed"
	phaseEffect  = "effect"
	phaseDone    = "done"
)

// Kinds of deferred work.
const (
	kindCommand = "command"
	kindClick   = "click"
)

// Deferred-work timings.
const (
	// deferLease is how long a run owns its record without renewing it; a
	// frozen run's record is taken over by the first tick after it ends.
	deferLease = 15 * time.Second
	// deferStoreTimeout bounds storing the record before the "working…"
	// answer (Slack waits 3 s; the ack budget is at most 2.5 s).
	deferStoreTimeout = 500 * time.Millisecond
	// deferMaxRuns is how many times a record is run (the first run
	// included) before the tick gives up and tells the user.
	deferMaxRuns = 3
	// deferParallel is how many records one tick runs at once.
	deferParallel = 4
	// deferKVTimeout bounds one write of a record while the work runs
	// (NATS unreachable: the run then changes nothing rather than wait).
	deferKVTimeout = 2 * time.Second
	// deferAnswerReserve is kept of a tick's deadline to store and post
	// the answer after the work.
	deferAnswerReserve = 3 * time.Second
)

// errLostRun reports a run whose record another invocation took over.
var errLostRun = errors.New("chatops: deferred work taken over by another invocation")

// deferred is a command or click whose answer follows through its
// response_url, stored under deferred.<ID>.
type deferred struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Phase string `json:"phase"`
	// Owner is the run holding the lease; Lease is when it ends.
	Owner string    `json:"owner"`
	Lease time.Time `json:"lease"`
	// Runs counts the runs started (the first one included).
	Runs    int       `json:"runs"`
	Created time.Time `json:"created"`
	// Since is when the command arrived (its response_url's window and the
	// audit latency start).
	Since time.Time `json:"since"`
	// Req is the verified slash command (kind command).
	Req *request `json:"req,omitempty"`
	// Click is the verified click (kind click); Pending the confirmation
	// it consumed (phase claimed and later).
	Click   *clickAction `json:"click,omitempty"`
	Pending *pending     `json:"pending,omitempty"`
	// Effect says what was sent to DLI (phase effect) and Check how the
	// user checks whether it happened.
	Effect string `json:"effect,omitempty"`
	Check  string `json:"check,omitempty"`
	// Answer is the final answer (phase done).
	Answer *message `json:"answer,omitempty"`
	// Audit is the audit record as known before the work ran.
	Audit AuditRecord `json:"audit"`
}

func (d *deferred) key() string { return "deferred." + d.ID }

func (d *deferred) responseURL() string {
	if d.Click != nil {
		return d.Click.ResponseURL
	}
	if d.Req != nil {
		return d.Req.ResponseURL
	}
	return ""
}

func (d *deferred) channel() string { return d.Audit.Channel }

// run is one execution of a command or click; once stored (deferred) its
// notes go to the record, before that they are kept here and stored with
// it.
type run struct {
	s      *Service
	id     string
	cancel context.CancelFunc
	stop   chan struct{} // closed when the run is over or lost
	once   sync.Once

	mu   sync.Mutex
	rec  *deferred // nil until stored
	want *deferred // the record whose create failed (uncertain)
	// uncertain: the create failed, possibly after reaching the server (a
	// lost acknowledgement, a publish buffered while reconnecting): a
	// record may exist. Before any step that matters the run creates or
	// adopts it (adoptLocked), else it changes nothing.
	uncertain bool
	rev       uint64
	saved     time.Time // when the record was last written (service clock)
	paused    bool      // the lease lapsed while the run was alive: it was frozen
	lost      bool
	over      bool
	phase     string
	effect    string
	check     string
	pend      *pending
}

// newRun starts a run; its owner id is made when it is stored.
func newRun(s *Service) *run { return &run{s: s, stop: make(chan struct{})} }

// end marks the run over (its lease is no longer renewed).
func (r *run) end() {
	r.mu.Lock()
	r.over = true
	r.mu.Unlock()
	r.once.Do(func() { close(r.stop) })
}

type runKey struct{}

func withRun(ctx context.Context, r *run) context.Context { return context.WithValue(ctx, runKey{}, r) }

func runFrom(ctx context.Context) *run {
	r, _ := ctx.Value(runKey{}).(*run)
	return r
}

// stored reports whether the run has a record.
func (r *run) stored() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rec != nil
}

// persist stores rec create-only with the run's notes, owned by the run.
func (r *run) persist(ctx context.Context, rec *deferred) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.s.now()
	rec.Phase = r.phase
	if rec.Phase == "" {
		rec.Phase = phaseRunning
	}
	rec.Effect, rec.Check, rec.Pending = r.effect, r.check, r.pend
	if rec.ID == "" {
		rec.ID = newID()
	}
	if r.id == "" {
		r.id = newID()
	}
	rec.Owner, rec.Lease, rec.Runs, rec.Created = r.id, now.Add(deferLease), 1, now
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ttl := r.s.cfg.ResponseWindow + 10*time.Minute
	rev, err := r.s.st.kv.Create(ctx, rec.key(), b, jetstream.KeyTTL(ttl))
	if err != nil {
		r.want, r.uncertain = rec, true
		return err
	}
	r.rec, r.rev, r.saved = rec, rev, now
	return nil
}

// adoptLocked ends the uncertainty of a failed create: it creates the
// record now with the run's notes, or adopts the one the failed create
// stored after all. r.mu is held.
func (r *run) adoptLocked(ctx context.Context) error {
	rec := r.want
	now := r.s.now()
	rec.Phase, rec.Effect, rec.Check, rec.Pending, rec.Lease = r.phase, r.effect, r.check, r.pend, now.Add(deferLease)
	if rec.Phase == "" {
		rec.Phase = phaseRunning
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, deferKVTimeout)
	defer cancel()
	rev, err := r.s.st.kv.Create(ctx, rec.key(), b, jetstream.KeyTTL(r.s.cfg.ResponseWindow+10*time.Minute))
	switch {
	case err == nil:
		r.rec, r.rev, r.saved, r.uncertain = rec, rev, now, false
	case errors.Is(err, jetstream.ErrKeyExists):
		e, gerr := r.s.st.kv.Get(ctx, rec.key())
		if gerr != nil {
			return gerr
		}
		var d deferred
		if json.Unmarshal(e.Value(), &d) != nil || d.Owner != r.id {
			r.lost = true // a tick took the record over already
			r.once.Do(func() { close(r.stop) })
			return errLostRun
		}
		r.rec, r.rev, r.saved, r.uncertain = rec, e.Revision(), now, false
		if err := r.saveLocked(ctx); err != nil {
			return err
		}
	default:
		return err
	}
	r.s.bg.Add(1)
	go func() {
		defer r.s.bg.Done()
		r.renew(r.s.bgCtx)
	}()
	return nil
}

// adopt ends an uncertain store before the run answers; nil when the run
// has a record.
func (r *run) adopt(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.rec != nil:
		return nil
	case r.lost:
		return errLostRun
	case !r.uncertain:
		return errNotStored
	}
	return r.adoptLocked(ctx)
}

// errNotStored reports a run without a record (not deferred).
var errNotStored = errors.New("chatops: run not stored")

// saveLocked writes the record at the revision the run last saw. A
// revision mismatch means another invocation took it over: the run is
// lost and its work cancelled. r.mu is held.
func (r *run) saveLocked(ctx context.Context) error {
	if r.lost {
		return errLostRun
	}
	now := r.s.now()
	if !r.saved.IsZero() && now.Sub(r.saved) > deferLease {
		r.paused = true // no renewal for a whole lease: the process was frozen
	}
	b, err := json.Marshal(r.rec)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, deferKVTimeout)
	defer cancel()
	rev, err := r.s.st.kv.Update(ctx, r.rec.key(), b, r.rev)
	if err != nil {
		if events.KVConflict(err) {
			r.lost = true
			if r.cancel != nil {
				r.cancel()
			}
			r.once.Do(func() { close(r.stop) })
			return errLostRun
		}
		return err
	}
	r.rev, r.saved = rev, now
	return nil
}

// note records a phase change: in the record when stored, else in memory
// (stored with the record if the run is deferred later).
func (r *run) note(ctx context.Context, phase, effect, check string, p *pending) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost {
		return errLostRun
	}
	r.phase = phase
	if effect != "" {
		r.effect, r.check = effect, check
	}
	if p != nil {
		r.pend = p
	}
	if r.rec == nil {
		if !r.uncertain {
			return nil
		}
		if err := r.adoptLocked(ctx); err != nil {
			return err
		}
	}
	r.rec.Phase, r.rec.Effect, r.rec.Check, r.rec.Pending = r.phase, r.effect, r.check, r.pend
	return r.saveLocked(ctx)
}

// renew keeps the lease while the run is alive.
func (r *run) renew(ctx context.Context) {
	t := time.NewTicker(deferLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case <-t.C:
		}
		r.mu.Lock()
		if r.over || r.lost || r.rec == nil {
			r.mu.Unlock()
			return
		}
		r.rec.Lease = r.s.now().Add(deferLease)
		err := r.saveLocked(ctx)
		r.mu.Unlock()
		if errors.Is(err, errLostRun) {
			return
		}
		if err != nil {
			r.s.log.Warn("chatops: renewing the lease of deferred work failed", "err", err)
		}
	}
}

// effect marks the point where ctx's run sends a change to DLI: stored
// first, so that a taker never sends it again. It fails when the run lost
// its record or the mark cannot be stored (nothing was sent then).
func (s *Service) effect(ctx context.Context, what, check string) error {
	r := runFrom(ctx)
	if r == nil {
		return nil
	}
	if err := r.note(ctx, phaseEffect, what, check, nil); err != nil {
		if errors.Is(err, errLostRun) {
			return err
		}
		return &unrecorded{err: err, check: check}
	}
	return nil
}

// unrecorded is an effect mark that could not be stored.
type unrecorded struct {
	err   error
	check string
}

func (u *unrecorded) Error() string { return "chatops: recording the change: " + u.err.Error() }
func (u *unrecorded) Unwrap() error { return u.err }

// claimed records that ctx's run consumed the confirmation p.
func (s *Service) claimed(ctx context.Context, p *pending) error {
	r := runFrom(ctx)
	if r == nil {
		return nil
	}
	return r.note(ctx, phaseClaimed, "", "", p)
}

// notSent is the answer of a run stopped at an effect mark (or before
// it, when the claim of its confirmation could not be recorded).
func notSent(err error) reply {
	if errors.Is(err, errLostRun) {
		return errorReply("Interrupted: another invocation took this over.")
	}
	msg := "Could not record the change before making it (NATS KV is unavailable), so it was not made here."
	var u *unrecorded
	if errors.As(err, &u) && u.check != "" {
		check := u.check
		msg += fmt.Sprintf(" When NATS is back dlibot may still complete it once: check `%s` before trying again.", check)
	} else {
		msg += " When NATS is back dlibot may still complete it once: check before trying again."
	}
	return errorReply(msg)
}

// deferReply stores the run as deferred work when it may be frozen (Lambda)
// and returns the interim answer. It returns only once the record is
// stored or known not to be.
func (s *Service) deferReply(ctx context.Context, rn *run, tmpl *deferred) reply {
	working := reply{text: "⏳ working on it…", outcome: OutcomePending, working: true}
	if !s.lambda || tmpl == nil {
		return working
	}
	if s.ReadOnly() {
		working.text = "⏳ working on it… This dlibot runs without NATS, so its answer cannot be kept for later: " +
			"if this Lambda instance is paused first, the answer is lost. If nothing follows here within a minute, run the command again."
		working.noStore = true
		return working
	}
	// Slack waits 3 s in all: the store gets what the ack budget leaves,
	// at most deferStoreTimeout
	budget := min(deferStoreTimeout, max(100*time.Millisecond, 2900*time.Millisecond-s.cfg.AckBudget))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
	err := rn.persist(sctx, tmpl)
	cancel()
	if err != nil {
		s.log.Error("chatops: storing deferred work failed; its answer may be lost", "err", err, "command", tmpl.Audit.Command, "user", tmpl.Audit.User)
		return reply{text: "⚠️ This takes longer than Slack waits, and dlibot could not save it to finish later (NATS is unavailable), " +
			"so its result may not follow here. If nothing comes within a minute, check its effect and run the command again.",
			outcome: OutcomePending, working: true, noStore: true}
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		rn.renew(s.bgCtx)
	}()
	working.text = "⏳ working on it… (saved: the answer follows here even if this instance is paused, within about a minute)"
	return working
}

// settle completes a stored run with its answer: the record moves to done
// (revision-checked, so only the owner does it), the audit record is
// emitted, the answer posted and the record deleted. A lost run, or one
// whose process is shutting down (a frozen Lambda in tests), leaves the
// record to the next taker.
func (s *Service) settle(ctx context.Context, rn *run, r reply, a *AuditRecord) {
	if s.bgCtx.Err() != nil {
		rn.end()
		s.log.Info("chatops: shutting down; deferred work left for the next tick", "command", a.Command)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	rn.mu.Lock()
	rec := rn.rec
	if r.outcome == OutcomeError && rec.Phase != phaseEffect && !rn.lost &&
		(rn.paused || s.now().Sub(rn.saved) > deferLease) {
		// A run that was frozen past its lease and then failed (a DLI
		// call cut by the freeze, a deadline spent while frozen) hands
		// the work back instead of answering with an error the freeze
		// may have caused: the tick runs it again (at most deferMaxRuns).
		rec.Lease = time.Time{}
		err := rn.saveLocked(ctx)
		rn.mu.Unlock()
		rn.end()
		s.log.Info("chatops: deferred work failed after a pause; handed back to the tick", "command", a.Command, "reason", r.reason, "err", err)
		return
	}
	fillAudit(a, r)
	r.replace = !r.newMessage
	m := r.message()
	rec.Phase, rec.Answer = phaseDone, &m
	err := rn.saveLocked(ctx)
	if err != nil && !errors.Is(err, errLostRun) {
		err = rn.saveLocked(ctx) // once more: a lost "done" means a second message later
	}
	rev := rn.rev
	rn.mu.Unlock()
	rn.end()
	switch {
	case errors.Is(err, errLostRun):
		s.log.Info("chatops: deferred work finished elsewhere; this answer is dropped", "command", a.Command)
		return
	case err != nil:
		// deliver anyway; the record stays and the tick posts its own
		// answer later (at worst a second message)
		s.log.Warn("chatops: storing the answer of deferred work failed", "err", err, "command", a.Command)
	}
	s.emitAudit(ctx, a, rec.Since)
	s.deliver(ctx, rec, m)
	if err == nil {
		if derr := s.st.kv.Delete(ctx, rec.key(), jetstream.LastRevision(rev)); derr != nil && !events.KVConflict(derr) {
			s.log.Warn("chatops: deleting finished deferred work failed", "err", derr)
		}
	}
}

// deliver posts a deferred answer through the response_url while it is
// usable, else a notice to the channel.
func (s *Service) deliver(ctx context.Context, rec *deferred, m message) {
	raw := rec.responseURL()
	if raw != "" && s.now().Sub(rec.Since) < s.cfg.ResponseWindow {
		err := s.resp.post(ctx, raw, m, true)
		if err == nil {
			return
		}
		s.log.Info("chatops: response_url not usable for deferred answer; telling the channel", "reason", err)
	}
	text := m.Text
	if rec.Kind == kindCommand {
		// a read answer may be meant for the user only
		text = fmt.Sprintf("<@%s> the answer to your `/dli %s` could not be delivered (Slack's reply link failed or its window is over); run it again.",
			rec.Audit.User, blockkit.Escape(blockkit.Clip(rec.Audit.Text, 200)))
	}
	if s.notifier == nil || rec.channel() == "" {
		s.log.Warn("chatops: deferred answer not delivered (no response_url left and no notifier)", "user", rec.Audit.User)
		return
	}
	if _, err := s.notifier.Post(ctx, notify.Message{Channel: rec.channel(), Text: text}); err != nil {
		s.log.Warn("chatops: deferred answer not delivered", "err", err)
	}
}

// runDeferred takes over every stored run whose lease ran out and
// completes it.
func (s *Service) runDeferred(ctx context.Context) error {
	es, err := s.st.entries(ctx, "deferred")
	if err != nil {
		return err
	}
	sem := make(chan struct{}, deferParallel)
	var wg sync.WaitGroup
	for _, e := range es {
		var rec deferred
		if err := json.Unmarshal(e.Value(), &rec); err != nil || rec.ID == "" || (rec.Req == nil && rec.Click == nil) {
			s.log.Error("chatops: unreadable deferred work dropped", "key", e.Key(), "err", err)
			_ = s.st.claim(ctx, e.Key(), e.Revision())
			continue
		}
		now := s.now()
		if now.Before(rec.Lease) {
			continue // its owner is alive
		}
		rn := newRun(s)
		rn.rec, rn.phase, rn.effect, rn.check, rn.pend = &rec, rec.Phase, rec.Effect, rec.Check, rec.Pending
		rec.Owner, rec.Lease = rn.id, now.Add(deferLease)
		rec.Runs++
		b, _ := json.Marshal(&rec)
		rev, err := s.st.kv.Update(ctx, e.Key(), b, e.Revision())
		if err != nil {
			continue // another invocation took it, or it changed
		}
		rn.rev, rn.saved = rev, now
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.resume(ctx, rn)
		}()
	}
	wg.Wait()
	return nil
}

// resume completes a run taken over from its record.
func (s *Service) resume(ctx context.Context, rn *run) {
	rec := rn.rec
	wctx, cancel := context.WithTimeout(ctx, s.cfg.CommandTimeout)
	if dl, ok := ctx.Deadline(); ok {
		// leave the invocation (a Lambda tick: 30 s) time to answer
		cancel()
		end := dl.Add(-deferAnswerReserve)
		if lim := time.Now().Add(s.cfg.CommandTimeout); lim.Before(end) {
			end = lim
		}
		wctx, cancel = context.WithDeadline(ctx, end)
	}
	defer cancel()
	rn.cancel = cancel
	rctx, stopRenew := context.WithCancel(wctx)
	go rn.renew(rctx)
	defer stopRenew()
	a := rec.Audit
	if rec.Phase == phaseDone && rec.Answer != nil {
		s.deliver(wctx, rec, *rec.Answer)
		rn.end()
		rn.mu.Lock()
		rev := rn.rev
		rn.mu.Unlock()
		_ = s.st.kv.Delete(context.WithoutCancel(ctx), rec.key(), jetstream.LastRevision(rev))
		return
	}
	r := s.resumeReply(withRun(wctx, rn), rec, &a)
	s.settle(ctx, rn, r, &a)
}

// resumeReply runs (or answers for) a record taken over at its phase.
func (s *Service) resumeReply(ctx context.Context, rec *deferred, a *AuditRecord) (out reply) {
	what := "`/dli " + blockkit.Escape(blockkit.Clip(rec.Audit.Text, 200)) + "`"
	decision := ""
	if rec.Click != nil {
		what = "your click"
		if rec.Pending != nil {
			what = "your confirmed `" + blockkit.Escape(blockkit.Clip(rec.Pending.Text, 200)) + "`"
			auditFromPending(a, rec.Pending)
		}
		switch rec.Click.Action {
		case actionConfirm:
			decision = DecisionConfirmed
		case actionApprove:
			decision = DecisionApproved
			a.Approver = rec.Click.User
			if rec.Pending != nil && rec.Click.User != rec.Pending.User {
				if role := s.role(ctx, rec.Click.User, rec.Click.Channel); role != nil {
					a.Role = role.Name // the approver's, as act records it
				}
			}
		}
	}
	fail := func(msg string) reply {
		r := errorReply(msg)
		r.decision = decision
		return r
	}
	switch {
	case rec.Phase == phaseEffect:
		msg := fmt.Sprintf("dlibot was interrupted while %s, before DLI's answer arrived: it may or may not have happened.", rec.Effect)
		if rec.Check != "" {
			msg += fmt.Sprintf(" Check with `%s` before trying again.", rec.Check)
		}
		r := fail(msg)
		r.newMessage = true // never replace an answer that may have been posted
		return r
	case s.now().Sub(rec.Since) >= s.cfg.ResponseWindow:
		return fail(fmt.Sprintf("dlibot was interrupted and could not finish %s in time; nothing was changed by it. Run it again if it is still needed.", what))
	case rec.Runs > deferMaxRuns:
		return fail(fmt.Sprintf("dlibot could not finish %s after %d attempts; nothing was changed by it. Run it again later.", what, deferMaxRuns))
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("chatops: deferred work panicked", "panic", fmt.Sprint(p), "command", a.Command)
			out = fail("Something went wrong on our side; the error is logged.")
		}
	}()
	switch {
	case rec.Req != nil:
		fn, now := s.commandFn(ctx, *rec.Req, a)
		if now != nil {
			return *now
		}
		return fn(ctx)
	case rec.Phase == phaseClaimed && rec.Pending != nil:
		return s.afterClaim(ctx, rec.Click, rec.Pending, a)
	default:
		return s.act(ctx, rec.Click, a)
	}
}
