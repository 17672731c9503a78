package chatops

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/dlibot/dlibot/pkg/dli"
)

var hexID = regexp.MustCompile(`\b[0-9a-f]{20}\b`)

// golden compares got (a JSON value) with testdata/<name>.golden.json;
// -update rewrites the file. Confirmation ids (random) are normalized.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = hexID.ReplaceAll(append(b, '\n'), []byte("<confirmation-id>"))
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(want, b) {
		t.Errorf("%s differs from %s (go test -update to accept):\n%s", name, path, b)
	}
}

func answerJSON(a answer) map[string]any {
	var blocks any
	_ = json.Unmarshal(a.Blocks, &blocks)
	return map[string]any{"response_type": a.ResponseType, "text": a.Text, "blocks": blocks}
}

// TestGoldenCommands runs every command against the emulator's demo data
// and compares the immediate Block Kit answer with a golden file.
func TestGoldenCommands(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()
	d := e.svc.dli
	flinks, err := d.ListFlinkJobs(ctx, dli.FlinkJobQuery{Limit: 100})
	if err != nil || len(flinks.Jobs) == 0 {
		t.Fatalf("flink: %v", err)
	}
	flinkByName := map[string]string{}
	for _, j := range flinks.Jobs {
		flinkByName[j.Name] = strconv.FormatInt(j.ID, 10)
	}
	batches, err := d.ListBatches(ctx, dli.BatchQuery{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	batchByName := map[string]string{}
	for _, b := range batches.Batches {
		batchByName[b.Name] = b.ID
	}
	sqls, err := d.ListSQLJobs(ctx, dli.SQLJobQuery{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var sqlFinished, sqlRunning string
	for _, j := range sqls.Jobs {
		if j.Status == dli.SQLFinished && j.Type == "QUERY" {
			sqlFinished = j.ID
		}
		if j.Status == dli.SQLRunning {
			sqlRunning = j.ID
		}
	}
	plans, err := d.ListPlans(ctx, "etl")
	if err != nil || len(plans) == 0 {
		t.Fatalf("plans: %v", err)
	}
	planID := strconv.FormatInt(plans[0].ID, 10)

	cases := []struct{ name, user, text string }{
		{"help-viewer", uViewer, "help"},
		{"help-admin", uAdmin, ""},
		{"help-scale", uViewer, "scale --help"},
		{"help-unknown", uViewer, "help scal"},
		{"whoami-operator", uOperator, "whoami"},
		{"queues", uViewer, "queues"},
		{"queue-etl", uViewer, "queue etl"},
		{"queue-missing", uViewer, "queue nope"},
		{"plans-etl", uViewer, "plans etl"},
		{"scale-confirm", uOperator, "scale etl 128 --for 2h"},
		{"scale-dry-run", uOperator, "scale etl 128 --dry-run"},
		{"scale-over-role-max", uOperator, "scale prod 512"},
		{"scale-over-queue-max", uAdmin, "scale adhoc 128"},
		{"scale-bad-cu", uOperator, "scale etl 100"},
		{"scale-protected", uOperator, "scale prod 256"},
		{"plan-add-confirm", uOperator, "plan add etl lunch 96 12:00 weekdays"},
		{"plan-add-bad-day", uOperator, "plan add etl lunch 96 12:00 mnday"},
		{"plan-rm-confirm", uOperator, "plan rm etl " + planID},
		{"flink-list", uViewer, "flink list"},
		{"flink-list-running", uViewer, "flink list --status job_running"},
		{"flink-show", uViewer, "flink show " + flinkByName["payments_cdc"]},
		{"flink-stop-confirm", uOperator, "flink stop " + flinkByName["orders_enrichment"] + " --savepoint"},
		{"flink-start-confirm", uOperator, "flink start " + flinkByName["legacy_aggregator"] + " --resume"},
		{"spark-list", uViewer, "spark list"},
		{"spark-show", uViewer, "spark show " + batchByName["nightly_ingest"]},
		{"spark-logs", uViewer, "spark logs " + batchByName["nightly_ingest"] + " --lines 10"},
		{"spark-cancel-confirm", uOperator, "spark cancel " + batchByName["hourly_rollup"]},
		{"spark-cancel-ended", uOperator, "spark cancel " + batchByName["daily_sales_report"]},
		{"sql-select", uViewer, "sql SELECT count(*) FROM demo.events --db demo"},
		{"sql-write-denied", uViewer, "sql INSERT INTO demo.t SELECT 1"},
		{"sql-write-confirm", uAnalyst, "sql INSERT INTO demo.t SELECT 1 --queue etl"},
		{"sql-status", uViewer, "sql status " + sqlFinished},
		{"sql-result", uViewer, "sql result " + sqlFinished},
		{"sql-cancel-confirm", uOperator, "sql cancel " + sqlRunning},
		{"jobs", uViewer, "jobs"},
		{"jobs-failed", uViewer, "jobs --status FAILED"},
		{"unknown-command", uViewer, "qeues"},
		{"denied-viewer-scale", uViewer, "scale etl 64"},
		{"denied-no-role", uNobody, "queues"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, a := e.run(t, c.user, c.text)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			golden(t, c.name, answerJSON(a))
		})
	}
}
