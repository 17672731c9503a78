package obsimport

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/natstest"
)

func TestParsePubAck(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		seq     uint64
		wrong   bool // a failed expectation (isWrongRevision)
		invalid bool
		code    jetstream.ErrorCode // another API error
		desc    string              // the API error's description, when set
	}{
		{name: "plain", in: `{"stream":"KV_dlibot_obsimport","seq":42}`, seq: 42},
		{name: "with domain", in: `{"stream":"KV_dlibot_obsimport","seq":7,"domain":"hub"}`, seq: 7},
		{name: "max", in: `{"stream":"KV_x","seq":18446744073709551615}`, seq: 18446744073709551615},
		{name: "spaced (slow path)", in: `{ "stream": "KV_x", "seq": 9 }`, seq: 9},
		{name: "fields reordered (slow path)", in: `{"seq":3,"stream":"KV_x"}`, seq: 3},
		{name: "wrong last sequence", in: `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"}}`, wrong: true, desc: "wrong last sequence: 5"},
		{name: "wrong last sequence as nats-server sends it", in: `{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"},"stream":"KV_x","seq":0}`, wrong: true, desc: "wrong last sequence: 5"},
		{name: "error with a trailing field (slow path)", in: `{"error":{"code":400,"err_code":10071,"description":"w"},"stream":"KV_x","seq":0,"x":1}`, wrong: true, desc: "w"},
		{name: "error then a second error (slow path)", in: `{"error":{"code":400,"err_code":10071,"description":"w"},"stream":"KV_x","seq":0,"error":{"code":500,"err_code":1,"description":"z"}}`, code: 1, desc: "z"},
		{name: "wrong last sequence first", in: `{"stream":"KV_x","error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"}}`, wrong: true},
		{name: "replicated conflict", in: `{"error":{"code":400,"err_code":10164,"description":"wrong last sequence"}}`, wrong: true},
		{name: "other API error", in: `{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`, code: 10077, desc: "maximum messages exceeded"},
		{name: "escaped description (slow path)", in: `{"error":{"code":400,"err_code":10071,"description":"wrong \"x\""}}`, wrong: true, desc: `wrong "x"`},
		{name: "error with more fields (slow path)", in: `{"error":{"code":400,"err_code":10071,"description":"d","x":1}}`, wrong: true, desc: "d"},
		{name: "no stream", in: `{"seq":3}`, invalid: true},
		{name: "garbage", in: `nope`, invalid: true},
		{name: "truncated", in: `{"stream":"KV_x","seq":12`, invalid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq, err := parsePubAck([]byte(tc.in))
			var apiErr *jetstream.APIError
			if tc.desc != "" && (!errors.As(err, &apiErr) || apiErr.Description != tc.desc) {
				t.Fatalf("err = %v, want an API error %q", err, tc.desc)
			}
			if tc.code != 0 {
				if !errors.As(err, &apiErr) || apiErr.ErrorCode != tc.code || events.KVConflict(err) {
					t.Fatalf("err = %v, want API error code %d", err, tc.code)
				}
				return
			}
			switch {
			case tc.wrong:
				if !events.KVConflict(err) {
					t.Fatalf("err = %v, want a wrong-revision error", err)
				}
			case tc.invalid:
				if !errors.Is(err, jetstream.ErrInvalidJSAck) {
					t.Fatalf("err = %v, want ErrInvalidJSAck", err)
				}
			case err != nil:
				t.Fatal(err)
			case seq != tc.seq:
				t.Fatalf("seq = %d, want %d", seq, tc.seq)
			}
		})
	}
}

// TestValidKey: the same rule as the KV client's key check.
func TestValidKey(t *testing.T) {
	kvRule := regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)
	for _, k := range []string{"f.0123abcd", "q.ab.cd", "t.x", "a-b_c=d/e", "", ".a", "a.", "a b", "a*", "a>", "ä", "a\n", "f..x"} {
		want := kvRule.MatchString(k) && k[0] != '.' && k[len(k)-1] != '.'
		if got := validKey(k); got != want {
			t.Errorf("validKey(%q) = %v, want %v", k, got, want)
		}
	}
}

// TestLedgerWrites runs the same writes through the direct writer and
// through the KV client and expects the same outcomes and revisions.
func TestLedgerWrites(t *testing.T) {
	_, js := natstest.StartJS(t)
	ctx := context.Background()
	direct, err := openLedger(ctx, js, 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	if direct.w == nil {
		t.Fatal("the direct writer is not used on a plain JetStream handle")
	}
	viaKV := &ledger{kv: direct.kv}
	for _, l := range []struct {
		name string
		l    *ledger
	}{{"direct", direct}, {"kv", viaKV}} {
		t.Run(l.name, func(t *testing.T) {
			key := "f." + l.name
			rev, ok, err := l.l.tryCreate(ctx, key, map[string]int{"v": 1})
			if err != nil || !ok || rev == 0 {
				t.Fatalf("tryCreate new: %d %v %v", rev, ok, err)
			}
			if _, ok, err := l.l.tryCreate(ctx, key, map[string]int{"v": 2}); err != nil || ok {
				t.Fatalf("tryCreate existing: ok=%v err=%v, want refused", ok, err)
			}
			if _, ok, err := l.l.update(ctx, key, map[string]int{"v": 3}, rev+100); err != nil || ok {
				t.Fatalf("update at a wrong revision: ok=%v err=%v, want refused", ok, err)
			}
			nrev, ok, err := l.l.update(ctx, key, map[string]int{"v": 4}, rev)
			if err != nil || !ok || nrev <= rev {
				t.Fatalf("update: %d %v %v", nrev, ok, err)
			}
			if err := l.l.put(ctx, key, map[string]int{"v": 5}); err != nil {
				t.Fatal(err)
			}
			got, grev, err := getJSON[map[string]int](ctx, l.l, key)
			if err != nil || (*got)["v"] != 5 || grev <= nrev {
				t.Fatalf("read back %v rev %d (after %d): %v", got, grev, nrev, err)
			}
			// A deleted key holds a delete marker: tryCreate refuses it,
			// create recreates it.
			if _, err := l.l.deleteAt(ctx, key, 0); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := l.l.tryCreate(ctx, key, map[string]int{"v": 6}); err != nil || ok {
				t.Fatalf("tryCreate over a delete marker: ok=%v err=%v, want refused", ok, err)
			}
			if _, ok, err := l.l.create(ctx, key, map[string]int{"v": 7}); err != nil || !ok {
				t.Fatalf("create over a delete marker: ok=%v err=%v", ok, err)
			}
		})
	}
}

// TestDirectWriterNoStream: a publish no stream answers is reported as
// errNoStream (nothing stored), which the ledger retries through the KV
// client.
func TestDirectWriterNoStream(t *testing.T) {
	_, js := natstest.StartJS(t)
	l, err := openLedger(context.Background(), js, 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	w := *l.w
	w.prefix = "$KV.no_such_bucket."
	if _, err := w.write(context.Background(), "f.x", []byte("{}"), 0, true); !errors.Is(err, errNoStream) {
		t.Fatalf("err = %v, want errNoStream", err)
	}
	if _, err := w.write(context.Background(), "bad key", []byte("{}"), 0, true); !errors.Is(err, jetstream.ErrInvalidKey) {
		t.Fatalf("err = %v, want ErrInvalidKey", err)
	}
}

// kvOnly hides everything but the KeyValueManager of a JetStream handle.
type kvOnly struct{ jetstream.KeyValueManager }

// TestLedgerWithoutDirectWriter: a KeyValueManager that is not a plain
// JetStream handle is written through the KV client.
func TestLedgerWithoutDirectWriter(t *testing.T) {
	_, js := natstest.StartJS(t)
	l, err := openLedger(context.Background(), kvOnly{js}, 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	if l.w != nil {
		t.Fatal("direct writer used without a JetStream handle")
	}
	if _, ok, err := l.tryCreate(context.Background(), "f.a", 1); err != nil || !ok {
		t.Fatalf("tryCreate: %v %v", ok, err)
	}
}

// TestAcceptRequeuesDeletedQueueItem: a new ledger entry whose queue key
// holds a delete marker (an earlier item removed) is still queued.
func TestAcceptRequeuesDeletedQueueItem(t *testing.T) {
	h := newHarness(t, nil)
	h.im.intakeOnly = true
	ctx := context.Background()
	key := keyName(1)
	m, err := h.set.Match("raw-data", key)
	if err != nil || m == nil {
		t.Fatalf("match: %v %v", m, err)
	}
	qk := queueKey(TableKey(m.Database, m.Table), FileKey("raw-data", key))
	if _, err := h.im.l.kv.Create(ctx, qk, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := h.im.l.kv.Delete(ctx, qk); err != nil {
		t.Fatal(err)
	}
	if res, err := h.im.Accept(ctx, object(key, "e1")); err != nil || res != AcceptQueued {
		t.Fatalf("Accept = %v, %v", res, err)
	}
	it, _, err := getJSON[QueueItem](ctx, h.im.l, qk)
	if err != nil || it == nil || it.Content != "e1" {
		t.Fatalf("queue item %+v, %v; want content e1", it, err)
	}
}

func TestEntryCache(t *testing.T) {
	c := newEntryCache(2)
	c.put("f.a", 1, []byte("a1"))
	c.put("q.x.y", 2, []byte("q")) // only entries are remembered
	if got := c.at("q.x.y", 2); got != nil {
		t.Fatalf("queue item remembered: %s", got)
	}
	if got := c.at("f.a", 1); string(got) != "a1" {
		t.Fatalf("at(f.a, 1) = %q", got)
	}
	if got := c.at("f.a", 2); got != nil {
		t.Fatalf("another revision answered: %q", got)
	}
	c.put("f.a", 3, []byte("a3"))
	if got := c.at("f.a", 1); got != nil {
		t.Fatalf("old revision still answered: %q", got)
	}
	c.put("f.b", 1, []byte("b1"))
	c.put("f.c", 1, []byte("c1")) // evicts f.a, the oldest key
	if c.at("f.a", 3) != nil || string(c.at("f.b", 1)) != "b1" || string(c.at("f.c", 1)) != "c1" {
		t.Fatalf("eviction: %v", c.m)
	}
	var nilCache *entryCache
	nilCache.put("f.a", 1, nil)
	if nilCache.at("f.a", 1) != nil {
		t.Fatal("nil cache answered")
	}
}

func TestCurrentRevision(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 42"},"stream":"KV_x","seq":0}`, 42},
		{`{"error":{"code":400,"err_code":10164,"description":"wrong last sequence"}}`, 0},
		{`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: x"}}`, 0},
		{`{"error":{"code":503,"err_code":10077,"description":"wrong last sequence: 4"}}`, 0},
	} {
		_, err := parsePubAck([]byte(tc.in))
		if got := currentRevision(err); got != tc.want {
			t.Errorf("currentRevision(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// countingKV counts reads of ledger entries.
type countingKV struct {
	jetstream.KeyValue
	gets atomic.Int64
}

func (c *countingKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if strings.HasPrefix(key, "f.") {
		c.gets.Add(1)
	}
	return c.KeyValue.Get(ctx, key)
}

// TestEntryCacheAcrossReplicas: a duplicate or re-upload of an entry this
// importer wrote last skips the read; once another importer (replica) has
// written the entry, the reported revision no longer matches and the entry
// is read — the remembered value is never used.
func TestEntryCacheAcrossReplicas(t *testing.T) {
	h := newHarness(t, nil)
	h.im.intakeOnly = true
	a := h.im
	b := h.start() // a second replica on the same KV
	b.intakeOnly = true
	kv := &countingKV{KeyValue: a.l.kv}
	a.l.kv = kv
	ctx := context.Background()
	key := "landing/events/dt=2026-11-26/cached.csv"
	steps := []struct {
		im    *Importer
		etag  string
		want  Accepted
		reads int64 // entry reads by a
	}{
		{a, "v1", AcceptQueued, 0},
		{a, "v1", AcceptDuplicate, 0},      // a wrote it: cached
		{a, "v2", AcceptReuploadQueued, 0}, // cached; a's update is cached too
		{b, "v3", AcceptReuploadQueued, 0}, // the other replica moves it on
		{a, "v2", AcceptDuplicate, 1},      // stale in a's cache: read (v2 is in seen)
		{a, "v4", AcceptReuploadQueued, 1}, // read above: cached again
		{a, "v3", AcceptDuplicate, 1},
	}
	for i, s := range steps {
		got, err := s.im.Accept(ctx, object(key, s.etag))
		if err != nil || got != s.want {
			t.Fatalf("step %d (%s): %s %v, want %s", i, s.etag, got, err, s.want)
		}
		if n := kv.gets.Load(); n != s.reads {
			t.Fatalf("step %d (%s): %d entry reads, want %d", i, s.etag, n, s.reads)
		}
	}
	if e := h.entry("raw-data", key); e.Content != "v4" || e.State != StatePending {
		t.Fatalf("entry %s %s, want v4 pending", e.Content, e.State)
	}
}

// TestEntryCacheEntryGone: an entry this importer remembers but that was
// purged from the bucket (by hand) is recorded and queued again, not lost
// because the importer skips the queue item's optimistic create for
// entries it knows.
func TestEntryCacheEntryGone(t *testing.T) {
	h := newHarness(t, nil)
	h.im.intakeOnly = true
	ctx := context.Background()
	key := "landing/events/dt=2026-11-26/purged.csv"
	if got, err := h.im.Accept(ctx, object(key, "v1")); err != nil || got != AcceptQueued {
		t.Fatalf("v1: %s %v", got, err)
	}
	e := h.entry("raw-data", key)
	qk := queueKey(TableKey(e.Database, e.Table), FileKey("raw-data", key))
	stream, err := h.js.Stream(ctx, "KV_"+Bucket)
	if err != nil {
		t.Fatal(err)
	}
	for i, gone := range []func(k string) error{
		// A KV purge leaves a marker: the create is refused, the read
		// finds nothing.
		func(k string) error { return h.im.l.kv.Purge(ctx, k) },
		// A stream purge leaves nothing: the entry's create succeeds.
		func(k string) error { return stream.Purge(ctx, jetstream.WithPurgeSubject("$KV."+Bucket+"."+k)) },
	} {
		for _, k := range []string{FileKey("raw-data", key), qk} {
			if err := gone(k); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := h.im.Accept(ctx, object(key, "v1")); err != nil || got != AcceptQueued {
			t.Fatalf("%d: v1 again: %s %v", i, got, err)
		}
		it, _, err := getJSON[QueueItem](ctx, h.im.l, qk)
		if err != nil || it == nil || it.Content != "v1" {
			t.Fatalf("%d: queue item %+v %v", i, it, err)
		}
	}
}
