package jobwatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
	"github.com/slack-go/slack"
)

// A digest is one Slack message for several incidents due in one channel at
// once (JOBWATCH_DIGEST_MIN or more in one delivery pass). Slack takes about
// one message per second per channel, so N alerts posted one by one make the
// last wait N-1 seconds; the digest makes them all wait one post.
//
// Exactly once, as for a single alert (docs/jobwatch.md):
//
//  1. each member is claimed new → posting with a revision check, naming
//     the digest record (Digest) and the posting lease; members another
//     replica claimed first are left out;
//  2. the digest record msg/digest/<ms>-<random> is created (create-only)
//     listing the members it won;
//  3. the message is posted;
//  4. the digest record gets the message's Ref — the commit point: from then
//     on any replica delivering a member adopts that Ref (adoptDigest)
//     instead of posting it again;
//  5. every member gets the Ref and goes to open.
//
// A crash before 4 leaves the members posting until their lease expires;
// then they are posted again (alone or in another digest), never dropped. A
// crash between 3 and 4 is the window a single alert has too: one duplicate
// message. A Slack failure at 3 releases the members (retry after Slack's
// wait) and marks the record failed, so nothing ever adopts it.

// digestFailed marks a digest record whose post failed (never adopted).
const digestFailed = "failed"

func (r *Incident) isIncident() bool {
	return r.Kind != "summary" && r.Kind != "selfwatch" && r.Kind != "digest"
}

// duePost reports a record that should be posted now: not posted, not
// muted, not held by a live posting lease, not waiting for Slack's
// Retry-After.
func (w *Watcher) duePost(r *Incident, now time.Time) bool {
	return r.Ref == nil && !r.Muted && (r.State == StateNew || (r.State == StatePosting && now.After(r.Lease))) && !now.Before(r.RetryAt)
}

// prepare loads a record and does what comes before its post: the
// incident.opened event, the Spark log tail, and adopting a digest that was
// posted for it. It returns nil when the record is gone.
func (w *Watcher) prepare(ctx context.Context, key string, now time.Time) (*Incident, error) {
	var r Incident
	_, found, err := w.st.get(ctx, key, &r)
	if err != nil || !found {
		return nil, err
	}
	isIncident := r.isIncident()
	if isIncident && !r.OpenedSent {
		if err := w.publish(ctx, key+"/opened", events.TypeIncidentOpened, r.Detected, r.event("")); err != nil {
			return nil, err
		}
		if err := w.set(ctx, key, &r, func(x *Incident) bool { x.OpenedSent = true; return true }); err != nil {
			return nil, err
		}
	}
	if isIncident && !r.LogDone {
		// One DLI call (10.1.6) per failed batch; a failure leaves the
		// alert without a log rather than holding it.
		var tail []string
		if lg, err := w.dli.BatchLogs(ctx, r.JobID, dli.LogQuery{}); err == nil {
			tail = lg.Lines
		} else {
			w.log.Warn("jobwatch: no log tail", "incident", key, "err", err)
		}
		if len(tail) > w.cfg.LogLines {
			tail = tail[len(tail)-w.cfg.LogLines:]
		}
		if err := w.set(ctx, key, &r, func(x *Incident) bool { x.LogTail, x.LogDone = redactLines(tail), true; return true }); err != nil {
			return nil, err
		}
	}
	if err := w.adoptDigest(ctx, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// adoptDigest finishes step 5 for a member whose digest was posted and
// committed (step 4) by a replica that stopped before updating the member.
func (w *Watcher) adoptDigest(ctx context.Context, r *Incident) error {
	if r.Ref != nil || r.State != StatePosting || r.Digest == "" {
		return nil
	}
	var d Incident
	if _, found, err := w.st.get(ctx, r.Digest, &d); err != nil || !found || d.Ref == nil {
		return err
	}
	return w.set(ctx, r.Key, r, func(x *Incident) bool {
		if x.Ref != nil || x.State != StatePosting || x.Digest != d.Key {
			return false
		}
		x.State, x.Ref, x.PostedAt, x.Lease = StateOpen, d.Ref, d.PostedAt, time.Time{}
		return true
	})
}

// deliverKeys delivers records: first one digest per channel that has
// DigestMin or more incidents due, then every record on its own (updates,
// recoveries, reminders, and the posts not in a digest).
func (w *Watcher) deliverKeys(ctx context.Context, keys []string, now time.Time, res *Result) error {
	started := time.Now()
	if res.timing.firstDeliver == 0 && !res.timing.began.IsZero() {
		res.timing.firstDeliver = max(started.Sub(res.timing.began), time.Nanosecond)
	}
	defer func() { res.timing.deliver += time.Since(started) }()
	if w.cfg.DigestMin > 0 {
		due := map[string][]*Incident{}
		for i, k := range keys {
			if i%50 == 49 {
				_ = events.InProgress(ctx)
			}
			r, err := w.prepare(ctx, k, now)
			if err != nil {
				return err
			}
			if r != nil && r.isIncident() && w.duePost(r, now) {
				due[r.Channel] = append(due[r.Channel], r)
			}
		}
		channels := make([]string, 0, len(due))
		for ch, rs := range due {
			if len(rs) >= w.cfg.DigestMin {
				channels = append(channels, ch)
			}
		}
		sort.Strings(channels)
		for _, ch := range channels {
			if err := w.postDigest(ctx, ch, due[ch], now, res); err != nil {
				return err
			}
		}
	}
	for i, k := range keys {
		if i%50 == 49 {
			_ = events.InProgress(ctx)
		}
		if err := w.deliver(ctx, k, now, res); err != nil {
			return err
		}
	}
	return nil
}

// postDigest posts one message for recs (all due in channel), following the
// protocol above.
func (w *Watcher) postDigest(ctx context.Context, channel string, recs []*Incident, now time.Time, res *Result) error {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	key := fmt.Sprintf("msg/digest/%d-%s", now.UnixMilli(), hex.EncodeToString(rnd[:]))
	lease := now.Add(w.cfg.PostLease)
	// 1. Claim the members.
	var won []*Incident
	for _, r := range recs {
		ok := false
		if err := w.set(ctx, r.Key, r, func(x *Incident) bool {
			ok = false // f may run again after a revision conflict
			if !w.duePost(x, now) {
				return false
			}
			x.State, x.Lease, x.Attempts, x.Digest = StatePosting, lease, x.Attempts+1, key
			ok = true
			return true
		}); err != nil {
			return err
		}
		if ok {
			won = append(won, r)
		}
	}
	if len(won) == 0 {
		return nil
	}
	// 2. The digest record.
	d := &Incident{Key: key, Kind: "digest", Channel: channel, Detected: now, State: StatePosting, Lease: lease}
	for _, r := range won {
		d.Members = append(d.Members, r.Key)
	}
	if _, err := w.st.put(ctx, key, d, 0); err != nil {
		return err
	}
	if w.afterClaim != nil {
		if err := w.afterClaim(key + "#digest"); err != nil {
			return err
		}
	}
	// 3. Post.
	ref, perr := w.n.Post(ctx, w.digestMessage(key, channel, won, now))
	res.Posts++
	if perr != nil {
		return w.digestFailed(ctx, key, won, now, perr, res)
	}
	// 4. Commit: from here on every member is posted.
	if _, err := w.st.updateIncident(ctx, key, func(x *Incident) bool {
		x.State, x.Ref, x.PostedAt, x.Lease = StateOpen, &ref, now, time.Time{}
		return true
	}); err != nil {
		return err
	}
	if w.afterClaim != nil {
		if err := w.afterClaim(key + "#posted"); err != nil {
			return err
		}
	}
	// 5. The members.
	for _, r := range won {
		if err := w.set(ctx, r.Key, r, func(x *Incident) bool {
			if x.Ref != nil || x.Digest != key {
				return false
			}
			x.State, x.Ref, x.PostedAt, x.Lease = StateOpen, &ref, now, time.Time{}
			return true
		}); err != nil {
			return err
		}
	}
	w.log.Info("jobwatch: digest posted", "digest", key, "channel", ref.Channel, "incidents", len(won))
	return nil
}

// digestFailed releases the members of a digest Slack refused: a retryable
// failure retries after Slack's wait, a permanent one after an interval (as
// postFailed for one alert). The record is marked failed: never adopted.
func (w *Watcher) digestFailed(ctx context.Context, key string, won []*Incident, now time.Time, perr error, res *Result) error {
	after := w.cfg.Interval
	if notify.IsRetryable(perr) {
		after = 5 * time.Second
		if d, ok := notify.RetryAfter(perr); ok && d > 0 {
			after = d
		}
	}
	if _, err := w.st.updateIncident(ctx, key, func(x *Incident) bool { x.State, x.Lease = digestFailed, time.Time{}; return true }); err != nil {
		return err
	}
	for _, r := range won {
		if err := w.set(ctx, r.Key, r, func(x *Incident) bool {
			if x.Ref != nil || x.Digest != key {
				return false
			}
			x.State, x.Lease, x.RetryAt, x.Digest = StateNew, time.Time{}, now.Add(after), ""
			return true
		}); err != nil {
			return err
		}
	}
	w.log.Warn("jobwatch: posting a digest failed; will retry", "digest", key, "incidents", len(won), "after", after, "err", perr)
	return w.slackErr(perr, res)
}

// digestLinesPerSection keeps each list section of a digest well inside
// Slack's 3,000 characters per section text.
const digestLinesPerSection = 8

// digestMessage lists the incidents of one digest: DigestMax of them by
// name, the rest counted.
func (w *Watcher) digestMessage(key, channel string, recs []*Incident, now time.Time) notify.Message {
	recs = slices.Clone(recs)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Key < recs[j].Key })
	title := fmt.Sprintf(":rotating_light: jobwatch: %d new incidents", len(recs))
	late := 0
	items := make([]string, 0, len(recs))
	for _, r := range recs {
		line := fmt.Sprintf("%s %s *%s* %s on `%s`: `%s`", incidentEmoji[r.Kind], kindTitle[r.JobKind], blockkit.Escape(jobLabel(r)),
			incidentTitle[r.Kind], blockkit.Escape(r.Queue), blockkit.Escape(r.Status))
		if r.StatusDesc != "" {
			line += " — " + blockkit.Escape(blockkit.Clip(r.StatusDesc, 80))
		}
		if r.Late {
			line += " _(detected late)_"
			late++
		}
		line += " · " + blockkit.Link(w.consoleURL(r), "console")
		items = append(items, line)
	}
	shown := min(len(items), w.cfg.DigestMax)
	blocks := []slack.Block{
		blockkit.Header(title),
		blockkit.Section(fmt.Sprintf("%d incidents were found at once for this channel, so they share one message. Each job's updates and recovery are posted in this thread.", len(recs))),
	}
	for i := 0; i < shown; i += digestLinesPerSection {
		blocks = append(blocks, blockkit.List(items[i:min(i+digestLinesPerSection, shown)], 0, "incidents"))
	}
	if more := len(items) - shown; more > 0 {
		blocks = append(blocks, blockkit.Section(fmt.Sprintf("_… and %d more (each has its own incident.opened event and thread replies here)_", more)))
	}
	ctx := []string{"jobwatch", "digest `" + blockkit.Escape(key) + "`", "detected " + fmtTime(now)}
	if late > 0 {
		ctx = append(ctx, fmt.Sprintf("%d detected late (jobwatch was not polling)", late))
	}
	blocks = append(blocks, blockkit.Context(ctx...))
	return notify.Message{Channel: channel, Text: blockkit.Unescape(title), Blocks: blocks}
}
