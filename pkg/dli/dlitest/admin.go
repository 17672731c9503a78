package dlitest

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RequestRecord is one request the emulator received (GET /_emulator/requests).
type RequestRecord struct {
	Method string     `json:"method"`
	Path   string     `json:"path"`
	Query  url.Values `json:"query,omitempty"`
	Body   string     `json:"body,omitempty"`
	// Time is the emulator clock's instant when the request arrived.
	Time   time.Time `json:"time"`
	AuthOK bool      `json:"auth_ok"`
}

func isAdmin(path string) bool { return strings.HasPrefix(path, "/_emulator/") }

// Request log bounds: the log keeps the last MaxRequestRecords requests and
// the first MaxRecordedBody bytes of each body (a long-running standalone
// emulator must not grow without end).
const (
	MaxRequestRecords = 10000
	MaxRecordedBody   = 1 << 20
)

// record appends the request to the log. Caller holds e.mu.
func (e *Emulator) record(r *http.Request, body []byte, authOK bool) {
	if len(body) > MaxRecordedBody {
		body = body[:MaxRecordedBody]
	}
	if len(e.requests) >= MaxRequestRecords {
		n := copy(e.requests, e.requests[len(e.requests)-MaxRequestRecords+1:])
		clear(e.requests[n:])
		e.requests = e.requests[:n]
	}
	e.requests = append(e.requests, RequestRecord{
		Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body),
		Time: e.clock.Now(), AuthOK: authOK,
	})
}

// ClearRequests empties the request log.
func (e *Emulator) ClearRequests() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = nil
}

// Requests returns a copy of every API request received so far, oldest
// first (admin requests are not recorded; see MaxRequestRecords).
func (e *Emulator) Requests() []RequestRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]RequestRecord(nil), e.requests...)
}

// AddFault installs an injected fault.
func (e *Emulator) AddFault(f Fault) error {
	if err := f.compile(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.list = append(e.faults.list, &f)
	return nil
}

// ClearFaults removes every injected fault.
func (e *Emulator) ClearFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults.list = nil
}

// State is the JSON snapshot served by GET /_emulator/state.
type State struct {
	Now          time.Time       `json:"now"`
	Queues       []QueueState    `json:"queues"`
	Plans        []PlanState     `json:"plans"`
	SQLJobs      []SQLJobState   `json:"sql_jobs"`
	Imports      []ImportState   `json:"imports"`
	FlinkJobs    []FlinkJobState `json:"flink_jobs"`
	SparkBatches []BatchState    `json:"spark_batches"`
}

// Snapshot returns the emulator's state at the clock's now.
func (e *Emulator) Snapshot() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.catchUpLocked()
	s := State{Now: e.clock.Now()}
	s.Queues, s.Plans = e.queues.snapshot()
	s.SQLJobs, s.Imports = e.sql.snapshot()
	s.FlinkJobs = e.flink.snapshot()
	s.SparkBatches = e.spark.snapshot()
	return s
}

// adminRoute registers an admin handler; it runs without e.mu held.
func (e *Emulator) adminRoute(pattern string, h http.HandlerFunc) {
	e.mux.HandleFunc(pattern, h)
}

// writeAdminError answers an admin update that failed: 404 DLI.0002 when
// the object does not exist (ErrNotFound), 400 DLI.0001 otherwise.
func writeAdminError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, "DLI.0002", err.Error())
		return
	}
	writeError(w, http.StatusBadRequest, "DLI.0001", err.Error())
}

// adminCreate answers an admin POST that adds spec count times: count 0
// or 1 adds spec alone, more adds count copies named "<name>-00001"… (name
// reached through nameOf), at most 100000. The answer is 201 with the
// first id under idKey and, for count > 1, every id under idsKey.
func adminCreate[S, ID any](w http.ResponseWriter, spec S, count int, nameOf func(*S) *string, add func([]S) ([]ID, error), idKey, idsKey string) {
	if count < 0 || count > 100000 {
		writeError(w, http.StatusBadRequest, "DLI.0001", "count must be between 1 and 100000")
		return
	}
	specs := []S{spec}
	if count > 1 {
		name := *nameOf(&spec)
		specs = make([]S, count)
		for i := range specs {
			specs[i] = spec
			*nameOf(&specs[i]) = fmt.Sprintf("%s-%05d", name, i+1)
		}
	}
	ids, err := add(specs)
	if err != nil {
		writeError(w, http.StatusBadRequest, "DLI.0001", err.Error())
		return
	}
	out := map[string]any{idKey: ids[0]}
	if count > 1 {
		out[idsKey] = ids
	}
	writeJSON(w, http.StatusCreated, out)
}

func (e *Emulator) registerAdmin() {
	e.adminRoute("GET /_emulator/state", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, e.Snapshot())
	})
	e.adminRoute("GET /_emulator/requests", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, e.Requests())
	})
	e.adminRoute("DELETE /_emulator/requests", func(w http.ResponseWriter, r *http.Request) {
		e.ClearRequests()
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	e.adminRoute("POST /_emulator/clock", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			AdvanceS float64 `json:"advance_s"`
		}
		if !decodeBody(w, r, &req) {
			return
		}
		if req.AdvanceS < 0 {
			writeError(w, http.StatusBadRequest, "DLI.0001", "advance_s must not be negative")
			return
		}
		e.Advance(time.Duration(req.AdvanceS * float64(time.Second)))
		writeJSON(w, http.StatusOK, map[string]any{"now": e.clock.Now()})
	})
	e.adminRoute("POST /_emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if !decodeBody(w, r, &f) {
			return
		}
		if err := e.AddFault(f); err != nil {
			writeError(w, http.StatusBadRequest, "DLI.0001", err.Error())
			return
		}
		writeJSON(w, http.StatusCreated, map[string]any{"ok": true})
	})
	e.adminRoute("DELETE /_emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		e.ClearFaults()
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	})
	e.adminRoute("/_emulator/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "DLI.0002", "no admin endpoint "+r.Method+" "+r.URL.Path)
	})
}
