package obsimport

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/dlibot/dlibot/pkg/events"
)

// checkStatement parses a LOAD DATA statement the way Spark's lexer reads
// string literals and checks that it is exactly the expected statement:
// the path literal decodes to path and nothing outside the literals
// differs from the trusted parts.
func checkStatement(t *testing.T, stmt, path string) {
	t.Helper()
	rest, ok := strings.CutPrefix(stmt, "LOAD DATA INPATH ")
	if !ok {
		t.Fatalf("statement %q does not start with LOAD DATA INPATH", stmt)
	}
	lit, rest, err := parseSparkLiteral(rest)
	if err != nil {
		t.Fatalf("statement %q: %v", stmt, err)
	}
	if lit != path {
		t.Fatalf("path literal decodes to %q, want %q (statement %q)", lit, path, stmt)
	}
	if want := " INTO TABLE `analytics`.`events` PARTITION (`dt`="; !strings.HasPrefix(rest, want) {
		t.Fatalf("after the path: %q, want %q…", rest, want)
	}
	rest = strings.TrimPrefix(rest, " INTO TABLE `analytics`.`events` PARTITION (`dt`=")
	v, rest, err := parseSparkLiteral(rest)
	if err != nil || v != path {
		t.Fatalf("partition literal %q (%v), want %q", v, err, path)
	}
	if want := ") OPTIONS ('HEADER'='false')"; rest != want {
		t.Fatalf("tail %q, want %q", rest, want)
	}
}

func TestLoadDataQuoting(t *testing.T) {
	for _, p := range []string{
		`obs://raw-data/it's.csv`,
		`obs://raw-data/say "hi".csv`,
		`obs://raw-data/back\slash.csv`,
		`obs://raw-data/semi;colon.csv`,
		`obs://raw-data/'; DROP TABLE events; --.csv`,
		`obs://raw-data/\'; DROP TABLE x; --`,
		`obs://raw-data/\\\''"";;`,
		"obs://raw-data/new\nline\ttab\rcr\x00nul\x1besc.csv",
		`obs://raw-data/{a,b}/*.csv`,
		`obs://raw-data/中 文/émoji😀.csv`,
		`obs://raw-data/ends with backslash\`,
	} {
		stmt, err := LoadDataSQL(p, "analytics", "events", Spec{Format: "csv", Partition: map[string]string{"dt": p}})
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		if strings.Count(stmt, "\n") != 0 {
			t.Errorf("statement spans lines: %q", stmt)
		}
		checkStatement(t, stmt, p)
	}
	// Names are validated, never quoted into shape.
	for _, bad := range [][2]string{{"db`; DROP", "t"}, {"db", "t x"}, {"", "t"}} {
		if _, err := LoadDataSQL("obs://b/k", bad[0], bad[1], Spec{}); err == nil {
			t.Errorf("table %q.%q accepted", bad[0], bad[1])
		}
	}
	if _, err := LoadDataSQL("obs://b/k", "d", "t", Spec{Partition: map[string]string{"a;b": "x"}}); err == nil {
		t.Error("partition column a;b accepted")
	}
	if _, err := QuoteSQLString("bad \xff utf8"); err == nil {
		t.Error("invalid UTF-8 quoted")
	}
}

func TestLoadDataOptions(t *testing.T) {
	stmt, err := LoadDataSQL("obs://b/k.csv", "d", "t", Spec{Format: "csv", Header: true, Delimiter: ";", Quote: "'", Escape: `\`,
		DateFormat: "yyyy-MM-dd", TimestampFormat: "yyyy-MM-dd HH:mm:ss", BadRecordsPath: "obs://b/bad/", Overwrite: true,
		Partition: map[string]string{"hour": "07", "dt": "2026-11-26"}})
	if err != nil {
		t.Fatal(err)
	}
	want := "LOAD DATA INPATH 'obs://b/k.csv' OVERWRITE INTO TABLE `d`.`t` PARTITION (`dt`='2026-11-26', `hour`='07') OPTIONS (" +
		`'HEADER'='true', 'DELIMITER'=';', 'QUOTECHAR'='\'', 'ESCAPECHAR'='\\', 'DATEFORMAT'='yyyy-MM-dd', ` +
		`'TIMESTAMPFORMAT'='yyyy-MM-dd HH:mm:ss', 'BAD_RECORDS_LOGGER_ENABLE'='true', 'BAD_RECORD_ACTION'='REDIRECT', 'BAD_RECORD_PATH'='obs://b/bad/')`
	if stmt != want {
		t.Errorf("statement\n%s\nwant\n%s", stmt, want)
	}
}

func FuzzLoadDataSQL(f *testing.F) {
	for _, s := range []string{"a", "it's", `\'`, `"; DROP TABLE t; --`, "x\n\x00", `\\`, "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !utf8.ValidString(key) {
			if _, err := LoadDataSQL("obs://b/"+key, "analytics", "events", Spec{Format: "csv"}); err == nil {
				t.Fatal("invalid UTF-8 accepted")
			}
			return
		}
		p := "obs://raw-data/" + key
		stmt, err := LoadDataSQL(p, "analytics", "events", Spec{Format: "csv", Partition: map[string]string{"dt": p}})
		if err != nil {
			t.Fatal(err)
		}
		checkStatement(t, stmt, p)
	})
}

func TestDataPathGlob(t *testing.T) {
	paths := []string{"d/a.csv", "d/b,c.csv", "d/{x}.csv", `d/back\slash.csv`, "d/star*.csv", "d/q?[1].csv"}
	dp := DataPath("raw-data", paths)
	if want := `obs://raw-data/d/{a.csv,b\,c.csv,\{x\}.csv,back\\slash.csv,star\*.csv,q\?\[1\].csv}`; dp != want {
		t.Errorf("DataPath = %s, want %s", dp, want)
	}
	bucket, keys := expandDataPath(t, dp)
	if bucket != "raw-data" || strings.Join(keys, "|") != strings.Join(paths, "|") {
		t.Errorf("expanded to %s %q", bucket, keys)
	}
	if got := DataPath("b", []string{"k"}); got != "obs://b/k" {
		t.Errorf("single path %s", got)
	}
}

// TestSQLBackend imports through LOAD DATA with a tag; a crash right after
// the submit is recovered by finding the job by its tag.
func TestSQLBackend(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Backend = BackendSQL })
	ctx := context.Background()
	key := `landing/events/dt=2026-11-26/it's "x" \; DROP TABLE events.csv`
	crashed := false
	h.im.crashAt = func(p string) {
		if p == "submitted" && !crashed {
			crashed = true
			panic(errCrash)
		}
	}
	func() {
		defer func() { _ = recover() }()
		h.im.Handle(ctx, objectEvent(t, key, "e1"))
	}()
	if !crashed {
		t.Fatal("no crash")
	}
	h.im = h.start() // restart
	h.im.Handle(ctx, objectEvent(t, key, "e1"))
	h.srv.Advance(h.cfg.RecoverAfter)
	h.drive(20)
	var subs []string
	for _, r := range h.srv.Requests() {
		if strings.HasSuffix(r.Path, "/jobs/submit-job") {
			var body struct {
				SQL  string `json:"sql"`
				Tags []struct {
					Key, Value string
				} `json:"tags"`
			}
			_ = json.Unmarshal([]byte(r.Body), &body)
			subs = append(subs, body.SQL)
			if len(body.Tags) != 1 || body.Tags[0].Key != TagBatch || !strings.HasPrefix(body.Tags[0].Value, "obsimport-") {
				t.Errorf("tags %+v", body.Tags)
			}
		}
	}
	if len(subs) != 1 {
		t.Fatalf("%d LOAD DATA submissions, want 1 (the crash is recovered by tag): %q", len(subs), subs)
	}
	if e := h.entry("raw-data", key); e.State != StateLoaded {
		t.Fatalf("entry %+v", e)
	}
	ok := h.published(events.TypeImportSucceeded)
	if len(ok) != 1 || ok[0].Backend != BackendSQL {
		t.Errorf("events %+v", ok)
	}
	_ = time.Second
}

// TestImportBackendNonCSV imports parquet and json objects with the import
// backend: they go through the import API (7.3.1) with their data type and
// no CSV-only option, never through a LOAD DATA SQL job.
func TestImportBackendNonCSV(t *testing.T) {
	for _, tc := range []struct{ key, format, table string }{
		{"landing/events/dt=2026-11-26/part-0001.parquet", "parquet", "events"},
		{"landing/clicks/region=eu/dt=2026-11-26/part-0001.json", "json", "clicks"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			h := newHarness(t, nil)
			ctx := context.Background()
			if out := h.im.Handle(ctx, objectEvent(t, tc.key, "e1")); out.Kind() != events.KindAck {
				t.Fatalf("outcome %v", out)
			}
			h.drive(20)
			if e := h.entry("raw-data", tc.key); e == nil || e.State != StateLoaded {
				t.Fatalf("entry %+v", e)
			}
			var imports []map[string]any
			for _, r := range h.srv.Requests() {
				switch {
				case strings.HasSuffix(r.Path, "/jobs/submit-job"):
					t.Errorf("SQL job submitted with the import backend: %s", r.Body)
				case r.Method == "POST" && strings.HasSuffix(r.Path, "/jobs/import-table"):
					var body map[string]any
					if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
						t.Fatal(err)
					}
					imports = append(imports, body)
				}
			}
			if len(imports) != 1 {
				t.Fatalf("%d import-table requests, want 1: %v", len(imports), imports)
			}
			b := imports[0]
			if b["data_path"] != "obs://raw-data/"+tc.key || b["data_type"] != tc.format || b["table_name"] != tc.table {
				t.Errorf("import request %v", b)
			}
			for _, k := range []string{"with_column_header", "delimiter", "quote_char", "escape_char"} {
				if _, ok := b[k]; ok {
					t.Errorf("%s sent for %s: %v", k, tc.format, b)
				}
			}
			ok := h.published(events.TypeImportSucceeded)
			if len(ok) != 1 || ok[0].Backend != BackendImport {
				t.Errorf("events %+v", ok)
			}
		})
	}
}
