package autoscale

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/functions/autoscale/demand"
	"github.com/dlibot/dlibot/pkg/events"
)

// Bucket is autoscale's KV bucket: sample history, reactive-net state and
// claims, the change budget, alert and recommendation markers.
const Bucket = "dlibot_autoscale"

// BucketPeriod is the width of one history bucket: Cloud Eye's raw period.
const BucketPeriod = 5 * time.Minute

// bucketsPerWeek is the number of history buckets in a week.
const bucketsPerWeek = int(demand.Week / BucketPeriod)

// Point is one history bucket of a queue: the newest value of each metric
// sampled in the bucket's five minutes (nil: not sampled).
type Point struct {
	// CU is queue_cu_num, the queue's size.
	CU *float64 `json:"c,omitempty"`
	// Alloc is queue_alloc_cu_num, the CUs held by running jobs.
	Alloc *float64 `json:"a,omitempty"`
	// Running is queue_job_running_num.
	Running *float64 `json:"r,omitempty"`
	// Launching is queue_job_launching_num, the backlog.
	Launching *float64 `json:"l,omitempty"`
	// CPU is queue_cpu_usage in percent.
	CPU *float64 `json:"u,omitempty"`
	// Demand is dlibot's cu_demand metric when a sender knows it.
	Demand *float64 `json:"d,omitempty"`
	// At is the newest sample time seen in the bucket (Unix seconds).
	At int64 `json:"t"`
}

// DemandCU estimates the queue's CU demand in the bucket: cu_demand when
// sent, otherwise allocated CUs (or the size) plus the launching jobs times
// the mean CUs of a running job (at least jobCU). ok is false when the
// bucket has neither.
func (p Point) DemandCU(jobCU int) (float64, bool) {
	if p.Demand != nil {
		return *p.Demand, true
	}
	var alloc float64
	switch {
	case p.Alloc != nil:
		alloc = *p.Alloc
	case p.CU != nil:
		alloc = *p.CU
	default:
		return 0, false
	}
	return alloc + val(p.Launching)*p.perJob(jobCU), true
}

func (p Point) perJob(jobCU int) float64 {
	per := float64(jobCU)
	if p.Running != nil && *p.Running > 0 && p.Alloc != nil {
		per = math.Max(per, *p.Alloc / *p.Running)
	}
	return per
}

func val(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// WeekRecord is one queue's history for one week (KV key
// hist.<queue>.<YYYYMMDD of the week's Monday>): up to 2016 five-minute
// buckets keyed by their index in the week. Setting a metric twice to the
// same value changes nothing, so a redelivered batch leaves the record as
// it was.
type WeekRecord struct {
	// Start is the week's Monday 00:00 in the configured zone.
	Start time.Time `json:"start"`
	// Buckets maps the bucket index (0 … 2015) to its point.
	Buckets map[int]*Point `json:"b"`
}

// apply merges samples into the record; it reports whether anything changed.
func (w *WeekRecord) apply(ss []events.MetricSample) bool {
	changed := false
	for _, s := range ss {
		i := int(s.Timestamp.Sub(w.Start) / BucketPeriod)
		if i < 0 || i >= bucketsPerWeek {
			continue
		}
		p := w.Buckets[i]
		if p == nil {
			p = &Point{}
			w.Buckets[i] = p
		}
		var f **float64
		switch s.MetricName {
		case demand.MetricCU:
			f = &p.CU
		case demand.MetricAllocCU:
			f = &p.Alloc
		case demand.MetricRunning:
			f = &p.Running
		case demand.MetricLaunching:
			f = &p.Launching
		case MetricCPU:
			f = &p.CPU
		case demand.MetricCUDemand:
			f = &p.Demand
		default:
			continue
		}
		ts := s.Timestamp.Unix()
		if *f != nil && **f == s.Value && p.At >= ts {
			continue
		}
		if *f != nil && p.At > ts {
			continue // an older sample than the one kept
		}
		v := s.Value
		*f = &v
		if ts > p.At {
			p.At = ts
		}
		changed = true
	}
	return changed
}

// MetricCPU is Cloud Eye's CPU usage metric of a queue (kept, not used by
// the model).
const MetricCPU = "queue_cpu_usage"

// store is autoscale's view of its KV bucket.
type store struct {
	kv  jetstream.KeyValue
	loc *time.Location
}

func openStore(ctx context.Context, js jetstream.JetStream, weeks int, loc *time.Location) (*store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "dlibot autoscale: sample history per queue and week, net state, claims, budget",
		History:     1,
		// A week's record is last written at the week's end; it is kept
		// for the learning window plus the current week.
		TTL: time.Duration(weeks+2) * demand.Week,
	})
	if err != nil {
		return nil, fmt.Errorf("autoscale: KV bucket %s: %w", Bucket, err)
	}
	return &store{kv: kv, loc: loc}, nil
}

// queueKey turns a queue name into a KV key token.
func queueKey(q string) string {
	if events.ValidName(q) == nil {
		return q
	}
	return "x" + hex.EncodeToString([]byte(q))
}

func (s *store) weekStart(t time.Time) time.Time {
	t = t.In(s.loc)
	d := (int(t.Weekday()) + 6) % 7
	y, m, dd := t.Date()
	return time.Date(y, m, dd-d, 0, 0, 0, 0, s.loc)
}

func histKey(q string, start time.Time) string {
	return "hist." + queueKey(q) + "." + start.Format("20060102")
}

// errConflict is a lost revision race; callers retry.
var errConflict = errors.New("autoscale: KV revision conflict")

// update runs a revision-checked read-modify-write of key; fn returns the
// new value, or nil to write nothing. It retries lost races a few times.
func (s *store) update(ctx context.Context, key string, fn func(old []byte) ([]byte, error)) error {
	for range 8 {
		var old []byte
		var rev uint64
		e, err := s.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return fmt.Errorf("autoscale: read %s: %w", key, err)
		default:
			old, rev = e.Value(), e.Revision()
		}
		nv, err := fn(old)
		if err != nil || nv == nil {
			return err
		}
		if rev == 0 {
			_, err = s.kv.Create(ctx, key, nv)
		} else {
			_, err = s.kv.Update(ctx, key, nv, rev)
		}
		if err == nil {
			return nil
		}
		if events.KVConflict(err) {
			continue
		}
		return fmt.Errorf("autoscale: write %s: %w", key, err)
	}
	return fmt.Errorf("%w on %s", errConflict, key)
}

// addSamples merges samples of queue q into its week records.
func (s *store) addSamples(ctx context.Context, q string, ss []events.MetricSample) error {
	byWeek := map[time.Time][]events.MetricSample{}
	for _, x := range ss {
		w := s.weekStart(x.Timestamp)
		byWeek[w] = append(byWeek[w], x)
	}
	for start, xs := range byWeek {
		err := s.update(ctx, histKey(q, start), func(old []byte) ([]byte, error) {
			rec := &WeekRecord{Start: start, Buckets: map[int]*Point{}}
			if old != nil {
				if err := json.Unmarshal(old, rec); err != nil {
					return nil, fmt.Errorf("autoscale: corrupt history %s: %w", histKey(q, start), err)
				}
				if rec.Buckets == nil {
					rec.Buckets = map[int]*Point{}
				}
			}
			if !rec.apply(xs) {
				return nil, nil
			}
			return json.Marshal(rec)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// History is a queue's sample history rebuilt from KV, oldest first.
type History struct {
	// Times and Points are the buckets' start times and points.
	Times  []time.Time
	Points []Point
}

// Newest is the time of the newest sample, zero when there is none.
func (h *History) Newest() time.Time {
	var t int64
	for _, p := range h.Points {
		t = max(t, p.At)
	}
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(t, 0).UTC()
}

// Demand returns the demand samples (bucket start, estimated CU demand).
func (h *History) Demand(jobCU int) []demand.Sample {
	var out []demand.Sample
	for i, p := range h.Points {
		if d, ok := p.DemandCU(jobCU); ok {
			out = append(out, demand.Sample{Time: h.Times[i], CU: d})
		}
	}
	return out
}

// Last returns the newest point and its bucket time.
func (h *History) Last() (Point, time.Time, bool) {
	if len(h.Points) == 0 {
		return Point{}, time.Time{}, false
	}
	return h.Points[len(h.Points)-1], h.Times[len(h.Times)-1], true
}

// history reads queue q's week records that may hold samples after from.
func (s *store) history(ctx context.Context, q string, from, to time.Time) (*History, error) {
	h := &History{}
	for w := s.weekStart(from); !w.After(to); w = w.AddDate(0, 0, 7) {
		e, err := s.kv.Get(ctx, histKey(q, w))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("autoscale: read history of %s: %w", q, err)
		}
		var rec WeekRecord
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			return nil, fmt.Errorf("autoscale: corrupt history %s: %w", e.Key(), err)
		}
		idx := make([]int, 0, len(rec.Buckets))
		for i := range rec.Buckets {
			idx = append(idx, i)
		}
		sort.Ints(idx)
		for _, i := range idx {
			t := rec.Start.Add(time.Duration(i) * BucketPeriod)
			if t.Before(from.Add(-BucketPeriod)) || t.After(to) {
				continue
			}
			h.Times = append(h.Times, t.UTC())
			h.Points = append(h.Points, *rec.Buckets[i])
		}
	}
	return h, nil
}

// queues lists the queues with history in KV.
func (s *store) queues(ctx context.Context) ([]string, error) {
	lister, err := s.kv.ListKeysFiltered(ctx, "hist.>")
	if err != nil {
		return nil, fmt.Errorf("autoscale: list history: %w", err)
	}
	seen := map[string]bool{}
	for k := range lister.Keys() {
		parts := strings.Split(k, ".")
		if len(parts) != 3 {
			continue
		}
		name := parts[1]
		if strings.HasPrefix(name, "x") && events.ValidName(name) == nil {
			if b, err := hex.DecodeString(name[1:]); err == nil && queueKey(string(b)) == name {
				name = string(b)
			}
		}
		seen[name] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// claim creates key if it does not exist; false when it does.
func (s *store) claim(ctx context.Context, key string, value []byte) (bool, error) {
	_, err := s.kv.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("autoscale: claim %s: %w", key, err)
	}
	return true, nil
}

// lease takes the lease key for d from now: it creates the key when absent
// (create-only), or takes it over with a revision-checked update when the
// time it holds is at least d before now. false: another holder's lease is
// still running, or another replica won the race.
func (s *store) lease(ctx context.Context, key string, now time.Time, d time.Duration) (bool, error) {
	val := []byte(now.UTC().Format(time.RFC3339Nano))
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return s.claim(ctx, key, val)
	}
	if err != nil {
		return false, fmt.Errorf("autoscale: read %s: %w", key, err)
	}
	held, perr := time.Parse(time.RFC3339Nano, string(e.Value()))
	if perr == nil && now.Sub(held) < d {
		return false, nil
	}
	if _, err := s.kv.Update(ctx, key, val, e.Revision()); err != nil {
		if events.KVConflict(err) {
			return false, nil
		}
		return false, fmt.Errorf("autoscale: take over %s: %w", key, err)
	}
	return true, nil
}

func (s *store) release(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("autoscale: release %s: %w", key, err)
	}
	return nil
}

// getJSON reads key into v; false when absent.
func (s *store) getJSON(ctx context.Context, key string, v any) (bool, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("autoscale: read %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return false, fmt.Errorf("autoscale: corrupt %s: %w", key, err)
	}
	return true, nil
}

// applies counts the plan-changing reconciles of queue q recorded on day
// and the 6 days before (per-day keys budget.<q>.<YYYYMMDD>).
func (s *store) applies(ctx context.Context, q string, day time.Time) (today, week int, err error) {
	for i := range 7 {
		var n int
		if _, err := s.getJSON(ctx, budgetKey(q, day.AddDate(0, 0, -i)), &n); err != nil {
			return 0, 0, err
		}
		if i == 0 {
			today = n
		}
		week += n
	}
	return today, week, nil
}

func (s *store) countApply(ctx context.Context, q string, day time.Time) error {
	return s.update(ctx, budgetKey(q, day), func(old []byte) ([]byte, error) {
		n := 0
		if old != nil {
			n, _ = strconv.Atoi(string(old))
		}
		return []byte(strconv.Itoa(n + 1)), nil
	})
}

func budgetKey(q string, day time.Time) string {
	return "budget." + queueKey(q) + "." + day.UTC().Format("20060102")
}
