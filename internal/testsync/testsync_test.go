package testsync

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestBufferConcurrentWrites: writes from many goroutines all land, whole,
// and String can run meanwhile (go test -race checks the locking).
func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			fmt.Fprintf(&b, "line %02d\n", i)
			_ = b.String()
		})
	}
	wg.Wait()
	out := b.String()
	for i := range 20 {
		if !strings.Contains(out, fmt.Sprintf("line %02d\n", i)) {
			t.Errorf("line %02d missing from %q", i, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 20 {
		t.Errorf("%d lines, want 20", n)
	}
}

// TestWaitFor: WaitFor returns once the condition holds, after polling it
// more than once when it starts false.
func TestWaitFor(t *testing.T) {
	var calls atomic.Int32
	WaitFor(t, 10*time.Second, "the third call", func() bool { return calls.Add(1) >= 3 })
	if n := calls.Load(); n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
}

// fakeTB records Fatalf instead of stopping the test.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f) // stop WaitFor as FailNow would
}

// TestWaitForTimesOut: a condition that never holds fails the test with a
// message naming what was awaited.
func TestWaitForTimesOut(t *testing.T) {
	f := &fakeTB{}
	func() {
		defer func() {
			if r := recover(); r != f {
				t.Fatalf("recovered %v, want the fake's Fatalf", r)
			}
		}()
		WaitFor(f, 30*time.Millisecond, "the moon", func() bool { return false })
	}()
	if !strings.Contains(f.msg, "the moon") || !strings.Contains(f.msg, "30ms") {
		t.Errorf("failure message %q, want it to name the moon and 30ms", f.msg)
	}
}
