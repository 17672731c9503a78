// Package obsimport is the dlibot function that imports every object that
// lands in OBS into its DLI table exactly once.
//
// Object events (OBS, SMN, FunctionGraph, S3, EventGrid or dlibot's own
// object.created, decoded by package obsevent) are matched against the
// rules file (package rules) and recorded in a ledger in the JetStream KV
// bucket dlibot_obsimport, keyed by bucket/key with the object's ETag or
// version: pending → submitted(job id) → loaded | failed, every transition
// revision-checked. Accepted files wait in a per-table queue in the same
// bucket; one import per table runs at a time (a create-only lock record),
// and files arriving meanwhile go together in the next job. The lock
// records the intent (batch id, files, data path) before the submit, so
// after a crash the job already submitted is looked up in DLI's job list
// (by tag for the SQL backend, by statement for the import API) before
// anything is submitted again. The lock is also a fence: right before each
// submit its owner renews it with a revision-checked update (owner token,
// lease until intent + RecoverAfter), and another replica takes an expired
// lease over only through the same check, so a replica paused past
// RecoverAfter does not submit what another has taken over.
// docs/obsimport.md describes the remaining window.
package obsimport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dlibot/dlibot/functions/obsimport/rules"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
)

// Name is the function's name.
const Name = "obsimport"

// Options builds an [Importer].
type Options struct {
	// Config is the configuration (LoadConfig); Rules must be loaded
	// already into RuleSet.
	Config Config
	// RuleSet are the validated rules. Required.
	RuleSet *rules.Set
	// KV opens the dlibot_obsimport bucket. Required.
	KV jetstream.KeyValueManager
	// KVStorage is the bucket's storage; the zero value is file storage.
	KVStorage jetstream.StorageType
	// DLI submits and follows imports. Required.
	DLI DLI
	// Notifier posts failures and re-upload alerts; nil posts nothing.
	Notifier notify.Notifier
	// Publish emits import.* events on dlibot.out.obsimport.import; nil
	// emits none.
	Publish func(ctx context.Context, subject string, e events.Event) error
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives the dlibot_obsimport_* series; nil registers
	// none.
	Registerer prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Background runs per-table workers and a sweeper (service and dev);
	// without it (Lambda, deterministic tests) the handler advances a
	// table's queue inline and ticks (Sweep) do the rest.
	Background bool
}

// Importer is obsimport's engine. It is safe for concurrent use.
type Importer struct {
	cfg     Config
	rules   *rules.Set
	l       *ledger
	dli     DLI
	imp     backend // the import API
	sql     backend // LOAD DATA
	notify  notify.Notifier
	publish func(ctx context.Context, subject string, e events.Event) error
	log     *slog.Logger
	m       *metrics
	now     func() time.Time
	bg      bool

	mu       sync.Mutex
	tables   map[string]*sync.Mutex
	workers  map[string]chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	kickHook func(th string) // tests
	// crashAt, set by tests, is called at the named points of the import
	// path; a test panics in it to simulate the process dying there.
	crashAt func(point string)
	// faultHook, set by tests, makes Handle fail: an error wrapping
	// errDropped drops the event, any other asks for a retry.
	faultHook func() error
	// intakeOnly, set by benchmarks, records and queues objects without
	// advancing the queues.
	intakeOnly bool
	// owner is this importer's lease token (Batch.Owner).
	owner string
	// gate holds DLI calls while DLI is unavailable.
	gate *dliGate
}

// errDropped marks a faultHook error as permanent.
var errDropped = errors.New("obsimport: dropped")

func (im *Importer) at(point string) {
	if im.crashAt != nil {
		im.crashAt(point)
	}
}

// New opens the ledger and returns an Importer. With Background, call
// Start.
func New(ctx context.Context, o Options) (*Importer, error) {
	if o.RuleSet == nil || o.KV == nil || o.DLI == nil {
		return nil, errors.New("obsimport: Options.RuleSet, KV and DLI are required")
	}
	if err := o.Config.validateSettings(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l, err := openLedger(ctx, o.KV, o.Config.KVReplicas, o.KVStorage)
	if err != nil {
		return nil, err
	}
	im := &Importer{cfg: o.Config, rules: o.RuleSet, l: l, dli: o.DLI, notify: o.Notifier, publish: o.Publish,
		log: o.Logger, m: newMetrics(o.Registerer), now: o.Now, bg: o.Background,
		tables: map[string]*sync.Mutex{}, workers: map[string]chan struct{}{}, owner: newOwner()}
	im.gate = newDLIGate(o.Now, o.Logger, im.m, o.Config.RecoverAfter)
	im.imp = &importBackend{dli: o.DLI, queue: o.Config.Queue, skew: o.Config.ClockSkew}
	im.sql = &sqlBackend{dli: o.DLI, queue: o.Config.Queue, skew: o.Config.ClockSkew}
	im.ctx, im.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return im, nil
}

// Start runs the sweeper (and, on demand, per-table workers) until Close.
// It sweeps once at once, picking up work a crash left behind.
func (im *Importer) Start() {
	if !im.bg {
		return
	}
	im.wg.Add(1)
	go func() {
		defer im.wg.Done()
		t := time.NewTicker(im.cfg.SweepInterval)
		defer t.Stop()
		for {
			im.kickAll(im.ctx)
			select {
			case <-im.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the background work and waits for it (bounded by ctx).
func (im *Importer) Close(ctx context.Context) error {
	im.cancel()
	done := make(chan struct{})
	go func() { im.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tablesWithWork lists the table hashes that have a lock or queued files.
func (im *Importer) tablesWithWork(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, f := range []string{"t.*", "q.*.*"} {
		keys, err := im.l.keys(ctx, f, 0)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			parts := strings.Split(k, ".")
			if len(parts) >= 2 && !seen[parts[1]] {
				seen[parts[1]] = true
				out = append(out, parts[1])
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func (im *Importer) kickAll(ctx context.Context) {
	ths, err := im.tablesWithWork(ctx)
	if err != nil {
		if ctx.Err() == nil {
			im.log.Warn("sweep: listing tables", "err", err)
		}
		return
	}
	for _, th := range ths {
		im.kick(th)
	}
}

// Sweep advances every table with work once (as far as it can without
// waiting): submits what is queued, checks running jobs, finalises ended
// ones, recovers interrupted submissions. Ticks and tests call it.
func (im *Importer) Sweep(ctx context.Context) error {
	ths, err := im.tablesWithWork(ctx)
	if err != nil {
		return err
	}
	for _, th := range ths {
		im.runTable(ctx, th)
	}
	return nil
}

// kick asks for th's queue to be advanced.
func (im *Importer) kick(th string) {
	if im.kickHook != nil {
		im.kickHook(th)
	}
	if !im.bg || im.intakeOnly {
		return
	}
	im.mu.Lock()
	ch := im.workers[th]
	if ch == nil {
		if im.ctx.Err() != nil {
			im.mu.Unlock()
			return
		}
		ch = make(chan struct{}, 1)
		im.workers[th] = ch
		im.wg.Add(1)
		go im.worker(th, ch)
	}
	im.mu.Unlock()
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (im *Importer) worker(th string, ch chan struct{}) {
	defer im.wg.Done()
	for {
		wait := im.runTable(im.ctx, th)
		var timer <-chan time.Time
		var t *time.Timer
		if wait > 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-im.ctx.Done():
		case <-ch:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if im.ctx.Err() != nil {
			return
		}
	}
}

func (im *Importer) tableMu(th string) *sync.Mutex {
	im.mu.Lock()
	defer im.mu.Unlock()
	mu := im.tables[th]
	if mu == nil {
		mu = &sync.Mutex{}
		im.tables[th] = mu
	}
	return mu
}

// runTable steps th until it has to wait; it returns how long (0: idle
// until kicked).
func (im *Importer) runTable(ctx context.Context, th string) time.Duration {
	mu := im.tableMu(th)
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		if ctx.Err() != nil {
			return 0
		}
		wait, again, err := im.step(ctx, th)
		if err != nil {
			if ctx.Err() == nil {
				im.log.Warn("advancing table queue", "table_key", th, "err", err)
			}
			return im.cfg.PollInterval
		}
		if !again {
			return wait
		}
	}
	return im.cfg.PollInterval
}

// step makes one move on table th. again asks for another step at once.
func (im *Importer) step(ctx context.Context, th string) (wait time.Duration, again bool, err error) {
	b, rev, err := getJSON[Batch](ctx, im.l, lockKey(th))
	if err != nil {
		return 0, false, err
	}
	if b == nil {
		return im.startBatch(ctx, th)
	}
	switch b.State {
	case BatchSubmitting:
		age := im.now().Sub(b.IntentAt)
		if age < im.cfg.RecoverAfter {
			return im.cfg.RecoverAfter - age, false, nil
		}
		return im.recoverBatch(ctx, th, b, rev)
	case BatchSubmitted:
		return im.follow(ctx, th, b, rev)
	default:
		return im.finalize(ctx, th, b, rev)
	}
}

func newOwner() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newBatchID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "obsimport-" + hex.EncodeToString(b[:])
}

type queued struct {
	key  string
	rev  uint64
	item QueueItem
}

// startBatch takes the oldest group of queued files of th into a new batch
// and submits it.
func (im *Importer) startBatch(ctx context.Context, th string) (time.Duration, bool, error) {
	// No intent is recorded while DLI is held: the files stay queued.
	pass, hold, ok := im.gate.enter()
	if !ok {
		keys, err := im.l.keys(ctx, "q."+th+".*", 1)
		if err != nil || len(keys) == 0 {
			return 0, false, err
		}
		return im.deferred(im.cfg.Backend, hold)
	}
	defer im.gate.release(pass)
	most := im.cfg.BatchMax
	if !im.cfg.BatchGlob {
		most = 1
	}
	// Keys list in stream order, roughly oldest first: read a few more
	// than one batch, not the whole queue.
	limit := min(max(most*2, 16), 4096)
	keys, err := im.l.keys(ctx, "q."+th+".*", limit)
	if err != nil || len(keys) == 0 {
		return 0, false, err
	}
	got := make([]*queued, len(keys))
	if err := parallel(ctx, len(keys), func(i int) error {
		it, rev, err := getJSON[QueueItem](ctx, im.l, keys[i])
		if err == nil && it != nil {
			got[i] = &queued{keys[i], rev, *it}
		}
		return err
	}); err != nil {
		return 0, false, err
	}
	var items []queued
	for _, q := range got {
		if q != nil {
			items = append(items, *q)
		}
	}
	if len(items) == 0 {
		return 0, true, nil
	}
	sort.Slice(items, func(i, j int) bool { return items[i].item.Enqueued.Before(items[j].item.Enqueued) })
	group := items[0].item.Group
	oldest := items[0].item.Enqueued
	var pick []queued
	for _, q := range items {
		if q.item.Group == group {
			pick = append(pick, q)
		}
	}
	if age := im.now().Sub(oldest); im.cfg.BatchWindow > 0 && age < im.cfg.BatchWindow && len(pick) < most {
		return im.cfg.BatchWindow - age, false, nil
	}
	b := &Batch{ID: newBatchID(), State: BatchSubmitting, FirstEnqueued: oldest}
	if len(pick) > most {
		pick = pick[:most]
	}
	entries := make([]*Entry, len(pick))
	if err := parallel(ctx, len(pick), func(i int) error {
		e, _, err := getJSON[Entry](ctx, im.l, pick[i].item.File)
		entries[i] = e
		return err
	}); err != nil {
		return 0, false, err
	}
	for i, q := range pick {
		e := entries[i]
		if e != nil && e.State == StatePending && e.Content != q.item.Content {
			// The item names other content than the pending entry: a
			// re-upload's item was overtaken by a late write of the
			// item for the content before it (two re-uploads of one key
			// handled at once), or a crash came before it was written.
			// Point the item at the entry's content (it is taken by a
			// later batch).
			if _, _, err := im.l.update(ctx, q.key, im.queueItem(e), q.rev); err != nil {
				return 0, false, err
			}
			continue
		}
		if e == nil || e.State != StatePending {
			// Stale: the entry is no longer pending (imported, failed)
			// or gone.
			if _, err := im.l.deleteAt(ctx, q.key, q.rev); err != nil {
				return 0, false, err
			}
			continue
		}
		if e.Spec.Folder && len(b.Files) > 0 {
			break
		}
		if len(b.Files) == 0 {
			b.Database, b.Table, b.Bucket, b.Spec = e.Database, e.Table, e.Bucket, e.Spec
		}
		b.Files = append(b.Files, q.item.File)
		b.Contents = append(b.Contents, e.Content)
		b.Paths = append(b.Paths, e.Path)
		for _, j := range e.PrevJobs {
			b.PrevJobs = appendBounded(b.PrevJobs, j)
		}
		if e.Spec.Folder {
			break
		}
	}
	if len(b.Files) == 0 {
		return 0, true, nil
	}
	b.DataPath = DataPath(b.Bucket, b.Paths)
	b.Backend = im.backendFor().name()
	b.IntentAt, b.Owner = im.now(), im.owner
	im.at("batch")
	rev, ok, err := im.l.create(ctx, lockKey(th), b)
	if err != nil || !ok {
		return 0, !ok && err == nil, err
	}
	im.at("intent")
	// The entries were read before the lock was ours: a replica paused in
	// between finds them imported meanwhile by another. Holding the lock,
	// nobody else changes their state now; drop what is no longer pending
	// (the fence in submit stores the batch as it leaves).
	if err := im.dropStale(ctx, b); err != nil {
		return 0, false, err
	}
	if len(b.Files) == 0 {
		if _, err := im.l.deleteAt(ctx, lockKey(th), rev); err != nil {
			return 0, false, err
		}
		return 0, true, nil
	}
	return im.submit(ctx, th, b, rev, pass)
}

// deferred is a step held back because DLI is unavailable: counted, and
// tried again after hold.
func (im *Importer) deferred(backend string, hold time.Duration) (time.Duration, bool, error) {
	im.m.jobs.WithLabelValues(backend, "deferred").Inc()
	return hold, false, nil
}

// dropStale removes from b the files whose entries are no longer pending
// with the batch's content.
func (im *Importer) dropStale(ctx context.Context, b *Batch) error {
	entries := make([]*Entry, len(b.Files))
	if err := parallel(ctx, len(b.Files), func(i int) error {
		e, _, err := getJSON[Entry](ctx, im.l, b.Files[i])
		entries[i] = e
		return err
	}); err != nil {
		return err
	}
	var files, contents, paths []string
	for i, e := range entries {
		if e != nil && e.State == StatePending && e.Content == b.Contents[i] {
			files, contents, paths = append(files, b.Files[i]), append(contents, b.Contents[i]), append(paths, b.Paths[i])
		}
	}
	if len(files) == len(b.Files) {
		return nil
	}
	im.log.Info("files imported elsewhere while this batch was formed; left out", "table", b.TableID(), "batch", b.ID,
		"left_out", len(b.Files)-len(files))
	b.Files, b.Contents, b.Paths = files, contents, paths
	if len(paths) > 0 {
		b.DataPath = DataPath(b.Bucket, paths)
	}
	return nil
}

// backendFor picks the backend of a new batch: OBSIMPORT_BACKEND, for
// every data format (pkg/dli sends each format only the 7.3.1 options DLI
// accepts for it).
func (im *Importer) backendFor() backend {
	if im.cfg.Backend == BackendSQL {
		return im.sql
	}
	return im.imp
}

// backendOf is the backend a batch was submitted with.
func (im *Importer) backendOf(b *Batch) backend {
	if b.Backend == BackendSQL {
		return im.sql
	}
	return im.imp
}

// submitOutcome classifies a submit error.
type submitOutcome int

const (
	submitRetry     submitOutcome = iota // nothing happened in DLI: try later
	submitAmbiguous                      // may have created a job: look it up later
	submitRejected                       // DLI refused the import for good
)

func classifySubmit(err error) submitOutcome {
	var de *dli.Error
	if !errors.As(err, &de) {
		if errors.Is(err, errUnsafePath) {
			return submitRejected
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return submitAmbiguous
		}
		return submitRejected
	}
	switch {
	case de.Ambiguous:
		return submitAmbiguous
	case dli.Retryable(err):
		return submitRetry
	case strings.Contains(strings.ToLower(de.Message), "concurrent"):
		return submitRetry // another import holds the table
	case errors.Is(err, dli.ErrAuth), errors.Is(err, dli.ErrQuota), errors.Is(err, dli.ErrThrottled):
		return submitRetry
	case de.Status == 0 && de.Err != nil:
		return submitAmbiguous
	}
	return submitRejected
}

// submit sends b (whose lock is at rev) to DLI. The lock is the fence:
// right before the call it is updated with a revision check (owner token,
// fresh lease), so a replica that was paused while another took the batch
// over finds the revision changed and does not submit; after the update
// the lease must still have at least half of OBSIMPORT_RECOVER_AFTER left
// by the local clock (a pause during the update itself), and the call is
// bounded by what is left of it.
//
// pass is the DLI gate's permission for the call; its outcome is reported
// to the gate.
func (im *Importer) submit(ctx context.Context, th string, b *Batch, rev uint64, pass dliPass) (time.Duration, bool, error) {
	b.Attempts++
	b.IntentAt, b.Owner = im.now(), im.owner
	frev, ok, err := im.l.update(ctx, lockKey(th), b, rev)
	if err != nil {
		return 0, false, err
	}
	if !ok {
		im.m.jobs.WithLabelValues(b.Backend, "fenced").Inc()
		im.log.Warn("table lock changed before the submit (taken over or finished elsewhere); not submitting",
			"table", b.TableID(), "batch", b.ID)
		return 0, true, nil
	}
	rev = frev
	im.at("fenced")
	left := b.IntentAt.Add(im.cfg.RecoverAfter).Sub(im.now())
	if left < im.cfg.RecoverAfter/2 {
		// Paused between the fence and here: another replica may take
		// over any moment. Step again: wait for the lease, then recover.
		im.m.jobs.WithLabelValues(b.Backend, "fenced").Inc()
		im.log.Warn("submit lease ran short before the call (process paused?); not submitting",
			"table", b.TableID(), "batch", b.ID, "lease_left", left)
		return 0, true, nil
	}
	sctx, cancel := context.WithTimeout(ctx, left)
	defer cancel()
	im.at("send")
	jobID, err := im.backendOf(b).submit(sctx, b)
	im.gate.done(pass, err)
	if err != nil {
		switch classifySubmit(err) {
		case submitRetry:
			im.m.jobs.WithLabelValues(b.Backend, "retried").Inc()
			im.log.Warn("import not accepted now; retrying later", "table", b.TableID(), "batch", b.ID, "err", err)
			if _, err := im.l.deleteAt(ctx, lockKey(th), rev); err != nil {
				return 0, false, err
			}
			return im.cfg.PollInterval, false, nil
		case submitAmbiguous:
			im.log.Warn("import submission outcome unknown; will look it up in DLI's job list", "table", b.TableID(), "batch", b.ID, "err", err)
			return im.cfg.RecoverAfter, false, nil
		}
		im.m.jobs.WithLabelValues(b.Backend, "rejected").Inc()
		b.State, b.Status, b.Message = BatchDone, string(dli.SQLFailed), "submission rejected: "+err.Error()
		nrev, ok, uerr := im.l.update(ctx, lockKey(th), b, rev)
		if uerr != nil || !ok {
			return 0, !ok && uerr == nil, uerr
		}
		return im.finalize(ctx, th, b, nrev)
	}
	im.at("submitted")
	return im.recorded(ctx, th, b, rev, jobID, "submitted")
}

// recorded stores the job id of b and marks its files submitted.
func (im *Importer) recorded(ctx context.Context, th string, b *Batch, rev uint64, jobID, how string) (time.Duration, bool, error) {
	now := im.now()
	b.State, b.JobID, b.Submitted = BatchSubmitted, jobID, now
	_, ok, err := im.l.update(ctx, lockKey(th), b, rev)
	if err != nil {
		return 0, false, err
	}
	if !ok {
		return im.lostAfterSubmit(ctx, th, b, jobID)
	}
	return im.markSubmitted(ctx, b, jobID, how, now)
}

// markSubmitted follows the recording of b's job id: metrics, log, and
// its files' entries marked submitted.
func (im *Importer) markSubmitted(ctx context.Context, b *Batch, jobID, how string, now time.Time) (time.Duration, bool, error) {
	im.at("recorded")
	im.m.jobs.WithLabelValues(b.Backend, how).Inc()
	im.m.batchFiles.Observe(float64(len(b.Files)))
	im.log.Info("import submitted", "table", b.TableID(), "batch", b.ID, "job_id", jobID, "files", len(b.Files), "data_path", b.DataPath, "how", how)
	err := parallel(ctx, len(b.Files), func(i int) error {
		e, err := im.updateEntry(ctx, b.Files[i], func(e *Entry) bool {
			if e.Content != b.Contents[i] || e.State != StatePending {
				return false
			}
			e.State, e.Batch, e.JobID, e.Updated = StateSubmitted, b.ID, jobID, now
			return true
		})
		if err == nil && e != nil {
			im.m.submitLatency.Observe(now.Sub(e.Received).Seconds())
			im.emit(ctx, events.TypeImportSubmitted, b, e, i)
		}
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return im.cfg.PollInterval, false, nil
}

// lostAfterSubmit handles a job id that could not be recorded because the
// lock changed after the fence: another replica took the batch over while
// this one was paused between the fence and the request (the remaining
// window), or adopted this very job.
//   - The lock names this job: nothing to do.
//   - The replica that took over has no job id yet (it is about to submit,
//     or submitting): this job is recorded as the batch's, with a revision
//     check; that replica's own submit is then refused by DLI while this
//     job runs (one import per table) and released, or reports itself.
//   - Otherwise two jobs ran for one batch: logged at error level, counted
//     (jobs_total{outcome="duplicate"}) and kept in the lock's Duplicates
//     while the batch is still in flight.
func (im *Importer) lostAfterSubmit(ctx context.Context, th string, b *Batch, jobID string) (time.Duration, bool, error) {
	cur, rev, err := getJSON[Batch](ctx, im.l, lockKey(th))
	if err != nil {
		return 0, false, err
	}
	same := cur != nil && cur.ID == b.ID
	if same && cur.JobID == jobID {
		im.log.Info("job id recorded by the replica that took the batch over", "batch", b.ID, "job_id", jobID)
		return 0, true, nil
	}
	if same && cur.State == BatchSubmitting {
		now := im.now()
		cur.State, cur.JobID, cur.Submitted = BatchSubmitted, jobID, now
		_, ok, err := im.l.update(ctx, lockKey(th), cur, rev)
		if err != nil {
			return 0, false, err
		}
		if ok {
			im.log.Warn("batch taken over while this replica was submitting it; its job recorded before the other replica's",
				"table", b.TableID(), "batch", b.ID, "job_id", jobID, "owner", cur.Owner)
			return im.markSubmitted(ctx, cur, jobID, "submitted", now)
		}
		cur, rev, err = getJSON[Batch](ctx, im.l, lockKey(th))
		if err != nil {
			return 0, false, err
		}
		same = cur != nil && cur.ID == b.ID
		if same && cur.JobID == jobID {
			return 0, true, nil
		}
	}
	im.m.jobs.WithLabelValues(b.Backend, "duplicate").Inc()
	other := ""
	if same {
		other = cur.JobID
	}
	im.log.Error("batch submitted twice: another replica took it over while this one was paused before its submit",
		"table", b.TableID(), "batch", b.ID, "job_id", jobID, "other_job_id", other, "files", len(b.Files))
	if same && !contains(cur.Duplicates, jobID) {
		cur.Duplicates = appendBounded(cur.Duplicates, jobID)
		// Best effort: a conflict means the batch moved on; the log line
		// and the counter remain.
		if _, _, err := im.l.update(ctx, lockKey(th), cur, rev); err != nil {
			return 0, false, err
		}
	}
	return 0, true, nil
}

// updateEntry applies change to the entry at key with a revision check,
// retrying on conflicts; it returns the entry as stored (nil when change
// declined or the entry is gone).
func (im *Importer) updateEntry(ctx context.Context, key string, change func(*Entry) bool) (*Entry, error) {
	for range 20 {
		e, rev, err := getJSON[Entry](ctx, im.l, key)
		if err != nil || e == nil {
			return nil, err
		}
		if !change(e) {
			return nil, nil
		}
		_, ok, err := im.l.update(ctx, key, e, rev)
		if err != nil {
			return nil, err
		}
		if ok {
			return e, nil
		}
	}
	return nil, fmt.Errorf("obsimport: %s changed 20 times in a row", key)
}

// recoverBatch handles a submission interrupted before its job id was
// recorded: the job is looked up in DLI and adopted, or the batch is
// submitted again.
func (im *Importer) recoverBatch(ctx context.Context, th string, b *Batch, rev uint64) (time.Duration, bool, error) {
	pass, hold, ok := im.gate.enter()
	if !ok {
		return im.deferred(b.Backend, hold)
	}
	defer im.gate.release(pass)
	jobID, err := im.backendOf(b).find(ctx, b)
	im.gate.done(pass, err)
	if err != nil {
		return 0, false, fmt.Errorf("looking up interrupted batch %s: %w", b.ID, err)
	}
	if jobID != "" {
		im.log.Info("interrupted submission found in DLI; adopting its job", "batch", b.ID, "job_id", jobID)
		return im.recorded(ctx, th, b, rev, jobID, "recovered")
	}
	// The search just reached DLI, so the gate is normally open; held,
	// the batch stays as it is and the search is repeated later.
	spass, hold, ok := im.gate.enter()
	if !ok {
		return im.deferred(b.Backend, hold)
	}
	defer im.gate.release(spass)
	im.log.Warn("interrupted submission not in DLI's job list; taking it over and submitting again",
		"batch", b.ID, "table", b.TableID(), "previous_owner", b.Owner)
	im.m.jobs.WithLabelValues(b.Backend, "resubmitted").Inc()
	// submit's fence is the takeover: revision-checked against the
	// expired lease read by step.
	return im.submit(ctx, th, b, rev, spass)
}

// follow checks the job of b; when it has ended, finalises the batch.
func (im *Importer) follow(ctx context.Context, th string, b *Batch, rev uint64) (time.Duration, bool, error) {
	pass, hold, ok := im.gate.enter()
	if !ok {
		return im.deferred(b.Backend, hold)
	}
	defer im.gate.release(pass)
	job, err := im.dli.SQLJobStatus(ctx, b.JobID)
	im.gate.done(pass, err)
	if errors.Is(err, dli.ErrNotFound) {
		job = dli.SQLJob{Status: dli.SQLFailed, Message: "DLI does not know job " + b.JobID}
	} else if err != nil {
		im.log.Warn("checking import job", "job_id", b.JobID, "err", err)
		return im.cfg.PollInterval, false, nil
	}
	if !job.Status.Terminal() {
		return im.cfg.PollInterval, false, nil
	}
	b.State, b.Status, b.Message = BatchDone, string(job.Status), job.Message
	b.Rows, b.BadRows, b.Duration = job.InputRowCount, job.BadRowCount, job.Duration
	nrev, ok, err := im.l.update(ctx, lockKey(th), b, rev)
	if err != nil || !ok {
		return 0, !ok && err == nil, err
	}
	im.at("ended")
	return im.finalize(ctx, th, b, nrev)
}

// finalize records b's outcome in its files' entries, emits the events,
// posts a failure to Slack, clears the queue items and releases the lock.
// It is idempotent: a crash midway repeats it.
func (im *Importer) finalize(ctx context.Context, th string, b *Batch, rev uint64) (time.Duration, bool, error) {
	ok := b.Status == string(dli.SQLFinished)
	now := im.now()
	err := parallel(ctx, len(b.Files), func(i int) error {
		f := b.Files[i]
		requeue := false
		e, err := im.updateEntry(ctx, f, func(e *Entry) bool {
			requeue = false
			if e.Content != b.Contents[i] && e.State == StatePending {
				// The file moved on to newer content: a finalisation
				// before a crash took e.Next (and may have died before
				// queueing it), or a re-upload replaced it. Make sure
				// that content is queued.
				requeue = true
				return false
			}
			if e.Content != b.Contents[i] || (e.Batch != b.ID && e.State != StatePending) {
				return false
			}
			if e.Batch == b.ID && (e.State == StateLoaded || e.State == StateFailed) {
				return false
			}
			e.Batch, e.JobID, e.Updated = b.ID, b.JobID, now
			e.Rows, e.Error = b.Rows, ""
			e.State = StateLoaded
			if !ok {
				e.State, e.Error = StateFailed, b.Message
			}
			e.PrevJobs = appendBounded(e.PrevJobs, b.JobID)
			if e.Next != nil {
				// A newer content arrived while this one was in flight.
				e.Seen = appendBounded(e.Seen, e.Content)
				e.Content, e.Size, e.EventTime = e.Next.Content, e.Next.Size, e.Next.EventTime
				e.State, e.Batch, e.JobID, e.Error, e.Rows, e.Next = StatePending, "", "", "", 0, nil
				requeue = true
			}
			return true
		})
		if err != nil {
			return err
		}
		if e != nil {
			typ := events.TypeImportSucceeded
			if !ok {
				typ = events.TypeImportFailed
			}
			ev := *e
			ev.Content = b.Contents[i]
			im.emit(ctx, typ, b, &ev, i)
		}
		im.at("finalize-entry")
		if requeue {
			if err := im.ensureQueued(ctx, f, nil); err != nil {
				return err
			}
		}
		qk := queueKey(th, f)
		it, qrev, err := getJSON[QueueItem](ctx, im.l, qk)
		if err != nil {
			return err
		}
		if it != nil && it.Content == b.Contents[i] {
			if _, err := im.l.deleteAt(ctx, qk, qrev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	if ok {
		im.m.jobs.WithLabelValues(b.Backend, "succeeded").Inc()
		im.log.Info("import finished", "table", b.TableID(), "batch", b.ID, "job_id", b.JobID, "files", len(b.Files), "rows", b.Rows)
	} else {
		im.m.jobs.WithLabelValues(b.Backend, "failed").Inc()
		im.log.Warn("import failed", "table", b.TableID(), "batch", b.ID, "job_id", b.JobID, "files", len(b.Files), "message", b.Message)
		if !b.Notified {
			im.notifyFailure(ctx, b)
			b.Notified = true
			nrev, uok, err := im.l.update(ctx, lockKey(th), b, rev)
			if err != nil || !uok {
				return 0, !uok && err == nil, err
			}
			rev = nrev
		}
	}
	if _, err := im.l.deleteAt(ctx, lockKey(th), rev); err != nil {
		return 0, false, err
	}
	return 0, true, nil
}

// enqueue puts e's file in its table's queue (overwrite replaces an item
// holding older content).
func (im *Importer) enqueue(ctx context.Context, e *Entry, overwrite bool) error {
	th := TableKey(e.Database, e.Table)
	it := im.queueItem(e)
	if overwrite {
		return im.l.put(ctx, queueKey(th, it.File), it)
	}
	_, _, err := im.l.create(ctx, queueKey(th, it.File), it)
	return err
}

// ensureQueued makes sure the queue holds an item for the current content
// of file's entry while it is pending: after a crash between recording an
// entry and queueing it there may be no item, or — for a re-upload while
// the older content still waited, or a newer content taken from Next —
// an item naming older content (which the batch builder would also
// repair, but only when it next looks at the table). The item is written
// revision-checked and the entry read again until both agree, so a writer
// holding an outdated copy of the entry never leaves the item behind the
// entry.
//
// e, when not nil, is the entry as just read by the caller; it is used for
// the first round.
func (im *Importer) ensureQueued(ctx context.Context, file string, e *Entry) error {
	for range 20 {
		if e == nil {
			var err error
			if e, _, err = getJSON[Entry](ctx, im.l, file); err != nil || e == nil {
				return err
			}
		}
		if e.State != StatePending {
			return nil
		}
		it := im.queueItem(e)
		qk := queueKey(TableKey(e.Database, e.Table), it.File)
		cur, rev, err := getJSON[QueueItem](ctx, im.l, qk)
		if err != nil {
			return err
		}
		if cur != nil && cur.Content == e.Content {
			return nil
		}
		if cur == nil {
			_, _, err = im.l.create(ctx, qk, it)
		} else {
			_, _, err = im.l.update(ctx, qk, it, rev)
		}
		if err != nil {
			return err
		}
		e = nil // read the entry again: it may have moved on meanwhile
	}
	return fmt.Errorf("obsimport: queue item of %s changed 20 times in a row", file)
}

// queueItem is the queue item for e's current content.
func (im *Importer) queueItem(e *Entry) QueueItem {
	return QueueItem{File: FileKey(e.Bucket, e.Key), Content: e.Content, Group: e.Spec.group(e.Bucket, e.Path), Enqueued: im.now()}
}

// parallel runs f(0..n-1) with at most 16 calls in flight and returns the
// first error. A panic in f (a test's simulated crash) is re-raised in the
// caller.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	if n == 1 {
		return f(0)
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	var panicked any
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer func() {
				if v := recover(); v != nil {
					mu.Lock()
					panicked = v
					mu.Unlock()
				}
			}()
			if err := f(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
}
