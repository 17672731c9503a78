package dlitest

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// Fault is an injected failure, set through POST /_emulator/faults.
type Fault struct {
	// Method matches the request method; empty matches any.
	Method string `json:"method"`
	// PathRegex matches the request path; empty matches any.
	PathRegex string `json:"path_regex"`
	// Status is the HTTP status to answer with; 0 means "answer normally
	// after the latency" (a pure delay fault).
	Status int `json:"status"`
	// ErrorCode and ErrorMsg fill DLI's error body.
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
	// LatencyMS delays the answer by this many wall-clock milliseconds
	// (cut short when the client goes away).
	LatencyMS int `json:"latency_ms"`
	// Count is how many matching requests the fault applies to; 0 means
	// until the faults are deleted.
	Count int `json:"count"`
	// RetryAfterS, when positive, is sent as a Retry-After header.
	RetryAfterS int `json:"retry_after_s"`
	// Reset closes the connection without an answer (a network error).
	Reset bool `json:"reset"`

	re   *regexp.Regexp
	used int
}

type faultState struct {
	list []*Fault
}

func (f *Fault) compile() error {
	if f.PathRegex != "" {
		re, err := regexp.Compile(f.PathRegex)
		if err != nil {
			return fmt.Errorf("path_regex: %w", err)
		}
		f.re = re
	}
	if f.Status != 0 && (f.Status < 100 || f.Status > 599) {
		return fmt.Errorf("status %d is not an HTTP status", f.Status)
	}
	if f.Count < 0 || f.LatencyMS < 0 || f.RetryAfterS < 0 {
		return fmt.Errorf("count, latency_ms and retry_after_s must not be negative")
	}
	return nil
}

// match returns the first live fault matching the request and uses it up
// once. Caller holds e.mu.
func (s *faultState) match(method, path string) *Fault {
	for _, f := range s.list {
		if f.Method != "" && f.Method != method {
			continue
		}
		if f.re != nil && !f.re.MatchString(path) {
			continue
		}
		if f.Count > 0 && f.used >= f.Count {
			continue
		}
		f.used++
		return f
	}
	return nil
}

// apply performs the fault. It returns true when the request has been
// answered (or dropped) and must not reach its handler.
func (f *Fault) apply(w http.ResponseWriter, r *http.Request) bool {
	if f.LatencyMS > 0 {
		t := time.NewTimer(time.Duration(f.LatencyMS) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	if f.Reset {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler) // net/http closes the connection quietly
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfterS > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfterS))
	}
	code, msg := f.ErrorCode, f.ErrorMsg
	if code == "" {
		code = "DLI.0999"
	}
	if msg == "" {
		msg = "injected fault: " + http.StatusText(f.Status)
	}
	writeError(w, f.Status, code, msg)
	return true
}
