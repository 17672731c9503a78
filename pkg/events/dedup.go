package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DedupBucket is the KV bucket holding function's dedup claims:
// "dlibot_<function>_dedup".
func DedupBucket(function string) string { return "dlibot_" + function + "_dedup" }

// DedupKey is the KV key of the claim for an event: the first 128 bits of
// SHA-256(source, 0x00, id) in hex, a KV-safe token whatever the source and
// id contain.
func DedupKey(source, id string) string {
	h := sha256.New()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// A claim value is "pending <unix nanos lease deadline>" while a delivery
// works on the event, and "done" once a handler returned Ack.
const claimDone = "done"

func pendingValue(deadline time.Time) []byte {
	return []byte("pending " + strconv.FormatInt(deadline.UnixNano(), 10))
}

func parseClaim(v []byte) (done bool, deadline time.Time, err error) {
	s := string(v)
	if s == claimDone {
		return true, time.Time{}, nil
	}
	ns, ok := strings.CutPrefix(s, "pending ")
	if !ok {
		return false, time.Time{}, fmt.Errorf("events: unknown dedup claim value %q", s)
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("events: unknown dedup claim value %q", s)
	}
	return false, time.Unix(0, n), nil
}

// DedupOptions configures a [Deduper].
type DedupOptions struct {
	// TTL is how long a handled event's source+id is remembered (the
	// bucket's max age). Default 24h.
	TTL time.Duration
	// Lease is how long a claim protects an event being handled before
	// another delivery may take it over; renewed by [InProgress]. Use the
	// consumer's AckWait (or the Lambda timeout). Default 30s.
	Lease time.Duration
	// Storage and Replicas of the KV bucket. Defaults: file storage, 1.
	Storage  jetstream.StorageType
	Replicas int
	// Logger receives warnings. Default slog.Default().
	Logger *slog.Logger
}

// Deduper runs a handler at most once per CloudEvent source+id (until it
// succeeds), using claims in the KV bucket [DedupBucket](function). The
// [Consumer] uses one; hosts that call handlers directly (Lambda) use
// their own. See docs/events.md for the protocol and its window.
type Deduper struct {
	d   *dedup
	log *slog.Logger
}

// NewDeduper creates (or updates, idempotently) the function's dedup
// bucket and returns a Deduper on it.
func NewDeduper(ctx context.Context, js jetstream.KeyValueManager, function string, o DedupOptions) (*Deduper, error) {
	if err := ValidName(function); err != nil {
		return nil, err
	}
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.Lease <= 0 {
		o.Lease = 30 * time.Second
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      DedupBucket(function),
		Description: "dlibot dedup claims of " + function,
		TTL:         o.TTL,
		Storage:     o.Storage,
		Replicas:    o.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("events: create dedup bucket %s: %w", DedupBucket(function), err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Deduper{d: &dedup{kv: kv, lease: o.Lease, now: time.Now}, log: o.Logger}, nil
}

// Handle runs h on e unless e was already handled or is being handled:
//
//   - ran == true: h ran and out is its outcome; the claim was completed
//     (Ack) or released (Retry, Drop, or a panic, which Handle re-panics);
//   - ran == false, err == nil: out is Ack for a duplicate (already handled)
//     or Retry(rest of the lease) while another delivery holds the claim;
//   - err != nil: the KV bucket could not be used; h did not run. Retry.
//
// While h runs, [InProgress] on its context also renews the claim.
func (d *Deduper) Handle(ctx context.Context, e Event, h Handler) (out Outcome, ran bool, err error) {
	cl, state, wait, err := d.d.claim(ctx, e.Source(), e.ID())
	switch {
	case err != nil:
		return Outcome{}, false, err
	case state == duplicate:
		return Ack(), false, nil
	case state == busy:
		return Retry(wait), false, nil
	}
	prev, _ := ctx.Value(progressKey{}).(func() error)
	hctx := WithProgress(ctx, func() error {
		if prev != nil {
			if err := prev(); err != nil {
				return err
			}
		}
		return cl.extend(ctx)
	})
	completed := false
	defer func() {
		if !completed {
			if err := cl.release(context.WithoutCancel(ctx)); err != nil {
				// Not lost: the lease expires and a redelivery takes over.
				d.log.Warn("could not release the dedup claim; a redelivery waits for its lease", "ce_id", e.ID(), "err", err)
			}
		}
	}()
	out = h(hctx, e)
	if out.Kind() == KindAck {
		completed = true
		if err := cl.done(context.WithoutCancel(ctx)); err != nil {
			// The effect happened; the caller acks anyway. A redelivery
			// (lost ack) would run the handler again after the lease.
			return out, true, fmt.Errorf("%w: %w", errClaimNotCompleted, err)
		}
	}
	return out, true, nil
}

// errClaimNotCompleted: the handler succeeded but its claim could not be
// marked done.
var errClaimNotCompleted = errors.New("events: handled, but the dedup claim was not completed")

type claimState int

const (
	claimed claimState = iota
	duplicate
	busy
)

// dedup implements the claim protocol on a KV bucket (see docs/events.md):
//
//   - Create "pending <deadline>" (create-only). Success: this delivery owns
//     the event until the lease deadline.
//   - The key exists: "done" → duplicate, ack without handling. "pending"
//     with a future deadline → another delivery is working on it: retry
//     after the remaining lease. Expired "pending" (its owner crashed) →
//     take over with a revision-checked Update.
//   - After Ack the owner writes "done"; after Retry or Drop it deletes the
//     claim (revision-checked) so a redelivery or a DLQ replay can run;
//     InProgress renews the lease.
type dedup struct {
	kv    jetstream.KeyValue
	lease time.Duration
	now   func() time.Time
}

type claim struct {
	d   *dedup
	key string
	mu  sync.Mutex
	rev uint64
}

func (d *dedup) claim(ctx context.Context, source, id string) (*claim, claimState, time.Duration, error) {
	key := DedupKey(source, id)
	for range 3 {
		rev, err := d.kv.Create(ctx, key, pendingValue(d.now().Add(d.lease)))
		if err == nil {
			return &claim{d: d, key: key, rev: rev}, claimed, 0, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, 0, 0, fmt.Errorf("events: dedup claim: %w", err)
		}
		entry, err := d.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue // released meanwhile; try to create again
		}
		if err != nil {
			return nil, 0, 0, fmt.Errorf("events: dedup lookup: %w", err)
		}
		done, deadline, err := parseClaim(entry.Value())
		if err != nil {
			return nil, 0, 0, err
		}
		if done {
			return nil, duplicate, 0, nil
		}
		if wait := deadline.Sub(d.now()); wait > 0 {
			return nil, busy, wait, nil
		}
		rev, err = d.kv.Update(ctx, key, pendingValue(d.now().Add(d.lease)), entry.Revision())
		if err == nil {
			return &claim{d: d, key: key, rev: rev}, claimed, 0, nil
		}
		if KVConflict(err) {
			return nil, busy, d.lease, nil
		}
		return nil, 0, 0, fmt.Errorf("events: dedup takeover: %w", err)
	}
	return nil, busy, d.lease, nil
}

// extend renews the lease.
func (c *claim) extend(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rev, err := c.d.kv.Update(ctx, c.key, pendingValue(c.d.now().Add(c.d.lease)), c.rev)
	if err != nil {
		return fmt.Errorf("events: renew dedup claim: %w", err)
	}
	c.rev = rev
	return nil
}

// done marks the event handled.
func (c *claim) done(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rev, err := c.d.kv.Update(ctx, c.key, []byte(claimDone), c.rev)
	if err != nil {
		return fmt.Errorf("events: complete dedup claim: %w", err)
	}
	c.rev = rev
	return nil
}

// release gives the claim up so a later delivery can handle the event.
func (c *claim) release(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.d.kv.Delete(ctx, c.key, jetstream.LastRevision(c.rev)); err != nil {
		return fmt.Errorf("events: release dedup claim: %w", err)
	}
	return nil
}
