package obsimport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dlibot/dlibot/functions/obsimport/obsevent"
	"github.com/dlibot/dlibot/functions/obsimport/rules"
	"github.com/dlibot/dlibot/pkg/events"
)

// ReadReplay reads what `dlibot obsimport replay` feeds: one item per
// line, each an object as "obs://bucket/key" or "bucket/key" (the key as
// stored, not URL-encoded; no content id, so the ledger treats it as a
// duplicate of anything already recorded for that key), or a saved
// notification in any accepted format on one line (JSON). A file holding a
// JSON array of saved notifications is read too. Blank lines and lines
// starting with '#' are skipped. Errors name the line.
func ReadReplay(r io.Reader) ([]obsevent.Object, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(trimmed, &list); err != nil {
			return nil, fmt.Errorf("JSON array: %w", err)
		}
		var out []obsevent.Object
		for i, raw := range list {
			res, err := obsevent.Decode(nil, raw)
			if err != nil {
				return nil, fmt.Errorf("item %d: %w", i, err)
			}
			out = append(out, res.Objects...)
		}
		return out, nil
	}
	var out []obsevent.Object
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), events.MaxEventSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "{") {
			res, err := obsevent.Decode(nil, []byte(line))
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			out = append(out, res.Objects...)
			continue
		}
		rest := strings.TrimPrefix(line, "obs://")
		bucket, key, ok := strings.Cut(rest, "/")
		if !ok || bucket == "" || key == "" {
			return nil, fmt.Errorf("line %d: %q is not obs://bucket/key, bucket/key or a JSON notification", n, line)
		}
		if strings.HasSuffix(key, "/") {
			continue // folder
		}
		out = append(out, obsevent.Object{ObjectCreated: events.ObjectCreated{Bucket: bucket, Key: key}, Format: "replay"})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ReplayEventName is the event name of replayed objects: a replayed
// object whose import failed is imported again; otherwise the ledger
// treats it like any other event.
const ReplayEventName = "dlibot:Replay"

// ReplayReport counts what Replay did.
type ReplayReport struct {
	// Published events were stored (Duplicates of them were already in the
	// stream's duplicate window).
	Published, Duplicates int
	// NoRule objects match no rule and were not published.
	NoRule int
}

// Replay publishes each object matching a rule as a normalised
// object.created event on its dlibot.in.obs.<bucket> subject — the same
// path live events take — so the ledger keeps it idempotent: objects
// already recorded are duplicates, except that one whose import failed is
// imported again. Objects matching no rule are counted, not published.
func Replay(ctx context.Context, set *rules.Set, objs []obsevent.Object, store func(ctx context.Context, subject string, e events.Event) (duplicate bool, err error)) (ReplayReport, error) {
	var rep ReplayReport
	runID := newBatchID()
	for _, o := range objs {
		if m, err := set.Match(o.Bucket, o.Key); m == nil && !errors.Is(err, rules.ErrUnusable) {
			rep.NoRule++
			continue
		}
		o.EventName = ReplayEventName
		e, err := o.Event()
		if err != nil {
			return rep, fmt.Errorf("%s/%s: %w", o.Bucket, o.Key, err)
		}
		// A fresh id per run: the consumer's dedup must not swallow a
		// second replay; the ledger keeps it idempotent.
		e.SetID(e.ID() + " replay " + runID)
		dup, err := store(ctx, events.ObsSubject(o.Bucket), e)
		if err != nil {
			return rep, fmt.Errorf("%s/%s: %w", o.Bucket, o.Key, err)
		}
		rep.Published++
		if dup {
			rep.Duplicates++
		}
	}
	return rep, nil
}

// CheckRules describes, for `dlibot obsimport check-rules`, what each key
// would do under set: "bucket/key" or "obs://bucket/key", or a bare key in
// defaultBucket.
func CheckRules(set *rules.Set, defaultBucket string, keys []string) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		bucket, key := defaultBucket, k
		if rest, ok := strings.CutPrefix(k, "obs://"); ok {
			bucket, key, _ = strings.Cut(rest, "/")
		} else if defaultBucket == "" {
			bucket, key, _ = strings.Cut(k, "/")
		}
		m, err := set.Match(bucket, key)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s/%s: %v", bucket, key, err))
		case m == nil:
			out = append(out, fmt.Sprintf("%s/%s: no rule matches (skipped)", bucket, key))
		default:
			line := fmt.Sprintf("%s/%s: %s", bucket, key, m.Describe(bucket))
			if !m.AwaitMarker {
				line += fmt.Sprintf("; trigger %s; re-upload: %s", m.Rule.Trigger, m.Rule.OnReupload)
				if stmt, err := LoadDataSQL(DataPath(bucket, []string{m.Path}), m.Database, m.Table, SpecFor(m)); err == nil {
					line += "\n    as SQL: " + stmt
				}
			}
			out = append(out, line)
		}
	}
	return out
}
