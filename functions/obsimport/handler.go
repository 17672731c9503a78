package obsimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dlibot/dlibot/functions/obsimport/obsevent"
	"github.com/dlibot/dlibot/functions/obsimport/rules"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

// Accepted says what happened to one object.
type Accepted string

// What Accept does with an object.
const (
	AcceptQueued          Accepted = "queued"
	AcceptDuplicate       Accepted = "duplicate"
	AcceptNoRule          Accepted = "no_rule"
	AcceptUnusable        Accepted = "unusable"
	AcceptAwaitsMarker    Accepted = "awaits_marker"
	AcceptReuploadQueued  Accepted = "reupload_queued"
	AcceptReuploadNext    Accepted = "reupload_next"
	AcceptReuploadSkipped Accepted = "reupload_skipped"
	AcceptReuploadAlerted Accepted = "reupload_alerted"
)

// Handle is the events.Handler: an object event (or a tick) in, an
// Outcome out. A malformed event is dropped with the reason; a ledger that
// cannot be reached asks for a retry; everything else is acknowledged —
// including imports that later fail in DLI (reported by import.failed and
// Slack, not by dead letters).
func (im *Importer) Handle(ctx context.Context, e events.Event) events.Outcome {
	if e.Type() == events.TypeTick {
		if err := im.Sweep(ctx); err != nil {
			im.log.Warn("tick sweep", "err", err)
			return events.Retry(im.cfg.PollInterval)
		}
		return events.Ack()
	}
	if e.Type() == TypeIgnored {
		var d struct {
			Reasons []string `json:"reasons"`
		}
		_ = json.Unmarshal(e.Data(), &d)
		for _, r := range d.Reasons {
			im.m.objects.WithLabelValues("ignored_" + r).Inc()
		}
		return events.Ack()
	}
	res, err := obsevent.FromCloudEvent(e)
	if err != nil {
		return events.Drop(err.Error())
	}
	if im.faultHook != nil {
		if err := im.faultHook(); errors.Is(err, errDropped) {
			return events.Drop(err.Error())
		} else if err != nil {
			return events.Retry(retryDelay(ctx))
		}
	}
	for _, ig := range res.Ignored {
		im.m.objects.WithLabelValues("ignored_" + ig.Reason).Inc()
		if im.log.Enabled(ctx, slog.LevelDebug) { // (the arguments allocate even when the level is off)
			im.log.Debug("object event ignored", "reason", ig.Reason, "event_name", ig.EventName, "bucket", ig.Bucket, "key", ig.Key)
		}
	}
	for _, o := range res.Objects {
		if _, err := im.Accept(ctx, o); err != nil {
			im.log.Warn("object not recorded; retrying the event", "bucket", o.Bucket, "key", o.Key, "err", err)
			return events.Retry(retryDelay(ctx))
		}
	}
	return events.Ack()
}

// retryDelay grows with the delivery attempt: 1s, 2s, 4s … at most 1m.
func retryDelay(ctx context.Context) time.Duration {
	d := time.Second
	if dl, ok := events.DeliveryFrom(ctx); ok {
		for i := 1; i < dl.Attempt && d < time.Minute; i++ {
			d *= 2
		}
	}
	return min(d, time.Minute)
}

// Accept matches one object against the rules and records it in the
// ledger (queueing its import), applying the re-upload policy. It is
// idempotent: the same object content accepted twice is a duplicate. An
// error means the ledger could not be updated (retry).
func (im *Importer) Accept(ctx context.Context, o obsevent.Object) (Accepted, error) {
	m, err := im.rules.Match(o.Bucket, o.Key)
	switch {
	case errors.Is(err, rules.ErrUnusable):
		im.m.objects.WithLabelValues(string(AcceptUnusable)).Inc()
		im.log.Warn("object matches a rule but cannot be imported", "bucket", o.Bucket, "key", o.Key, "err", err)
		return AcceptUnusable, nil
	case err != nil:
		return "", err
	case m == nil:
		im.m.objects.WithLabelValues(string(AcceptNoRule)).Inc()
		if im.log.Enabled(ctx, slog.LevelDebug) {
			im.log.Debug("object matches no rule; skipped", "bucket", o.Bucket, "key", o.Key)
		}
		return AcceptNoRule, nil
	case m.AwaitMarker:
		im.m.objects.WithLabelValues(string(AcceptAwaitsMarker)).Inc()
		if im.log.Enabled(ctx, slog.LevelDebug) {
			im.log.Debug("data file of a marker rule; imported with its folder", "bucket", o.Bucket, "key", o.Key, "rule", m.Rule.Name)
		}
		return AcceptAwaitsMarker, nil
	}
	res, err := im.record(ctx, o, m)
	if err != nil {
		return "", err
	}
	im.m.objects.WithLabelValues(string(res)).Inc()
	switch res {
	case AcceptQueued, AcceptReuploadQueued, AcceptDuplicate:
		th := TableKey(m.Database, m.Table)
		im.kick(th)
		if !im.bg && !im.intakeOnly && res != AcceptDuplicate {
			im.runTable(ctx, th)
		}
	}
	return res, nil
}

// SpecFor is the import spec a match calls for.
func SpecFor(m *rules.Match) Spec {
	s := Spec{Format: m.Format, BadRecordsPath: m.BadRecordsPath, Queue: m.Queue, Overwrite: m.Rule.Overwrite,
		Partition: m.Partition, Conf: m.Rule.Conf, Folder: m.Marker}
	if c := m.Rule.CSV; c != nil {
		s.DateFormat, s.TimestampFormat = c.DateFormat, c.TimestampFormat
		if m.Format == "csv" {
			s.Header, s.Delimiter, s.Quote, s.Escape = c.Header, c.Delimiter, c.Quote, c.Escape
		}
	}
	return s
}

func (im *Importer) record(ctx context.Context, o obsevent.Object, m *rules.Match) (Accepted, error) {
	key := FileKey(o.Bucket, o.Key)
	content := o.ContentID()
	now := im.now()
	fresh := func(e *Entry) {
		e.Bucket, e.Key, e.Path, e.Content, e.Size = o.Bucket, o.Key, m.Path, content, o.Size
		e.Rule, e.Database, e.Table, e.Spec = m.Rule.Name, m.Database, m.Table, SpecFor(m)
		e.State, e.Batch, e.JobID, e.Rows, e.Error, e.Next = StatePending, "", "", 0, "", nil
		e.EventTime, e.Received, e.Updated = o.EventTime, now, now
	}
	// The queue item for this content (same for every attempt: the
	// object and the match do not change), encoded once.
	var qkey string
	var qraw rawJSON
	var err error
	var current uint64 // the entry's revision reported by a refused create
	for attempt := range 20 {
		// Optimistically create first: a new object (the common case)
		// costs one round trip less.
		// The queue item is created alongside: should the entry already
		// exist, the item is harmless (the batch builder drops an item
		// whose entry is not pending, and points one whose pending entry
		// names other content at that content).
		// Both are written create-only against revision 0 (one round trip
		// each, in parallel); a key that exists or holds a delete marker
		// fails that. The entry failing that way is read below (entries
		// are never deleted); the queue item failing that way while the
		// entry was new is created again the careful way, which recreates
		// a deleted item (an earlier import of the key removed it).
		if attempt == 0 {
			var ne Entry
			fresh(&ne)
			it := im.queueItem(&ne)
			qkey = queueKey(TableKey(ne.Database, ne.Table), it.File)
			if qraw, err = json.Marshal(it); err != nil {
				return "", err
			}
			type created struct {
				ok  bool
				err error
			}
			qres := make(chan created, 1)
			if im.l.cache.has(key) {
				// This importer wrote or read the entry: it exists
				// (entries are never deleted), so only its create is
				// sent — refused, it reports the entry's revision.
				qres <- created{}
			} else {
				go func() {
					_, ok, err := im.l.tryCreate(ctx, qkey, qraw)
					qres <- created{ok, err}
				}()
			}
			cur, ok, err := im.l.tryCreate(ctx, key, &ne)
			q := <-qres
			if err == nil {
				err = q.err
			}
			if err != nil {
				return "", err
			}
			if ok {
				if !q.ok {
					if _, _, err := im.l.create(ctx, qkey, qraw); err != nil {
						return "", err
					}
				}
				im.at("recorded-entry")
				return AcceptQueued, nil
			}
			current = cur
		}
		// The refused create said which revision the entry is at: read it
		// from the cache when this process wrote or read that revision.
		e, rev, err := getJSONAt[Entry](ctx, im.l, key, current)
		current = 0
		if err != nil {
			return "", err
		}
		if e == nil {
			var ne Entry
			fresh(&ne)
			_, ok, err := im.l.create(ctx, key, &ne)
			if err != nil {
				return "", err
			}
			if !ok {
				continue
			}
			im.at("recorded-entry")
			return AcceptQueued, im.enqueue(ctx, &ne, false)
		}
		if o.EventName == ReplayEventName && e.State == StateFailed && (content == "" || content == e.Content) {
			// An operator replays a file whose import failed: try again.
			e.PrevJobs = appendBounded(e.PrevJobs, e.JobID)
			e.State, e.Batch, e.JobID, e.Error, e.Updated = StatePending, "", "", "", now
			_, ok, err := im.l.update(ctx, key, e, rev)
			if err != nil {
				return "", err
			}
			if !ok {
				continue
			}
			return AcceptReuploadQueued, im.enqueue(ctx, e, true)
		}
		if content == "" || e.Content == content || contains(e.Seen, content) || (e.Next != nil && e.Next.Content == content) {
			if e.State == StatePending && e.Content == content {
				// Repair a crash between recording and queueing.
				if err := im.ensureQueued(ctx, key, e); err != nil {
					return "", err
				}
			}
			return AcceptDuplicate, nil
		}
		// A re-upload: new content for a known object.
		var res Accepted
		switch m.Rule.OnReupload {
		case rules.ReuploadSkip, rules.ReuploadAlert:
			e.Seen = appendBounded(e.Seen, content)
			e.Updated = now
			res = AcceptReuploadSkipped
			if m.Rule.OnReupload == rules.ReuploadAlert {
				res = AcceptReuploadAlerted
			}
		default:
			switch e.State {
			case StateSubmitted:
				if e.Next != nil {
					// Superseded before it was imported: never import it later.
					e.Seen = appendBounded(e.Seen, e.Next.Content)
				}
				e.Next = &Next{Content: content, Size: o.Size, EventTime: o.EventTime}
				e.Updated = now
				res = AcceptReuploadNext
			default:
				old := e.Content
				prev := e.PrevJobs
				seen := e.Seen
				fresh(e)
				e.Seen = appendBounded(seen, old)
				e.PrevJobs = prev
				res = AcceptReuploadQueued
			}
		}
		_, ok, err := im.l.update(ctx, key, e, rev)
		if err != nil {
			return "", err
		}
		if !ok {
			continue
		}
		switch res {
		case AcceptReuploadQueued:
			// fresh(e) made e what attempt 0 tried to create: same
			// item.
			im.at("recorded-reupload")
			if err := im.l.put(ctx, qkey, qraw); err != nil {
				return "", err
			}
			return res, nil
		case AcceptReuploadAlerted:
			im.notifyReupload(ctx, e, o)
		}
		im.log.Info("re-upload of an object already handled", "bucket", o.Bucket, "key", o.Key, "policy", m.Rule.OnReupload, "result", res)
		return res, nil
	}
	return "", fmt.Errorf("obsimport: ledger entry for %s/%s changed 20 times in a row", o.Bucket, o.Key)
}

// ImportEvent is the data of the import.submitted, import.succeeded and
// import.failed events (one per file).
type ImportEvent struct {
	// Bucket and Key name the object.
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// Path is what was imported (the key, or a marker's folder).
	Path string `json:"path"`
	// Table is "database.table".
	Table string `json:"table"`
	// Rule is the rule that matched.
	Rule string `json:"rule"`
	// Content is the object's content id (ETag, #version).
	Content string `json:"content,omitempty"`
	// JobID is DLI's job id ("" when DLI rejected the submit).
	JobID string `json:"job_id"`
	// BatchID is the batch (one DLI job).
	BatchID string `json:"batch_id"`
	// DataPath is the OBS path submitted.
	DataPath string `json:"data_path"`
	// Backend is "import" or "sql".
	Backend string `json:"backend"`
	// BatchSize is the number of files in the job; Rows and BadRows are
	// the job's totals.
	BatchSize int   `json:"batch_size"`
	Rows      int64 `json:"rows"`
	BadRows   int64 `json:"bad_rows,omitempty"`
	// DurationMS is the job's run time (finished events).
	DurationMS int64 `json:"duration_ms,omitempty"`
	// Status is DLI's job status (finished events); Message its message.
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// ImportSubject is where obsimport's events go.
var ImportSubject = events.OutSubject(Name, "import")

func (im *Importer) emit(ctx context.Context, typ string, b *Batch, e *Entry, i int) {
	if im.publish == nil {
		return
	}
	data := ImportEvent{Bucket: e.Bucket, Key: e.Key, Path: e.Path, Table: b.TableID(), Rule: e.Rule, Content: b.Contents[i],
		JobID: b.JobID, BatchID: b.ID, DataPath: b.DataPath, Backend: b.Backend, BatchSize: len(b.Files),
		Rows: b.Rows, BadRows: b.BadRows, DurationMS: b.Duration.Milliseconds(), Status: b.Status, Message: b.Message}
	phase := typ[len("dlibot.obsimport.import."):]
	ev, err := events.NewEvent(b.ID+"/"+b.Files[i]+"/"+phase, events.FunctionSource(Name), typ, data)
	if err != nil {
		im.log.Error("building import event", "err", err)
		return
	}
	ev.SetExtension("bucket", e.Bucket)
	if err := im.publish(ctx, ImportSubject, ev); err != nil {
		im.log.Warn("publishing import event", "type", typ, "key", e.Key, "err", err)
	}
}

func (im *Importer) notifyFailure(ctx context.Context, b *Batch) {
	if im.notify == nil {
		return
	}
	files := ""
	for i, p := range b.Paths {
		if i == 5 {
			files += fmt.Sprintf("\n… and %d more", len(b.Paths)-5)
			break
		}
		files += "\n• `" + blockkit.Escape("obs://"+b.Bucket+"/"+p) + "`"
	}
	text := fmt.Sprintf(":x: *obsimport*: import into `%s` failed (job `%s`, %d file(s)): %s%s",
		blockkit.Escape(b.TableID()), blockkit.Escape(b.JobID), len(b.Files), blockkit.Escape(b.Message), files)
	if _, err := im.notify.Post(ctx, notify.Message{Channel: im.cfg.SlackChannel, Text: text}); err != nil {
		im.log.Warn("posting import failure to Slack", "batch", b.ID, "err", err)
	}
}

func (im *Importer) notifyReupload(ctx context.Context, e *Entry, o obsevent.Object) {
	if im.notify == nil {
		return
	}
	text := fmt.Sprintf(":warning: *obsimport*: `%s` was uploaded again with new content (%s); rule `%s` says alert, so it was not imported again.",
		blockkit.Escape("obs://"+o.Bucket+"/"+o.Key), blockkit.Escape(o.ContentID()), blockkit.Escape(e.Rule))
	if _, err := im.notify.Post(ctx, notify.Message{Channel: im.cfg.SlackChannel, Text: text}); err != nil {
		im.log.Warn("posting re-upload alert to Slack", "key", o.Key, "err", err)
	}
}
