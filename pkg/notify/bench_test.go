package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

// benchAlert renders a jobwatch-style alert with a 40-line log tail, as jobwatch would per incident.
func benchAlert(i int) notify.Message {
	lines := make([]string, 40)
	for j := range lines {
		lines[j] = fmt.Sprintf("2026-11-26 12:04:%02d ERROR stage %d task %d failed: java.util.concurrent.TimeoutException <%d>", j%60, i, j, j)
	}
	return notify.Message{
		Text: fmt.Sprintf("Flink job failed: job-%d", i),
		Blocks: blockkit.Blocks(
			blockkit.Header(fmt.Sprintf(":red_circle: Flink job failed: job-%d", i)),
			blockkit.Fields(
				blockkit.Field{Label: "Job", Value: fmt.Sprintf("job-%d (#%d)", i, 10000+i)}, blockkit.Field{Label: "Engine", Value: "Flink SQL"},
				blockkit.Field{Label: "Queue", Value: "etl"}, blockkit.Field{Label: "State", Value: "job_running_exception"},
			),
			blockkit.Section("*Error*\n"+blockkit.Escape("org.apache.flink.runtime.JobException: Recovery is suppressed <by> NoRestartBackoffTimeStrategy")),
			blockkit.Code(lines, 20),
			blockkit.Context("jobwatch", blockkit.Link("https://console.example.com/dli/jobs/"+fmt.Sprint(i), "Open in console")),
		),
	}
}

// BenchmarkRender: building an alert's blocks and fitting them (no I/O).
func BenchmarkRender(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m := benchAlert(i)
		_ = blockkit.Fit(m.Blocks)
	}
}

// BenchmarkPostToFake: render + chat.postMessage through slack-go to the slacktest fake over
// loopback HTTP, pacing off (one channel per post would be paced by Slack in production).
func BenchmarkPostToFake(b *testing.B) {
	srv := slacktest.Start(b)
	n, err := notify.NewSlack(notify.Config{Token: srv.Token(), APIURL: srv.URL(), Channel: "C0BENCH"}, notify.WithChannelInterval(0))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := n.Post(ctx, benchAlert(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConsole: render + plain-text printing by the console notifier.
func BenchmarkConsole(b *testing.B) {
	c, _ := notify.NewConsole(io.Discard, "#dev")
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Post(ctx, benchAlert(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFitOversized: Fit on a message far over every limit (70 sections of 4,000 chars).
func BenchmarkFitOversized(b *testing.B) {
	var blocks []slack.Block
	for range 70 {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, string(bytes.Repeat([]byte("x "), 2000)), false, false), nil, nil))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = blockkit.Fit(blocks)
	}
}
