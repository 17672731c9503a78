//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
)

// TestChatopsSlowCommandAnsweredByTick: under the RIE, `/dli queues` slower
// than the ack budget answers "working… (saved…)" only once its deferred
// record is in NATS KV; the execution environment then ends before the
// command finishes (the RIE is stopped: a frozen Lambda that never
// resumes), and the schedule tick in a new environment posts the answer to
// the response_url, once.
func TestChatopsSlowCommandAnsweredByTick(t *testing.T) {
	w := newWorld(t)
	if err := w.dli.AddFault(dlitest.Fault{Method: http.MethodGet, PathRegex: `/queues$`, LatencyMS: 20000, Count: 1}); err != nil {
		t.Fatal(err)
	}
	env := append(w.chatopsEnv(t), "CHATOPS_ACK_BUDGET=1s", "CHATOPS_READ_CACHE_TTL=0s")
	first, status, body := startFunction(t, "chatops", env,
		slashCommand(t, "queues", signingSecret, time.Now(), w.slack.ResponseURL("slow")))
	resp := apiResponse(t, status, body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, "working on it") || !strings.Contains(resp.Body, "saved") {
		t.Fatalf("/dli queues: status %d, body %s", resp.StatusCode, resp.Body)
	}
	first.Stop() // the environment ends with the command still waiting for DLI

	// The lease (15 s of wall-clock time) is ended in the record rather
	// than waited for.
	_, js := w.nats.Connect()
	ctx := context.Background()
	kv, err := js.KeyValue(ctx, "dlibot_chatops")
	if err != nil {
		t.Fatal(err)
	}
	lister, err := kv.ListKeysFiltered(ctx, "deferred.>")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(e.Value(), &rec); err != nil {
			t.Fatal(err)
		}
		rec["lease"] = time.Now().Add(-time.Second).UTC().Format(time.RFC3339Nano)
		b, _ := json.Marshal(rec)
		if _, err := kv.Update(ctx, k, b, e.Revision()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("%d deferred records in KV, want 1", n)
	}
	if got := w.slack.Responses("slow"); len(got) != 0 {
		t.Fatalf("answered before the tick: %+v", got)
	}

	_, status, body = startFunction(t, "chatops", env, scheduledEvent(t, "dlibot-chatops-tick", time.Now()))
	if status != http.StatusOK {
		t.Fatalf("tick: RIE answered %d: %s", status, body)
	}
	rs := w.slack.WaitResponses("slow", 1, 10*time.Second)
	if len(rs) != 1 || !strings.Contains(rs[0].Text+string(rs[0].Blocks), e2eQueue) || !rs[0].ReplaceOriginal {
		t.Fatalf("responses %+v", rs)
	}
	if got := w.slack.Responses("slow"); len(got) != 1 {
		t.Errorf("%d answers, want 1", len(got))
	}
}
