package rules

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func loadTestRules(t testing.TB) *Set {
	t.Helper()
	s, err := Load("../testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type expected struct {
	Key       string            `json:"key"`
	Rule      string            `json:"rule"`
	Table     string            `json:"table"`
	Format    string            `json:"format"`
	Partition map[string]string `json:"partition"`
	Unusable  bool              `json:"unusable"`
}

// TestMatchCorpus matches every key of the awkward-key corpus against the
// test rules and compares with the table in testdata/keys_expected.json.
func TestMatchCorpus(t *testing.T) {
	s := loadTestRules(t)
	b, err := os.ReadFile("../testdata/keys_expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var want []expected
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) < 60 {
		t.Fatalf("%d keys, want >= 60", len(want))
	}
	for _, w := range want {
		m, err := s.Match("raw-data", w.Key)
		switch {
		case w.Rule == "":
			if m != nil || err != nil {
				t.Errorf("%q: matched %+v, %v; want no match", w.Key, m, err)
			}
			continue
		case w.Unusable:
			if !errors.Is(err, ErrUnusable) || m == nil || m.Rule.Name != w.Rule {
				t.Errorf("%q: %+v, %v; want ErrUnusable from rule %s", w.Key, m, err, w.Rule)
			}
			continue
		case err != nil || m == nil:
			t.Errorf("%q: %v; want rule %s", w.Key, err, w.Rule)
			continue
		}
		if m.Rule.Name != w.Rule || m.TableID() != w.Table || m.Format != w.Format || !reflect.DeepEqual(m.Partition, w.Partition) || m.Path != w.Key {
			t.Errorf("%q: rule %s table %s format %s partition %v path %q; want %s %s %s %v", w.Key,
				m.Rule.Name, m.TableID(), m.Format, m.Partition, m.Path, w.Rule, w.Table, w.Format, w.Partition)
		}
	}
}

func TestMatchDetails(t *testing.T) {
	s := loadTestRules(t)
	m, err := s.Match("raw-data", "landing/sales/2026/11/26/hour=07/a.csv")
	if err != nil {
		t.Fatal(err)
	}
	if m.Queue != "etl" || m.BadRecordsPath != "obs://raw-data/bad/sales/20261126/" || m.Rule.OnReupload != ReuploadSkip ||
		!m.Rule.CSV.Header || m.Rule.CSV.Escape != `\` || m.Rule.CSV.Quote != `"` {
		t.Errorf("sales match %+v rule %+v", m, m.Rule)
	}
	// Bucket glob.
	if m, _ := s.Match("raw-eu", "landing/clicks/region=eu/dt=1/x.json"); m == nil || m.Rule.Name != "clicks" {
		t.Errorf("bucket glob: %+v", m)
	}
	if m, _ := s.Match("other", "landing/clicks/region=eu/dt=1/x.json"); m != nil {
		t.Errorf("foreign bucket matched: %+v", m)
	}
	// Marker rule: data files wait, the marker imports its folder.
	m, err = s.Match("raw-data", "landing/batch/orders/dt=2026-11-26/part-1.csv")
	if err != nil || m == nil || !m.AwaitMarker || m.Marker {
		t.Fatalf("batch data file: %+v %v", m, err)
	}
	m, err = s.Match("raw-data", "landing/batch/orders/dt=2026-11-26/_SUCCESS")
	if err != nil || m == nil || !m.Marker || m.Path != "landing/batch/orders/dt=2026-11-26/" || m.TableID() != "staging.orders" ||
		m.Format != "csv" || m.Partition["dt"] != "2026-11-26" || !m.Rule.Overwrite {
		t.Fatalf("batch marker: %+v %v", m, err)
	}
	if got := m.Describe("raw-data"); !strings.Contains(got, "obs://raw-data/landing/batch/orders/dt=2026-11-26/ as csv into staging.orders partition (dt=2026-11-26)") {
		t.Errorf("Describe = %q", got)
	}
	// A capture that makes a bad table name is unusable, not a panic.
	if _, err := s.Match("raw-data", "landing/batch/bad-name/dt=1/_SUCCESS"); !errors.Is(err, ErrUnusable) {
		t.Errorf("bad table capture: %v", err)
	}
}

func TestFormatFromKey(t *testing.T) {
	for k, want := range map[string]string{"a.csv": "csv", "A.CSV": "csv", "a.csv.gz": "csv", "a.parquet": "parquet",
		"a.snappy.parquet": "parquet", "a.orc": "orc", "a.json": "json", "a.jsonl": "json", "a.avro": "avro", "a": "", "dir.csv/a": ""} {
		if got := FormatFromKey(k); got != want {
			t.Errorf("FormatFromKey(%q) = %q, want %q", k, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error
	}{
		{"empty", "", []string{"x.yaml: the file is empty"}},
		{"no rules", "rules: []\n", []string{"no rules"}},
		{"syntax", "rules:\n  - name: [a\n", []string{"x.yaml:2:"}},
		{"unknown field", "rules:\n  - name: a\n    bucket: b\n    key: k\n    database: d\n    table: t\n    tabel: x\n", []string{"x.yaml:7:", "tabel"}},
		{"missing fields", "rules:\n  - name: a\n", []string{"x.yaml:2:", "rules[0] (a).bucket: is required", "rules[0] (a).key: one of key", "database: is required", "table: is required"}},
		{"both key and regex", "rules:\n  - {name: a, bucket: b, key: k, regex: r, database: d, table: t}\n", []string{"regex: give key or regex"}},
		{"bad regex", "rules:\n  - name: a\n    bucket: b\n    regex: '(['\n    database: d\n    table: t\n", []string{"x.yaml:4:", "regex"}},
		{"unknown capture", "rules:\n  - name: a\n    bucket: b\n    key: 'x/{dt}/*.csv'\n    database: d\n    table: '{tbl}'\n", []string{"x.yaml:6:", "table: uses {tbl}", "captures: {dt}"}},
		{"bad partition", "rules:\n  - name: a\n    bucket: b\n    key: 'x/*.csv'\n    database: d\n    table: t\n    partition: {dt: '{dt}'}\n", []string{"x.yaml:7:", "partition.dt: uses {dt}"}},
		{"bad format", "rules:\n  - {name: a, bucket: b, key: k, database: d, table: t, format: xml}\n", []string{"format: \"xml\" is not one of"}},
		{"bad csv", "rules:\n  - name: a\n    bucket: b\n    key: k\n    database: d\n    table: t\n    csv: {delimiter: ';;', date_format: 'yyyy-QQ'}\n", []string{"x.yaml:7:", "csv.delimiter", "csv.date_format"}},
		{"csv on parquet", "rules:\n  - {name: a, bucket: b, key: k, database: d, table: t, format: parquet, csv: {header: true}}\n", []string{"apply to csv only"}},
		{"bad trigger", "rules:\n  - {name: a, bucket: b, key: k, database: d, table: t, trigger: sometimes}\n", []string{"trigger: \"sometimes\""}},
		{"marker without trigger", "rules:\n  - {name: a, bucket: b, key: k, database: d, table: t, marker: _DONE}\n", []string{"marker: is only used with trigger: marker"}},
		{"bad reupload", "rules:\n  - {name: a, bucket: b, key: k, database: d, table: t, on_reupload: maybe}\n", []string{"on_reupload"}},
		{"bad table name", "rules:\n  - {name: a, bucket: b, key: k, database: d, table: 'my-table'}\n", []string{"is not a DLI name"}},
		{"bad records path", "rules:\n  - {name: a, bucket: b, key: k, database: d, table: t, bad_records_path: /tmp/x}\n", []string{"must be an obs:// path"}},
		{"duplicate name", "rules:\n  - {name: a, bucket: b, key: k, database: d, table: t}\n  - {name: a, bucket: b, key: k, database: d, table: t}\n", []string{"x.yaml:3:", "already the name of rules[0]"}},
		{"bad conf", "rules:\n  - {name: a, bucket: b, key: k, database: d, table: t, conf: [nokey]}\n", []string{"conf[0]"}},
		{"wrong type", "rules:\n  - {name: a, bucket: b, key: k, database: d, table: t, overwrite: perhaps}\n", []string{"x.yaml:2:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tt.yaml))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestGlob(t *testing.T) {
	re, names, err := compileGlob("a/{x}/b*/**.csv", true)
	if err != nil || !reflect.DeepEqual(names, []string{"x"}) {
		t.Fatal(err, names)
	}
	for k, want := range map[string]bool{"a/1/b/c.csv": true, "a/1/bb/c/d.csv": true, "a/1/2/b/c.csv": false, "a//b/c.csv": false, "a/1/b/c.csvx": false} {
		if got := re.MatchString(k); got != want {
			t.Errorf("%q: %v, want %v", k, got, want)
		}
	}
	for _, bad := range []string{"a/{", "a/{1x}", "a/{x}/{x}"} {
		if _, _, err := compileGlob(bad, true); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
	// Metacharacters are literal.
	re, _, _ = compileGlob("a.b(c)[d]+$", false)
	if !re.MatchString("a.b(c)[d]+$") || re.MatchString("aXb(c)[d]+$") {
		t.Error("metacharacters not literal")
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile("../testdata/rules.yaml")
	f.Add(b)
	f.Add([]byte("rules:\n  - {name: a, bucket: b, key: 'x/{k}/*', database: d, table: '{k}'}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error not wrapping ErrInvalid: %v", err)
			}
			return
		}
		for _, r := range s.Rules {
			// A valid set must match without panicking.
			_, _ = s.Match(r.Bucket, r.Key)
			_, _ = s.Match("b", "x/y/z.csv")
		}
	})
}

func FuzzMatch(f *testing.F) {
	s := loadTestRules(f)
	f.Add("raw-data", "landing/events/dt=2026-11-26/a.csv")
	f.Add("raw-data", "landing/batch/t/dt=1/_SUCCESS")
	f.Fuzz(func(t *testing.T, bucket, key string) {
		m, err := s.Match(bucket, key)
		if err != nil && !errors.Is(err, ErrUnusable) {
			t.Fatalf("unexpected error %v", err)
		}
		if m != nil && err == nil && !m.AwaitMarker {
			if !identRe.MatchString(m.Database) || !identRe.MatchString(m.Table) || m.Format == "" {
				t.Fatalf("usable match with bad fields: %+v", m)
			}
		}
	})
}

// TestFillTemplate: fillTemplate does what templateRe.ReplaceAllStringFunc
// did.
func TestFillTemplate(t *testing.T) {
	caps := map[string]string{"y": "2026", "m": "11", "table": "orders", "_x1": "X", "a": "{b}"}
	for _, tpl := range []string{"", "plain", "{y}-{m}-{d}", "{table}", "t_{table}_{y}", "{", "}", "{}", "{{y}}", "{y",
		"{1y}", "{y-}", "{_x1}{a}", "x{y}{m}z", "{ y}", "{y }", "€{y}€", "{ä}", "{a}{b}", "{y}}{", "{{{m}"} {
		want := templateRe.ReplaceAllStringFunc(tpl, func(s string) string { return caps[s[1:len(s)-1]] })
		if got := fillTemplate(tpl, caps); got != want {
			t.Errorf("fillTemplate(%q) = %q, want %q", tpl, got, want)
		}
	}
}
