package jobwatch

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
)

// EventSubject is where the incident events go (docs/events.md):
// dlibot.out.jobwatch.incident.
var EventSubject = events.OutSubject(Name, "incident")

// IncidentEvent is the data of the incident.opened, .updated and .resolved
// CloudEvents. Their ids are stable: "<incident key>/opened",
// "<incident key>/updated/<n>", "<incident key>/resolved", and they are
// published with that Nats-Msg-Id, so consumers can dedupe too.
type IncidentEvent struct {
	// Incident is the incident key: inc/<job kind>/<job id>/<episode>.
	Incident string `json:"incident"`
	// Kind is the incident kind: failed, billing, unknown, stuck, flapping,
	// slow or stopped.
	Kind       string    `json:"kind"`
	JobKind    string    `json:"job_kind"`
	JobID      string    `json:"job_id"`
	JobName    string    `json:"job_name,omitempty"`
	Queue      string    `json:"queue,omitempty"`
	Status     string    `json:"status"`
	StatusDesc string    `json:"status_desc,omitempty"`
	Started    time.Time `json:"started,omitzero"`
	FailedAt   time.Time `json:"failed_at"`
	DetectedAt time.Time `json:"detected_at"`
	// Late: found by a catch-up poll after jobwatch was down.
	Late bool `json:"late,omitempty"`
	// Muted: a mute rule kept it out of Slack.
	Muted    bool `json:"muted,omitempty"`
	Failures int  `json:"failures"`
	// Slack is the alert message, when posted.
	Slack *notify.Ref `json:"slack,omitempty"`
	// Note says what changed (updated) or how it recovered (resolved).
	Note string `json:"note,omitempty"`
	// ResolvedAt and TimeToRecoverS are set on resolved.
	ResolvedAt     time.Time `json:"resolved_at,omitzero"`
	TimeToRecoverS int64     `json:"time_to_recover_s,omitempty"`
}

func (r *Incident) event(note string) IncidentEvent {
	ev := IncidentEvent{Incident: r.Key, Kind: r.Kind, JobKind: r.JobKind, JobID: r.JobID, JobName: r.JobName,
		Queue: r.Queue, Status: r.Status, StatusDesc: r.StatusDesc, Started: r.Started, FailedAt: r.FailedAt,
		DetectedAt: r.Detected, Late: r.Late, Muted: r.Muted, Failures: r.Failures, Slack: r.Ref, Note: note}
	return ev
}

func (w *Watcher) publish(ctx context.Context, id, typ string, at time.Time, data IncidentEvent) error {
	e, err := events.NewEvent(id, events.FunctionSource(Name), typ, data)
	if err != nil {
		return err
	}
	e.SetTime(at)
	e.SetSubject(data.Incident)
	_, err = events.Publish(ctx, w.js, EventSubject, e, events.WithMsgID(id))
	return err
}

// deliver moves one record forward: events, log tail, post, updates,
// resolution, reminders. Every step is recorded with a revision check
// before or after its side effect (see docs/jobwatch.md for the window).
func (w *Watcher) deliver(ctx context.Context, key string, now time.Time, res *Result) error {
	rp, err := w.prepare(ctx, key, now)
	if err != nil || rp == nil {
		return err
	}
	r := *rp
	isIncident := r.isIncident()

	// Post.
	if w.duePost(&r, now) {
		ok := false
		err := w.set(ctx, key, &r, func(x *Incident) bool {
			ok = false // f may run again after a revision conflict
			if x.Ref != nil || !(x.State == StateNew || (x.State == StatePosting && now.After(x.Lease))) {
				return false
			}
			x.State, x.Lease, x.Attempts, x.Digest = StatePosting, now.Add(w.cfg.PostLease), x.Attempts+1, ""
			ok = true
			return true
		})
		if err != nil {
			return err
		}
		if ok {
			if w.afterClaim != nil {
				if err := w.afterClaim(key + "#post"); err != nil {
					return err
				}
			}
			ref, perr := w.n.Post(ctx, w.rootMessage(&r, now))
			res.Posts++
			if perr != nil {
				return w.postFailed(ctx, key, &r, now, perr, res)
			}
			if err := w.set(ctx, key, &r, func(x *Incident) bool {
				x.State, x.Ref, x.PostedAt, x.Lease = StateOpen, &ref, now, time.Time{}
				return true
			}); err != nil {
				return err
			}
		}
	}
	if r.Muted && r.State == StateNew {
		if err := w.set(ctx, key, &r, func(x *Incident) bool { x.State = StateOpen; return true }); err != nil {
			return err
		}
	}
	if r.Ref == nil && !r.Muted {
		return nil // not posted yet: updates and resolution wait for the thread
	}

	// Updates (flapping, a stuck job failing…): edit, note in the thread, event.
	if r.UpdatesSent < r.Updates && r.Recovered.IsZero() {
		n := r.Updates
		ok, err := w.lease(ctx, key, &r, now, func(x *Incident) *time.Time { return &x.UpdLease }, func(x *Incident) bool { return x.UpdatesSent >= n })
		if err != nil || !ok {
			return err
		}
		if r.Ref != nil {
			var err error
			if r.Digest == "" { // a digest lists other incidents too: it is not edited
				err = w.n.Update(ctx, *r.Ref, w.rootMessage(&r, now))
			}
			if err == nil {
				_, err = w.n.Reply(ctx, *r.Ref, w.updateReply(&r))
			}
			if err != nil && !w.gone(key, err) {
				w.release(ctx, key, func(x *Incident) *time.Time { return &x.UpdLease })
				return w.slackErr(err, res)
			}
			res.Posts += 2
		}
		if err := w.publish(ctx, key+"/updated/"+strconv.Itoa(n), events.TypeIncidentUpdated, now, r.event(r.UpdateNote)); err != nil {
			return err
		}
		if err := w.set(ctx, key, &r, func(x *Incident) bool { x.UpdatesSent, x.UpdLease = n, time.Time{}; return true }); err != nil {
			return err
		}
	}

	// Resolution: reply with the time to recover, edit the original, event.
	if !r.Recovered.IsZero() && r.State != StateResolved {
		if r.Ref != nil && r.ReplyRef == nil {
			ok, err := w.lease(ctx, key, &r, now, func(x *Incident) *time.Time { return &x.ReplyLease }, func(x *Incident) bool { return x.ReplyRef != nil })
			if err != nil || !ok {
				return err
			}
			ref, err := w.n.Reply(ctx, *r.Ref, w.recoveryReply(&r))
			if err != nil && w.gone(key, err) {
				ref, err = notify.Ref{}, nil // nothing to reply to any more
			}
			if err != nil {
				w.release(ctx, key, func(x *Incident) *time.Time { return &x.ReplyLease })
				return w.slackErr(err, res)
			}
			res.Posts++
			if err := w.set(ctx, key, &r, func(x *Incident) bool { x.ReplyRef = &ref; return true }); err != nil {
				return err
			}
		}
		if r.Ref != nil && !r.Edited {
			if r.Digest == "" { // a digest lists other incidents too: the thread reply says it
				if err := w.n.Update(ctx, *r.Ref, w.resolvedMessage(&r)); err != nil && !w.gone(key, err) {
					return w.slackErr(err, res)
				}
				res.Posts++
			}
			if err := w.set(ctx, key, &r, func(x *Incident) bool { x.Edited = true; return true }); err != nil {
				return err
			}
		}
		if isIncident && !r.ResolvedSent {
			ev := r.event(r.RecoveryNote)
			ev.ResolvedAt = r.Recovered
			ev.TimeToRecoverS = int64(r.Recovered.Sub(r.FailedAt).Seconds())
			if err := w.publish(ctx, key+"/resolved", events.TypeIncidentResolved, r.Recovered, ev); err != nil {
				return err
			}
		}
		if err := w.set(ctx, key, &r, func(x *Incident) bool { x.ResolvedSent, x.State = true, StateResolved; return true }); err != nil {
			return err
		}
	}

	// Reminders for open incidents (claimed before the reply: a crash
	// skips one reminder rather than doubling it).
	if isIncident && r.State == StateOpen && r.Ref != nil && w.cfg.Reminder > 0 && r.Recovered.IsZero() {
		last := r.RemindedAt
		if last.IsZero() {
			last = r.PostedAt
		}
		if now.Sub(last) >= w.cfg.Reminder {
			claimed := false
			prev := r.RemindedAt
			if err := w.set(ctx, key, &r, func(x *Incident) bool {
				claimed = false // f may run again after a revision conflict
				if !x.RemindedAt.Equal(prev) {
					return false
				}
				x.RemindedAt, claimed = now, true
				return true
			}); err != nil {
				return err
			}
			if claimed {
				if _, err := w.n.Reply(ctx, *r.Ref, w.reminderReply(&r, now)); err != nil && !w.gone(key, err) {
					return w.slackErr(err, res)
				}
				res.Posts++
			}
		}
	}

	// Records kept in meta's pending list (summary, self-watch, incidents
	// superseded before their recovery was delivered) leave it once done.
	if r.Kind == "summary" && r.Ref != nil || r.State == StateResolved {
		var m meta
		rev, _, err := w.st.get(ctx, "meta", &m)
		if err != nil {
			return err
		}
		if slices.Contains(m.Pending, key) {
			drop := func(cur *meta) { cur.Pending = slices.DeleteFunc(cur.Pending, func(k string) bool { return k == key }) }
			drop(&m)
			if err := w.saveMeta(ctx, &m, rev, drop); err != nil {
				return err
			}
		}
	}
	return nil
}

// lease claims one non-idempotent step (a thread reply) for PostLease:
// false when it is done or another replica holds it. A crash after the
// claim delays the step by the lease; a crash after the reply but before it
// is recorded repeats it (the documented window).
func (w *Watcher) lease(ctx context.Context, key string, r *Incident, now time.Time, field func(*Incident) *time.Time, done func(*Incident) bool) (bool, error) {
	ok := false
	err := w.set(ctx, key, r, func(x *Incident) bool {
		ok = false // f may run again after a revision conflict
		if done(x) || now.Before(*field(x)) {
			return false
		}
		*field(x) = now.Add(w.cfg.PostLease)
		ok = true
		return true
	})
	return ok, err
}

// release gives a step's lease back after a failed Slack call, so the next
// poll retries at once (best effort: on error the lease just expires).
func (w *Watcher) release(ctx context.Context, key string, field func(*Incident) *time.Time) {
	_, _ = w.st.updateIncident(ctx, key, func(x *Incident) bool { *field(x) = time.Time{}; return true })
}

// gone reports (and logs) an error saying the alert message cannot be
// touched any more (deleted, not editable, channel archived): the step is
// skipped instead of failing every tick.
func (w *Watcher) gone(key string, err error) bool {
	if errors.Is(err, notify.ErrMessageNotFound) || errors.Is(err, notify.ErrCantUpdate) || errors.Is(err, notify.ErrChannelArchived) {
		w.log.Warn("jobwatch: the alert message is gone; skipping the Slack step", "incident", key, "err", err)
		return true
	}
	return false
}

// set applies f to the record under a revision check and refreshes r.
func (w *Watcher) set(ctx context.Context, key string, r *Incident, f func(*Incident) bool) error {
	nr, err := w.st.updateIncident(ctx, key, f)
	if err != nil {
		return err
	}
	*r = *nr
	return nil
}

// postFailed releases the posting claim: a retryable failure (429, 5xx)
// retries after Slack's wait, a permanent one after an interval.
func (w *Watcher) postFailed(ctx context.Context, key string, r *Incident, now time.Time, perr error, res *Result) error {
	after := w.cfg.Interval
	if notify.IsRetryable(perr) {
		if d, ok := notify.RetryAfter(perr); ok && d > 0 {
			after = d
		} else {
			after = 5 * time.Second
		}
	}
	if err := w.set(ctx, key, r, func(x *Incident) bool {
		x.State, x.Lease, x.RetryAt = StateNew, time.Time{}, now.Add(after)
		return true
	}); err != nil {
		return err
	}
	w.log.Warn("jobwatch: posting failed; will retry", "incident", key, "after", after, "err", perr)
	return w.slackErr(perr, res)
}

// slackErr records a Slack failure in res; the tick goes on with the other
// records and the handler asks for a retry (or drops, for a permanent one).
func (w *Watcher) slackErr(err error, res *Result) error {
	if notify.IsRetryable(err) {
		after := 5 * time.Second
		if d, ok := notify.RetryAfter(err); ok && d > 0 {
			after = d
		}
		res.SlackRetry = max(res.SlackRetry, after)
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if res.SlackPermanent == nil {
		res.SlackPermanent = err
	}
	return nil
}
