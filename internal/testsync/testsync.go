// Package testsync holds what tests of several packages need to watch
// concurrent code: a log sink that goroutines may write while the test
// reads it, and polling for a condition with a deadline instead of a
// fixed sleep.
package testsync

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Buffer is a goroutine-safe io.Writer whose contents String returns, for
// capturing logs and console output. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PollInterval is how long WaitFor sleeps between two checks (10 ms).
const PollInterval = 10 * time.Millisecond

// WaitFor calls cond every PollInterval until it holds, failing the test
// (naming what it waited for) when d passes first.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(PollInterval)
	}
}
