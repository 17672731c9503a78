// Package dlitest is a DLI emulator: an HTTP server that speaks the DLI API
// reference's JSON (field names, quirks and error bodies), verifies
// SDK-HMAC-SHA256 signatures, keeps state with lifecycles on a controllable
// clock, records every request and injects faults. Its admin API lives under
// /_emulator/ and is documented in docs/emulator.md.
//
// Use it three ways: NewServer(t) in Go tests, `dlibot emulator` standalone,
// and inside `dlibot dev`.
package dlitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// Options configures an Emulator. The zero value is usable: project
// "emulator-project", AK "emulator-ak", SK "emulator-sk", a manual clock
// starting at the current time.
type Options struct {
	// ProjectID is the only project the emulator serves; other projects get
	// 404 with DLI.0002.
	ProjectID string
	// AK and SK are the one key pair accepted by the signature check.
	AK, SK string
	// SecurityToken, when set, must accompany AK/SK as X-Security-Token
	// (temporary credentials).
	SecurityToken string
	// SkipAuth turns the signature check off (never in `dlibot emulator`).
	SkipAuth bool
	// Start is the clock's starting instant; default time.Now().
	Start time.Time
	// RealTime makes the clock follow the wall clock (plus any advance);
	// default is a manual clock that moves only when advanced.
	RealTime bool
	// Seed names a data set loaded at start: "" (empty) or "demo".
	Seed string
	// Timing holds lifecycle durations; zero fields take defaults.
	Timing Timing
	// MaxBodyBytes caps request bodies; default 12 MiB (the AK/SK limit).
	MaxBodyBytes int64
}

// Timing is how long emulated jobs spend in each phase, on the emulator's
// clock. Zero fields take the defaults in parentheses.
type Timing struct {
	SQLLaunch   time.Duration // LAUNCHING → RUNNING (2s)
	SQLRun      time.Duration // RUNNING → FINISHED (5s)
	ImportRun   time.Duration // import job RUNNING → FINISHED (10s)
	FlinkStart  time.Duration // job_init/submitting → job_running (10s)
	FlinkStop   time.Duration // job_canceling → job_canceled (5s)
	SparkStart  time.Duration // starting → running (10s)
	SparkRun    time.Duration // running → success (60s)
	ScaleDelay  time.Duration // a scale request reaching its CUs (60s)
	PlanJitter  time.Duration // how late a plan may fire (0)
	RestartTime time.Duration // queue restart (30s)
}

func (t Timing) withDefaults() Timing {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&t.SQLLaunch, 2*time.Second)
	def(&t.SQLRun, 5*time.Second)
	def(&t.ImportRun, 10*time.Second)
	def(&t.FlinkStart, 10*time.Second)
	def(&t.FlinkStop, 5*time.Second)
	def(&t.SparkStart, 10*time.Second)
	def(&t.SparkRun, 60*time.Second)
	def(&t.ScaleDelay, 60*time.Second)
	def(&t.RestartTime, 30*time.Second)
	return t
}

// Emulator is the DLI emulator; it is an http.Handler. All state is guarded
// by mu; handlers run with mu held (see route), so they never lock it.
type Emulator struct {
	opts  Options
	mux   *http.ServeMux
	clock *Clock

	mu       sync.Mutex
	seq      int64 // id source shared by every resource kind
	queues   queueState
	sql      sqlState
	flink    flinkState
	spark    sparkState
	faults   faultState
	requests []RequestRecord
}

// New returns an emulator with the given options, seeded as asked.
func New(opts Options) (*Emulator, error) {
	if opts.ProjectID == "" {
		opts.ProjectID = "emulator-project"
	}
	if opts.AK == "" {
		opts.AK = "emulator-ak"
	}
	if opts.SK == "" {
		opts.SK = "emulator-sk"
	}
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 12 << 20
	}
	opts.Timing = opts.Timing.withDefaults()
	e := &Emulator{opts: opts, mux: http.NewServeMux(), clock: newClock(opts.Start, opts.RealTime)}
	e.queues.init()
	e.sql.init()
	e.flink.init()
	e.spark.init()
	e.registerAdmin()
	e.registerQueues()
	e.registerSQL()
	e.registerFlink()
	e.registerSpark()
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "DLI.0002", "no DLI API "+r.Method+" "+r.URL.Path+" in the emulator")
	})
	switch opts.Seed {
	case "":
	case "demo":
		e.mu.Lock()
		e.seedDemo()
		e.mu.Unlock()
	default:
		return nil, fmt.Errorf("dlitest: unknown seed %q (want \"demo\" or empty)", opts.Seed)
	}
	return e, nil
}

// Options returns the effective options (defaults filled in).
func (e *Emulator) Options() Options { return e.opts }

// Clock returns the emulator's clock.
func (e *Emulator) Clock() *Clock { return e.clock }

// Advance moves the clock forward by d and runs every lifecycle step that
// falls due (plans firing, jobs finishing).
func (e *Emulator) Advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.clock.advance(d)
	e.catchUpLocked()
}

// catchUpLocked brings every resource's lifecycle up to the clock's now.
func (e *Emulator) catchUpLocked() {
	now := e.clock.Now()
	e.queues.catchUp(e, now)
	e.sql.catchUp(e, now)
	e.flink.catchUp(e, now)
	e.spark.catchUp(e, now)
}

// nextID returns a fresh positive integer, unique across resource kinds.
func (e *Emulator) nextID() int64 {
	e.seq++
	return e.seq
}

// ServeHTTP records the request, applies injected faults, verifies the
// signature (outside /_emulator/) and routes it.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, e.opts.MaxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "DLI.0001", "request body too large or unreadable: "+err.Error())
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if isAdmin(r.URL.Path) {
		e.mux.ServeHTTP(w, r)
		return
	}
	authErr := error(nil)
	if !e.opts.SkipAuth {
		authErr = e.verifyAuth(r, body)
	}
	e.mu.Lock()
	e.record(r, body, authErr == nil)
	f := e.faults.match(r.Method, r.URL.Path)
	e.mu.Unlock()
	if f != nil {
		if f.apply(w, r) {
			return
		}
	}
	if authErr != nil {
		writeError(w, http.StatusUnauthorized, "DLI.0013", "authentication failed: "+authErr.Error())
		return
	}
	e.mux.ServeHTTP(w, r)
}

// route registers a DLI API handler. The handler runs with e.mu held, after
// the lifecycles have been brought up to now; it must not block. The
// project segment is checked before h is called.
func (e *Emulator) route(pattern string, h func(w http.ResponseWriter, r *http.Request)) {
	e.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if p := r.PathValue("project_id"); p != "" && p != e.opts.ProjectID {
			writeError(w, http.StatusNotFound, "DLI.0002", "project "+p+" does not exist")
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		e.catchUpLocked()
		h(w, r)
	})
}

// errorBody is DLI's error body (reference 3.3 and 14.2).
type errorBody struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

// writeError writes DLI's error body with the given status. Codes are those
// of reference 14.2 (DLI.0001 parameter check, DLI.0002 not found, DLI.0013
// authentication, DLI.0999 server side, …).
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{ErrorCode: code, ErrorMsg: msg})
}

// writeJSON writes v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decodeBody decodes a JSON request body into v, answering 400 DLI.0001 and
// returning false when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "DLI.0001", "invalid request body: "+err.Error())
		return false
	}
	return true
}
