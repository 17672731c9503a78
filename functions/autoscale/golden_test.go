package autoscale

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/dli/dlitest"
	"github.com/dlibot/dlibot/pkg/events"
	"github.com/dlibot/dlibot/pkg/events/eventstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, v any) {
	t.Helper()
	var got []byte
	switch v := v.(type) {
	case []byte:
		var b bytes.Buffer
		if err := json.Indent(&b, v, "", "  "); err != nil {
			t.Fatal(err)
		}
		got = b.Bytes()
	default:
		var err error
		if got, err = json.MarshalIndent(v, "", "  "); err != nil {
			t.Fatal(err)
		}
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (-update to accept):\n%s", name, got)
	}
}

// TestGoldenRecommendation pins the decision event of a recommendation and
// the Slack message posted with it.
func TestGoldenRecommendation(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.PricePerCUHour = 0.35 })
	ctx := context.Background()
	now := f.emu.Clock().Now()
	f.feedHistory(2, now)
	if err := f.a.Tick(ctx, now); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	e := f.decisions[0]
	f.mu.Unlock()
	if e.ID() != "autoscale/etl/plan/2026-01-05T06:00:00Z" || e.Source() != "/dlibot/autoscale" || e.Type() != events.TypeAutoscaleDecision {
		t.Errorf("event attributes: %s %s %s", e.ID(), e.Source(), e.Type())
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "decision-recommend.golden.json", b)
	posts := f.slack.CallsTo("chat.postMessage")
	if len(posts) != 1 {
		t.Fatalf("posts = %d", len(posts))
	}
	golden(t, "slack-recommend.golden.json", map[string]any{"text": posts[0].Text, "blocks": posts[0].Blocks})
}

// TestGoldenNetDecision pins the decision event of a net scale-out.
func TestGoldenNetDecision(t *testing.T) {
	f := netFixture(t)
	ctx := context.Background()
	now := f.emu.Clock().Now()
	for i := range 2 {
		if err := f.a.HandleSamples(ctx, point("etl", now.Add(time.Duration(i-1)*BucketPeriod), 256, 256, 3)); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.decisions) != 1 {
		t.Fatalf("decisions = %d", len(f.decisions))
	}
	b, err := json.Marshal(f.decisions[0])
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "decision-net.golden.json", b)
}

func TestConformance(t *testing.T) {
	eventstest.Conformance(t, func(t *testing.T) eventstest.Setup {
		f := newFixture(t, func(c *Config) {
			c.SetQueue(QueueConfig{Name: "etl", Mode: ModeApply})
			c.NetSamples = 1
		})
		now := f.emu.Clock().Now().Truncate(BucketPeriod)
		ev := func(i int) (string, events.Event) {
			at := now.Add(time.Duration(i-5) * BucketPeriod)
			return events.MetricsSubject("etl"), metricsEvent(t, "ces-etl-"+at.Format("150405"), point("etl", at, 256, 256, 2))
		}
		fail := func(status int) func() func() {
			return func() func() {
				if err := f.emu.AddFault(dlitest.Fault{PathRegex: "/action$", Status: status, ErrorCode: "DLI.0999", ErrorMsg: "injected"}); err != nil {
					t.Fatal(err)
				}
				return f.emu.ClearFaults
			}
		}
		return eventstest.Setup{
			Handler:       f.a.Handle,
			Event:         ev,
			Effects:       func() int { return int(f.dli.scales.Load()) },
			FailRetryable: fail(503),
			FailPermanent: fail(400),
			BadEvent: func(i int) (string, events.Event) {
				s := sample("etl", "queue_cu_num", 1, now)
				s.Dimensions = nil
				return events.MetricsSubject("etl"), metricsEvent(t, "bad-"+now.Format("150405"), []events.MetricSample{s})
			},
		}
	})
}
