package obsimport

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/functions/obsimport/obsevent"
	"github.com/dlibot/dlibot/functions/obsimport/rules"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/natstest"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

var testStart = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

// harness is one obsimport on an embedded JetStream, the DLI emulator and
// the Slack fake.
type harness struct {
	t     testing.TB
	js    jetstream.JetStream
	srv   *dlitest.Server
	dli   *dli.Client
	slack *slacktest.Server
	nt    notify.Notifier
	set   *rules.Set
	cfg   Config

	mu  sync.Mutex
	out []events.Event
	im  *Importer
}

func testConfig() Config {
	return Config{Rules: "testdata/rules.yaml", Backend: BackendImport, BatchMax: 256, BatchGlob: true,
		PollInterval: 10 * time.Millisecond, RecoverAfter: 30 * time.Second, SweepInterval: time.Second,
		ClockSkew: time.Minute, KVReplicas: 1, SMNHosts: []string{".myhuaweicloud.com"}, SMNConfirm: true}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newHarness(t testing.TB, mod func(*Config)) *harness {
	t.Helper()
	_, js := natstest.StartJS(t)
	return newHarnessJS(t, js, mod)
}

func newHarnessJS(t testing.TB, js jetstream.JetStream, mod func(*Config)) *harness {
	t.Helper()
	srv := dlitest.NewServer(t, dlitest.Options{Start: testStart, SkipAuth: true})
	o := srv.Options()
	client, err := dli.New(dli.Config{AK: o.AK, SK: o.SK, ProjectID: o.ProjectID, Endpoint: srv.URL, Timeout: 5 * time.Second, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.AddQueue(dlitest.QueueSpec{Name: "etl"}); err != nil {
		t.Fatal(err)
	}
	slack := slacktest.Start(t)
	nt, err := notify.NewSlack(notify.Config{Token: slack.Token(), APIURL: slack.URL(), Channel: "#imports"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load("testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
	}
	h := &harness{t: t, js: js, srv: srv, dli: client, slack: slack, nt: nt, set: set, cfg: cfg}
	h.im = h.start()
	return h
}

// start builds a fresh Importer on the same KV, DLI and Slack (a restart).
func (h *harness) start() *Importer {
	h.t.Helper()
	im, err := New(context.Background(), Options{
		Config: h.cfg, RuleSet: h.set, KV: h.js, DLI: h.dli, Notifier: h.nt, Logger: quietLogger(),
		Now: h.srv.Clock().Now,
		Publish: func(ctx context.Context, subject string, e events.Event) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.out = append(h.out, e)
			return nil
		},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return im
}

func (h *harness) published(typ string) []ImportEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []ImportEvent
	seen := map[string]bool{}
	for _, e := range h.out {
		if e.Type() != typ || seen[e.ID()] {
			continue
		}
		seen[e.ID()] = true
		var d ImportEvent
		if err := json.Unmarshal(e.Data(), &d); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// object is a created object in bucket raw-data.
func object(key, etag string) obsevent.Object {
	return obsevent.Object{ObjectCreated: events.ObjectCreated{Bucket: "raw-data", Key: key, Size: 100, ETag: etag,
		EventName: "ObjectCreated:Put", EventTime: testStart}}
}

func objectEvent(t testing.TB, key, etag string) events.Event {
	t.Helper()
	e, err := object(key, etag).Event()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// drive sweeps and advances the emulator clock until every ledger entry
// is settled (or the rounds run out).
func (h *harness) drive(rounds int) {
	h.t.Helper()
	ctx := context.Background()
	ths, err := h.im.tablesWithWork(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	for range rounds {
		busy := false
		for _, th := range ths {
			h.im.runTable(ctx, th)
			lock, _, err := getJSON[Batch](ctx, h.im.l, lockKey(th))
			if err != nil {
				h.t.Fatal(err)
			}
			q, err := h.im.l.keys(ctx, "q."+th+".*", 1)
			if err != nil {
				h.t.Fatal(err)
			}
			busy = busy || lock != nil || len(q) > 0
		}
		if !busy {
			return
		}
		h.srv.Advance(6 * time.Second)
	}
	h.t.Fatalf("work left after %d rounds", rounds)
}

// importRequests returns the data paths of every import-table request
// and every LOAD DATA SQL job in the emulator's request log, in order.
func (h *harness) importRequests() []string {
	var out []string
	for _, r := range h.srv.Requests() {
		if r.Method == "POST" && strings.HasSuffix(r.Path, "/jobs/submit-job") {
			var body struct {
				SQL string `json:"sql"`
			}
			if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
				h.t.Fatalf("submit-job body: %v", err)
			}
			rest, ok := strings.CutPrefix(body.SQL, "LOAD DATA INPATH ")
			if !ok {
				continue
			}
			lit, _, err := parseSparkLiteral(rest)
			if err != nil {
				h.t.Fatalf("LOAD DATA statement %q: %v", body.SQL, err)
			}
			out = append(out, lit)
			continue
		}
		if r.Method != "POST" || !strings.HasSuffix(r.Path, "/jobs/import-table") {
			continue
		}
		var body struct {
			DataPath string `json:"data_path"`
		}
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			h.t.Fatalf("import request body: %v", err)
		}
		out = append(out, body.DataPath)
	}
	return out
}

// expandDataPath lists the object keys a data path names (reverses
// DataPath).
func expandDataPath(t testing.TB, p string) (bucket string, keys []string) {
	t.Helper()
	rest := strings.TrimPrefix(p, "obs://")
	bucket, rest, _ = strings.Cut(rest, "/")
	i := strings.LastIndex(rest, "/{")
	if !strings.HasSuffix(rest, "}") || i < 0 && !strings.HasPrefix(rest, "{") {
		return bucket, []string{rest}
	}
	dir, list := "", rest
	if i >= 0 {
		dir, list = rest[:i+1], rest[i+1:]
	}
	list = list[1 : len(list)-1]
	var cur strings.Builder
	for j := 0; j < len(list); j++ {
		switch c := list[j]; {
		case c == '\\' && j+1 < len(list):
			j++
			cur.WriteByte(list[j])
		case c == ',':
			keys = append(keys, dir+cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	keys = append(keys, dir+cur.String())
	return bucket, keys
}

// importCounts counts how many import requests named each key.
func (h *harness) importCounts() map[string]int {
	counts := map[string]int{}
	for _, p := range h.importRequests() {
		_, keys := expandDataPath(h.t, p)
		for _, k := range keys {
			counts[k]++
		}
	}
	return counts
}

// checkNoOverlap fails if two imports into one table ever ran at once.
func (h *harness) checkNoOverlap() {
	h.t.Helper()
	imps := h.srv.Snapshot().Imports
	byTable := map[string][]dlitest.ImportState{}
	for _, im := range imps {
		k := im.Database + "." + im.Table
		byTable[k] = append(byTable[k], im)
	}
	for tbl, list := range byTable {
		sort.Slice(list, func(i, j int) bool { return list[i].StartTime.Before(list[j].StartTime) })
		for i := 1; i < len(list); i++ {
			prev := list[i-1]
			if prev.EndTime == nil || list[i].StartTime.Before(*prev.EndTime) {
				h.t.Errorf("table %s: import %s started at %v while %s (ended %v) ran", tbl, list[i].JobID, list[i].StartTime, prev.JobID, prev.EndTime)
			}
		}
	}
}

func (h *harness) entry(bucket, key string) *Entry {
	h.t.Helper()
	e, _, err := getJSON[Entry](context.Background(), h.im.l, FileKey(bucket, key))
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

func keyName(i int) string {
	return fmt.Sprintf("landing/events/dt=2026-11-26/part-%05d.csv", i)
}

var _ = url.QueryEscape

// dlitestFault answers the next count import requests with status.
func dlitestFault(status, count int) dlitest.Fault {
	return dlitest.Fault{Method: "POST", PathRegex: "/jobs/(import-table|submit-job)$", Status: status, Count: count}
}

// parseSparkLiteral reads a Spark SQL single-quoted string literal at the
// start of s (backslash escapes as Spark's unescapeSQLString reads them)
// and returns its value and the rest of s.
func parseSparkLiteral(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, "'") {
		return "", "", fmt.Errorf("no opening quote in %q", s)
	}
	var b strings.Builder
	rs := []rune(s[1:])
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; r {
		case '\'':
			return b.String(), string(rs[i+1:]), nil
		case '\\':
			if i+1 >= len(rs) {
				return "", "", fmt.Errorf("dangling backslash")
			}
			i++
			switch e := rs[i]; e {
			case 'n':
				b.WriteRune('\n')
			case 'r':
				b.WriteRune('\r')
			case 't':
				b.WriteRune('\t')
			case '0':
				b.WriteRune(0)
			case 'u':
				if i+4 >= len(rs) {
					return "", "", fmt.Errorf("short \\u escape")
				}
				var v rune
				if _, err := fmt.Sscanf(string(rs[i+1:i+5]), "%04x", &v); err != nil {
					return "", "", err
				}
				b.WriteRune(v)
				i += 4
			default:
				b.WriteRune(e)
			}
		default:
			b.WriteRune(r)
		}
	}
	return "", "", fmt.Errorf("unterminated literal")
}
