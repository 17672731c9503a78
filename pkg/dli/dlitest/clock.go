package dlitest

import (
	"sync"
	"time"
)

// Clock is the emulator's notion of now. A manual clock moves only when
// advanced; a real-time clock follows the wall clock plus the sum of all
// advances. It is safe for concurrent use.
type Clock struct {
	mu       sync.Mutex
	realTime bool
	base     time.Time     // manual: current instant; real time: unused
	offset   time.Duration // real time: sum of advances
}

func newClock(start time.Time, realTime bool) *Clock {
	if start.IsZero() {
		start = time.Now()
	}
	return &Clock{realTime: realTime, base: start.UTC().Truncate(time.Millisecond)}
}

// Now returns the clock's current instant (UTC).
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.realTime {
		return time.Now().UTC().Add(c.offset)
	}
	return c.base
}

func (c *Clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.realTime {
		c.offset += d
		return
	}
	c.base = c.base.Add(d)
}
