package obsimport

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/notify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

// recorder is a Notifier that keeps what is posted.
type recorder struct{ msgs []notify.Message }

func (r *recorder) Post(_ context.Context, m notify.Message) (notify.Ref, error) {
	r.msgs = append(r.msgs, m)
	return notify.Ref{Channel: "C1", TS: "1"}, nil
}
func (r *recorder) Reply(_ context.Context, _ notify.Ref, m notify.Message) (notify.Ref, error) {
	return r.Post(context.Background(), m)
}
func (r *recorder) Update(context.Context, notify.Ref, notify.Message) error { return nil }
func (r *recorder) Upload(context.Context, notify.File) (notify.FileRef, error) {
	return notify.FileRef{}, nil
}

// TestGoldenWireFormats pins the import.failed event and the Slack
// failure message.
func TestGoldenWireFormats(t *testing.T) {
	var got []events.Event
	rec := &recorder{}
	im := &Importer{cfg: Config{SlackChannel: "#imports"}, notify: rec, log: quietLogger(),
		publish: func(_ context.Context, _ string, e events.Event) error { got = append(got, e); return nil }}
	b := &Batch{ID: "obsimport-0123456789abcdef", Database: "analytics", Table: "events", Bucket: "raw-data",
		Files: []string{FileKey("raw-data", "landing/events/dt=2026-11-26/it's *bad*.csv")}, Contents: []string{"etag1"},
		Paths: []string{"landing/events/dt=2026-11-26/it's *bad*.csv"}, DataPath: "obs://raw-data/landing/events/dt=2026-11-26/it's *bad*.csv",
		Backend: BackendImport, JobID: "job-42", Status: "FAILED", Message: "DLI.0005: column count mismatch <in> line 3",
		Duration: 1500 * time.Millisecond}
	e := &Entry{Bucket: "raw-data", Key: b.Paths[0], Path: b.Paths[0], Rule: "events"}
	im.emit(context.Background(), events.TypeImportFailed, b, e, 0)
	im.notifyFailure(context.Background(), b)
	if len(got) != 1 || len(rec.msgs) != 1 {
		t.Fatalf("%d events, %d messages", len(got), len(rec.msgs))
	}
	var data bytes.Buffer
	if err := json.Indent(&data, got[0].Data(), "", "  "); err != nil {
		t.Fatal(err)
	}
	data.WriteByte('\n')
	golden(t, "import_failed.golden.json", data.Bytes())
	if got[0].ID() != b.ID+"/"+b.Files[0]+"/failed" || got[0].Source() != "/dlibot/obsimport" || got[0].Type() != events.TypeImportFailed {
		t.Errorf("envelope id %q source %q type %q", got[0].ID(), got[0].Source(), got[0].Type())
	}
	golden(t, "slack_failure.golden.txt", []byte(rec.msgs[0].Channel+"\n"+rec.msgs[0].Text+"\n"))
}
