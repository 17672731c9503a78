package chatops

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
)

// readCacheMax bounds the entries a readCache keeps; past it, expired
// entries are swept and, if it is still full, the call goes to DLI uncached.
const readCacheMax = 256

// readCache is the DLI client as the read commands see it: identical
// list and get calls made with a context from cachedReads share one DLI
// request while it is in flight, and its answer for ttl afterwards. Any
// other call (a change's preview, its execution, a revert, a SQL watch)
// always asks DLI. A hundred people typing `/dli queues` in the
// same second cost one DLI call, so the process-wide DLI_QPS limit does
// not turn a busy channel into "working…" answers. Errors are never kept.
// Every call that changes DLI goes through unchanged and forgets every
// kept answer, so a reader never sees this replica's own change
// undone; another replica's change shows within ttl.
type readCache struct {
	DLI
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	gen     uint64 // bumped by every write; answers of an older gen are not kept
	entries map[string]*cacheEntry
	stats   cacheStats
}

// cacheStats counts how read calls were answered.
type cacheStats struct {
	// Hits were answered from a kept answer, Shared by joining a request in
	// flight, Misses by a DLI request of their own.
	Hits, Shared, Misses int
}

type cacheEntry struct {
	done chan struct{} // closed when val/err are set
	val  any
	err  error
	at   time.Time
}

// newReadCache wraps d; a ttl of 0 or less returns d itself.
func newReadCache(d DLI, ttl time.Duration, now func() time.Time) DLI {
	if ttl <= 0 {
		return d
	}
	return &readCache{DLI: d, ttl: ttl, now: now, entries: map[string]*cacheEntry{}}
}

// Stats returns the counts so far.
func (c *readCache) Stats() cacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// invalidate forgets every kept answer; calls in flight keep going but
// their answers are not kept.
func (c *readCache) invalidate() {
	c.mu.Lock()
	c.gen++
	clear(c.entries)
	c.mu.Unlock()
}

// cachedReadsKey marks a context whose DLI reads may be shared.
type cachedReadsKey struct{}

// cachedReads marks ctx as a read command's: its DLI reads may come from
// the read cache.
func cachedReads(ctx context.Context) context.Context {
	return context.WithValue(ctx, cachedReadsKey{}, true)
}

// get answers key from a kept answer, a request in flight, or call.
func (c *readCache) get(ctx context.Context, key string, call func(context.Context) (any, error)) (any, error) {
	if ctx.Value(cachedReadsKey{}) == nil {
		return call(ctx)
	}
	c.mu.Lock()
	e := c.entries[key]
	if e != nil {
		select {
		case <-e.done:
			if c.now().Sub(e.at) < c.ttl {
				c.stats.Hits++
				c.mu.Unlock()
				return e.val, nil
			}
			delete(c.entries, key)
			e = nil
		default:
			c.stats.Shared++
			c.mu.Unlock()
			select {
			case <-e.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if e.err == nil || ctx.Err() != nil || !errors.Is(e.err, context.Canceled) && !errors.Is(e.err, context.DeadlineExceeded) {
				return e.val, e.err
			}
			// The request we joined was given up by its own caller; ours
			// still stands, so ask DLI ourselves.
			return call(ctx)
		}
	}
	c.stats.Misses++
	gen := c.gen
	if len(c.entries) >= readCacheMax {
		c.sweepLocked()
	}
	if len(c.entries) >= readCacheMax {
		c.mu.Unlock()
		return call(ctx)
	}
	e = &cacheEntry{done: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()

	val, err := call(ctx)

	c.mu.Lock()
	e.val, e.err, e.at = val, err, c.now()
	close(e.done)
	if err != nil || gen != c.gen {
		if c.entries[key] == e {
			delete(c.entries, key)
		}
	}
	c.mu.Unlock()
	return val, err
}

// sweepLocked drops answers past their ttl.
func (c *readCache) sweepLocked() {
	now := c.now()
	for k, e := range c.entries {
		select {
		case <-e.done:
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, k)
			}
		default:
		}
	}
}

// cached runs call through c.get and gives back a T; clone copies what the
// caller may change (the callers sort the lists they get).
func cached[T any](ctx context.Context, c *readCache, key string, clone func(T) T, call func(context.Context) (T, error)) (T, error) {
	v, err := c.get(ctx, key, func(ctx context.Context) (any, error) { return call(ctx) })
	if err != nil {
		var zero T
		return zero, err
	}
	return clone(v.(T)), nil
}

func same[T any](v T) T { return v }

// ListQueues is 6.3 through the cache.
func (c *readCache) ListQueues(ctx context.Context, typ dli.QueueType) ([]dli.Queue, error) {
	return cached(ctx, c, "queues|"+string(typ), slices.Clone[[]dli.Queue], func(ctx context.Context) ([]dli.Queue, error) {
		return c.DLI.ListQueues(ctx, typ)
	})
}

// GetQueue is 6.4 through the cache.
func (c *readCache) GetQueue(ctx context.Context, name string) (dli.Queue, error) {
	return cached(ctx, c, "queue|"+name, same[dli.Queue], func(ctx context.Context) (dli.Queue, error) {
		return c.DLI.GetQueue(ctx, name)
	})
}

// ListPlans is 6.7 through the cache.
func (c *readCache) ListPlans(ctx context.Context, queue string) ([]dli.Plan, error) {
	return cached(ctx, c, "plans|"+queue, slices.Clone[[]dli.Plan], func(ctx context.Context) ([]dli.Plan, error) {
		return c.DLI.ListPlans(ctx, queue)
	})
}

// ListFlinkJobs is 9.7 through the cache.
func (c *readCache) ListFlinkJobs(ctx context.Context, q dli.FlinkJobQuery) (dli.FlinkJobPage, error) {
	return cached(ctx, c, fmt.Sprintf("flink|%+v", q), func(p dli.FlinkJobPage) dli.FlinkJobPage {
		p.Jobs = slices.Clone(p.Jobs)
		return p
	}, func(ctx context.Context) (dli.FlinkJobPage, error) { return c.DLI.ListFlinkJobs(ctx, q) })
}

// ListBatches is 10.1.3 through the cache.
func (c *readCache) ListBatches(ctx context.Context, q dli.BatchQuery) (dli.BatchPage, error) {
	return cached(ctx, c, fmt.Sprintf("spark|%+v", q), func(p dli.BatchPage) dli.BatchPage {
		p.Batches = slices.Clone(p.Batches)
		return p
	}, func(ctx context.Context) (dli.BatchPage, error) { return c.DLI.ListBatches(ctx, q) })
}

// ListSQLJobs is 7.3.5 through the cache.
func (c *readCache) ListSQLJobs(ctx context.Context, q dli.SQLJobQuery) (dli.SQLJobPage, error) {
	return cached(ctx, c, fmt.Sprintf("sql|%+v", q), func(p dli.SQLJobPage) dli.SQLJobPage {
		p.Jobs = slices.Clone(p.Jobs)
		return p
	}, func(ctx context.Context) (dli.SQLJobPage, error) { return c.DLI.ListSQLJobs(ctx, q) })
}

// The calls that change DLI forget every kept answer before they are sent
// (a read from now on asks DLI) and again when they return (a read that
// began while the change was in flight is not kept).

// ScaleQueue is 6.5; it forgets every kept answer.
func (c *readCache) ScaleQueue(ctx context.Context, name string, dir dli.ScaleDirection, cus int) error {
	defer c.invalidate()
	c.invalidate()
	return c.DLI.ScaleQueue(ctx, name, dir, cus)
}

// CreatePlan is 6.6; it forgets every kept answer.
func (c *readCache) CreatePlan(ctx context.Context, queue string, spec dli.PlanSpec) error {
	defer c.invalidate()
	c.invalidate()
	return c.DLI.CreatePlan(ctx, queue, spec)
}

// DeletePlan is 6.9; it forgets every kept answer.
func (c *readCache) DeletePlan(ctx context.Context, queue string, id int64) error {
	defer c.invalidate()
	c.invalidate()
	return c.DLI.DeletePlan(ctx, queue, id)
}

// StopFlinkJobs is 9.10; it forgets every kept answer.
func (c *readCache) StopFlinkJobs(ctx context.Context, ids []int64, triggerSavepoint bool) ([]dli.FlinkResult, error) {
	defer c.invalidate()
	c.invalidate()
	return c.DLI.StopFlinkJobs(ctx, ids, triggerSavepoint)
}

// RunFlinkJobs is 9.6; it forgets every kept answer.
func (c *readCache) RunFlinkJobs(ctx context.Context, ids []int64, resumeSavepoint bool) ([]dli.FlinkResult, error) {
	defer c.invalidate()
	c.invalidate()
	return c.DLI.RunFlinkJobs(ctx, ids, resumeSavepoint)
}

// CancelBatch is 10.1.2; it forgets every kept answer.
func (c *readCache) CancelBatch(ctx context.Context, id string) error {
	defer c.invalidate()
	c.invalidate()
	return c.DLI.CancelBatch(ctx, id)
}

// SubmitSQL is 7.3.3; it forgets every kept answer (a statement may
// change anything).
func (c *readCache) SubmitSQL(ctx context.Context, req dli.SQLRequest) (dli.SQLSubmission, error) {
	defer c.invalidate()
	c.invalidate()
	return c.DLI.SubmitSQL(ctx, req)
}

// CancelSQLJob is 7.3.4; it forgets every kept answer.
func (c *readCache) CancelSQLJob(ctx context.Context, jobID string) error {
	defer c.invalidate()
	c.invalidate()
	return c.DLI.CancelSQLJob(ctx, jobID)
}
