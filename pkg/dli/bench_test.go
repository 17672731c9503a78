package dli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkGetQueueCanned isolates the client's own cost: the same round
// trip against a handler that answers a canned 6.4 body without checking
// anything (the allocations are then mostly the client's and net/http's).
func BenchmarkGetQueueCanned(b *testing.B) {
	body := []byte(`{"is_success":true,"message":"","queueName":"etl","queueType":"sql","cuCount":16,"owner":"o","create_time":1700000000000}`)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(ts.Close)
	c, err := New(Config{AK: testAK, SK: testSK, ProjectID: "p", Endpoint: ts.URL, QPS: 0, MaxAttempts: 1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if q, err := c.GetQueue(ctx, "etl"); err != nil || q.CUs != 16 {
			b.Fatal(q, err)
		}
	}
}

// BenchmarkGetQueue is one signed client round trip against the emulator
// over loopback HTTP (signature checked): rate limit off, one attempt.
func BenchmarkGetQueue(b *testing.B) {
	srv := newServer(b)
	addQueue(b, srv, "etl", "sql", 16)
	cfg := testConfig(srv)
	cfg.QPS = 0
	c, _ := newClientCfg(b, cfg)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.GetQueue(ctx, "etl"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListQueues lists ten queues per round trip.
func BenchmarkListQueues(b *testing.B) {
	srv := newServer(b)
	for _, n := range []string{"q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9"} {
		addQueue(b, srv, n, "sql", 16)
	}
	cfg := testConfig(srv)
	cfg.QPS = 0
	c, _ := newClientCfg(b, cfg)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if qs, err := c.ListQueues(ctx, QueueTypeAll); err != nil || len(qs) < 10 {
			b.Fatal(len(qs), err)
		}
	}
}

// BenchmarkGetQueueParallel runs round trips from GOMAXPROCS goroutines.
func BenchmarkGetQueueParallel(b *testing.B) {
	srv := newServer(b)
	addQueue(b, srv, "etl", "sql", 16)
	cfg := testConfig(srv)
	cfg.QPS = 0
	c, _ := newClientCfg(b, cfg)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.GetQueue(context.Background(), "etl"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSDKClientConstruction is the per-attempt cost of binding the
// SDK to a context: a fresh round tripper and SDK client over the shared
// transport and credentials.
func BenchmarkSDKClientConstruction(b *testing.B) {
	c, err := New(Config{AK: testAK, SK: testSK, ProjectID: "p", Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		b.Fatal(err)
	}
	base := http.RoundTripper(newTransport())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rt := &attemptTransport{ctx: ctx, base: base}
		if c.sdkClient(rt) == nil {
			b.Fatal("nil client")
		}
	}
}
