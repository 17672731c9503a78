package dlitest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzSQLStatement: statement analysis never panics, and a QUERY's fake
// result is well formed and deterministic.
func FuzzSQLStatement(f *testing.F) {
	for _, s := range []string{
		"select * from t", "SELECT a, count(*) AS n FROM db.t GROUP BY a LIMIT 3", "desc t", "show tables",
		"LOAD DATA INPATH 'obs://b/p' INTO TABLE db.t", "with x as (select 1) insert into t select * from x",
		"select 'a,b', (1, 2) x from `db`.`t`", "/* c */ -- d\n select", "select from", "select ')' from t",
		`LOAD DATA INPATH 'obs://raw-data/it\'s \"x\" \\; DROP TABLE events; --' INTO TABLE db.t`,
		`load data inpath "a\"b\u0041\101\" overwrite into table t`, `LOAD DATA INPATH R'raw\' INTO TABLE t`,
		`LOAD DATA INPATH 'ends\`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stmt string) {
		jt := sqlClassify(stmt)
		if jt != "" && !sqlJobTypes[jt] {
			t.Fatalf("sqlClassify(%q) = %q, not a job type", stmt, jt)
		}
		sqlTarget(jt, stmt, "db")
		if l, ok := sqlParseLoad(stmt); ok && (jt != "IMPORT" || l.table == "") {
			t.Fatalf("sqlParseLoad(%q) = %+v for job type %q", stmt, l, jt)
		}
		sqlDDLResult(stmt, "db", "t")
		r := sqlQueryResult(stmt)
		if len(r.columns) == 0 || r.rowCount < 0 || r.rowCount > 10000 {
			t.Fatalf("%q: %d columns, %d rows", stmt, len(r.columns), r.rowCount)
		}
		a, err := json.Marshal(r.rows(0, 5))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(sqlQueryResult(stmt).rows(0, 5))
		if string(a) != string(b) {
			t.Fatalf("%q: rows differ between runs", stmt)
		}
		if d := r.detail(); !json.Valid([]byte(d)) {
			t.Fatalf("%q: detail is not JSON: %s", stmt, d)
		}
	})
}

// FuzzSQLImportBody: any import-table body is decoded and validated
// without panicking; accepted ones have what an import needs.
func FuzzSQLImportBody(f *testing.F) {
	for _, s := range []string{
		`{"data_path":"obs://bkt/a.csv","data_type":"csv","database_name":"db","table_name":"t"}`,
		`{"data_path":"obs://bkt/a","data_type":"json","database_name":"db","table_name":"t","partition_spec":"dt=1,h='2'","date_format":"yyyy'T'"}`,
		`{"partition_spec":{"a":1,"b":true},"with_column_header":"true"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var req sqlImportRequest
		if json.Unmarshal([]byte(body), &req) != nil {
			return
		}
		imp, msg := req.validate()
		if msg == "" && (imp == nil || imp.dataPath == "" || !sqlDataTypes[imp.dataType]) {
			t.Fatalf("accepted %s as %+v", body, imp)
		}
		if imp != nil {
			sqlImportStatement(imp, req.DatabaseName, req.TableName)
		}
	})
}

// sqlQuoteForTest quotes s as a Spark string literal the way a careful
// client does: backslash and both quotes escaped, control characters as
// \uXXXX.
func sqlQuoteForTest(s string, q byte) string {
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\' || r == '\'' || r == '"':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// FuzzSQLLoadPath: any valid UTF-8 path quoted with either quote reads
// back exactly, with the target table after it; any input parses without
// panicking and within its length.
func FuzzSQLLoadPath(f *testing.F) {
	for _, s := range []string{
		"obs://b/p", `it's "x" \; DROP TABLE events; --`, `\'; DROP TABLE x; --`, "a\nb\x00c", `\u0041\101\%`, "中 文",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if v, n, ok := sqlStringLiteral(p); ok && (n > len(p) || n < 2 || len(v) > 4*n) {
			t.Fatalf("sqlStringLiteral(%q) = %q, %d", p, v, n)
		}
		if !utf8.ValidString(p) {
			return
		}
		for _, q := range []byte{'\'', '"'} {
			stmt := "LOAD DATA INPATH " + sqlQuoteForTest(p, q) + " INTO TABLE db.t"
			l, ok := sqlParseLoad(stmt)
			if !ok || l.path != p || l.table != "db.t" {
				t.Fatalf("sqlParseLoad(%q) = %+v, %v; want path %q into db.t", stmt, l, ok, p)
			}
			if db, table := sqlTarget(sqlClassify(stmt), stmt, "cur"); db != "db" || table != "t" {
				t.Fatalf("sqlTarget(%q) = %s.%s", stmt, db, table)
			}
		}
	})
}
