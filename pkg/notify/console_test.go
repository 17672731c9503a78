package notify_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/dlibot/dlibot/internal/golden"
	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

func TestConsoleGolden(t *testing.T) {
	var out bytes.Buffer
	c, err := notify.NewConsole(&out, "#dlibot-dev", notify.WithClock(newFakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	root, err := c.Post(ctx, notify.Message{
		Text: "Flink job failed: orders-etl",
		Blocks: blockkit.Blocks(
			blockkit.Header(":red_circle: Flink job failed: orders-etl"),
			blockkit.Fields(blockkit.Field{Label: "Queue", Value: "etl"}, blockkit.Field{Label: "State", Value: "job_running_exception"}),
			blockkit.Code([]string{"ERROR Task sink(orders_agg) failed", "  at StreamTask.invoke(StreamTask.java:712)"}, 10),
			blockkit.Context("jobwatch", blockkit.Link("https://console.example.com/dli/jobs/10231", "Open in console")),
		),
	})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := c.Reply(ctx, root, notify.Message{Text: "Restarted (attempt 2 of 3) & running <again>"})
	if err != nil {
		t.Fatal(err)
	}
	if reply.ThreadTS != root.TS || reply.Channel != "#dlibot-dev" {
		t.Fatalf("reply ref %+v", reply)
	}
	if _, err := c.Reply(ctx, reply, notify.Message{Text: "Resolved after 12m", Broadcast: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Update(ctx, root, notify.Message{Blocks: blockkit.Blocks(blockkit.Header(":large_green_circle: Resolved: orders-etl"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(ctx, notify.Message{Channel: "#chatops", Blocks: blockkit.Blocks(
		blockkit.Section("Scale queue *etl* to *64* CU?"),
		blockkit.Actions("confirm:1", blockkit.Button{ActionID: "confirm", Text: "Scale", Value: "1", Style: blockkit.Primary},
			blockkit.Button{ActionID: "cancel", Text: "Cancel", Value: "1"}),
	)}); err != nil {
		t.Fatal(err)
	}
	fr, err := c.Upload(ctx, notify.File{Channel: "#autoscale", ThreadTS: root.TS, Name: "etl.png", Title: "etl load", Comment: "Weekly load", Content: []byte("PNGDATA")})
	if err != nil || fr.ID == "" || fr.Channel != "#autoscale" {
		t.Fatalf("upload: %+v, %v", fr, err)
	}
	golden.Check(t, "console.golden.txt", out.Bytes())
}

func TestConsoleBehavesLikeSlack(t *testing.T) {
	c, err := notify.NewConsole(&bytes.Buffer{}, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Post(ctx, notify.Message{}); !errors.Is(err, notify.ErrEmptyMessage) || notify.IsRetryable(err) {
		t.Fatalf("empty message: %v", err)
	}
	if err := c.Update(ctx, notify.Ref{}, notify.Message{Text: "x"}); !errors.Is(err, notify.ErrInvalidMessage) {
		t.Fatalf("update zero ref: %v", err)
	}
	if _, err := c.Upload(ctx, notify.File{Name: "x"}); !errors.Is(err, notify.ErrInvalidMessage) {
		t.Fatalf("empty upload: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.Post(cancelled, notify.Message{Text: "x"}); !notify.IsRetryable(err) {
		t.Fatalf("cancelled post: %v", err)
	}
	a, _ := c.Post(ctx, notify.Message{Text: "a"})
	b, _ := c.Post(ctx, notify.Message{Text: "b"})
	if a.TS == b.TS || a.Channel != "#dlibot" {
		t.Fatalf("refs %+v %+v", a, b)
	}
	if _, err := notify.NewConsole(nil, ""); err == nil {
		t.Fatal("nil writer accepted")
	}
}

// Concurrent posts never interleave their lines.
func TestConsoleConcurrent(t *testing.T) {
	var out testsync.Buffer
	c, _ := notify.NewConsole(&out, "#x")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, _ = c.Post(context.Background(), notify.Message{Text: "line one\nline two"})
		})
	}
	wg.Wait()
	if got := strings.Count(out.String(), "  line one\n  line two\n"); got != 20 {
		t.Fatalf("%d intact messages, want 20:\n%s", got, out.String())
	}
}
