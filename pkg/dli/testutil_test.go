package dli

import (
	"context"
	"errors"
	"flag"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

var update = flag.Bool("update", false, "regenerate golden files in testdata/")

// testStart is the emulator clock's start in the tests.
var testStart = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

// sleeper records the waits the client asks for and returns at once (or
// with the context's error), so no test sleeps for real.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// newServer starts an emulator with signature checking on a fixed clock.
func newServer(t testing.TB) *dlitest.Server {
	t.Helper()
	return dlitest.NewServer(t, dlitest.Options{Start: testStart})
}

// testConfig is a configuration for srv: no rate limit, short attempts.
func testConfig(srv *dlitest.Server) Config {
	o := srv.Options()
	return Config{AK: o.AK, SK: o.SK, ProjectID: o.ProjectID, SecurityToken: o.SecurityToken,
		Endpoint: srv.URL, Timeout: 5 * time.Second, MaxAttempts: 4}
}

// newClient returns a client for srv whose waits are recorded by the
// returned sleeper.
func newClient(t testing.TB, srv *dlitest.Server, opts ...Option) (*Client, *sleeper) {
	t.Helper()
	return newClientCfg(t, testConfig(srv), opts...)
}

func newClientCfg(t testing.TB, cfg Config, opts ...Option) (*Client, *sleeper) {
	t.Helper()
	s := &sleeper{}
	c, err := New(cfg, append([]Option{WithSleep(s.sleep)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, s
}

// addQueue adds a queue to the emulator or fails the test.
func addQueue(t testing.TB, srv *dlitest.Server, name, typ string, cus int) {
	t.Helper()
	if err := srv.AddQueue(dlitest.QueueSpec{Name: name, Type: typ, CUCount: cus}); err != nil {
		t.Fatalf("AddQueue(%s): %v", name, err)
	}
}

// countRequests counts the API requests the emulator received with this
// method and path.
func countRequests(srv *dlitest.Server, method, path string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// wantErr checks that err is a *Error matching the sentinel (nil: any
// *Error) with the given HTTP status (0: any).
func wantErr(t testing.TB, err error, sentinel error, status int) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", sentinel)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *dli.Error", err, err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("error %v: errors.Is(%v) = false (code %q status %d)", err, sentinel, e.Code, e.Status)
	}
	if status != 0 && e.Status != status {
		t.Fatalf("error %v: status %d, want %d", err, e.Status, status)
	}
	return e
}
