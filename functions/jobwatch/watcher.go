package jobwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/nats-io/nats.go/jetstream"
)

// Name is the function's name.
const Name = "jobwatch"

// Options are a Watcher's dependencies.
type Options struct {
	// Config is the configuration (LoadConfig). Required.
	Config Config
	// DLI lists the jobs. Required.
	DLI DLI
	// JS holds the KV bucket and publishes the incident events. Required.
	JS jetstream.JetStream
	// Notifier posts to Slack. Required.
	Notifier notify.Notifier
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
	// KVReplicas of the bucket; default 1.
	KVReplicas int
}

// Watcher polls DLI and keeps the incidents. Several Watchers (replicas,
// restarts) may share one KV bucket: incident keys are claimed create-only
// and every state change is revision-checked.
type Watcher struct {
	cfg   Config
	dli   DLI
	js    jetstream.JetStream
	st    *store
	n     notify.Notifier
	now   func() time.Time
	log   *slog.Logger
	rules *Rules

	// afterClaim, in tests, runs after an incident is claimed and before
	// it is posted; an error aborts the tick there (a crash).
	afterClaim func(key string) error
	// mu serialises polls within one process.
	mu sync.Mutex
}

// New returns a Watcher, creating the KV bucket if needed.
func New(ctx context.Context, o Options) (*Watcher, error) {
	if o.DLI == nil || o.JS == nil || o.Notifier == nil {
		return nil, errors.New("jobwatch: DLI, JS and Notifier are required")
	}
	cfg := o.Config
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, err := openStore(ctx, o.JS, o.KVReplicas)
	if err != nil {
		return nil, err
	}
	w := &Watcher{cfg: cfg, dli: o.DLI, js: o.JS, st: st, n: o.Notifier, now: o.Now, log: o.Logger, rules: cfg.rules}
	if w.now == nil {
		w.now = time.Now
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	return w, nil
}

// Handle is the events.Handler: it polls on every tick.
func (w *Watcher) Handle(ctx context.Context, e events.Event) events.Outcome {
	if e.Type() != events.TypeTick {
		return events.Drop("jobwatch: unexpected event type " + e.Type())
	}
	var t events.Tick
	if err := e.DataAs(&t); err != nil || t.Function != Name {
		return events.Drop(fmt.Sprintf("jobwatch: bad tick data (want function %q)", Name))
	}
	// A redelivered tick (the last one asked to retry Slack) only delivers:
	// the next tick lists DLI again, so retries cost no DLI calls.
	redelivered := false
	if d, ok := events.DeliveryFrom(ctx); ok && d.Attempt > 1 {
		redelivered = true
	}
	res, err := w.run(ctx, redelivered, t.PeriodStart)
	if err != nil {
		w.log.Warn("jobwatch poll failed", "event", e.ID(), "err", err)
		return events.Retry(5 * time.Second)
	}
	if res.SlackPermanent != nil {
		return events.Drop("jobwatch: Slack refused a message: " + res.SlackPermanent.Error())
	}
	if res.SlackRetry > 0 {
		return events.Retry(res.SlackRetry)
	}
	return events.Ack()
}

// Result tells what one Poll did.
type Result struct {
	// Listed says whether DLI was polled (false: throttled back-off, or a
	// redelivered tick right after a poll); Jobs is how many were listed.
	Listed bool
	Jobs   int
	// ListErrors are the listing failures (the self-watch counts them).
	ListErrors []error
	// Opened, Resolved are incident keys opened / resolved in this poll.
	Opened, Resolved []string
	// Posts counts Slack writes.
	Posts int
	// SlackRetry > 0: some Slack write failed retryably; retry after it.
	SlackRetry time.Duration
	// SlackPermanent: a Slack write failed for good (bad token, channel…).
	SlackPermanent error
	// Late: this poll was a catch-up after downtime.
	Late bool

	// timing is where the poll's wall time went (logged per poll).
	timing pollTiming
}

func (t *pollTiming) note(kind string, d time.Duration) {
	if t.kinds == nil {
		t.kinds = map[string]time.Duration{}
	}
	t.kinds[kind] += d
	t.list += d
}

// pollTiming is the wall time of one poll's phases.
type pollTiming struct {
	began                 time.Time
	list, detect, deliver time.Duration
	// firstDeliver is when the first delivery began, after began.
	firstDeliver time.Duration
	kinds        map[string]time.Duration // listing time per kind
}

// Poll lists the jobs, detects incidents and delivers messages and events.
func (w *Watcher) Poll(ctx context.Context) (*Result, error) { return w.run(ctx, false, time.Time{}) }

// run is Poll; deliverOnly skips the listing.
// period is the tick's period start (zero for Poll).
func (w *Watcher) run(ctx context.Context, deliverOnly bool, period time.Time) (*Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now().UTC()
	res := &Result{}
	began := time.Now()
	res.timing.began = began

	m, mrev, err := w.loadMeta(ctx, now)
	if err != nil {
		return nil, err
	}
	pending := map[string]bool{}
	// A stale tick, a redelivered one, or throttling skips the listing. A
	// tick is stale when a listing began at or after its period started
	// (that listing saw what the tick would): a duplicate, or a backlog
	// after a pause. A tick handled late (the previous poll ran long) does
	// not make the next period's tick stale. Without a period (Poll), a
	// listing less than half an interval ago makes it stale.
	recent := false
	if !m.LastAttempt.IsZero() {
		if period.IsZero() {
			recent = !now.Before(m.LastAttempt) && now.Sub(m.LastAttempt) < w.cfg.Interval/2
		} else {
			recent = !period.After(m.LastAttempt)
		}
	}
	if now.Before(m.PollAfter) || recent || deliverOnly {
		for _, k := range m.Pending {
			pending[k] = true
		}
		if err := w.referenced(ctx, pending); err != nil {
			return nil, err
		}
	} else {
		if err := w.poll(ctx, now, &m, res, pending); err != nil {
			return nil, err
		}
		if err := w.saveMeta(ctx, &m, mrev, func(cur *meta) { *cur = mergeMeta(*cur, m) }); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(pending))
	for k := range pending {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if err := w.deliverKeys(ctx, keys, now, res); err != nil {
		return nil, err
	}
	w.logPoll(res, began)
	return res, nil
}

// logPoll logs where one poll's time went: listing (per kind), detection,
// delivery (Slack posts wait for the channel's pacing there).
func (w *Watcher) logPoll(res *Result, began time.Time) {
	attrs := []slog.Attr{slog.Bool("listed", res.Listed), slog.Int("jobs", res.Jobs),
		slog.Int("opened", len(res.Opened)), slog.Int("resolved", len(res.Resolved)), slog.Int("posts", res.Posts),
		slog.Int64("list_ms", res.timing.list.Milliseconds()), slog.Int64("detect_ms", res.timing.detect.Milliseconds()),
		slog.Int64("deliver_ms", res.timing.deliver.Milliseconds()), slog.Int64("first_deliver_ms", res.timing.firstDeliver.Milliseconds()),
		slog.Int64("took_ms", time.Since(began).Milliseconds())}
	for _, k := range []string{KindFlink, KindSpark, KindSQL} {
		if d, ok := res.timing.kinds[k]; ok {
			attrs = append(attrs, slog.Int64(k+"_list_ms", d.Milliseconds()))
		}
	}
	w.log.LogAttrs(context.Background(), slog.LevelInfo, "jobwatch poll", attrs...)
}

func (w *Watcher) loadMeta(ctx context.Context, now time.Time) (meta, uint64, error) {
	var m meta
	rev, found, err := w.st.get(ctx, "meta", &m)
	if err != nil {
		return m, 0, err
	}
	if !found {
		m = meta{FirstPoll: now, Baselined: map[string]bool{}}
		if !w.cfg.QuietStart {
			for _, k := range w.cfg.Kinds {
				m.Baselined[k] = true
			}
		}
		rev, err = w.st.put(ctx, "meta", &m, 0)
		if errors.Is(err, errConflict) {
			return w.loadMeta(ctx, now)
		}
		if err != nil {
			return m, 0, err
		}
	}
	if m.Baselined == nil {
		m.Baselined = map[string]bool{}
	}
	return m, rev, nil
}

// saveMeta writes m over rev; on a conflict it re-reads and applies merge
// to the current value (another replica polled meanwhile).
func (w *Watcher) saveMeta(ctx context.Context, m *meta, rev uint64, merge func(cur *meta)) error {
	_, err := w.st.put(ctx, "meta", m, rev)
	if !errors.Is(err, errConflict) {
		return err
	}
	for range 8 {
		var cur meta
		crev, _, err := w.st.get(ctx, "meta", &cur)
		if err != nil {
			return err
		}
		merge(&cur)
		if _, err = w.st.put(ctx, "meta", &cur, crev); !errors.Is(err, errConflict) {
			return err
		}
	}
	return errConflict
}

// referenced adds the open incidents of every shard to pending (used when
// the listing is skipped, so deliveries still progress).
func (w *Watcher) referenced(ctx context.Context, pending map[string]bool) error {
	for _, kind := range w.cfg.Kinds {
		for n := range shards {
			var sh shardState
			if _, _, err := w.st.get(ctx, shardKey(kind, n), &sh); err != nil {
				return err
			}
			for _, s := range sh.Subj {
				if s.Inc != "" {
					pending[s.Inc] = true
				}
			}
		}
	}
	return nil
}

func (w *Watcher) poll(ctx context.Context, now time.Time, m *meta, res *Result, pending map[string]bool) error {
	res.Listed = true
	m.LastAttempt = now
	allOK := true
	throttled := false
	// The order finds new failures first: the failed Flink jobs (a status
	// filter: a page or two), the Spark batches and SQL jobs started since
	// their cursor, then the alerts found so far are delivered, and only
	// then the full Flink listing (one call per 100 jobs) runs.
	for _, st := range w.pollSteps(m) {
		if st.deliver {
			opened := slices.Clone(res.Opened)
			sort.Strings(opened)
			if err := w.deliverKeys(ctx, opened, now, res); err != nil {
				return err
			}
			continue
		}
		kind := st.kind
		var start time.Time
		switch kind {
		case KindSQL:
			start = m.SQLCursor
			if start.IsZero() {
				start = now.Add(-w.cfg.SQLLookback)
			}
		case KindSpark:
			start = m.SparkCursor
		}
		_ = events.InProgress(ctx) // a long poll must not be redelivered meanwhile
		listing := time.Now()
		var jobs []obs
		var err error
		if st.problems {
			jobs, err = w.listFlinkProblems(ctx)
		} else {
			jobs, err = w.list(ctx, kind, start)
		}
		res.timing.note(kind, time.Since(listing))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			throttled = throttled || errors.Is(err, dli.ErrThrottled)
			if st.problems && !errors.Is(err, dli.ErrThrottled) {
				// The full listing below sees these jobs too (only later).
				w.log.Warn("jobwatch: listing the failed Flink jobs failed; the full listing follows", "err", err)
				continue
			}
			allOK = false
			if st.problems {
				kind += " (failed jobs)"
			}
			res.ListErrors = append(res.ListErrors, fmt.Errorf("%s: %w", kind, err))
			w.log.Warn("jobwatch poll failed: listing", "kind", kind, "err", err)
			continue
		}
		if !st.problems { // the full listing counts them
			res.Jobs += len(jobs)
		}
		// Late: this kind was last listed long ago (jobwatch down, or DLI
		// unreachable); what changed meanwhile is reported marked late.
		last := m.Listed[kind]
		late := !last.IsZero() && now.Sub(last) > w.cfg.lateAfter()
		res.Late = res.Late || late
		detecting := time.Now()
		oldestActive, err := w.process(ctx, kind, jobs, now, m, late, st.problems, res, pending)
		res.timing.detect += time.Since(detecting)
		if err != nil {
			return err
		}
		if st.problems {
			continue
		}
		if m.Listed == nil {
			m.Listed = map[string]time.Time{}
		}
		m.Listed[kind] = now
		if kind == KindSQL || kind == KindSpark {
			// The next listing starts at the oldest job still active (it
			// may still change), at most a minute back. The filter compares
			// DLI's times: the cursor is also at most a minute before the
			// newest job listed (our clock may run ahead of DLI's), and
			// stays where it was when none was listed.
			c := now.Add(-time.Minute)
			var newest time.Time
			for _, o := range jobs {
				if o.Started.After(newest) {
					newest = o.Started
				}
			}
			if newest.IsZero() {
				c = start
			} else if n := newest.Add(-time.Minute); n.Before(c) {
				c = n
			}
			if !oldestActive.IsZero() && oldestActive.Before(c) {
				c = oldestActive
			}
			if kind == KindSQL {
				m.SQLCursor = c
			} else {
				m.SparkCursor = c
			}
		}
		m.Baselined[kind] = true
	}
	// Quiet start: one summary once every kind has its baseline.
	if !m.SummaryDone && w.baselined(m) {
		m.SummaryDone = true
		if m.SummaryCount > 0 {
			rec := &Incident{Key: "msg/summary", Kind: "summary", Detected: now, State: StateNew,
				Summary: m.Summary, SummaryCount: m.SummaryCount, Channel: w.cfg.Channel}
			if _, err := w.st.put(ctx, rec.Key, rec, 0); err != nil && !errors.Is(err, errConflict) {
				return err
			}
			m.Pending = append(m.Pending, rec.Key)
			m.Summary = nil
		}
	}
	// Throttling slows the poll; success restores the period.
	if throttled {
		m.Backoff = min(m.Backoff+1, 10)
		d := w.cfg.Interval << m.Backoff
		if d > w.cfg.MaxBackoff || d <= 0 {
			d = w.cfg.MaxBackoff
		}
		m.PollAfter = now.Add(d - w.cfg.Interval/2)
	} else if allOK {
		m.Backoff = 0
		m.PollAfter = time.Time{}
	}
	// Self-watch.
	if allOK {
		m.LastPoll = now
		if m.SelfWatch != "" {
			key := m.SelfWatch
			if _, err := w.st.updateIncident(ctx, key, func(r *Incident) bool {
				if !r.Recovered.IsZero() {
					return false
				}
				r.Recovered = now
				return true
			}); err != nil {
				return err
			}
			m.SelfWatch = ""
		}
		m.FailingSince = time.Time{}
	} else {
		if m.FailingSince.IsZero() {
			m.FailingSince = now
		}
		if m.SelfWatch == "" && now.Sub(m.FailingSince) >= w.cfg.SelfWatchAfter {
			// Numbered by outage, so replicas reading the same meta claim
			// the same key and only one record (one message) exists.
			m.Outages++
			rec := &Incident{Key: fmt.Sprintf("msg/selfwatch/%d", m.Outages), Kind: "selfwatch",
				FailedAt: m.FailingSince, Detected: now, State: StateNew, Channel: w.cfg.Channel}
			if len(res.ListErrors) > 0 {
				rec.Detail = res.ListErrors[0].Error()
			}
			if _, err := w.st.put(ctx, rec.Key, rec, 0); err != nil && !errors.Is(err, errConflict) {
				return err
			}
			m.SelfWatch = rec.Key
			m.Pending = append(m.Pending, rec.Key)
		}
	}
	for _, k := range m.Pending {
		pending[k] = true
	}
	return nil
}

// pollStep is one step of a poll: a listing (problems: only the failed
// Flink jobs) or a delivery of the incidents opened so far.
type pollStep struct {
	kind     string
	problems bool
	deliver  bool
}

// pollSteps orders a poll. The failed-Flink-jobs step needs the Flink
// baseline (on the first poll the full listing records every job quietly).
func (w *Watcher) pollSteps(m *meta) []pollStep {
	var steps []pollStep
	if w.cfg.watches(KindFlink) && m.Baselined[KindFlink] {
		steps = append(steps, pollStep{kind: KindFlink, problems: true})
	}
	for _, k := range []string{KindSpark, KindSQL} {
		if w.cfg.watches(k) {
			steps = append(steps, pollStep{kind: k})
		}
	}
	if w.cfg.watches(KindFlink) {
		if len(steps) > 0 {
			steps = append(steps, pollStep{deliver: true})
		}
		steps = append(steps, pollStep{kind: KindFlink})
	}
	return steps
}

// mergeMeta combines this poll's meta (mine) with one another replica
// stored meanwhile (cur): pending records are united, the outage state keeps
// the earliest failure and the highest outage number.
func mergeMeta(cur, mine meta) meta {
	out := mine
	for _, k := range cur.Pending {
		if !slices.Contains(out.Pending, k) {
			out.Pending = append(out.Pending, k)
		}
	}
	out.Outages = max(cur.Outages, mine.Outages)
	if !cur.FailingSince.IsZero() && !mine.FailingSince.IsZero() && cur.FailingSince.Before(mine.FailingSince) {
		out.FailingSince = cur.FailingSince
	}
	if out.SelfWatch == "" && !mine.FailingSince.IsZero() {
		out.SelfWatch = cur.SelfWatch
	}
	out.SummaryDone = cur.SummaryDone || mine.SummaryDone
	for k, t := range cur.Listed {
		if out.Listed == nil {
			out.Listed = map[string]time.Time{}
		}
		if t.After(out.Listed[k]) {
			out.Listed[k] = t
		}
	}
	for k, v := range cur.Baselined {
		if v {
			out.Baselined[k] = true
		}
	}
	return out
}

func (w *Watcher) baselined(m *meta) bool {
	for _, k := range w.cfg.Kinds {
		if !m.Baselined[k] {
			return false
		}
	}
	return true
}

// process applies one kind's listing to its shards. It returns the start of
// the oldest job still active (for the SQL cursor).
//
// partial: jobs is not the full listing (the failed Flink jobs only): jobs
// not in it are not forgotten, and subjects are left for the full listing.
func (w *Watcher) process(ctx context.Context, kind string, jobs []obs, now time.Time, m *meta, late, partial bool, res *Result, pending map[string]bool) (time.Time, error) {
	var byShard [shards][]obs
	for _, o := range jobs {
		n := shardOf(o.Subject)
		byShard[n] = append(byShard[n], o)
	}
	var oldest time.Time
	for n := range shards {
		for attempt := 0; ; attempt++ {
			var sh shardState
			rev, _, err := w.st.get(ctx, shardKey(kind, n), &sh)
			if err != nil {
				return oldest, err
			}
			if sh.Jobs == nil {
				sh.Jobs = map[string]*jobRec{}
			}
			if sh.Subj == nil {
				sh.Subj = map[string]*subjRec{}
			}
			before, _ := jsonBytes(&sh)
			d := &detector{w: w, kind: kind, now: now, late: late, partial: partial, quiet: !m.Baselined[kind], m: m, res: res, sh: &sh, cache: map[string]*Incident{}}
			o, err := d.run(ctx, byShard[n])
			if err != nil {
				return oldest, err
			}
			if !o.IsZero() && (oldest.IsZero() || o.Before(oldest)) {
				oldest = o
			}
			after, _ := jsonBytes(&sh)
			if string(before) != string(after) {
				_, err = w.st.put(ctx, shardKey(kind, n), &sh, rev)
				if errors.Is(err, errConflict) && attempt < 8 {
					continue
				}
				if err != nil {
					return oldest, err
				}
			}
			for _, s := range sh.Subj {
				if s.Inc != "" {
					pending[s.Inc] = true
				}
			}
			break
		}
	}
	return oldest, nil
}

// subjectTTL is how long the history of a job identity (runtimes, episode
// counter) is kept after its last change once DLI no longer lists any of its
// runs.
const subjectTTL = 14 * 24 * time.Hour

// detector applies observations to one shard.
type detector struct {
	w    *Watcher
	kind string
	now  time.Time
	late bool
	// partial: the jobs are not the whole listing (see process).
	partial bool
	quiet   bool
	m       *meta
	res     *Result
	sh      *shardState
	cache   map[string]*Incident
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func (d *detector) run(ctx context.Context, jobs []obs) (time.Time, error) {
	cfg := &d.w.cfg
	nowMS := ms(d.now)
	seen := make(map[string]bool, len(jobs))
	var oldest time.Time
	for _, o := range jobs {
		seen[o.ID] = true
		o.Status = normStatus(d.kind, o.Status)
		si := classify(d.kind, o.Status)
		jr := d.sh.Jobs[o.ID]
		changed := jr == nil || jr.S != o.Status
		prev := jr
		if jr == nil {
			jr = &jobRec{}
			d.sh.Jobs[o.ID] = jr
		}
		if changed {
			jr.S, jr.T, jr.K = o.Status, nowMS, false
		}
		if o.Subject != o.ID {
			jr.U = o.Subject
		}
		if !o.Started.IsZero() {
			jr.Start = ms(o.Started)
		}
		if si.class != classFinished && si.class != classFailed {
			// Not known to have ended (also an unknown status): it may
			// still change, so the cursor must not pass it.
			if !o.Started.IsZero() && (oldest.IsZero() || o.Started.Before(oldest)) {
				oldest = o.Started
			}
		}
		sr := d.sh.Subj[o.Subject]
		if sr == nil {
			sr = &subjRec{}
			d.sh.Subj[o.Subject] = sr
		}
		if changed {
			sr.Seen = nowMS
		}
		if d.quiet {
			// First sight: record, and summarise what is already broken.
			if si.class == classFailed || si.class == classBilling || si.class == classUnknown {
				d.m.SummaryCount++
				if len(d.m.Summary) < 200 {
					d.m.Summary = append(d.m.Summary, summaryItem{Kind: d.kind, ID: o.ID, Name: o.Name, Queue: o.Queue, Status: o.Status})
				}
			}
			jr.R = si.class == classHealthy
			continue
		}
		switch si.class {
		case classFailed, classBilling, classUnknown:
			if !changed {
				break
			}
			kind := IncidentFailed
			if si.class == classBilling {
				kind = IncidentBilling
			} else if si.class == classUnknown {
				kind = IncidentUnknown
			}
			if err := d.problem(ctx, o, sr, kind, true); err != nil {
				return oldest, err
			}
			jr.R, jr.C = false, false
		case classTransitional:
			if o.Status == "job_canceling" || o.Status == "job_savepointing" {
				jr.C = true
			}
			if th := cfg.stuckThreshold(o.Status); th > 0 && !jr.K && nowMS-jr.T >= th.Milliseconds() {
				jr.K = true
				o.Desc = joinDesc(o.Desc, fmt.Sprintf("in %s for %s (threshold %s)", o.Status, fmtDur(time.Duration(nowMS-jr.T)*time.Millisecond), th))
				if err := d.problem(ctx, o, sr, IncidentStuck, false); err != nil {
					return oldest, err
				}
			}
		case classHealthy:
			if changed {
				if err := d.healthy(ctx, sr, true); err != nil {
					return oldest, err
				}
			}
			jr.R, jr.C = true, false
			if d.kind != KindFlink && cfg.SlowFactor > 0 && !jr.K && len(sr.Runs) >= cfg.SlowMinRuns && !o.Started.IsZero() {
				base := p95(sr.Runs)
				lim := time.Duration(float64(base) * cfg.SlowFactor * float64(time.Millisecond))
				lim = max(lim, cfg.SlowMin)
				if run := d.now.Sub(o.Started); run > lim {
					jr.K = true
					o.Desc = joinDesc(o.Desc, fmt.Sprintf("running for %s; its last %d successful runs took at most %s (p95)", fmtDur(run), len(sr.Runs), fmtDur(time.Duration(base)*time.Millisecond)))
					if err := d.problem(ctx, o, sr, IncidentSlow, false); err != nil {
						return oldest, err
					}
				}
			}
		case classFinished, classInactive:
			if !changed {
				break
			}
			wasRunning := prev != nil && prev.R
			userStop := prev != nil && prev.C
			if d.kind == KindFlink && wasRunning && !userStop && (o.Status == "job_finish" || o.Status == "job_idle") {
				o.Desc = joinDesc(o.Desc, "the streaming job was running and is now "+o.Status+" without a stop request")
				if err := d.problem(ctx, o, sr, IncidentStopped, true); err != nil {
					return oldest, err
				}
			} else if si.class == classFinished {
				if err := d.healthy(ctx, sr, false); err != nil {
					return oldest, err
				}
				if (o.Status == "success" || o.Status == "FINISHED") && prev != nil {
					dur := o.Duration
					if dur <= 0 && !o.Ended.IsZero() && !o.Started.IsZero() {
						dur = o.Ended.Sub(o.Started)
					}
					if dur > 0 {
						sr.Runs = append(sr.Runs, dur.Milliseconds())
						if len(sr.Runs) > 20 {
							sr.Runs = sr.Runs[len(sr.Runs)-20:]
						}
					}
				}
			}
			jr.R, jr.C = false, false
		}
	}
	if d.partial {
		return oldest, nil
	}
	// Forget jobs that are gone (full listings) or behind the SQL and Spark
	// cursors (listings of the jobs started since: a job behind the cursor
	// has ended and will not change).
	for id, jr := range d.sh.Jobs {
		if seen[id] {
			continue
		}
		if d.kind == KindFlink {
			delete(d.sh.Jobs, id)
		} else if c := classify(d.kind, jr.S).class; c == classFinished || c == classFailed {
			delete(d.sh.Jobs, id)
		}
	}
	// Subjects: flap window, resolution, closed incidents.
	for name, sr := range d.sh.Subj {
		sr.Fails = slices.DeleteFunc(sr.Fails, func(t int64) bool { return nowMS-t > cfg.FlapWindow.Milliseconds() })
		if len(sr.Fails) == 0 {
			sr.Fails = nil
		}
		if d.kind == KindFlink && sr.Inc != "" && sr.OK == 0 && !d.subjectHasJobs(name) {
			// The Flink job is gone from the (full) listing: deleted.
			sr.OK, sr.G = nowMS-cfg.ResolveAfter.Milliseconds(), true
		}
		if sr.Inc != "" {
			inc, err := d.incident(ctx, sr.Inc)
			if err != nil {
				return oldest, err
			}
			switch {
			case inc == nil || inc.State == StateResolved:
				sr.Inc, sr.OK, sr.L, sr.G = "", 0, false, false
			case sr.OK > 0 && inc.Recovered.IsZero() && nowMS-sr.OK >= cfg.ResolveAfter.Milliseconds():
				at := time.UnixMilli(sr.OK).UTC()
				note := fmt.Sprintf("healthy again since %s", fmtTime(at))
				if sr.G {
					at = d.now
					note = "the job is no longer listed by DLI (deleted)"
				} else if sr.L {
					at = d.now
					note = fmt.Sprintf("found healthy at %s, after jobwatch was not polling since %s", fmtTime(d.now), fmtTime(d.m.Listed[d.kind]))
				}
				late := sr.L
				if _, err := d.w.st.updateIncident(ctx, sr.Inc, func(r *Incident) bool {
					if !r.Recovered.IsZero() {
						return false
					}
					r.Recovered = at
					r.RecoveredLate = late
					r.RecoveryNote = note
					return true
				}); err != nil {
					return oldest, err
				}
				d.res.Resolved = append(d.res.Resolved, sr.Inc)
			}
		}
		// A subject with no job left, no open incident and no change for
		// subjectTTL is forgotten (ad-hoc SQL statements would pile up).
		idle := len(sr.Fails) == 0 && (sr.Ep == 0 && len(sr.Runs) == 0 || nowMS-sr.Seen > subjectTTL.Milliseconds())
		if sr.Inc == "" && idle && !d.subjectHasJobs(name) {
			delete(d.sh.Subj, name)
		}
	}
	return oldest, nil
}

func (d *detector) subjectHasJobs(name string) bool {
	if _, ok := d.sh.Jobs[name]; ok {
		return true
	}
	for _, jr := range d.sh.Jobs {
		if jr.U == name {
			return true
		}
	}
	return false
}

func (d *detector) incident(ctx context.Context, key string) (*Incident, error) {
	if inc, ok := d.cache[key]; ok {
		return inc, nil
	}
	var inc Incident
	_, found, err := d.w.st.get(ctx, key, &inc)
	if err != nil {
		return nil, err
	}
	if !found {
		d.cache[key] = nil
		return nil, nil
	}
	d.cache[key] = &inc
	return &inc, nil
}

// healthy notes that the subject's job is fine again: running (running
// true) or ended well. A stopped streaming job recovers only by running, a
// slow run only by ending.
func (d *detector) healthy(ctx context.Context, sr *subjRec, running bool) error {
	if sr.Inc == "" || sr.OK != 0 {
		return nil
	}
	inc, err := d.incident(ctx, sr.Inc)
	if err != nil {
		return err
	}
	if inc != nil && ((!running && inc.Kind == IncidentStopped) || (running && inc.Kind == IncidentSlow)) {
		return nil
	}
	sr.OK = ms(d.now)
	if d.late {
		// Recovered at some point while jobwatch was not looking: resolve
		// now, marked late, instead of waiting ResolveAfter.
		sr.OK -= d.w.cfg.ResolveAfter.Milliseconds()
		sr.L = true
	}
	return nil
}

// problem opens an incident for the subject, or updates its open one.
func (d *detector) problem(ctx context.Context, o obs, sr *subjRec, kind string, failure bool) error {
	cfg := &d.w.cfg
	sr.OK, sr.L, sr.G = 0, false, false
	if failure {
		sr.Fails = append(sr.Fails, ms(d.now))
	}
	flapping := failure && len(sr.Fails) >= cfg.FlapCount
	if sr.Inc != "" {
		inc, err := d.incident(ctx, sr.Inc)
		if err != nil {
			return err
		}
		if inc != nil && inc.State != StateResolved && inc.Recovered.IsZero() {
			newKind := inc.Kind
			note := ""
			switch {
			case flapping && inc.Kind != IncidentFlapping:
				newKind = IncidentFlapping
				note = fmt.Sprintf("flapping: %d failures within %s", len(sr.Fails), fmtDur(cfg.FlapWindow))
			case failure && (inc.Kind == IncidentStuck || inc.Kind == IncidentSlow):
				newKind = kind
				note = fmt.Sprintf("now %s: %s", o.Status, o.Desc)
			}
			updated, err := d.w.st.updateIncident(ctx, sr.Inc, func(r *Incident) bool {
				if failure {
					r.Failures++
				}
				r.Status, r.StatusDesc = o.Status, o.Desc
				if newKind != r.Kind {
					r.Kind = newKind
					r.Updates++
					r.UpdateNote = note
				}
				return true
			})
			if err != nil {
				return err
			}
			d.cache[sr.Inc] = updated
			return nil
		}
		// The open incident already recovered: a new episode begins. The
		// old one still needs its recovery delivered: keep it pending.
		if inc != nil && inc.State != StateResolved && !slices.Contains(d.m.Pending, sr.Inc) {
			d.m.Pending = append(d.m.Pending, sr.Inc)
		}
		sr.Inc = ""
	}
	if flapping {
		kind = IncidentFlapping
	}
	sr.Ep++
	key := incidentKey(d.kind, keyToken(o.ID), sr.Ep)
	failedAt := d.now
	if !o.Ended.IsZero() && o.Ended.Before(d.now) {
		failedAt = o.Ended.UTC()
	}
	inc := &Incident{Key: key, Kind: kind, JobKind: d.kind, JobID: o.ID, JobName: o.Name, Subject: o.Subject,
		Queue: o.Queue, Owner: o.Owner, Status: o.Status, StatusDesc: o.Desc, FailedAt: failedAt, Detected: d.now,
		Late: d.late, State: StateNew, Failures: 1}
	if !o.Started.IsZero() {
		inc.Started = o.Started.UTC()
	}
	if flapping {
		inc.Failures = len(sr.Fails)
		inc.Detail = fmt.Sprintf("%d failures within %s", len(sr.Fails), fmtDur(cfg.FlapWindow))
	}
	inc.Muted = d.w.rules.Muted(d.kind, kind, o.Name, o.Queue)
	inc.Channel = d.w.rules.Channel(d.kind, kind, o.Name, o.Queue)
	if inc.Channel == "" {
		inc.Channel = cfg.Channel
	}
	if inc.JobKind != KindSpark || inc.Kind == IncidentStuck || inc.Kind == IncidentSlow || cfg.LogLines == 0 {
		inc.LogDone = true
	}
	for range 8 {
		_, err := d.w.st.put(ctx, key, inc, 0)
		if err == nil {
			d.res.Opened = append(d.res.Opened, key)
			break
		}
		if !errors.Is(err, errConflict) {
			return err
		}
		// Claimed already: by another replica in this same episode (use
		// it), or by an episode that has since recovered (forgotten
		// state): take the next episode.
		var old Incident
		if _, found, err := d.w.st.get(ctx, key, &old); err != nil {
			return err
		} else if found && old.Recovered.IsZero() && old.State != StateResolved {
			break
		}
		sr.Ep++
		key = incidentKey(d.kind, keyToken(o.ID), sr.Ep)
		inc.Key = key
	}
	sr.Inc = key
	d.cache[key] = inc
	if d.w.afterClaim != nil {
		if err := d.w.afterClaim(key); err != nil {
			return err
		}
	}
	return nil
}

func p95(runs []int64) int64 {
	s := slices.Clone(runs)
	slices.Sort(s)
	i := (len(s)*95 + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func joinDesc(a, b string) string {
	if a == "" {
		return b
	}
	return a + " — " + b
}
