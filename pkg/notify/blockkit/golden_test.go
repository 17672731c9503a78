package blockkit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/internal/golden"
)

// Representative messages of the functions, built the way they build them.
var representative = map[string]func() []slack.Block{
	"jobwatch-alert": func() []slack.Block {
		return Blocks(
			Header(":red_circle: Flink job failed: orders-etl"),
			Fields(
				Field{"Job", "orders-etl (#10231)"}, Field{"Engine", "Flink SQL"},
				Field{"Queue", "etl"}, Field{"State", "job_running_exception"},
				Field{"Since", "2026-11-26 12:04 UTC"}, Field{"Attempt", "2 of 3"},
			),
			Section("*Error*\n"+Escape("org.apache.flink.runtime.JobException: Recovery is suppressed by NoRestartBackoffTimeStrategy <caused by> TimeoutException")),
			Code([]string{
				"2026-11-26 12:03:58 INFO  Checkpoint 41 completed in 812 ms",
				"2026-11-26 12:04:01 WARN  Source kafka[orders] lag 120000",
				"2026-11-26 12:04:02 ERROR Task sink(orders_agg) failed: java.util.concurrent.TimeoutException",
				"2026-11-26 12:04:02 ERROR   at org.apache.flink.streaming.runtime.tasks.StreamTask.invoke(StreamTask.java:712)",
			}, 20),
			Context("jobwatch", "project 0a1b2c", Link("https://console.example.com/dli/#/main/jobs/flink/10231", "Open in DLI console")),
		)
	},
	"jobwatch-resolved": func() []slack.Block {
		return Blocks(
			Header(":large_green_circle: Resolved: orders-etl is running again"),
			Fields(Field{"Job", "orders-etl (#10231)"}, Field{"Down for", "12m 30s"}, Field{"Queue", "etl"}, Field{"Restarts", ""}),
			SectionButton("orders-etl recovered on its own (DLI auto-restart).",
				Button{ActionID: "open_job", Text: "Open job", URL: "https://console.example.com/dli/#/main/jobs/flink/10231"}),
			Context("jobwatch", "resolved 2026-11-26 12:16 UTC"),
		)
	},
	"obsimport-failure": func() []slack.Block {
		return Blocks(
			Header(":warning: Import failed: analytics.events"),
			Fields(
				Field{"Object", "obs://raw-data/landing/events/dt=2026-11-26/part-0001.csv"},
				Field{"Rule", "events"}, Field{"Table", "analytics.events"},
				Field{"Partition", "dt=2026-11-26"}, Field{"Job", "a1b2c3d4-0001"},
			),
			Section("*DLI said* `DLI.0005`: "+Escape("There should be at least one partition column & it must match <dt>.")),
			Context("obsimport", "ledger key raw-data/landing/events/dt=2026-11-26/part-0001.csv@etag-9f8e"),
		)
	},
	"chatops-confirm": func() []slack.Block {
		return Blocks(
			Section("<@U0123ABCD> asks to scale queue *etl* from *16* to *64* CU."),
			Fields(Field{"Current", "16 CU"}, Field{"Requested", "64 CU"}, Field{"Delta", "+48 CU"}, Field{"Estimated cost", "≈ 17.28 USD/h"}),
			Actions("confirm:7f3a9c",
				Button{ActionID: "confirm", Text: "Scale to 64 CU", Value: "7f3a9c", Style: Primary, Confirm: &Confirm{
					Title: "Scale queue etl?", Text: "This changes *etl* from 16 to 64 CU now.", Confirm: "Scale", Deny: "Back", Danger: true,
				}},
				Button{ActionID: "cancel", Text: "Cancel", Value: "7f3a9c"},
			),
			Context("chatops", "expires in 10 min"),
		)
	},
	"autoscale-recommendation": func() []slack.Block {
		return Blocks(
			Header("Scaling plan for queue etl"),
			Section("Learned from 4 weeks of load. The chart is attached below."),
			List([]string{
				"Mon–Fri 07:00 → *64 CU*", "Mon–Fri 19:00 → *32 CU*", "Sat 00:00 → *16 CU*",
				"Sun 22:00 → *32 CU*", "Daily 02:00 → *48 CU* (batch window)", "Daily 04:00 → *32 CU*",
			}, 4, "changes"),
			Actions("plan:etl:v7",
				Button{ActionID: "apply_plan", Text: "Apply plan", Value: "etl:v7", Style: Primary},
				Button{ActionID: "open_console", Text: "Open queue", URL: "https://console.example.com/dli/#/main/queue/etl"},
			),
			Context("autoscale", "p95 backlog 3.2 min → 0.4 min (simulated)"),
		)
	},
	"truncated": func() []slack.Block {
		bs := []slack.Block{
			Header(strings.Repeat("Very long header ", 20)),
			Section(strings.Repeat("Long explanation. ", 300)),
			Fields(func() []Field {
				f := make([]Field, 14)
				for i := range f {
					f[i] = Field{fmt.Sprintf("Field %d", i+1), fmt.Sprintf("value %d", i+1)}
				}
				return f
			}()...),
			List(texts(80, func(i int) string { return fmt.Sprintf("job-%03d", i) }), 10, "jobs"),
		}
		for i := range 60 {
			bs = append(bs, Context(fmt.Sprintf("line %d", i+1)))
		}
		return bs
	},
}

func TestGolden(t *testing.T) {
	for name, build := range representative {
		t.Run(name, func(t *testing.T) {
			blocks := Fit(build())
			js, err := json.MarshalIndent(blocks, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, name+".golden.json", append(js, '\n'))
			golden.Check(t, name+".golden.txt", []byte(Plain(blocks)))
			// Rendering is deterministic.
			again, _ := json.MarshalIndent(Fit(build()), "", "  ")
			if string(again) != string(js) {
				t.Fatal("two renderings differ")
			}
			if len(blocks) > MaxBlocks {
				t.Fatalf("%d blocks", len(blocks))
			}
		})
	}
}

// The JSON Fit produces decodes back with slack-go into the same blocks (what Slack and the fake read).
func TestGoldenRoundTrip(t *testing.T) {
	for name, build := range representative {
		js, _ := json.Marshal(Fit(build()))
		var bs slack.Blocks
		if err := json.Unmarshal(js, &bs); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		again, _ := json.Marshal(bs.BlockSet)
		if string(again) != string(js) {
			t.Errorf("%s: round trip differs:\n%s\n%s", name, js, again)
		}
	}
}
