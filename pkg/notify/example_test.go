package notify_test

import (
	"context"
	"fmt"
	"os"

	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

// A jobwatch-style incident: post an alert, reply in its thread, then edit the alert to show it
// resolved — against the slacktest fake, as a function's tests would.
func Example() {
	srv := slacktest.New()
	defer srv.Close()
	n, err := notify.NewSlack(notify.Config{Token: srv.Token(), APIURL: srv.URL(), Channel: "C0ALERTS"},
		notify.WithChannelInterval(0)) // no pacing in tests
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	ref, err := n.Post(ctx, notify.Message{
		Text: "Flink job failed: orders-etl",
		Blocks: blockkit.Blocks(
			blockkit.Header(":red_circle: Flink job failed: orders-etl"),
			blockkit.Fields(blockkit.Field{Label: "Queue", Value: "etl"}),
		),
	})
	if err != nil {
		// Callers turn errors into outcomes: notify.IsRetryable(err) → Retry(after), else Drop.
		panic(err)
	}
	if _, err := n.Reply(ctx, ref, notify.Message{Text: "Recovered after 12m"}); err != nil {
		panic(err)
	}
	if err := n.Update(ctx, ref, notify.Message{Text: "Resolved: orders-etl"}); err != nil {
		panic(err)
	}

	root, _ := srv.Message(ref.Channel, ref.TS)
	fmt.Println(ref.String(), "→", root.Text, "| edits:", root.Edits)
	for _, r := range srv.Thread(ref.Channel, ref.TS) {
		fmt.Println("  reply:", r.Text)
	}
	// Output:
	// C0ALERTS/1700000000.000001 → Resolved: orders-etl | edits: 1
	//   reply: Recovered after 12m
}

// The console notifier, as `dlibot dev` uses it without SLACK_BOT_TOKEN.
func ExampleNewConsole() {
	c, err := notify.NewConsole(os.Stdout, "#dlibot-dev")
	if err != nil {
		panic(err)
	}
	_, _ = c.Post(context.Background(), notify.Message{Blocks: blockkit.Blocks(
		blockkit.Header("Import failed: analytics.events"),
		blockkit.Fields(blockkit.Field{Label: "Rule", Value: "events"}),
	)})
}
