package eventstest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/eventstest"
)

// toy is a minimal idempotent handler: it "imports" each object once,
// remembering done keys (its own ledger), and fails on demand.
type toy struct {
	mu        sync.Mutex
	done      map[string]bool
	effects   int
	retryable bool
	permanent bool
}

func (h *toy) handle(_ context.Context, e events.Event) events.Outcome {
	var o events.ObjectCreated
	if err := json.Unmarshal(e.Data(), &o); err != nil {
		return events.Drop("bad object.created data: " + err.Error())
	}
	if err := o.Validate(); err != nil {
		return events.Drop(err.Error())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.permanent:
		return events.Drop("toy: permanent failure")
	case h.retryable:
		return events.Retry(50 * time.Millisecond)
	}
	if !h.done[o.Bucket+"/"+o.Key] {
		h.done[o.Bucket+"/"+o.Key] = true
		h.effects++
	}
	return events.Ack()
}

func (h *toy) set(flag *bool) func() {
	h.mu.Lock()
	*flag = true
	h.mu.Unlock()
	return func() { h.mu.Lock(); *flag = false; h.mu.Unlock() }
}

func objectEvent(t *testing.T, i int, o events.ObjectCreated) (string, events.Event) {
	t.Helper()
	e, err := events.NewEvent(fmt.Sprintf("obj-%d", i), events.SourceObs, events.TypeObjectCreated, o)
	if err != nil {
		t.Fatal(err)
	}
	return events.ObsSubject(o.Bucket), e
}

func TestConformanceToyHandler(t *testing.T) {
	eventstest.Conformance(t, func(t *testing.T) eventstest.Setup {
		h := &toy{done: map[string]bool{}}
		return eventstest.Setup{
			Handler: h.handle,
			Event: func(i int) (string, events.Event) {
				return objectEvent(t, i, events.ObjectCreated{Bucket: "raw.data", Key: fmt.Sprintf("k/%d.csv", i), Size: 10})
			},
			Effects: func() int {
				h.mu.Lock()
				defer h.mu.Unlock()
				return h.effects
			},
			FailRetryable:  func() func() { return h.set(&h.retryable) },
			FailPermanent:  func() func() { return h.set(&h.permanent) },
			BadEvent:       func(i int) (string, events.Event) { return objectEvent(t, i, events.ObjectCreated{Bucket: "raw"}) },
			WantDropReason: "toy: permanent",
		}
	})
}
