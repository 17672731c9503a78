package dlitest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Benchmarks of the SQL endpoints, served in-process (no network) so they
// measure the emulator itself. Run: go test -run '^$' -bench SQL -benchmem ./pkg/dli/dlitest/

// sqlBenchEmu is an emulator with n finished jobs.
func sqlBenchEmu(b *testing.B, n int) *Emulator {
	b.Helper()
	e, err := New(Options{SkipAuth: true, Start: sqlStart})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.AddSQLJobs(n, SQLJobSpec{Statement: "SELECT * FROM db.events", Status: SQLFinished,
		StartTime: sqlStart.Add(-24 * time.Hour), Spacing: time.Second}); err != nil {
		b.Fatal(err)
	}
	return e
}

func sqlServe(b *testing.B, e *Emulator, method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, strings.ReplaceAll(path, "{project_id}", e.Options().ProjectID), strings.NewReader(body))
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
	}
	return w
}

// BenchmarkSQLStatusAmongFinished shows that a request's lifecycle catch-up
// does not grow with the number of finished jobs.
func BenchmarkSQLStatusAmongFinished(b *testing.B) {
	for _, n := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("finished=%d", n), func(b *testing.B) {
			e := sqlBenchEmu(b, n)
			ids, _ := e.AddSQLJobs(1, SQLJobSpec{Statement: "select 1"})
			path := "/v1.0/{project_id}/jobs/" + ids[0] + "/status"
			b.ReportAllocs()
			for b.Loop() {
				sqlServe(b, e, "GET", path, "")
			}
		})
	}
}

// BenchmarkSQLStatusAmongPending: jobs not yet due cost nothing per
// request either (they wait in a heap keyed by their next transition).
func BenchmarkSQLStatusAmongPending(b *testing.B) {
	e := sqlBenchEmu(b, 0)
	ids, err := e.AddSQLJobs(100_000, SQLJobSpec{Statement: "select 1"})
	if err != nil {
		b.Fatal(err)
	}
	path := "/v1.0/{project_id}/jobs/" + ids[0] + "/status"
	b.ReportAllocs()
	for b.Loop() {
		sqlServe(b, e, "GET", path, "")
	}
}

// BenchmarkSQLSubmit is one submit-job request (classification, fake
// result planning, storage).
func BenchmarkSQLSubmit(b *testing.B) {
	e := sqlBenchEmu(b, 0)
	body := `{"sql":"SELECT id, name, count(*) AS n FROM db.t GROUP BY id, name LIMIT 10","queue_name":"default","tags":[{"key":"k","value":"v"}]}`
	b.ReportAllocs()
	for b.Loop() {
		sqlServe(b, e, "POST", "/v1.0/{project_id}/jobs/submit-job", body)
	}
}

// BenchmarkSQLList10k lists a page of 100 out of 10,000 jobs with a filter.
func BenchmarkSQLList10k(b *testing.B) {
	e := sqlBenchEmu(b, 10_000)
	b.ReportAllocs()
	for b.Loop() {
		sqlServe(b, e, "GET", "/v1.0/{project_id}/jobs?page-size=100&current-page=3&job-type=QUERY&sql_pattern=events", "")
	}
}

// BenchmarkAddSQLJobs1000 creates 1000 jobs per iteration.
func BenchmarkAddSQLJobs1000(b *testing.B) {
	e := sqlBenchEmu(b, 0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.AddSQLJobs(1000, SQLJobSpec{Statement: "INSERT INTO t SELECT 1", Status: SQLFinished}); err != nil {
			b.Fatal(err)
		}
	}
}
