package autoscale

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dlibot/dlibot/functions/autoscale/chart"
	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/functions/autoscale/plan"
	"github.com/dlibot/dlibot/functions/autoscale/sim"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
)

// DLI is the DLI calls autoscale needs; *dli.Client satisfies it.
type DLI interface {
	PlanClient
	GetQueue(ctx context.Context, name string) (dli.Queue, error)
	ScaleQueue(ctx context.Context, name string, dir dli.ScaleDirection, cus int) error
}

var _ DLI = (*dli.Client)(nil)

// Options builds an Autoscaler.
type Options struct {
	// Config is the validated configuration.
	Config Config
	// DLI is the DLI client. Required.
	DLI DLI
	// JS holds the KV bucket dlibot_autoscale. Required.
	JS jetstream.JetStream
	// Notifier posts recommendations, charts and alerts. Required.
	Notifier notify.Notifier
	// Publish stores a decision event; nil publishes on JS with
	// Nats-Msg-Id = source+id (a redelivered decision is stored once).
	Publish func(ctx context.Context, subject string, e events.Event) error
	// Logger logs; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Registerer, if set, gets autoscale's own series
	// (dlibot_autoscale_net_deferred_total).
	Registerer prometheus.Registerer
}

// Autoscaler is the autoscale function: Handle takes metrics events and
// ticks. All state is in KV, so any number of Autoscalers (replicas) may
// share it.
type Autoscaler struct {
	cfg Config
	dli DLI
	st  *store
	n   notify.Notifier
	pub func(ctx context.Context, subject string, e events.Event) error
	log *slog.Logger
	now func() time.Time
	// netDeferred counts net checks left to the next sample, by reason.
	netDeferred *prometheus.CounterVec
}

// New builds an Autoscaler and opens its KV bucket.
func New(ctx context.Context, o Options) (*Autoscaler, error) {
	if o.DLI == nil || o.JS == nil || o.Notifier == nil {
		return nil, errors.New("autoscale: DLI, JS and Notifier are required")
	}
	st, err := openStore(ctx, o.JS, o.Config.Weeks, o.Config.Location())
	if err != nil {
		return nil, err
	}
	a := &Autoscaler{cfg: o.Config, dli: o.DLI, st: st, n: o.Notifier, pub: o.Publish, log: o.Logger, now: o.Now,
		netDeferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dlibot_autoscale_net_deferred_total",
			Help: "Reactive net checks left to the next sample (the samples are stored), by reason.",
		}, []string{"reason"})}
	if o.Registerer != nil {
		if err := o.Registerer.Register(a.netDeferred); err != nil {
			are, ok := err.(prometheus.AlreadyRegisteredError)
			if !ok {
				return nil, fmt.Errorf("autoscale: metrics: %w", err)
			}
			a.netDeferred = are.ExistingCollector.(*prometheus.CounterVec) // another replica in this process
		}
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.pub == nil {
		js := o.JS
		a.pub = func(ctx context.Context, subject string, e events.Event) error {
			_, err := events.Publish(ctx, js, subject, e, events.WithMsgID(e.Source()+" "+e.ID()))
			return err
		}
	}
	return a, nil
}

// DecisionSubject is where decisions are published.
var DecisionSubject = events.OutSubject(Name, "decision")

// permanent marks an error a retry cannot fix.
type permanent struct{ error }

// errApplyBusy: another replica holds the queue's apply lease (it is
// reconciling the queue's plans now); the tick is retried after
// applyRetry, by when it has finished or its lease has run out.
var errApplyBusy = errors.New("autoscale: another replica is applying this queue's plans")

// applyLease bounds how long one replica may hold a queue's apply lease
// (apply.<queue>): a replica killed while reconciling blocks the others
// for at most this long. applyRetry × the consumer's 5 deliveries must
// outlast it, so a tick waiting on a dead holder is not dead-lettered.
const (
	applyLease = 30 * time.Second
	applyRetry = 10 * time.Second
)

func (p permanent) Unwrap() error { return p.error }

// outcome maps an error to the handler's outcome: DLI and Slack errors by
// their own retryability, bad data and permanent errors to Drop, the rest
// (KV, NATS) to Retry.
func outcome(err error) events.Outcome {
	if err == nil {
		return events.Ack()
	}
	var p permanent
	var de *dli.Error
	var ne *notify.Error
	switch {
	case errors.As(err, &p), errors.Is(err, events.ErrBadData):
		return events.Drop(err.Error())
	case errors.Is(err, errApplyBusy):
		return events.Retry(applyRetry)
	case errors.Is(err, dli.ErrConflict):
		// A plan created or changed by someone else between our list and
		// our write (DLI.0006): the retried tick lists again and
		// reconciles by name.
		return events.Retry(5 * time.Second)
	case errors.As(err, &de):
		// Ambiguous failures of non-idempotent calls (a scale-out) are
		// retried too: autoscale's retry is idempotent (the net scales to
		// an absolute target it re-checks against the queue's size; plans
		// are reconciled by name).
		if dli.Retryable(err) || de.Ambiguous && (de.Status >= 500 || de.Status == 0) && !errors.Is(err, context.Canceled) {
			return events.Retry(5 * time.Second)
		}
		return events.Drop(err.Error())
	case errors.As(err, &ne):
		if !notify.IsRetryable(err) {
			return events.Drop(err.Error())
		}
		if d, ok := notify.RetryAfter(err); ok {
			return events.Retry(d)
		}
	}
	return events.Retry(5 * time.Second)
}

// Handle is the events.Handler: metrics samples feed the history and the
// reactive net; ticks re-plan every queue.
func (a *Autoscaler) Handle(ctx context.Context, e events.Event) events.Outcome {
	switch e.Type() {
	case events.TypeMetricsSample:
		ss, err := events.DecodeMetricSamples(e.Data())
		if err != nil {
			return events.Drop(err.Error())
		}
		return outcome(a.HandleSamples(ctx, ss))
	case events.TypeTick:
		var t events.Tick
		if err := json.Unmarshal(e.Data(), &t); err != nil || t.PeriodStart.IsZero() {
			return events.Drop(fmt.Sprintf("autoscale: bad tick data: %v", err))
		}
		return outcome(a.Tick(ctx, t.PeriodStart))
	}
	return events.Drop("autoscale: unexpected event type " + e.Type())
}

// HandleSamples stores samples (of one or more queues) in KV and runs the
// reactive net on them.
func (a *Autoscaler) HandleSamples(ctx context.Context, ss []events.MetricSample) error {
	byQueue := map[string][]events.MetricSample{}
	var order []string
	for _, s := range ss {
		if s.Namespace != "" && s.Namespace != events.NamespaceDLI {
			continue
		}
		q := s.Queue()
		if _, ok := byQueue[q]; !ok {
			order = append(order, q)
		}
		byQueue[q] = append(byQueue[q], s)
	}
	for _, q := range order {
		if err := a.st.addSamples(ctx, q, byQueue[q]); err != nil {
			return err
		}
		if err := a.net(ctx, q, byQueue[q]); err != nil {
			if !lastTry(ctx) || !dli.Unavailable(err) {
				return err
			}
			// DLI has been unavailable through every delivery. The
			// samples are stored and the next one counts the backlog run
			// again from the history, so the scale-out is not lost if
			// the backlog lasts: leave the check to it rather than
			// dead-letter samples that are already kept.
			a.netDeferred.WithLabelValues("dli_unavailable").Inc()
			a.log.Warn("autoscale: net check left to the next sample: DLI unavailable on every try", "queue", q, "err", err)
		}
	}
	return nil
}

// lastTry reports whether ctx's delivery is the last before the DLQ (false
// outside JetStream, e.g. in Lambda).
func lastTry(ctx context.Context) bool {
	d, ok := events.DeliveryFrom(ctx)
	return ok && d.MaxDeliver > 0 && d.Attempt >= d.MaxDeliver
}

// netState is the reactive net's per-queue state (KV key net.<queue>).
type netState struct {
	// Last is the newest bucket with a launching count (Unix seconds).
	Last int64 `json:"last"`
	// N is the number of consecutive backlog buckets ending at Last.
	N int `json:"n"`
	// Since is the bucket of the last net scale-out: only newer buckets
	// count towards the next one (Unix seconds).
	Since int64 `json:"since,omitempty"`
	// ScaledAt is the last net scale-out (Unix seconds).
	ScaledAt int64 `json:"scaled_at,omitempty"`
	// CooldownS is the net cooldown tuned with the plans dlibot last
	// applied to the queue (seconds; 0: AUTOSCALE_NET_COOLDOWN).
	CooldownS int64 `json:"cooldown_s,omitempty"`
}

func netKey(q string) string { return "net." + queueKey(q) }

// cooldown is the net's cooldown for a queue in state st.
func (a *Autoscaler) cooldown(st netState) time.Duration {
	if st.CooldownS > 0 {
		return time.Duration(st.CooldownS) * time.Second
	}
	return a.cfg.NetCooldown
}

// setNetCooldown records the cooldown the applied plans were tuned with
// (0: the configured one), for the net to use from now on.
func (a *Autoscaler) setNetCooldown(ctx context.Context, q string, d time.Duration) error {
	return a.st.update(ctx, netKey(q), func(old []byte) ([]byte, error) {
		var st netState
		if old != nil {
			if err := json.Unmarshal(old, &st); err != nil {
				return nil, fmt.Errorf("autoscale: corrupt %s: %w", netKey(q), err)
			}
		}
		if st.CooldownS == int64(d/time.Second) {
			return nil, nil
		}
		st.CooldownS = int64(d / time.Second)
		return json.Marshal(st)
	})
}

// backlogRun counts, in h, the consecutive buckets with a backlog that end
// at the newest bucket carrying a launching count and come after since;
// two buckets further apart than gap are not consecutive. It returns that
// newest bucket's time (Unix seconds, 0 if none), its point and the count.
// Counting from the stored history rather than from the order in which
// samples arrive makes samples handled out of order (a consumer backlog, a
// redelivery, an exporter catching up) count exactly as if in order, and a
// redelivered sample count once.
func backlogRun(h *History, since int64, threshold float64, gap time.Duration) (int64, Point, int) {
	var newest int64
	var last Point
	n := 0
	prev := int64(0)
	for i := len(h.Points) - 1; i >= 0; i-- {
		p, t := h.Points[i], h.Times[i].Unix()
		if p.Launching == nil {
			continue
		}
		if t <= since {
			break
		}
		if newest == 0 {
			newest, last = t, p
		} else if time.Duration(prev-t)*time.Second > gap {
			break // a gap in the samples: not consecutive
		}
		if *p.Launching < threshold {
			break
		}
		n++
		prev = t
	}
	return newest, last, n
}

// net counts consecutive backlog samples and scales out once the count
// reaches NetSamples, at most once per NetCooldown (a KV lease per queue,
// created only if absent or taken over with a revision check once expired,
// makes it exactly-once per cooldown window across replicas).
func (a *Autoscaler) net(ctx context.Context, q string, ss []events.MetricSample) error {
	if a.cfg.NetBacklog <= 0 {
		return nil
	}
	from, to := ss[0].Timestamp, ss[0].Timestamp
	for _, s := range ss {
		from, to = minTime(from, s.Timestamp), maxTime(to, s.Timestamp)
	}
	// The run may end after these samples (a newer one was handled first)
	// and reaches NetSamples buckets back.
	window := time.Duration(a.cfg.NetSamples) * a.cfg.StaleAfter
	h, err := a.st.history(ctx, q, from.Truncate(BucketPeriod).Add(-window), maxTime(to, a.now()).Add(BucketPeriod))
	if err != nil {
		return err
	}
	var st netState
	var last Point
	err = a.st.update(ctx, netKey(q), func(old []byte) ([]byte, error) {
		st = netState{}
		if old != nil {
			if err := json.Unmarshal(old, &st); err != nil {
				return nil, fmt.Errorf("autoscale: corrupt %s: %w", netKey(q), err)
			}
		}
		newest, p, n := backlogRun(h, st.Since, a.cfg.NetBacklog, a.cfg.StaleAfter)
		last = p
		if newest == 0 || newest < st.Last || newest == st.Last && n == st.N {
			// Nothing new, or another replica counted a newer bucket than
			// this history holds: its count stands.
			if newest != st.Last {
				last = Point{}
			}
			return nil, nil
		}
		st.Last, st.N = newest, n
		return json.Marshal(st)
	})
	if err != nil {
		return err
	}
	now := a.now()
	if st.N < a.cfg.NetSamples || st.Last == 0 {
		return nil
	}
	sampleAt := time.Unix(st.Last, 0).UTC()
	if now.Sub(sampleAt) > a.cfg.StaleAfter+BucketPeriod || last.Launching == nil {
		return nil // an old backlog is no reason to scale now
	}
	cooldown := a.cooldown(st)
	if st.ScaledAt != 0 && now.Sub(time.Unix(st.ScaledAt, 0)) < cooldown {
		return nil
	}
	qc := a.cfg.Queue(q)
	info, err := a.dli.GetQueue(ctx, q)
	if err != nil {
		return fmt.Errorf("autoscale: queue %s: %w", q, err)
	}
	maxCU := qc.MaxCU
	if info.CUScaleOutLimit > 0 {
		maxCU = min(maxCU, info.CUScaleOutLimit)
	}
	cur := info.CUs
	base := float64(cur)
	if last.CU != nil {
		// The size the backlog was seen at: the target is absolute, so a
		// retry after an ambiguous failure (or a replica that acted
		// already) finds the queue there and does nothing.
		base = *last.CU
	}
	need := base + *last.Launching*last.perJob(a.cfg.NetJobCU)
	target := min(plan.RoundUp(int(math.Ceil(need-1e-9))), maxCU/plan.Step*plan.Step)
	if target <= cur {
		a.log.Info("autoscale: backlog but the queue is at its maximum", "queue", q, "cu", cur, "max_cu", maxCU)
		return nil
	}
	// The cooldown window is a lease: netclaim.<queue> holds when the last
	// one began. Created only if absent, or taken over with a
	// revision-checked update once the cooldown has passed: exactly one
	// replica acts per window, whatever the clocks' boundaries.
	claimKey := "netclaim." + queueKey(q)
	ok, err := a.st.lease(ctx, claimKey, now, cooldown)
	if err != nil || !ok {
		return err
	}
	action, approved := ActionScaledOut, "config"
	if qc.Mode != ModeApply {
		// recommend mode changes nothing: the decision says what the net
		// would have done (once per cooldown, like a real scale-out).
		action, approved = ActionWouldScaleOut, ""
	} else if err := a.dli.ScaleQueue(ctx, q, dli.ScaleOut, target-cur); err != nil {
		if rerr := a.st.release(ctx, claimKey); rerr != nil {
			a.log.Warn("autoscale: release net claim", "key", claimKey, "err", rerr)
		}
		return fmt.Errorf("autoscale: scale out %s by %d CU: %w", q, target-cur, err)
	}
	err = a.st.update(ctx, netKey(q), func(old []byte) ([]byte, error) {
		var s netState
		if old != nil {
			_ = json.Unmarshal(old, &s)
		}
		s.ScaledAt, s.N, s.Since = now.Unix(), 0, max(s.Since, st.Last)
		return json.Marshal(s)
	})
	if err != nil {
		a.log.Warn("autoscale: record net scale-out (the cooldown lease still holds)", "queue", q, "err", err)
	}
	d := &Decision{Queue: q, Kind: KindNet, Action: action, Mode: qc.Mode, ApprovedBy: approved, At: now.UTC(),
		Reason: fmt.Sprintf("%v launching jobs for %d consecutive samples (threshold %v for %d)", *last.Launching, st.N, a.cfg.NetBacklog, a.cfg.NetSamples),
		Net: &NetAction{FromCU: cur, ToCU: target, Launching: *last.Launching, Samples: st.N, SampleTime: sampleAt,
			CooldownUntil: now.Add(cooldown).UTC()}}
	a.log.Info("autoscale: net", "action", action, "queue", q, "from_cu", cur, "to_cu", target)
	return a.publish(ctx, fmt.Sprintf("%s/%s/net/%s", Name, q, sampleAt.Format(time.RFC3339)), d)
}

func (a *Autoscaler) publish(ctx context.Context, id string, d *Decision) error {
	e, err := events.NewEvent(id, events.FunctionSource(Name), events.TypeAutoscaleDecision, d)
	if err != nil {
		return err
	}
	e.SetTime(d.At)
	e.SetSubject(d.Queue)
	if err := a.pub(ctx, DecisionSubject, e); err != nil {
		return fmt.Errorf("autoscale: publish decision: %w", err)
	}
	return nil
}

// Tick re-plans every queue: the configured ones, else every queue with
// history in KV. A queue that fails does not stop the others; the first
// error is returned (the tick is retried; what succeeded is idempotent).
func (a *Autoscaler) Tick(ctx context.Context, period time.Time) error {
	qs := a.cfg.QueueNames()
	if len(qs) == 0 {
		var err error
		if qs, err = a.st.queues(ctx); err != nil {
			return err
		}
	}
	var first error
	for _, q := range qs {
		_ = events.InProgress(ctx) // a long tick keeps its message
		d, err := a.PlanQueue(ctx, q)
		if err == nil {
			err = a.publish(ctx, fmt.Sprintf("%s/%s/plan/%s", Name, q, period.UTC().Format(time.RFC3339)), d)
		}
		if err != nil {
			a.log.Warn("autoscale: plan queue", "queue", q, "err", err)
			// A retryable failure wins: the retried tick redoes the
			// queues that failed (the others' work is idempotent).
			if first == nil || outcome(first).Kind() != events.KindRetry && outcome(err).Kind() == events.KindRetry {
				first = err
			}
		}
	}
	return first
}

func staleKey(q string) string { return "stale." + queueKey(q) }

// PlanQueue builds queue q's model from KV, compiles and backtests
// candidate plans and acts per the queue's mode. It returns the decision
// (not yet published).
func (a *Autoscaler) PlanQueue(ctx context.Context, q string) (*Decision, error) {
	now := a.now().UTC()
	qc := a.cfg.Queue(q)
	d := &Decision{Queue: q, Kind: KindPlan, Mode: qc.Mode, At: now}
	from := now.Add(-time.Duration(a.cfg.Weeks) * demand.Week)
	h, err := a.st.history(ctx, q, from, now)
	if err != nil {
		return nil, err
	}
	newest := h.Newest()
	if newest.IsZero() || now.Sub(newest) > a.cfg.StaleAfter {
		d.Action = ActionStale
		d.Reason = "no fresh load samples: nothing changes (stale or missing metrics never scale anything down)"
		ok, err := a.st.claim(ctx, staleKey(q), []byte(newest.Format(time.RFC3339)))
		if err != nil {
			return nil, err
		}
		if ok {
			if _, err := a.n.Post(ctx, StaleMessage(&a.cfg, q, newest, now)); err != nil {
				_ = a.st.release(ctx, staleKey(q))
				return nil, fmt.Errorf("autoscale: stale alert for %s: %w", q, err)
			}
		}
		return d, nil
	}
	if err := a.st.release(ctx, staleKey(q)); err != nil {
		return nil, err
	}
	samples := h.Demand(a.cfg.NetJobCU)
	if len(samples) == 0 || newest.Sub(samples[0].Time) < a.cfg.MinHistory {
		d.Action = ActionInsufficientData
		d.Reason = fmt.Sprintf("less than %v of history", a.cfg.MinHistory)
		return d, nil
	}
	loc := a.cfg.Location()
	var excl []time.Time
	for _, s := range a.cfg.Exclude {
		t, _ := time.ParseInLocation(time.DateOnly, strings.TrimSpace(s), loc)
		excl = append(excl, t)
	}
	if a.cfg.DipRatio > 0 {
		y, m, dd := now.In(loc).Date()
		today := time.Date(y, m, dd, 0, 0, 0, 0, loc)
		for _, t := range demand.DipDays(samples, loc, a.cfg.DipRatio) {
			if t.Before(today) { // today is not over: it is no dip yet
				excl = append(excl, t)
			}
		}
	}
	modelCfg := demand.Config{Weeks: a.cfg.Weeks, HalfLifeWeeks: a.cfg.HalfLifeWeeks, Exclude: excl, Location: loc, Recurring: true, DayTypes: true, Trend: true}
	prof, err := demand.Build(samples, now, modelCfg)
	if err != nil {
		return nil, permanent{err}
	}
	info, err := a.dli.GetQueue(ctx, q)
	if errors.Is(err, dli.ErrNotFound) {
		d.Action, d.Reason = ActionNoQueue, fmt.Sprintf("DLI has no queue %q", q)
		return d, nil
	}
	if err != nil {
		return nil, fmt.Errorf("autoscale: queue %s: %w", q, err)
	}
	have, err := a.dli.ListPlans(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("autoscale: list plans of %s: %w", q, err)
	}
	foreign := 0
	var curLike []planLike
	var own []dli.Plan
	for _, p := range have {
		if !strings.HasPrefix(p.Name, plan.PlanPrefix) {
			foreign++
		} else {
			own = append(own, p)
		}
		curLike = append(curLike, planLike{hour: p.StartHour, minute: p.StartMinute, target: p.TargetCU, days: p.RepeatDays, active: !p.Inactive})
	}
	minCU, maxCU := qc.MinCU, qc.MaxCU
	if info.CUScaleInLimit > 0 {
		minCU = max(minCU, plan.RoundUp(info.CUScaleInLimit))
	}
	if info.CUScaleOutLimit > 0 {
		maxCU = min(maxCU, info.CUScaleOutLimit/plan.Step*plan.Step)
	}
	K := min(a.cfg.MaxChanges, DefaultMaxPlans-foreign)
	dayStrs := make([]string, 0, len(excl))
	for _, t := range excl {
		dayStrs = append(dayStrs, t.In(loc).Format(time.DateOnly))
	}
	slices.Sort(dayStrs)
	dayStrs = slices.Compact(dayStrs)
	d.Inputs = &Inputs{From: samples[0].Time, To: now, Samples: len(samples), Newest: newest, Excluded: dayStrs,
		MinCU: minCU, MaxCU: maxCU, MaxChanges: K, ForeignPlans: foreign, CurrentCU: info.CUs, TargetP95WaitS: a.cfg.TargetP95Wait.Seconds(),
		WaitCostPerJobMinute: a.cfg.WaitCostPerJobMinute,
		GrowthPerWeek:        math.Round(prof.Growth*1e4) / 1e4}
	if K < 1 || maxCU < minCU {
		d.Action = ActionPlanLimit
		d.Reason = fmt.Sprintf("queue %s has %d plans dlibot does not own (limit %d) or no room between min %d and max %d CU", q, foreign, DefaultMaxPlans, minCU, maxCU)
		return d, nil
	}
	pc := plan.Config{MinCU: minCU, MaxCU: maxCU, MaxChanges: K, MinSpacing: a.cfg.MinSpacing, LeadTime: a.cfg.LeadTime}
	bfrom := samples[0].Time
	jobs := backtestJobs(samples)
	net := a.simNet()
	// The knob (quantile, plans reserved for re-asserting, or one size) is
	// chosen out of sample, leave-one-week-out over the history's whole
	// weeks ending now — the same sim.Tune the simulator's dlibot runs.
	var folds []time.Time
	for i := a.cfg.Weeks; i >= 1; i-- {
		if fs := now.Add(-time.Duration(i) * demand.Week); !fs.Before(bfrom.Truncate(BucketPeriod)) {
			folds = append(folds, fs)
		}
	}
	if len(folds) == 0 {
		folds = []time.Time{now.Add(-demand.Week)}
	}
	so := sim.Options{MinCU: minCU, MaxCU: maxCU, Seed: 1, Drain: 24 * time.Hour}
	var cooldowns []int
	for _, d := range a.cfg.NetCooldowns {
		cooldowns = append(cooldowns, int(d/time.Minute))
	}
	tr, err := sim.Tune(sim.TuneInput{Samples: samples, Jobs: jobs, Weeks: folds, Model: modelCfg, Plan: pc, Net: net, Sim: so,
		Objective: sim.Objective{Target: a.cfg.TargetP95Wait, WaitCostPerJobMinute: a.cfg.WaitCostPerJobMinute,
			PricePerCUHour: a.cfg.PricePerCUHour, NetCooldowns: cooldowns}})
	if err != nil {
		return nil, permanent{fmt.Errorf("autoscale: tune %s: %w", q, err)}
	}
	candidate := func(i int, unlike *Candidate) (*Candidate, error) {
		st := tr.Stats[i]
		s, compiled, err := sim.CompileKnob(prof, st.Knob, pc)
		if err != nil {
			return nil, permanent{fmt.Errorf("autoscale: compile %s: %w", q, err)}
		}
		ps, err := s.DLIPlans(time.Time{}, time.Time{})
		if err != nil {
			return nil, permanent{err}
		}
		if len(ps) == 0 {
			// A constant level still needs one plan that sets it (daily).
			ps = []plan.DLIPlan{{PlanName: plan.PlanPrefix + "0000_motuwethfrsasu", TargetCU: s.Levels[0], Activate: true,
				RepeatDay: []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}}}
		}
		if unlike != nil && samePlanBodies(ps, unlike.Plans) {
			return nil, nil
		}
		ctl := sim.PlanController(s, sim.MondayIn(bfrom, loc), bfrom, now, minCU, maxCU, st.Knob.Net(net))
		bt, err := backtest(jobs, bfrom, now, ctl, minCU, maxCU, a.cfg.TargetP95Wait, a.cfg.PricePerCUHour, a.cfg.WaitCostPerJobMinute)
		if err != nil {
			return nil, permanent{err}
		}
		return &Candidate{Quantile: st.Knob.Quantile, Static: st.Knob.Static, Knob: st.Knob.String(), Tuning: &st, Plans: ps,
			PlannedCUHoursPerWeek: round1(s.CUHours()), Backtest: bt, schedule: s, compiled: compiled}, nil
	}
	chosen, err := candidate(tr.Best, nil)
	if err != nil {
		return nil, err
	}
	// The runner-up: the next knob in order of preference whose plans
	// differ (several knobs often compile to the same plans).
	var runner *Candidate
	for _, i := range tr.Order[1:] {
		if runner, err = candidate(i, chosen); err != nil {
			return nil, err
		}
		if runner != nil {
			break
		}
	}
	// The current plans are replayed with the net only where it acts: in
	// mode apply (in mode recommend it changes nothing today).
	curNet := net
	if qc.Mode != ModeApply {
		curNet = sim.NetConfig{Disabled: true}
	} else {
		var ns netState
		if _, err := a.st.getJSON(ctx, netKey(q), &ns); err != nil {
			return nil, err
		}
		curNet.Cooldown = a.cooldown(ns) // the cooldown the net runs with today
	}
	cur := &plan.Schedule{Changes: changesOf(curLike), Levels: []int{info.CUs}, CycleMinutes: 7 * 24 * 60}
	curBT, err := backtest(jobs, bfrom, now, sim.PlanController(cur, sim.MondayIn(bfrom, loc), bfrom, now, minCU, max(maxCU, info.CUs), curNet),
		minCU, max(maxCU, info.CUs), a.cfg.TargetP95Wait, a.cfg.PricePerCUHour, a.cfg.WaitCostPerJobMinute)
	if err != nil {
		return nil, permanent{err}
	}
	curPlans := make([]plan.DLIPlan, 0, len(have))
	for _, p := range have {
		curPlans = append(curPlans, dliPlanOf(p))
	}
	d.Current = &Candidate{Plans: curPlans, Backtest: curBT}
	d.Chosen, d.RunnerUp = chosen, runner
	d.ForecastCU = prof.Quantiles(chosen.Quantile)
	d.Binding = binding(chosen, tr, K, minCU, a.cfg.WaitCostPerJobMinute > 0)
	d.Expected = &Delta{
		CUHoursPerWeek: round1(chosen.Backtest.CUHoursPerWeek - curBT.CUHoursPerWeek),
		CostPerWeek:    math.Round((chosen.Backtest.CostPerWeek-curBT.CostPerWeek)*100) / 100,
		WaitP95S:       chosen.Backtest.WaitP95S - curBT.WaitP95S,
	}
	byCost := a.cfg.WaitCostPerJobMinute > 0
	switch {
	case byCost && curBT.CostPerWeek > 0:
		// The objective is the cost of CU-hours and waiting together.
		d.Expected.SavingFraction = math.Round((curBT.CostPerWeek-chosen.Backtest.CostPerWeek)/curBT.CostPerWeek*1000) / 1000
	case !byCost && curBT.CUHoursPerWeek > 0:
		d.Expected.SavingFraction = math.Round((curBT.CUHoursPerWeek-chosen.Backtest.CUHoursPerWeek)/curBT.CUHoursPerWeek*1000) / 1000
	}
	if len(own) > 0 && samePlans(own, chosen.Plans) {
		d.Action, d.Reason = ActionUnchanged, "DLI already holds the proposed plans"
		if qc.Mode == ModeApply {
			// The net goes with the plans in force.
			return d, a.setNetCooldown(ctx, q, time.Duration(chosen.Tuning.Knob.NetCooldownMin)*time.Minute)
		}
		return d, nil
	}
	fixes := !byCost && !curBT.MeetsTarget && chosen.Backtest.MeetsTarget
	if d.Expected.SavingFraction < a.cfg.MinSaving && !fixes {
		d.Action = ActionKept
		d.Reason = fmt.Sprintf("backtested saving %.1f %% is below the threshold %.1f %% and the current plans meet the wait target or the proposal does not fix it",
			100*d.Expected.SavingFraction, 100*a.cfg.MinSaving)
		if byCost {
			d.Reason = fmt.Sprintf("backtested saving %.1f %% of the cost of CU-hours and waiting is below the threshold %.1f %%",
				100*d.Expected.SavingFraction, 100*a.cfg.MinSaving)
		}
		return d, nil
	}
	if qc.Mode == ModeApply {
		// One replica at a time applies a queue's plans, so two ticks
		// never both pass the change budget (counted after a reconcile
		// that changed something) or race each other's creates.
		leaseKey := "apply." + queueKey(q)
		ok, err := a.st.lease(ctx, leaseKey, now, applyLease)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errApplyBusy
		}
		defer func() {
			if err := a.st.release(context.WithoutCancel(ctx), leaseKey); err != nil {
				a.log.Warn("autoscale: release apply lease (it runs out by itself)", "queue", q, "err", err)
			}
		}()
		day := now.Truncate(24 * time.Hour)
		today, week, err := a.st.applies(ctx, q, day)
		if err != nil {
			return nil, err
		}
		if today >= a.cfg.MaxAppliesPerDay || week >= a.cfg.MaxAppliesPerWeek {
			d.Action = ActionBudgetExhausted
			d.Reason = fmt.Sprintf("change budget used: %d today (max %d), %d in 7 days (max %d)", today, a.cfg.MaxAppliesPerDay, week, a.cfg.MaxAppliesPerWeek)
			return d, nil
		}
		res, err := Reconcile(ctx, a.dli, q, chosen.Plans, DefaultMaxPlans)
		d.Reconcile = res
		if errors.Is(err, ErrPlanLimit) {
			d.Action, d.Reason = ActionPlanLimit, err.Error()
			return d, nil
		}
		if err != nil {
			return nil, err
		}
		if res.Changed() {
			if err := a.st.countApply(ctx, q, day); err != nil {
				return nil, err
			}
		}
		if err := a.setNetCooldown(ctx, q, time.Duration(chosen.Tuning.Knob.NetCooldownMin)*time.Minute); err != nil {
			return nil, err
		}
		d.Action, d.ApprovedBy = ActionApplied, "config"
		d.Reason = fmt.Sprintf("backtest: %.0f → %.0f CU-h/week, P95 wait %.0fs → %.0fs", curBT.CUHoursPerWeek, chosen.Backtest.CUHoursPerWeek, curBT.WaitP95S, chosen.Backtest.WaitP95S)
		return d, a.announce(ctx, d, prof)
	}
	d.Action = ActionRecommended
	d.Reason = fmt.Sprintf("backtest: %.0f → %.0f CU-h/week, P95 wait %.0fs → %.0fs; recommend mode changes nothing", curBT.CUHoursPerWeek, chosen.Backtest.CUHoursPerWeek, curBT.WaitP95S, chosen.Backtest.WaitP95S)
	return d, a.announce(ctx, d, prof)
}

// announce posts the decision's message and the chart once per distinct
// proposal (create-only claim rec.<queue>.<hash of the plans and action>).
func (a *Autoscaler) announce(ctx context.Context, d *Decision, prof *demand.Profile) error {
	body, _ := json.Marshal(struct {
		A string
		P []plan.DLIPlan
	}{d.Action, d.Chosen.Plans})
	sum := sha256.Sum256(body)
	key := "rec." + queueKey(d.Queue) + "." + hex.EncodeToString(sum[:8])
	ok, err := a.st.claim(ctx, key, []byte(d.At.Format(time.RFC3339)))
	if err != nil {
		return err
	}
	if !ok {
		if d.Action == ActionRecommended {
			d.Action = ActionAlreadyRecommended
		}
		return nil
	}
	fail := func(err error) error {
		_ = a.st.release(ctx, key)
		return err
	}
	ref, err := a.n.Post(ctx, d.Message(&a.cfg))
	if err != nil {
		return fail(fmt.Errorf("autoscale: post recommendation for %s: %w", d.Queue, err))
	}
	var png bytes.Buffer
	if err := chart.Render(&png, chart.Input{Title: "queue " + d.Queue, Profile: prof, Quantile: d.Chosen.Quantile,
		Schedule: d.Chosen.schedule, Zone: a.cfg.Location().String()}); err != nil {
		a.log.Warn("autoscale: chart", "queue", d.Queue, "err", err)
		return nil
	}
	_, err = a.n.Upload(ctx, notify.File{Channel: ref.Channel, ThreadTS: ref.TS, Name: d.Queue + "-plan.png",
		Title: "queue " + d.Queue + ": weekly demand and plan", AltText: "weekly CU demand of queue " + d.Queue + " with the proposed plan", Content: png.Bytes()})
	if err != nil {
		// The message is out; the chart is best effort (a retry would post the message twice).
		a.log.Warn("autoscale: upload chart", "queue", d.Queue, "err", err)
	}
	return nil
}

// binding lists what held the chosen plan back: a knob with fewer
// CU-hours that misses the wait target out of sample (wait_target) or, with
// a wait cost, whose waiting costs more than its CU-hours save (wait_cost),
// demand above the maximum, every plan used by the compiler, or the whole
// week at the minimum.
func binding(chosen *Candidate, tr *sim.TuneResult, K, minCU int, byCost bool) []string {
	var out []string
	best := tr.Stats[tr.Best]
	for _, st := range tr.Stats {
		if st.CUHoursPerWeek < best.CUHoursPerWeek && (byCost || !st.Qualifies) {
			if byCost {
				out = append(out, "wait_cost")
			} else {
				out = append(out, "wait_target")
			}
			break
		}
	}
	if len(chosen.schedule.Capped) > 0 {
		out = append(out, "max_cu")
	}
	if !chosen.Static && chosen.compiled >= K-best.Knob.Reserve {
		out = append(out, "max_changes")
	}
	if slices.Max(chosen.schedule.Levels) == minCU {
		out = append(out, "min_cu")
	}
	return out
}

// simNet is the reactive net as the simulator replays it (launching ≥
// NetBacklog jobs for NetSamples samples, then running + waiting CUs, at
// most once per NetCooldown); disabled when NetBacklog ≤ 0.
func (a *Autoscaler) simNet() sim.NetConfig {
	if a.cfg.NetBacklog <= 0 {
		return sim.NetConfig{Disabled: true}
	}
	return sim.NetConfig{Threshold: max(int(math.Ceil(a.cfg.NetBacklog)), 1), Samples: max(a.cfg.NetSamples, 1), Cooldown: a.cfg.NetCooldown}
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func samePlanBodies(a, b []plan.DLIPlan) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// samePlans reports whether dlibot's plans at DLI are exactly want.
func samePlans(own []dli.Plan, want []plan.DLIPlan) bool {
	if len(own) != len(want) {
		return false
	}
	by := map[string]dli.Plan{}
	for _, p := range own {
		by[p.Name] = p
	}
	for _, w := range want {
		p, ok := by[w.PlanName]
		if !ok {
			return false
		}
		s, err := SpecOf(w)
		if err != nil || !sameSpec(p.PlanSpec, s) {
			return false
		}
	}
	return true
}

func dliPlanOf(p dli.Plan) plan.DLIPlan {
	out := plan.DLIPlan{PlanName: p.Name, TargetCU: p.TargetCU, StartHour: p.StartHour, StartMinute: p.StartMinute, Activate: !p.Inactive}
	for _, d := range p.RepeatDays {
		out.RepeatDay = append(out.RepeatDay, strings.ToUpper(d.String()))
	}
	if !p.ValidFrom.IsZero() {
		out.ValidDateBegin = p.ValidFrom.UnixMilli()
	}
	if !p.ValidUntil.IsZero() {
		out.ValidDateEnd = p.ValidUntil.UnixMilli()
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
