package chatops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/functions/chatops/command"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

// execute runs a confirmed (or approved) change.
func (s *Service) execute(ctx context.Context, p *pending) reply {
	cmd, err := command.Parse(p.Text)
	if err != nil {
		return errorReply("The stored command no longer parses: " + err.Error())
	}
	r := s.executeCmd(ctx, p, cmd)
	r.replace = true
	return r
}

func (s *Service) executeCmd(ctx context.Context, p *pending, cmd *command.Command) reply {
	switch cmd.Name() {
	case "scale":
		return s.doScale(ctx, p, cmd)
	case "plan add":
		cu, _ := parseCU(cmd.Args[2])
		h, m, _ := parseHHMM(cmd.Args[3])
		days, _ := parseDays(cmd.Args[4:])
		spec := dli.PlanSpec{Name: cmd.Args[1], TargetCU: cu, StartHour: h, StartMinute: m, RepeatDays: days}
		if err := s.effect(ctx, fmt.Sprintf("adding plan %s to queue %s", spec.Name, cmd.Args[0]), "/dli plans "+cmd.Args[0]); err != nil {
			return notSent(err)
		}
		if err := s.dli.CreatePlan(ctx, cmd.Args[0], spec); err != nil {
			return dliError("adding the plan", err)
		}
		return done(fmt.Sprintf("Added plan *%s* to queue *%s*: %d CU at %02d:%02d %s.", blockkit.Escape(spec.Name), blockkit.Escape(cmd.Args[0]), cu, h, m, weekdays(days)), cmd.Args[1])
	case "plan rm":
		id, _ := strconv.ParseInt(cmd.Args[1], 10, 64)
		if err := s.effect(ctx, fmt.Sprintf("deleting plan %d of queue %s", id, cmd.Args[0]), "/dli plans "+cmd.Args[0]); err != nil {
			return notSent(err)
		}
		if err := s.dli.DeletePlan(ctx, cmd.Args[0], id); err != nil {
			return dliError("deleting the plan", err)
		}
		return done(fmt.Sprintf("Deleted plan %d of queue *%s*.", id, blockkit.Escape(cmd.Args[0])), cmd.Args[1])
	case "flink stop", "flink start":
		id, err := parseFlinkID(cmd.Args[0])
		if err != nil {
			return errorReply(err.Error())
		}
		var res []dli.FlinkResult
		verb := "Stop"
		if err := s.effect(ctx, fmt.Sprintf("asking DLI to %s Flink job %d", strings.TrimPrefix(cmd.Name(), "flink "), id), fmt.Sprintf("/dli flink show %d", id)); err != nil {
			return notSent(err)
		}
		if cmd.Name() == "flink stop" {
			res, err = s.dli.StopFlinkJobs(ctx, []int64{id}, cmd.Bool("savepoint"))
		} else {
			verb = "Start"
			res, err = s.dli.RunFlinkJobs(ctx, []int64{id}, cmd.Bool("resume"))
		}
		if err != nil {
			return dliError(verb+" Flink job "+cmd.Args[0], err)
		}
		if len(res) > 0 && !res[0].Success {
			r := errorReply(fmt.Sprintf("DLI refused to %s Flink job %d: %s", verb, id, res[0].Message))
			r.ids = []string{cmd.Args[0]}
			return r
		}
		return done(fmt.Sprintf("%s of Flink job *%d* requested; DLI accepted it (`/dli flink show %d` follows it).", verb, id, id), cmd.Args[0])
	case "spark cancel":
		if err := s.effect(ctx, "cancelling Spark job "+cmd.Args[0], "/dli spark show "+cmd.Args[0]); err != nil {
			return notSent(err)
		}
		if err := s.dli.CancelBatch(ctx, cmd.Args[0]); err != nil {
			return dliError("cancelling Spark job "+cmd.Args[0], err)
		}
		return done(fmt.Sprintf("Cancelled Spark job *%s*.", blockkit.Escape(cmd.Args[0])), cmd.Args[0])
	case "sql cancel":
		if err := s.effect(ctx, "cancelling SQL job "+cmd.Args[0], "/dli sql status "+cmd.Args[0]); err != nil {
			return notSent(err)
		}
		if err := s.dli.CancelSQLJob(ctx, cmd.Args[0]); err != nil {
			return dliError("cancelling SQL job "+cmd.Args[0], err)
		}
		return done(fmt.Sprintf("Cancelled SQL job *%s*.", blockkit.Escape(cmd.Args[0])), cmd.Args[0])
	case "sql":
		req := request{User: p.User, UserName: p.UserName, Channel: p.Channel, Team: p.Team, Text: p.Text, ResponseURL: p.ResponseURL}
		return s.submitSQL(ctx, req, cmd)
	}
	return errorReply(fmt.Sprintf("`%s` cannot be confirmed.", cmd.Name()))
}

func done(msg string, ids ...string) reply {
	return reply{text: msg, blocks: blockkit.Blocks(blockkit.Section("✅ " + msg)), outcome: OutcomeOK, ids: ids}
}

func (s *Service) doScale(ctx context.Context, p *pending, cmd *command.Command) reply {
	name := cmd.Args[0]
	cu, _ := parseCU(cmd.Args[1])
	q, err := s.dli.GetQueue(ctx, name)
	if err != nil {
		return dliError("queue "+name, err)
	}
	if q.CUs == cu {
		return done(fmt.Sprintf("Queue *%s* already has %d CU; nothing to do.", blockkit.Escape(q.Name), cu))
	}
	delta := cu - q.CUs
	dir := dli.ScaleOut
	if delta < 0 {
		dir = dli.ScaleIn
	}
	if err := s.effect(ctx, fmt.Sprintf("scaling queue %s from %d to %d CU", q.Name, q.CUs, cu), "/dli queue "+q.Name); err != nil {
		return notSent(err)
	}
	if err := s.dli.ScaleQueue(ctx, q.Name, dir, abs(delta)); err != nil {
		return dliError("scaling "+q.Name, err)
	}
	msg := fmt.Sprintf("Scaling queue *%s* from %d to %d CU (%s CU, ≈ %s).", blockkit.Escape(q.Name), q.CUs, cu, signed(delta), s.costDelta(delta))
	if v := cmd.Flag("for"); v != "" {
		d, _ := time.ParseDuration(v)
		rv := &revert{ID: newID(), Queue: q.Name, ToCU: q.CUs, ExpectCU: cu, Due: s.now().Add(d), User: p.User,
			Channel: p.Channel, ResponseURL: p.ResponseURL, Since: p.Since, Requested: p.Text}
		if err := s.st.putRevert(ctx, rv); err != nil {
			s.log.Error("chatops: storing the revert failed", "err", err, "queue", q.Name)
			r := errorReply(msg + " But the automatic revert could NOT be stored: scale it back by hand.")
			r.ids = []string{q.Name}
			return r
		}
		msg += fmt.Sprintf(" It reverts to %d CU at %s.", q.CUs, fmtTime(rv.Due))
	}
	return done(msg, q.Name)
}

// submitSQL submits a statement and watches it, so the submitter hears when
// it ends.
func (s *Service) submitSQL(ctx context.Context, req request, cmd *command.Command) reply {
	if err := s.effect(ctx, "submitting the SQL statement", "/dli jobs"); err != nil {
		return notSent(err)
	}
	sub, err := s.dli.SubmitSQL(ctx, dli.SQLRequest{SQL: cmd.Args[0], Database: cmd.Flag("db"), Queue: cmd.Flag("queue")})
	if err != nil {
		return dliError("submitting SQL", err)
	}
	if sub.Mode == "sync" {
		return done(fmt.Sprintf("SQL job `%s` (%s) ran synchronously.", blockkit.Escape(sub.JobID), blockkit.Escape(sub.JobType)), sub.JobID)
	}
	now := s.now()
	w := &sqlWatch{JobID: sub.JobID, Queue: cmd.Flag("queue"), User: req.User, Channel: req.Channel, ResponseURL: req.ResponseURL,
		Submitted: now, Until: now.Add(s.cfg.SQLWatchMax)}
	s.watch(ctx, w)
	return done(fmt.Sprintf("Submitted SQL job `%s` (%s). I'll tell you here when it finishes; `/dli sql status %s` shows it meanwhile.",
		blockkit.Escape(sub.JobID), blockkit.Escape(sub.JobType), blockkit.Escape(sub.JobID)), sub.JobID)
}

// watch stores w (so a restart does not lose it) and polls the job in the
// background.
func (s *Service) watch(ctx context.Context, w *sqlWatch) {
	if err := s.st.putWatch(ctx, w, s.cfg.SQLWatchMax+time.Hour); err != nil {
		s.log.Warn("chatops: storing SQL watch failed; watching in this process only", "err", err, "job", w.JobID)
	}
	s.mu.Lock()
	if s.watching[w.JobID] {
		s.mu.Unlock()
		return
	}
	s.watching[w.JobID] = true
	s.mu.Unlock()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer func() { s.mu.Lock(); delete(s.watching, w.JobID); s.mu.Unlock() }()
		t := time.NewTicker(s.cfg.SQLPoll)
		defer t.Stop()
		for {
			select {
			case <-s.bgCtx.Done():
				return
			case <-t.C:
			}
			if s.checkWatch(s.bgCtx, w) {
				return
			}
		}
	}()
}

// checkWatch polls w's job once; it reports true when the watch is over.
func (s *Service) checkWatch(ctx context.Context, w *sqlWatch) bool {
	if s.now().After(w.Until) {
		_ = s.claimWatch(ctx, w)
		return true
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	j, err := s.dli.SQLJobStatus(cctx, w.JobID)
	cancel()
	if err != nil {
		if errors.Is(err, dli.ErrNotFound) {
			_ = s.claimWatch(ctx, w)
			return true
		}
		return false
	}
	if !j.Status.Terminal() {
		return false
	}
	if !s.claimWatch(ctx, w) {
		return true // another replica told the user
	}
	icon, extra := "✅", fmt.Sprintf("%d rows · `/dli sql result %s`", j.ResultCount, w.JobID)
	if j.Status != dli.SQLFinished {
		icon, extra = "❌", blockkit.Escape(blockkit.Clip(j.Message, 500))
	}
	text := fmt.Sprintf("%s <@%s> your SQL job `%s` ended: *%s* after %s. %s", icon, w.User, blockkit.Escape(w.JobID), j.Status, fmtDuration(j.Duration), extra)
	s.tell(ctx, w.ResponseURL, w.Channel, w.Submitted, reply{text: text, blocks: blockkit.Blocks(blockkit.Section(text))})
	return true
}

// claimWatch removes w's record; false when another replica did first.
func (s *Service) claimWatch(ctx context.Context, w *sqlWatch) bool {
	if s.st.kv == nil {
		return true
	}
	key := "sqlwatch." + keyToken(w.JobID)
	e, err := s.st.kv.Get(ctx, key)
	if err != nil {
		// not stored (storage failed at submit) or gone: only tell when
		// this process started the watch
		s.mu.Lock()
		mine := s.watching[w.JobID]
		s.mu.Unlock()
		return mine && !errors.Is(err, jetstream.ErrKeyNotFound)
	}
	return s.st.claim(ctx, key, e.Revision()) == nil
}

// tell sends a final notice through the response_url while it is usable
// (since is when it was handed out), else to the channel with the bot token.
func (s *Service) tell(ctx context.Context, responseURL, channel string, since time.Time, r reply) {
	if responseURL != "" && s.now().Sub(since) < s.cfg.ResponseWindow {
		err := s.resp.post(ctx, responseURL, r.message(), true)
		if err == nil {
			return
		}
		s.log.Info("chatops: response_url not usable; posting to the channel", "reason", err)
	}
	if s.notifier == nil || channel == "" {
		s.log.Warn("chatops: notice not delivered (no response_url left and no notifier)", "text", r.text)
		return
	}
	if _, err := s.notifier.Post(ctx, notify.Message{Channel: channel, Text: r.text, Blocks: r.blocks}); err != nil {
		s.log.Warn("chatops: notice not delivered", "err", err)
	}
}

// HandleTick is the tick handler: deferred work left by a frozen or
// stopped invocation, due reverts, and SQL watches nobody in this process
// polls (after a restart). Failures are logged; the next tick
// tries again.
func (s *Service) HandleTick(ctx context.Context, _ events.Event) events.Outcome {
	if err := s.Tick(ctx); err != nil {
		s.log.Warn("chatops: tick", "err", err)
	}
	return events.Ack()
}

// Tick completes deferred work whose invocation stopped (Lambda), performs
// due reverts and checks orphaned SQL watches once.
func (s *Service) Tick(ctx context.Context) error {
	if s.st.kv == nil {
		return nil
	}
	// deferred work (users waiting) runs beside reverts and watches
	deferredDone := make(chan error, 1)
	go func() { deferredDone <- s.runDeferred(ctx) }()
	err1 := s.runReverts(ctx)
	err2 := s.runWatches(ctx)
	return errors.Join(<-deferredDone, err1, err2)
}

func (s *Service) runWatches(ctx context.Context) error {
	es, err := s.st.entries(ctx, "sqlwatch")
	if err != nil {
		return err
	}
	for _, e := range es {
		var w sqlWatch
		if json.Unmarshal(e.Value(), &w) != nil {
			_ = s.st.claim(ctx, e.Key(), e.Revision())
			continue
		}
		s.mu.Lock()
		busy := s.watching[w.JobID]
		s.mu.Unlock()
		if !busy {
			s.checkWatch(ctx, &w)
		}
	}
	return nil
}

func (s *Service) runReverts(ctx context.Context) error {
	es, err := s.st.entries(ctx, "revert")
	if err != nil {
		return err
	}
	now := s.now()
	for _, e := range es {
		var rv revert
		if err := json.Unmarshal(e.Value(), &rv); err != nil {
			s.log.Error("chatops: unreadable revert record dropped", "key", e.Key(), "err", err)
			_ = s.st.claim(ctx, e.Key(), e.Revision())
			continue
		}
		if now.Before(rv.Due) {
			continue
		}
		if err := s.st.claim(ctx, e.Key(), e.Revision()); err != nil {
			continue // another replica has it
		}
		s.revertOne(ctx, &rv)
	}
	return nil
}

func (s *Service) revertOne(ctx context.Context, rv *revert) {
	start := s.now()
	a := &AuditRecord{User: rv.User, Channel: rv.Channel, Text: rv.Requested, Command: "scale", Decision: DecisionAutoRevert, DLIIDs: []string{rv.Queue}}
	defer func() { s.emitAudit(ctx, a, start) }()
	q, err := s.dli.GetQueue(ctx, rv.Queue)
	if err == nil && q.CUs != rv.ExpectCU {
		a.Outcome, a.Reason = OutcomeError, fmt.Sprintf("queue has %d CU, expected %d", q.CUs, rv.ExpectCU)
		text := fmt.Sprintf("⚠️ <@%s> not reverting queue *%s* to %d CU: it has %d CU now, not the %d CU set by `%s`. Someone changed it since; leaving it alone.",
			rv.User, blockkit.Escape(rv.Queue), rv.ToCU, q.CUs, rv.ExpectCU, blockkit.Escape(rv.Requested))
		s.tell(ctx, rv.ResponseURL, rv.Channel, rv.Since, reply{text: text, blocks: blockkit.Blocks(blockkit.Section(text))})
		return
	}
	if err == nil {
		delta := rv.ToCU - q.CUs
		dir := dli.ScaleOut
		if delta < 0 {
			dir = dli.ScaleIn
		}
		err = s.dli.ScaleQueue(ctx, rv.Queue, dir, abs(delta))
	}
	if err != nil {
		a.Outcome, a.Reason = OutcomeError, err.Error()
		if dli.Retryable(err) || errors.Is(err, context.DeadlineExceeded) {
			// put it back for the next tick
			rv2 := *rv
			rv2.ID = newID()
			if perr := s.st.putRevert(ctx, &rv2); perr == nil {
				a.Reason += " (retried on the next tick)"
				return
			}
		}
		text := fmt.Sprintf("⚠️ <@%s> reverting queue *%s* to %d CU failed: %s. Scale it back by hand.", rv.User, blockkit.Escape(rv.Queue), rv.ToCU, blockkit.Escape(err.Error()))
		s.tell(ctx, rv.ResponseURL, rv.Channel, rv.Since, reply{text: text, blocks: blockkit.Blocks(blockkit.Section(text))})
		return
	}
	a.Outcome = OutcomeOK
	text := fmt.Sprintf("↩️ <@%s> queue *%s* reverted to %d CU (the `--for` of `%s` is up).", rv.User, blockkit.Escape(rv.Queue), rv.ToCU, blockkit.Escape(rv.Requested))
	s.tell(ctx, rv.ResponseURL, rv.Channel, rv.Since, reply{text: text, blocks: blockkit.Blocks(blockkit.Section(text))})
}
