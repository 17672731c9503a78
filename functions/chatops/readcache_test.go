package chatops

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

// queueListCalls counts the emulator's 6.3 requests (GET …/queues).
func (e *env) queueListCalls() int {
	n := 0
	for _, r := range e.emu.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/queues") {
			n++
		}
	}
	return n
}

// queueGetCalls counts the emulator's 6.4 requests for one queue.
func (e *env) queueGetCalls(name string) int {
	n := 0
	for _, r := range e.emu.Requests() {
		if r.Method == http.MethodGet && strings.HasSuffix(r.Path, "/queues/"+name) {
			n++
		}
	}
	return n
}

func TestReadCacheSharesOneDLICallAmongConcurrentCommands(t *testing.T) {
	e := newEnv(t, envOpts{})
	// Slow the first list down so the other commands arrive while it is in
	// flight and have to join it.
	if err := e.emu.AddFault(dlitest.Fault{Method: http.MethodGet, PathRegex: "/queues$", LatencyMS: 200, Count: 1}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	texts := make([]string, n)
	for i := range n {
		wg.Go(func() {
			code, a := e.run(t, uViewer, "queues")
			if code != http.StatusOK {
				t.Errorf("status %d", code)
			}
			texts[i] = a.Text
		})
	}
	wg.Wait()
	e.settle()
	if got := e.queueListCalls(); got != 1 {
		t.Errorf("%d commands made %d DLI list calls, want 1", n, got)
	}
	for i, txt := range texts {
		if txt != texts[0] || !strings.HasSuffix(txt, " queues") {
			t.Errorf("answer %d = %q, answer 0 = %q", i, txt, texts[0])
		}
	}
	st := e.svc.dli.(*readCache).Stats()
	if st.Misses != 1 || st.Hits+st.Shared != n-1 {
		t.Errorf("stats %+v, want 1 miss and %d hits or shared", st, n-1)
	}
}

func TestReadCacheKeepsAnAnswerForItsTTL(t *testing.T) {
	e := newEnv(t, envOpts{})
	_, before := e.run(t, uViewer, "queues")
	if err := e.emu.AddQueue(dlitest.QueueSpec{Name: "newcomer", CUCount: 16}); err != nil {
		t.Fatal(err)
	}
	// A change made elsewhere is not seen within the TTL…
	e.clock.Advance(e.cfg.ReadCacheTTL - time.Millisecond)
	if _, a := e.run(t, uViewer, "queues"); a.Text != before.Text {
		t.Errorf("within the TTL: %q, want the kept %q", a.Text, before.Text)
	}
	if got := e.queueListCalls(); got != 1 {
		t.Errorf("DLI list calls within the TTL: %d, want 1", got)
	}
	// …and is once it has passed.
	e.clock.Advance(time.Millisecond)
	_, after := e.run(t, uViewer, "queues")
	if after.Text == before.Text || !strings.Contains(string(after.Blocks), "newcomer") {
		t.Errorf("after the TTL: %q %s, want the new queue listed", after.Text, after.Blocks)
	}
	if got := e.queueListCalls(); got != 2 {
		t.Errorf("DLI list calls: %d, want 2", got)
	}
}

func TestReadCacheForgetsEverythingOnAChangeMadeHere(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.run(t, uOperator, "queue etl")
	_, a := e.run(t, uOperator, "scale etl 128")
	if code := e.click(t, uOperator, actionConfirm, confirmationID(t, a.Blocks, actionConfirm), "c"); code != http.StatusOK {
		t.Fatalf("confirm: %d", code)
	}
	e.settle()
	if calls := e.dliCalls("PUT", "/queues/etl/action"); len(calls) != 1 {
		t.Fatalf("scale calls %v", calls)
	}
	before := e.queueGetCalls("etl")
	e.emu.Advance(10 * time.Minute) // the scale completes in DLI
	_, q := e.run(t, uOperator, "queue etl")
	if got := e.queueGetCalls("etl"); got != before+1 {
		t.Errorf("the read after a change made here asked DLI %d times, want 1", got-before)
	}
	if !strings.Contains(string(q.Blocks), "128 (") {
		t.Errorf("queue etl after scaling to 128: %s", q.Blocks)
	}
}

func TestReadCacheNeverKeepsAnError(t *testing.T) {
	e := newEnv(t, envOpts{})
	if err := e.emu.AddFault(dlitest.Fault{Method: http.MethodGet, PathRegex: "/queues$", Status: http.StatusInternalServerError, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, a := e.run(t, uViewer, "queues"); strings.HasSuffix(a.Text, " queues") {
		t.Fatalf("the failing call answered %q", a.Text)
	}
	if _, a := e.run(t, uViewer, "queues"); !strings.HasSuffix(a.Text, " queues") {
		t.Errorf("the call after an error answered %q, want the list", a.Text)
	}
	if got := e.queueListCalls(); got != 2 {
		t.Errorf("DLI list calls %d, want 2 (the error was not kept)", got)
	}
}

func TestReadCacheOffAsksDLIEveryTime(t *testing.T) {
	e := newEnv(t, envOpts{cfg: func(c *Config) { c.ReadCacheTTL = 0 }})
	e.run(t, uViewer, "queues")
	e.run(t, uViewer, "queues")
	if got := e.queueListCalls(); got != 2 {
		t.Errorf("DLI list calls %d, want 2", got)
	}
	if _, ok := e.svc.dli.(*readCache); ok {
		t.Error("a zero TTL still wraps the client")
	}
}

func TestReadCacheLeavesChangePathsFresh(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.run(t, uOperator, "queue etl") // kept for the read commands…
	before := e.queueGetCalls("etl")
	e.run(t, uOperator, "scale etl 128") // …but a change's preview asks DLI itself
	e.settle()
	if got := e.queueGetCalls("etl"); got <= before {
		t.Errorf("the scale preview read the queue from the cache (%d DLI reads before, %d after)", before, got)
	}
}

func TestReadCacheJoinerOutlivesAGivenUpLeader(t *testing.T) {
	e := newEnv(t, envOpts{})
	c := e.svc.dli.(*readCache)
	leaderCtx, cancelLeader := context.WithCancel(cachedReads(context.Background()))
	started := make(chan struct{})
	release := make(chan struct{})
	go func() {
		_, _ = c.get(leaderCtx, "k", func(ctx context.Context) (any, error) {
			close(started)
			<-release
			return nil, ctx.Err()
		})
	}()
	<-started
	done := make(chan error, 1)
	go func() {
		v, err := c.get(cachedReads(context.Background()), "k", func(context.Context) (any, error) { return "mine", nil })
		if err == nil && v != "mine" {
			err = context.Canceled
		}
		done <- err
	}()
	// Wait until the joiner is parked on the leader's call.
	for c.Stats().Shared == 0 {
		select {
		case err := <-done:
			t.Fatalf("joiner returned before joining: %v", err)
		default:
		}
		time.Sleep(time.Millisecond)
	}
	cancelLeader()
	close(release)
	if err := <-done; err != nil {
		t.Errorf("joiner got %v, want its own answer after the leader gave up", err)
	}
}

func TestReadCacheTTLValidated(t *testing.T) {
	for _, v := range []string{"-1s", "2m"} {
		if _, err := LoadConfig(context.Background(), mapLookuper{"CHATOPS_READ_CACHE_TTL": v}); err == nil || !strings.Contains(err.Error(), "CHATOPS_READ_CACHE_TTL") {
			t.Errorf("%s: %v", v, err)
		}
	}
}
