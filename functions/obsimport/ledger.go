package obsimport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events"
)

// Bucket is the JetStream KV bucket holding obsimport's state (contract):
// the ledger (f.<object>), the per-table queues (q.<table>.<object>) and
// the per-table import locks (t.<table>).
const Bucket = "dlibot_obsimport"

// State is a ledger entry's state.
type State string

// Ledger states: pending → submitted(job id) → loaded | failed. Skipped
// records a re-upload ignored by policy.
const (
	StatePending   State = "pending"
	StateSubmitted State = "submitted"
	StateLoaded    State = "loaded"
	StateFailed    State = "failed"
)

// Spec is how to import an object: everything DLI needs besides the path
// and the table. Objects batch together only when their Specs are equal.
type Spec struct {
	// Format is the data type: csv, parquet, orc, json or avro.
	Format string `json:"format"`
	// Header says CSV data starts with a header line.
	Header bool `json:"header,omitempty"`
	// Delimiter, Quote and Escape shape CSV data ("" = DLI's default).
	Delimiter string `json:"delimiter,omitempty"`
	Quote     string `json:"quote,omitempty"`
	Escape    string `json:"escape,omitempty"`
	// DateFormat and TimestampFormat are Java patterns ("" = DLI's default).
	DateFormat      string `json:"date_format,omitempty"`
	TimestampFormat string `json:"timestamp_format,omitempty"`
	// BadRecordsPath is where DLI writes bad records.
	BadRecordsPath string `json:"bad_records_path,omitempty"`
	// Queue is the DLI queue ("" = OBSIMPORT_QUEUE, then DLI's default).
	Queue string `json:"queue,omitempty"`
	// Overwrite replaces instead of appending.
	Overwrite bool `json:"overwrite,omitempty"`
	// Partition is the partition_spec, column → value.
	Partition map[string]string `json:"partition,omitempty"`
	// Conf are extra job settings, "key=value".
	Conf []string `json:"conf,omitempty"`
	// Folder marks a marker import: Path is a folder, never batched.
	Folder bool `json:"folder,omitempty"`
}

// group is the batching key: equal Specs in one folder.
func (s Spec) group(bucket, path string) string {
	b, _ := json.Marshal(s)
	dir := ""
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir = path[:i]
	}
	if s.Folder {
		dir = "\x00" + path // never shared
	}
	return hash(bucket + "\x00" + string(b) + "\x00" + dir)
}

// Next is a newer content of an object that arrived while the current one
// was in flight (reload policy); it is imported after.
type Next struct {
	// Content is the newer content id.
	Content string `json:"content"`
	// Size is its size in bytes.
	Size int64 `json:"size"`
	// EventTime is when it was created.
	EventTime time.Time `json:"event_time"`
}

// Entry is the ledger record of one object (bucket/key; for a marker rule,
// the marker object, whose Path is its folder).
type Entry struct {
	// Bucket and Key name the object.
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Path is what is imported, relative to the bucket.
	Path string `json:"path"`
	// Content is the content id (ETag, #version) being imported or
	// imported last.
	Content string `json:"content"`
	// Size is the object's size in bytes.
	Size int64 `json:"size"`
	// Rule is the name of the rule that matched.
	Rule string `json:"rule"`
	// Database and Table are the target.
	Database string `json:"database"`
	Table    string `json:"table"`
	// Spec is how to import it.
	Spec Spec `json:"spec"`
	// State is pending, submitted, loaded or failed.
	State State `json:"state"`
	// Batch is the batch (DLI job) that took it; JobID that job's id.
	Batch string `json:"batch,omitempty"`
	JobID string `json:"job_id,omitempty"`
	// Rows is the job's input row count (the whole batch's).
	Rows int64 `json:"rows,omitempty"`
	// Error is DLI's message when the import failed.
	Error string `json:"error,omitempty"`
	// Seen are earlier content ids handled (imported or skipped), newest
	// last, at most maxSeen: an old event arriving late is a duplicate.
	Seen []string `json:"seen,omitempty"`
	// PrevJobs are job ids of earlier imports of this object, so crash
	// recovery never mistakes one for the current submission.
	PrevJobs []string `json:"prev_jobs,omitempty"`
	// Next is a newer content waiting for the running import.
	Next *Next `json:"next,omitempty"`
	// EventTime is when the object was created; Received when obsimport
	// first recorded this content; Updated the last transition.
	EventTime time.Time `json:"event_time"`
	Received  time.Time `json:"received"`
	Updated   time.Time `json:"updated"`
}

// TableID is "database.table".
func (e *Entry) TableID() string { return e.Database + "." + e.Table }

const maxSeen = 16

func appendBounded(s []string, v string) []string {
	if v == "" {
		return s
	}
	for _, x := range s {
		if x == v {
			return s
		}
	}
	s = append(s, v)
	if len(s) > maxSeen {
		s = s[len(s)-maxSeen:]
	}
	return s
}

// QueueItem is a file waiting for its table's next import.
type QueueItem struct {
	// File is the ledger key of the object.
	File string `json:"file"`
	// Content is the content id queued (an item naming other content than
	// the entry's is stale).
	Content string `json:"content"`
	// Group is the batching key: same bucket, folder and Spec.
	Group string `json:"group"`
	// Enqueued is when the item was queued.
	Enqueued time.Time `json:"enqueued"`
}

// Batch states.
const (
	// BatchSubmitting: the intent is recorded; the submit may or may not
	// have reached DLI.
	BatchSubmitting = "submitting"
	// BatchSubmitted: DLI answered with JobID.
	BatchSubmitted = "submitted"
	// BatchDone: the job ended (Status); the files are being finalised.
	BatchDone = "done"
)

// Batch is a table's import in flight: the lock that keeps one import per
// table, and the intent recorded before submitting.
type Batch struct {
	// ID is the batch id (the SQL backend's job tag).
	ID string `json:"id"`
	// Database and Table are the target.
	Database string `json:"database"`
	Table    string `json:"table"`
	// Bucket is the objects' bucket.
	Bucket string `json:"bucket"`
	// Files, Contents and Paths are the objects' ledger keys, content ids
	// and import paths, in the same order.
	Files    []string `json:"files"`
	Contents []string `json:"contents"`
	Paths    []string `json:"paths"`
	// DataPath is the OBS path submitted.
	DataPath string `json:"data_path"`
	// Spec is the shared import spec.
	Spec Spec `json:"spec"`
	// Backend is "import" or "sql".
	Backend string `json:"backend"`
	// State is submitting, submitted or done.
	State string `json:"state"`
	// JobID is DLI's job id once known.
	JobID string `json:"job_id,omitempty"`
	// PrevJobs are earlier jobs of these objects (never adopted by
	// recovery).
	PrevJobs []string `json:"prev_jobs,omitempty"`
	// IntentAt is when the (latest) submission was decided, renewed by
	// the fence right before each submit call: the owner's lease runs
	// until IntentAt + OBSIMPORT_RECOVER_AFTER, after which another
	// replica may take the batch over (revision-checked).
	IntentAt time.Time `json:"intent_at"`
	// Owner is the token of the importer (replica) that holds the lease:
	// it last fenced the batch for a submit.
	Owner string `json:"owner,omitempty"`
	// Duplicates are job ids a replica submitted for this batch after
	// another had taken it over (a freeze inside the remaining window):
	// both jobs ran; they are logged at error level and counted.
	Duplicates []string `json:"duplicates,omitempty"`
	// Attempts counts submissions.
	Attempts int `json:"attempts"`
	// Submitted is when DLI answered.
	Submitted time.Time `json:"submitted,omitzero"`
	// FirstEnqueued is when the oldest file was queued (latency).
	FirstEnqueued time.Time `json:"first_enqueued,omitzero"`
	// Status and Message are DLI's final job status and message.
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	// Rows, BadRows and Duration are the job's statistics.
	Rows     int64         `json:"rows,omitempty"`
	BadRows  int64         `json:"bad_rows,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	// Notified records that a failure was posted to Slack.
	Notified bool `json:"notified,omitempty"`
}

// TableID is "database.table".
func (b *Batch) TableID() string { return b.Database + "." + b.Table }

// hash is a KV-safe token for any string: 128 bits of SHA-256 in hex.
func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:16])
}

// FileKey is the ledger key of bucket/key.
func FileKey(bucket, key string) string { return "f." + hash(bucket+"\x00"+key) }

// TableKey is the hash naming a table in lock and queue keys.
func TableKey(database, table string) string {
	return hash(strings.ToLower(database) + "." + strings.ToLower(table))
}

func lockKey(th string) string { return "t." + th }

func queueKey(th, file string) string { return "q." + th + "." + strings.TrimPrefix(file, "f.") }

// ledger wraps the KV bucket with typed, revision-checked access.
type ledger struct {
	kv jetstream.KeyValue
	// w writes values (create-only, revision-checked or plain) with one
	// request each straight to the bucket's subject; nil writes through
	// kv. See directWriter.
	w *directWriter
	// cache remembers entries by revision (nil: none). See entryCache.
	cache *entryCache
}

// OpenLedger creates (or opens) the obsimport KV bucket.
func openLedger(ctx context.Context, js jetstream.KeyValueManager, replicas int, storage jetstream.StorageType) (*ledger, error) {
	if replicas <= 0 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: Bucket, Description: "obsimport ledger, queues and table locks", History: 1,
		Replicas: replicas, Storage: storage,
	})
	if err != nil {
		return nil, fmt.Errorf("obsimport: open KV bucket %s: %w", Bucket, err)
	}
	l := &ledger{kv: kv, cache: newEntryCache(entryCacheSize)}
	l.w = newDirectWriter(ctx, js, kv)
	return l, nil
}

func getJSON[T any](ctx context.Context, l *ledger, key string) (*T, uint64, error) {
	e, err := l.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("obsimport: read %s: %w", key, err)
	}
	var v T
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return nil, 0, fmt.Errorf("obsimport: decode %s: %w", key, err)
	}
	l.cache.put(key, e.Revision(), e.Value())
	return &v, e.Revision(), nil
}

// getJSONAt is getJSON for a key whose current revision the server just
// reported (0: unknown): from the cache when it holds that revision.
func getJSONAt[T any](ctx context.Context, l *ledger, key string, rev uint64) (*T, uint64, error) {
	if raw := l.cache.at(key, rev); raw != nil {
		var v T
		if err := json.Unmarshal(raw, &v); err == nil {
			return &v, rev, nil
		}
	}
	return getJSON[T](ctx, l, key)
}

// rawJSON is a value already encoded: the ledger's writes store it as is.
type rawJSON []byte

func encode(v any) ([]byte, error) {
	if r, ok := v.(rawJSON); ok {
		return r, nil
	}
	return json.Marshal(v)
}

// create stores v under key only if the key does not exist; ok is false
// when it does.
func (l *ledger) create(ctx context.Context, key string, v any) (rev uint64, ok bool, err error) {
	b, err := encode(v)
	if err != nil {
		return 0, false, err
	}
	rev, err = l.kv.Create(ctx, key, b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("obsimport: create %s: %w", key, err)
	}
	return rev, true, nil
}

// tryCreate stores v under key only if the key has never been written
// or its history was purged: one round trip, where create costs two more
// when the key exists (it reads the key to see whether it holds a delete
// marker). ok is false when the key exists or holds a delete marker (rev
// is then the key's current revision when the server said, else 0); use
// create when a deleted key may be recreated.
func (l *ledger) tryCreate(ctx context.Context, key string, v any) (rev uint64, ok bool, err error) {
	b, err := encode(v)
	if err != nil {
		return 0, false, err
	}
	rev, err = l.write(ctx, key, b, 0, true)
	if events.KVConflict(err) {
		return currentRevision(err), false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("obsimport: create %s: %w", key, err)
	}
	return rev, true, nil
}

// write stores b under key, if expect only while the key's revision is
// rev (0: the key has never been written).
func (l *ledger) write(ctx context.Context, key string, b []byte, rev uint64, expect bool) (uint64, error) {
	if l.w != nil {
		n, err := l.w.write(ctx, key, b, rev, expect)
		if !errors.Is(err, errNoStream) {
			if err == nil {
				l.cache.put(key, n, b)
			}
			return n, err
		}
		// No stream answered (JetStream restarting, a leader election):
		// nothing was stored; the KV client retries such a write.
	}
	var n uint64
	var err error
	if expect {
		n, err = l.kv.Update(ctx, key, b, rev)
	} else {
		n, err = l.kv.Put(ctx, key, b)
	}
	if err == nil {
		l.cache.put(key, n, b)
	}
	return n, err
}

// update stores v under key if its revision is still rev; ok is false
// when someone else changed it first.
func (l *ledger) update(ctx context.Context, key string, v any, rev uint64) (uint64, bool, error) {
	b, err := encode(v)
	if err != nil {
		return 0, false, err
	}
	nrev, err := l.write(ctx, key, b, rev, true)
	if events.KVConflict(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("obsimport: update %s: %w", key, err)
	}
	return nrev, true, nil
}

func (l *ledger) put(ctx context.Context, key string, v any) error {
	b, err := encode(v)
	if err != nil {
		return err
	}
	if _, err := l.write(ctx, key, b, 0, false); err != nil {
		return fmt.Errorf("obsimport: write %s: %w", key, err)
	}
	return nil
}

// deleteAt deletes key if its revision is still rev (0: unconditionally).
func (l *ledger) deleteAt(ctx context.Context, key string, rev uint64) (bool, error) {
	var opts []jetstream.KVDeleteOpt
	if rev > 0 {
		opts = append(opts, jetstream.LastRevision(rev))
	}
	err := l.kv.Delete(ctx, key, opts...)
	if events.KVConflict(err) {
		return false, nil
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, fmt.Errorf("obsimport: delete %s: %w", key, err)
	}
	return true, nil
}

// keys lists the keys matching filter ("q.<th>.*", "t.*"); none is not an
// error.
func (l *ledger) keys(ctx context.Context, filter string, limit int) ([]string, error) {
	lister, err := l.kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("obsimport: list %s: %w", filter, err)
	}
	defer func() { _ = lister.Stop() }()
	var out []string
	for k := range lister.Keys() {
		out = append(out, k)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out, nil
}
