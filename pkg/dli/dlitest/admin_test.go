package dlitest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func adminFault(t *testing.T, srv *Server, f map[string]any) {
	t.Helper()
	status, raw := call(t, srv, "POST", "/_emulator/faults", f)
	if status != http.StatusCreated {
		t.Fatalf("POST /_emulator/faults %v: %d %s", f, status, raw)
	}
}

func TestFaultStatusRetryAfterCount(t *testing.T) {
	srv := qServer(t)
	list := "/v1.0/" + qProj + "/queues"
	adminFault(t, srv, map[string]any{"method": "GET", "path_regex": "/queues$", "status": 503, "error_code": "DLI.0999",
		"error_msg": "busy", "retry_after_s": 2, "count": 2})
	adminFault(t, srv, map[string]any{"path_regex": "/plans$", "status": 429})
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", srv.URL+list, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		qWantErr(t, resp.StatusCode, raw, 503, "DLI.0999", "busy")
		if ra := resp.Header.Get("Retry-After"); ra != "2" {
			t.Fatalf("Retry-After %q, want 2", ra)
		}
	}
	qOK(t, srv, "GET", list, nil) // count used up
	// Another method does not match.
	status, _ := call(t, srv, "PUT", "/v1.0/"+qProj+"/queues/etl/action", map[string]any{"action": "restart"})
	if status != http.StatusOK {
		t.Fatalf("PUT hit by a GET fault: %d", status)
	}
	// count 0 = until deleted; default code and message.
	for i := 0; i < 3; i++ {
		status, raw := call(t, srv, "GET", plansPath("etl"), nil)
		qWantErr(t, status, raw, 429, "DLI.0999", "injected fault: Too Many Requests")
	}
	status, raw := call(t, srv, "DELETE", "/_emulator/faults", nil)
	if status != http.StatusOK {
		t.Fatalf("DELETE faults: %d %s", status, raw)
	}
	qOK(t, srv, "GET", plansPath("etl"), nil)
}

func TestFaultValidation(t *testing.T) {
	srv := qServer(t)
	for _, tc := range []struct {
		body any
		frag string
	}{
		{map[string]any{"path_regex": "("}, "path_regex"},
		{map[string]any{"status": 42}, "not an HTTP status"},
		{map[string]any{"status": 500, "count": -1}, "must not be negative"},
		{map[string]any{"latency_ms": -5}, "must not be negative"},
		{`{"status":`, "invalid request body"},
	} {
		status, raw := call(t, srv, "POST", "/_emulator/faults", tc.body)
		qWantErr(t, status, raw, 400, "DLI.0001", tc.frag)
	}
}

func TestFaultLatency(t *testing.T) {
	srv := qServer(t)
	list := "/v1.0/" + qProj + "/queues"
	// A pure delay answers normally afterwards.
	adminFault(t, srv, map[string]any{"path_regex": "/queues$", "latency_ms": 50, "count": 1})
	start := time.Now()
	qOK(t, srv, "GET", list, nil)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered after %v, want ≥ 50ms", d)
	}
	// A long delay is cut short when the client goes away.
	adminFault(t, srv, map[string]any{"path_regex": "/queues$", "latency_ms": 60000, "status": 500, "count": 1})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+list, nil)
	start = time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the client's deadline, got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	// The server is not stuck: the next request is served at once.
	qOK(t, srv, "GET", list, nil)
}

func TestFaultReset(t *testing.T) {
	srv := qServer(t)
	adminFault(t, srv, map[string]any{"method": "GET", "path_regex": "/queues/etl$", "reset": true, "count": 1})
	req, _ := http.NewRequest("GET", srv.URL+"/v1.0/"+qProj+"/queues/etl", nil)
	// A fresh connection: net/http retries a GET once when a reused
	// keep-alive connection is closed under it.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("want a connection error, got %d", resp.StatusCode)
	}
	qOK(t, srv, "GET", "/v1.0/"+qProj+"/queues/etl", nil)
}

func TestRequestLog(t *testing.T) {
	srv := NewServer(t, Options{Start: qStart})
	if err := srv.AddQueue(QueueSpec{Name: "etl"}); err != nil {
		t.Fatal(err)
	}
	// Unsigned: 401, recorded with auth_ok false.
	status, raw := call(t, srv, "PUT", "/v1.0/"+qProj+"/queues/etl/action?x=1", map[string]any{"action": "restart"})
	qWantErr(t, status, raw, 401, "DLI.0013", "missing Authorization")
	// Signed through the SDK.
	o := srv.Options()
	r := sdkReq{method: "GET", path: "/v1.0/" + qProj + "/queues", query: map[string]string{"queue_type": "all"}, ak: o.AK, sk: o.SK, project: qProj}.build(t, srv.URL)
	if status, _, raw := authDo(t, r); status != http.StatusOK {
		t.Fatalf("signed: %d %s", status, raw)
	}
	qOK(t, srv, "GET", "/_emulator/state", nil) // admin: not recorded
	var recs []RequestRecord
	if err := json.Unmarshal(qOK(t, srv, "GET", "/_emulator/requests", nil), &recs); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Fatalf("records: %+v", recs)
	}
	a, b := recs[0], recs[1]
	if a.Method != "PUT" || a.Path != "/v1.0/"+qProj+"/queues/etl/action" || a.Query.Get("x") != "1" ||
		!strings.Contains(a.Body, `"restart"`) || a.AuthOK || !a.Time.Equal(qStart) {
		t.Fatalf("unsigned record: %+v", a)
	}
	if b.Method != "GET" || b.Query.Get("queue_type") != "all" || !b.AuthOK {
		t.Fatalf("signed record: %+v", b)
	}
}

func TestAdminClockAndState(t *testing.T) {
	srv := qServer(t)
	qOK(t, srv, "POST", plansPath("etl"), planBodyOf("up", 128, 11, 0, "MONDAY"))
	status, raw := call(t, srv, "POST", "/_emulator/clock", map[string]any{"advance_s": -1})
	qWantErr(t, status, raw, 400, "DLI.0001", "negative")
	var clk struct {
		Now time.Time `json:"now"`
	}
	if err := json.Unmarshal(qOK(t, srv, "POST", "/_emulator/clock", map[string]any{"advance_s": 3600.5}), &clk); err != nil {
		t.Fatal(err)
	}
	if !clk.Now.Equal(qStart.Add(3600500 * time.Millisecond)) {
		t.Fatalf("now %v", clk.Now)
	}
	var st State
	if err := json.Unmarshal(qOK(t, srv, "GET", "/_emulator/state", nil), &st); err != nil {
		t.Fatal(err)
	}
	var etl QueueState
	for _, q := range st.Queues {
		if q.Name == "etl" {
			etl = q
		}
	}
	if !st.Now.Equal(clk.Now) || etl.CUCount != 128 || len(etl.PlanFirings) != 1 || len(st.Plans) != 1 || st.Plans[0].Firings != 1 {
		t.Fatalf("state: %+v", st)
	}
	status, raw = call(t, srv, "GET", "/_emulator/nope", nil)
	qWantErr(t, status, raw, 404, "DLI.0002", "no admin endpoint")
}

func TestRequestLogBounds(t *testing.T) {
	srv := NewServer(t, Options{SkipAuth: true, MaxBodyBytes: 4 << 20})
	big := strings.Repeat("x", MaxRecordedBody+10)
	call(t, srv, "POST", "/v1.0/emulator-project/nothing", big)
	if recs := srv.Requests(); len(recs) != 1 || len(recs[0].Body) != MaxRecordedBody {
		t.Fatalf("body not truncated to %d", MaxRecordedBody)
	}
	srv.mu.Lock()
	r, _ := http.NewRequest("GET", "/v1.0/p/x", nil)
	for i := 0; i < MaxRequestRecords+5; i++ {
		r.URL.RawQuery = "i=" + strings.Repeat("1", i%3)
		srv.record(r, nil, true)
	}
	srv.mu.Unlock()
	recs := srv.Requests()
	if len(recs) != MaxRequestRecords || recs[0].Method != "GET" {
		t.Fatalf("log holds %d records, want the last %d", len(recs), MaxRequestRecords)
	}
	if status, _ := call(t, srv, "DELETE", "/_emulator/requests", nil); status != http.StatusOK {
		t.Fatal(status)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d records after DELETE", n)
	}
}
