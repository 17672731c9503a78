package dlitest

import (
	"encoding/json"
	"testing"
)

// FuzzSQLStatement: statement analysis never panics, and a QUERY's fake
// result is well formed and deterministic.
func FuzzSQLStatement(f *testing.F) {
	for _, s := range []string{
		"select * from t", "SELECT a, count(*) AS n FROM db.t GROUP BY a LIMIT 3", "desc t", "show tables",
		"LOAD DATA INPATH 'obs://b/p' INTO TABLE db.t", "with x as (select 1) insert into t select * from x",
		"select 'a,b', (1, 2) x from `db`.`t`", "/* c */ -- d\n select", "select from", "select ')' from t",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stmt string) {
		jt := sqlClassify(stmt)
		if jt != "" && !sqlJobTypes[jt] {
			t.Fatalf("sqlClassify(%q) = %q, not a job type", stmt, jt)
		}
		sqlTarget(jt, stmt, "db")
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
