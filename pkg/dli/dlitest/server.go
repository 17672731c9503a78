package dlitest

import (
	"net/http/httptest"
	"testing"
)

// Server is an emulator listening on a random loopback port.
type Server struct {
	*Emulator
	// URL is the base URL, e.g. http://127.0.0.1:41234 — use it as the
	// DLI endpoint.
	URL string
}

// NewServer starts an emulator for a test and stops it when the test ends.
// Options, when given, configure it (the first one is used).
func NewServer(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	e, err := New(o)
	if err != nil {
		t.Fatalf("dlitest.NewServer: %v", err)
	}
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	return &Server{Emulator: e, URL: ts.URL}
}
