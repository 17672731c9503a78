package dlitest

// Fixtures shared by the Flink and Spark tests.

import (
	"net/http/httptest"
	"testing"
	"time"
)

// jobsStart is the fixed clock start of the Flink/Spark tests that compare
// golden files.
var jobsStart = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

// newJobsServer starts an emulator without auth on a fixed clock, with the
// queues default, etl and adhoc.
func newJobsServer(t testing.TB) *Server {
	t.Helper()
	return withJobQueues(t, NewServer(t, Options{SkipAuth: true, Start: jobsStart}))
}

// withJobQueues adds the queues default, etl and adhoc to srv.
func withJobQueues(t testing.TB, srv *Server) *Server {
	t.Helper()
	addJobQueues(t, srv.Emulator)
	return srv
}

func addJobQueues(t testing.TB, e *Emulator) {
	t.Helper()
	for _, q := range []string{"default", "etl", "adhoc"} {
		if err := e.AddQueue(QueueSpec{Name: q, Type: QueueTypeGeneral, CUCount: 16}); err != nil {
			t.Fatal(err)
		}
	}
}

// newJobsEmulator is newJobsServer without the HTTP server, for benchmarks
// that call ServeHTTP directly.
func newJobsEmulator(tb testing.TB) *Emulator {
	tb.Helper()
	e, err := New(Options{SkipAuth: true, Start: jobsStart})
	if err != nil {
		tb.Fatal(err)
	}
	addJobQueues(tb, e)
	return e
}

// benchGet serves GET target from e once per iteration, wanting 200.
func benchGet(b *testing.B, e *Emulator, target string) {
	req := httptest.NewRequest("GET", target, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
