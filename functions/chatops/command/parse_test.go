package command

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	cases := []struct {
		text  string
		name  string
		args  []string
		flags map[string]string
		help  bool
	}{
		{"", "help", nil, nil, false},
		{"  ", "help", nil, nil, false},
		{"--help", "help", nil, nil, false},
		{"help scale", "help", []string{"scale"}, nil, false},
		{"help flink stop", "help", []string{"flink", "stop"}, nil, false},
		{"whoami", "whoami", nil, nil, false},
		{"QUEUES", "queues", nil, nil, false},
		{"queue etl", "queue", []string{"etl"}, nil, false},
		{"queue --help", "queue", nil, nil, true},
		{"queue help", "queue", nil, nil, true},
		{"scale etl 128", "scale", []string{"etl", "128"}, nil, false},
		{"scale etl 128 --for 2h --dry-run", "scale", []string{"etl", "128"}, map[string]string{"for": "2h", "dry-run": "true"}, false},
		{"scale --for=30m etl 64", "scale", []string{"etl", "64"}, map[string]string{"for": "30m"}, false},
		{"scale etl 64 —for 2h", "scale", []string{"etl", "64"}, map[string]string{"for": "2h"}, false},
		{"scale etl 64 –dry-run", "scale", []string{"etl", "64"}, map[string]string{"dry-run": "true"}, false},
		{"scale -h", "scale", nil, nil, true},
		{"plans etl", "plans", []string{"etl"}, nil, false},
		{"plan add etl nightly 128 01:00 mon tue", "plan add", []string{"etl", "nightly", "128", "01:00", "mon", "tue"}, nil, false},
		{"plan rm etl 12", "plan rm", []string{"etl", "12"}, nil, false},
		{"flink list --queue etl --status job_running", "flink list", nil, map[string]string{"queue": "etl", "status": "job_running"}, false},
		{"Flink Show 42", "flink show", []string{"42"}, nil, false},
		{"flink stop 42 --savepoint", "flink stop", []string{"42"}, map[string]string{"savepoint": "true"}, false},
		{"flink start 42 --resume", "flink start", []string{"42"}, map[string]string{"resume": "true"}, false},
		{"spark list --state dead", "spark list", nil, map[string]string{"state": "dead"}, false},
		{"spark logs abc --lines 10", "spark logs", []string{"abc"}, map[string]string{"lines": "10"}, false},
		{"spark cancel abc", "spark cancel", []string{"abc"}, nil, false},
		{"sql status j1", "sql status", []string{"j1"}, nil, false},
		{"sql result j1", "sql result", []string{"j1"}, nil, false},
		{"sql cancel j1", "sql cancel", []string{"j1"}, nil, false},
		{"sql SELECT * FROM t WHERE a = 'x  y' --queue etl --db demo", "sql", []string{"SELECT * FROM t WHERE a = 'x  y'"}, map[string]string{"queue": "etl", "db": "demo"}, false},
		{"sql --db demo select 1;", "sql", []string{"select 1"}, map[string]string{"db": "demo"}, false},
		{"sql select '--queue' from t", "sql", []string{"select '--queue' from t"}, nil, false},
		{"sql select “a” from t", "sql", []string{`select "a" from t`}, nil, false},
		{"sql --help", "sql", nil, nil, true},
		{"sql select 1 --db=x", "sql", []string{"select 1"}, map[string]string{"db": "x"}, false},
		{"jobs --status FAILED", "jobs", nil, map[string]string{"status": "FAILED"}, false},
		{`queue "etl"`, "queue", []string{"etl"}, nil, false},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			cmd, err := Parse(c.text)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.text, err)
			}
			if cmd.Name() != c.name || cmd.Help != c.help {
				t.Fatalf("got %q help=%v, want %q help=%v", cmd.Name(), cmd.Help, c.name, c.help)
			}
			if !c.help && !reflect.DeepEqual(cmd.Args, c.args) {
				t.Errorf("args %q, want %q", cmd.Args, c.args)
			}
			if c.flags == nil {
				c.flags = map[string]string{}
			}
			if !c.help && !reflect.DeepEqual(cmd.Flags, c.flags) {
				t.Errorf("flags %v, want %v", cmd.Flags, c.flags)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		text, want, suggestion string
	}{
		{"qeues", "don't know the command", "queues"},
		{"qeue etl", "don't know the command", "queue"},
		{"flink lst", "no sub-command", "flink list"},
		{"flink", "needs a sub-command", ""},
		{"spark stop 1", "no sub-command", "spark show"},
		{"scale etl", "missing <cu>", ""},
		{"scale etl 64 16", "takes 2 argument(s)", ""},
		{"scale etl 64 --fro 2h", "no flag", "--for"},
		{"scale etl 64 --for", "needs a value", ""},
		{"scale etl 64 --dry-run=yes", "takes no value", ""},
		{"queues --all", "takes no flags", ""},
		{"queue 'etl", "Unclosed quote", ""},
		{"sql", "needs a statement", ""},
		{"sql --db demo", "needs a statement", ""},
		{"sql select 1 --db", "needs a value", ""},
		{"xyzzy", "don't know the command", ""},
		{"scale etl 64 --for 1h --for 2h", "given twice", ""},
		{strings.Repeat("a", MaxText+1), "too long", ""},
		{"queue \xff", "UTF-8", ""},
	}
	for _, c := range cases {
		t.Run(c.text[:min(len(c.text), 40)], func(t *testing.T) {
			_, err := Parse(c.text)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) = %v, want *Error", c.text, err)
			}
			if !strings.Contains(pe.Error(), c.want) {
				t.Errorf("error %q does not contain %q", pe.Error(), c.want)
			}
			if pe.Suggestion != c.suggestion {
				t.Errorf("suggestion %q, want %q", pe.Suggestion, c.suggestion)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	if got, want := Lookup("scale").Usage(), "scale <queue> <cu> [--for 2h] [--dry-run]"; got != want {
		t.Errorf("usage %q, want %q", got, want)
	}
	if got, want := Lookup("plan add").Usage(), "plan add <queue> <name> <cu> <HH:MM> <days…>"; got != want {
		t.Errorf("usage %q, want %q", got, want)
	}
}

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"queus", "queues", 1}, {"kitten", "sitting", 3}, {"é", "e", 1}} {
		if got := Distance(c.a, c.b); got != c.d {
			t.Errorf("Distance(%q,%q)=%d want %d", c.a, c.b, got, c.d)
		}
	}
}

func TestReadOnlySQL(t *testing.T) {
	cases := map[string]bool{
		"SELECT 1":                                 true,
		"  select * from t":                        true,
		"(SELECT 1) UNION (SELECT 2)":              true,
		"-- hi\nSELECT 1":                          true,
		"/* c */ show tables":                      true,
		"DESCRIBE t":                               true,
		"desc t":                                   true,
		"EXPLAIN INSERT INTO t SELECT 1":           true,
		"select 'a;b' from t":                      true,
		"select 1;":                                true,
		"select 1; -- done":                        true,
		"INSERT INTO t SELECT 1":                   false,
		"insert overwrite table t select * from s": false,
		"DROP TABLE t":                             false,
		"CREATE TABLE t (a int)":                   false,
		"WITH x AS (SELECT 1) SELECT * FROM x":     false,
		"SELECT 1; DROP TABLE t":                   false,
		"select 1;drop table t":                    false,
		"SELECTX 1":                                false,
		"":                                         false,
		"-- only a comment":                        false,
		"/* unclosed":                              false,
		"select `a;b` from t":                      true,
		"select \"x\\\";drop\" from t":             true,
	}
	for stmt, want := range cases {
		if got := ReadOnlySQL(stmt); got != want {
			t.Errorf("ReadOnlySQL(%q) = %v, want %v", stmt, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "queues", "scale etl 64 --for 2h", "sql select 'a' --db x", "flink stop 1 --savepoint",
		"plan add q n 16 01:00 mon", "sql --queue", "'", "—help", "help flink stop", "sql select 1; drop table t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q) error %T %v is not *Error", s, err, err)
			}
			if pe.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if c.Spec == nil || c.Flags == nil {
			t.Fatalf("Parse(%q) returned an incomplete command", s)
		}
		if !c.Help && c.Spec.Name != "help" {
			if err := checkArgs(c.Spec, c.Args); err != nil {
				t.Fatalf("Parse(%q) accepted bad args: %v", s, err)
			}
		}
		for _, a := range c.Args {
			if !utf8.ValidString(a) {
				t.Fatalf("invalid UTF-8 arg %q", a)
			}
		}
		_ = ReadOnlySQL(s)
	})
}
