package notify

import (
	"context"
	"sync"
	"time"
)

// Clock is the time source the Slack notifier waits with; tests inject a fake one so pacing and
// Retry-After waits are asserted without real sleeps.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d, or until ctx is done, in which case it returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Sleep waits for d or until ctx is done.
func (SystemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pacer spaces writes to one channel at least interval apart (Slack allows about one message per
// second per channel) and holds a channel back after a 429. Channels do not wait for each other.
type pacer struct {
	clock    Clock
	interval time.Duration

	mu   sync.Mutex
	next map[string]time.Time // earliest time of the next write per channel
}

func newPacer(c Clock, interval time.Duration) *pacer {
	return &pacer{clock: c, interval: interval, next: make(map[string]time.Time)}
}

// pruneAt is the map size above which entries in the past are dropped.
const pruneAt = 1024

// heldError reports a channel slot further away than the caller is willing to wait.
type heldError struct{ wait time.Duration }

func (e *heldError) Error() string {
	return "channel is paced or rate limited for another " + e.wait.String()
}

// wait reserves the channel's next slot and sleeps until it. When the slot is more than maxWait
// away (a long 429 hold, or a deep queue of writers) it reserves nothing and returns a *heldError at
// once, so the caller can retry later instead of holding a worker. It returns ctx.Err() when ctx ends
// first (the reserved slot stays used, which only delays the next write a little).
func (p *pacer) wait(ctx context.Context, channel string, maxWait time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := p.clock.Now()
	p.mu.Lock()
	at := p.next[channel]
	if at.Before(now) {
		at = now
	}
	if d := at.Sub(now); d > maxWait {
		p.mu.Unlock()
		return &heldError{wait: d}
	}
	if p.interval > 0 || at.After(now) {
		p.next[channel] = at.Add(p.interval)
	}
	if len(p.next) > pruneAt {
		for ch, t := range p.next {
			if t.Before(now) {
				delete(p.next, ch)
			}
		}
	}
	p.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		return p.clock.Sleep(ctx, d)
	}
	return nil
}

// hold makes the channel's next write wait until at least d from now (after a 429 Retry-After).
func (p *pacer) hold(channel string, d time.Duration) {
	until := p.clock.Now().Add(d)
	p.mu.Lock()
	if p.next[channel].Before(until) {
		p.next[channel] = until
	}
	p.mu.Unlock()
}

// alias carries the reservation made under a channel name over to the channel's ID, learned from
// Slack's answer, so that later writes by ID wait for it.
func (p *pacer) alias(name, id string) {
	p.mu.Lock()
	if t, ok := p.next[name]; ok && p.next[id].Before(t) {
		p.next[id] = t
	}
	p.mu.Unlock()
}
