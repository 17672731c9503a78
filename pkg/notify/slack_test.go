package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

// fakeClock advances only when slept on, and records every requested sleep.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

const alerts = "C0ALERTS"

// setup starts a fake and a Slack notifier on it with a fake clock (pacing on, 1 s).
func setup(t *testing.T, srvOpts []slacktest.Option, opts ...notify.Option) (*slacktest.Server, *notify.Slack, *fakeClock) {
	t.Helper()
	srv := slacktest.Start(t, srvOpts...)
	clock := newFakeClock()
	n, err := notify.NewSlack(notify.Config{Token: srv.Token(), APIURL: srv.URL(), Channel: alerts},
		append([]notify.Option{notify.WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, n, clock
}

func alertMessage() notify.Message {
	return notify.Message{
		Text: "Flink job failed: orders-etl",
		Blocks: blockkit.Blocks(
			blockkit.Header(":red_circle: Flink job failed: orders-etl"),
			blockkit.Fields(blockkit.Field{Label: "Queue", Value: "etl"}, blockkit.Field{Label: "State", Value: "failed"}),
		),
	}
}

func TestPostReplyUpdateThroughFake(t *testing.T) {
	srv, n, _ := setup(t, nil, notify.WithChannelInterval(0))
	ctx := context.Background()

	msg := alertMessage()
	msg.Channel = "#jobs"
	root, err := n.Post(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if root.Channel != srv.ChannelID("#jobs") || root.TS == "" || root.ThreadTS != "" {
		t.Fatalf("root ref %+v: want the channel's ID and a ts", root)
	}
	reply, err := n.Reply(ctx, root, notify.Message{Text: "Attempt 2 of 3 failed too"})
	if err != nil {
		t.Fatal(err)
	}
	if reply.Channel != root.Channel || reply.ThreadTS != root.TS || reply.TS == root.TS {
		t.Fatalf("reply ref %+v", reply)
	}
	// Replying to a reply stays in the root's thread.
	if _, err := n.Reply(ctx, reply, notify.Message{Text: "Recovered", Broadcast: true}); err != nil {
		t.Fatal(err)
	}
	resolved := notify.Message{Text: "Resolved: orders-etl", Blocks: blockkit.Blocks(blockkit.Header(":large_green_circle: Resolved: orders-etl"))}
	if err := n.Update(ctx, root, resolved); err != nil {
		t.Fatal(err)
	}

	got, ok := srv.Message(root.Channel, root.TS)
	if !ok || got.Text != "Resolved: orders-etl" || got.Edits != 1 {
		t.Fatalf("root after update: %+v", got)
	}
	want, _ := json.Marshal(blockkit.Fit(resolved.Blocks))
	if string(got.Blocks) != string(want) {
		t.Fatalf("blocks after update:\n%s\nwant\n%s", got.Blocks, want)
	}
	thread := srv.Thread(root.Channel, root.TS)
	if len(thread) != 2 || thread[0].Text != "Attempt 2 of 3 failed too" || !thread[1].Broadcast {
		t.Fatalf("thread: %+v", thread)
	}
	if roots := srv.Messages("#jobs"); len(roots) != 1 {
		t.Fatalf("%d root messages, want 1", len(roots))
	}
	posts := srv.CallsTo("chat.postMessage")
	if len(posts) != 3 || posts[0].Text != "Flink job failed: orders-etl" || posts[1].ThreadTS != root.TS || posts[2].ThreadTS != root.TS {
		t.Fatalf("posts: %+v", posts)
	}
	// The default channel is used when the message names none.
	ref, err := n.Post(ctx, notify.Message{Text: "to the default channel"})
	if err != nil || ref.Channel != alerts {
		t.Fatalf("default channel: %+v, %v", ref, err)
	}
}

func TestFallbackTextDerivedFromBlocks(t *testing.T) {
	srv, n, _ := setup(t, nil, notify.WithChannelInterval(0))
	msg := alertMessage()
	msg.Text = ""
	if _, err := n.Post(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	if got := srv.CallsTo("chat.postMessage")[0].Text; got != ":red_circle: Flink job failed: orders-etl" {
		t.Fatalf("fallback text %q", got)
	}
}

// A message far over Block Kit's limits is fitted and accepted; the same blocks sent raw are
// rejected by the fake like Slack would.
func TestOversizedMessageIsFitted(t *testing.T) {
	srv, n, _ := setup(t, nil, notify.WithChannelInterval(0))
	var blocks []slack.Block
	blocks = append(blocks, &slack.HeaderBlock{Type: slack.MBTHeader, Text: slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("H", 300), false, false)})
	for i := range 70 {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, fmt.Sprintf("%d %s", i, strings.Repeat("x", 4000)), false, false), nil, nil))
	}
	msg := notify.Message{Text: strings.Repeat("t", 50000), Blocks: blocks}

	raw := slack.New(srv.Token(), slack.OptionAPIURL(srv.URL()))
	_, _, err := raw.PostMessage(alerts, slack.MsgOptionText("x", false), slack.MsgOptionBlocks(blocks...))
	if err == nil || err.Error() != "invalid_blocks" {
		t.Fatalf("raw oversized post: %v, want invalid_blocks from the fake", err)
	}

	ref, err := n.Post(context.Background(), msg)
	if err != nil {
		t.Fatalf("fitted post: %v", err)
	}
	got, _ := srv.Message(ref.Channel, ref.TS)
	if l := len([]rune(got.Text)); l > blockkit.MaxText {
		t.Fatalf("text of %d chars", l)
	}
	if !strings.Contains(string(got.Blocks), "more blocks not shown") {
		t.Fatal("no truncation marker in the posted blocks")
	}
}

func TestRateLimitedWaitsRetryAfterAndDeliversOnce(t *testing.T) {
	srv, n, clock := setup(t, nil)
	srv.Fail("chat.postMessage", 2, slacktest.RateLimited(3*time.Second))

	ref, err := n.Post(context.Background(), alertMessage())
	if err != nil {
		t.Fatal(err)
	}
	if got := clock.Sleeps(); len(got) != 2 || got[0] != 3*time.Second || got[1] != 3*time.Second {
		t.Fatalf("sleeps %v, want [3s 3s] (the Retry-After, twice)", got)
	}
	calls := srv.CallsTo("chat.postMessage")
	if len(calls) != 3 || calls[0].Status != http.StatusTooManyRequests || !calls[2].OK() {
		t.Fatalf("calls: %+v", calls)
	}
	if msgs := srv.Messages(alerts); len(msgs) != 1 || msgs[0].TS != ref.TS {
		t.Fatalf("delivered %d messages, want exactly 1", len(msgs))
	}
}

func TestRateLimitHoldsTheChannelForOtherPosts(t *testing.T) {
	srv, n, clock := setup(t, nil, notify.WithMaxRetries(0))
	srv.Fail("chat.postMessage", 1, slacktest.RateLimited(5*time.Second))
	ctx := context.Background()
	if _, err := n.Post(ctx, alertMessage()); !errors.Is(err, notify.ErrRateLimited) {
		t.Fatalf("first post: %v, want ErrRateLimited", err)
	}
	if _, err := n.Post(ctx, alertMessage()); err != nil {
		t.Fatal(err)
	}
	if got := clock.Sleeps(); len(got) != 1 || got[0] != 5*time.Second {
		t.Fatalf("sleeps %v: the next post to the channel should wait out the Retry-After", got)
	}
}

func TestRateLimitGivesUpRetryable(t *testing.T) {
	srv, n, clock := setup(t, nil, notify.WithMaxRetries(2))
	srv.Fail("chat.postMessage", 10, slacktest.RateLimited(2*time.Second))

	_, err := n.Post(context.Background(), alertMessage())
	if !errors.Is(err, notify.ErrRateLimited) || !notify.IsRetryable(err) {
		t.Fatalf("err %v: want a retryable ErrRateLimited", err)
	}
	if after, ok := notify.RetryAfter(err); !ok || after != 2*time.Second {
		t.Fatalf("RetryAfter = %v, %v", after, ok)
	}
	if n := len(srv.CallsTo("chat.postMessage")); n != 3 {
		t.Fatalf("%d calls, want 3 (1 + 2 retries)", n)
	}
	if got := clock.Sleeps(); len(got) != 2 {
		t.Fatalf("sleeps %v, want 2", got)
	}
	if len(srv.Messages(alerts)) != 0 {
		t.Fatal("a message was delivered")
	}
}

func TestLongRetryAfterIsReturnedNotWaited(t *testing.T) {
	srv, n, clock := setup(t, nil, notify.WithMaxWait(30*time.Second))
	srv.Fail("chat.postMessage", 1, slacktest.RateLimited(2*time.Minute))
	_, err := n.Post(context.Background(), alertMessage())
	if after, ok := notify.RetryAfter(err); !ok || after != 2*time.Minute || !notify.IsRetryable(err) {
		t.Fatalf("err %v: want retryable with RetryAfter 2m", err)
	}
	if len(clock.Sleeps()) != 0 || len(srv.CallsTo("chat.postMessage")) != 1 {
		t.Fatalf("slept %v after %d calls; want no wait and one call", clock.Sleeps(), len(srv.CallsTo("chat.postMessage")))
	}
}

func Test429WithoutRetryAfterWaitsOneSecond(t *testing.T) {
	srv, n, clock := setup(t, nil, notify.WithChannelInterval(0))
	srv.Fail("chat.postMessage", 1, slacktest.RateLimited(0))
	if _, err := n.Post(context.Background(), alertMessage()); err != nil {
		t.Fatal(err)
	}
	if got := clock.Sleeps(); len(got) != 1 || got[0] != time.Second {
		t.Fatalf("sleeps %v, want [1s]", got)
	}
}

func TestServerErrorIsRetryableAndNotResent(t *testing.T) {
	srv, n, clock := setup(t, nil)
	srv.Fail("chat.postMessage", 1, slacktest.HTTPError(http.StatusInternalServerError))
	_, err := n.Post(context.Background(), alertMessage())
	var ne *notify.Error
	if !errors.As(err, &ne) || !ne.Retryable || !errors.Is(err, notify.ErrUnavailable) || ne.Code != "http_500" {
		t.Fatalf("err %#v", err)
	}
	// Not re-sent in-process: a 5xx may hide a delivered post; the caller's retry decides.
	if n := len(srv.CallsTo("chat.postMessage")); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
	if len(clock.Sleeps()) != 0 {
		t.Fatal("slept after a 500")
	}
}

func TestSlackErrorCodes(t *testing.T) {
	tests := []struct {
		code      string
		kind      error
		retryable bool
	}{
		{"invalid_auth", notify.ErrAuth, false},
		{"token_revoked", notify.ErrAuth, false},
		{"missing_scope", notify.ErrPermission, false},
		{"channel_not_found", notify.ErrChannelNotFound, false},
		{"not_in_channel", notify.ErrNotInChannel, false},
		{"is_archived", notify.ErrChannelArchived, false},
		{"msg_too_long", notify.ErrMessageTooLong, false},
		{"msg_blocks_too_long", notify.ErrMessageTooLong, false},
		{"invalid_blocks", notify.ErrInvalidMessage, false},
		{"internal_error", notify.ErrUnavailable, true},
		{"ratelimited", notify.ErrRateLimited, true},
		{"something_new", notify.ErrSlack, false},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			srv, n, _ := setup(t, nil, notify.WithMaxRetries(0))
			srv.Fail("chat.postMessage", 1, slacktest.SlackError(tc.code))
			_, err := n.Post(context.Background(), alertMessage())
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err %v, want %v", err, tc.kind)
			}
			if notify.IsRetryable(err) != tc.retryable {
				t.Fatalf("IsRetryable(%v) = %v, want %v", err, !tc.retryable, tc.retryable)
			}
			var ne *notify.Error
			if !errors.As(err, &ne) || ne.Code != tc.code || ne.Op != "post" || ne.Channel != alerts {
				t.Fatalf("error fields %+v", ne)
			}
			if !strings.Contains(err.Error(), tc.code) {
				t.Fatalf("message %q does not name the code", err)
			}
		})
	}
}

func TestUpdateErrors(t *testing.T) {
	srv, n, _ := setup(t, nil, notify.WithChannelInterval(0))
	ctx := context.Background()
	err := n.Update(ctx, notify.Ref{Channel: alerts, TS: "1.000001"}, notify.Message{Text: "x"})
	if !errors.Is(err, notify.ErrMessageNotFound) || notify.IsRetryable(err) {
		t.Fatalf("update of a missing message: %v", err)
	}
	ref, err := n.Post(ctx, notify.Message{Channel: "#named", Text: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Update(ctx, ref, notify.Message{Text: "y"}); err != nil {
		t.Fatalf("update through the returned ref (an ID): %v", err)
	}
	// chat.update wants an ID: a name fails like in Slack, which is why Refs keep the ID.
	if err := n.Update(ctx, notify.Ref{Channel: "#named", TS: ref.TS}, notify.Message{Text: "z"}); !errors.Is(err, notify.ErrChannelNotFound) {
		t.Fatalf("update by name: %v", err)
	}
	_ = srv
}

func TestLocalValidation(t *testing.T) {
	srv := slacktest.Start(t)
	n, err := notify.NewSlack(notify.Config{Token: srv.Token(), APIURL: srv.URL()}, notify.WithChannelInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, tc := range map[string]struct {
		call func() error
		kind error
	}{
		"empty message": {func() error { _, err := n.Post(ctx, notify.Message{Channel: alerts}); return err }, notify.ErrEmptyMessage},
		"no channel":    {func() error { _, err := n.Post(ctx, notify.Message{Text: "x"}); return err }, notify.ErrNoChannel},
		"only nil blocks": {func() error {
			_, err := n.Post(ctx, notify.Message{Channel: alerts, Blocks: blockkit.Blocks(blockkit.Fields(), blockkit.Code(nil, 0))})
			return err
		}, notify.ErrEmptyMessage},
		"only nil blocks (typed)": {func() error {
			_, err := n.Post(ctx, notify.Message{Channel: alerts, Blocks: []slack.Block{blockkit.Fields()}})
			return err
		}, notify.ErrEmptyMessage},
		"reply to zero": {func() error { _, err := n.Reply(ctx, notify.Ref{}, notify.Message{Text: "x"}); return err }, notify.ErrInvalidMessage},
		"update zero":   {func() error { return n.Update(ctx, notify.Ref{}, notify.Message{Text: "x"}) }, notify.ErrInvalidMessage},
		"broadcast without thread": {func() error {
			_, err := n.Post(ctx, notify.Message{Channel: alerts, Text: "x", Broadcast: true})
			return err
		}, notify.ErrInvalidMessage},
		"upload without name": {func() error {
			_, err := n.Upload(ctx, notify.File{Channel: alerts, Content: []byte("x")})
			return err
		}, notify.ErrInvalidMessage},
		"upload empty": {func() error { _, err := n.Upload(ctx, notify.File{Channel: alerts, Name: "a.png"}); return err }, notify.ErrInvalidMessage},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, tc.kind) || notify.IsRetryable(err) {
				t.Fatalf("err %v, want non-retryable %v", err, tc.kind)
			}
		})
	}
	if c := srv.Calls(); len(c) != 0 {
		t.Fatalf("invalid input reached Slack: %+v", c)
	}
}

func TestConfig(t *testing.T) {
	if _, err := notify.NewSlack(notify.Config{}); err == nil {
		t.Fatal("NewSlack without a token succeeded")
	}
	for _, bad := range []string{"ftp://x/api/", "not a url", "http://"} {
		if err := (notify.Config{Token: "xoxb-1", APIURL: bad}).Validate(); err == nil {
			t.Errorf("APIURL %q accepted", bad)
		}
	}
	for _, opt := range []notify.Option{notify.WithChannelInterval(-1), notify.WithMaxRetries(-1), notify.WithMaxWait(-1), notify.WithClock(nil), notify.WithLogger(nil), notify.WithHTTPClient(nil)} {
		if _, err := notify.NewSlack(notify.Config{Token: "xoxb-1"}, opt); err == nil {
			t.Error("invalid option accepted")
		}
	}
	// A pacing interval longer than the longest wait would refuse every second post.
	for _, opts := range [][]notify.Option{{notify.WithChannelInterval(time.Minute)}, {notify.WithChannelInterval(2 * time.Second), notify.WithMaxWait(time.Second)}} {
		if _, err := notify.NewSlack(notify.Config{Token: "xoxb-1"}, opts...); err == nil {
			t.Error("interval > max wait accepted")
		}
	}
	// A base URL without the trailing slash works.
	srv := slacktest.Start(t)
	n, err := notify.NewSlack(notify.Config{Token: srv.Token(), APIURL: strings.TrimSuffix(srv.URL(), "/")}, notify.WithChannelInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Post(context.Background(), notify.Message{Channel: alerts, Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	// New picks the console without a token, Slack with one.
	if c, err := notify.New(notify.Config{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	} else if _, ok := c.(*notify.Console); !ok {
		t.Fatalf("New without token = %T", c)
	}
	if s, err := notify.New(notify.Config{Token: "xoxb-1"}, nil); err != nil {
		t.Fatal(err)
	} else if _, ok := s.(*notify.Slack); !ok {
		t.Fatalf("New with token = %T", s)
	}
}

func TestPacingPerChannel(t *testing.T) {
	clock := newFakeClock()
	// The fake enforces Slack's 1 message/s/channel on the same clock: any 429 means the pacing failed.
	srv, n, _ := func() (*slacktest.Server, *notify.Slack, *fakeClock) {
		srv := slacktest.Start(t, slacktest.WithRateLimit(time.Second, clock.Now))
		n, err := notify.NewSlack(notify.Config{Token: srv.Token(), APIURL: srv.URL()}, notify.WithClock(clock), notify.WithMaxRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		return srv, n, clock
	}()
	ctx := context.Background()
	post := func(ch string) {
		t.Helper()
		if _, err := n.Post(ctx, notify.Message{Channel: ch, Text: "m"}); err != nil {
			t.Fatalf("post to %s: %v", ch, err)
		}
	}
	start := clock.Now()
	post("C0A") // t=0
	post("C0A") // waits 1s
	post("C0B") // another channel: no wait
	post("C0A") // waits 1s more
	post("C0B") // B's last post was at t=1s, now t=2s: no wait
	if got := clock.Sleeps(); len(got) != 2 || got[0] != time.Second || got[1] != time.Second {
		t.Fatalf("sleeps %v, want [1s 1s]", got)
	}
	if el := clock.Now().Sub(start); el != 2*time.Second {
		t.Fatalf("3 posts to one channel took %v of clock time, want 2s", el)
	}
	for _, c := range srv.Calls() {
		if !c.OK() {
			t.Fatalf("the fake rate-limited a paced post: %+v", c)
		}
	}
	if len(srv.Messages("C0A")) != 3 || len(srv.Messages("C0B")) != 2 {
		t.Fatal("messages missing")
	}
}

// Concurrent writers to different channels: only same-channel writes wait, and the fake never sees
// two posts to one channel less than a second apart.
func TestPacingConcurrent(t *testing.T) {
	clock := newFakeClock()
	srv := slacktest.Start(t, slacktest.WithRateLimit(time.Second, clock.Now))
	n, err := notify.NewSlack(notify.Config{Token: srv.Token(), APIURL: srv.URL()}, notify.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, ch := range []string{"C0A", "C0B", "C0C", "C0D"} {
		wg.Go(func() {
			if _, err := n.Post(context.Background(), notify.Message{Channel: ch, Text: "first"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := clock.Sleeps(); len(got) != 0 {
		t.Fatalf("first posts to four channels waited %v", got)
	}
	if c := srv.Calls(); len(c) != 4 {
		t.Fatalf("%d calls", len(c))
	}
}

func TestPacingHonoursContext(t *testing.T) {
	srv := slacktest.Start(t)
	n, err := notify.NewSlack(notify.Config{Token: srv.Token(), APIURL: srv.URL(), Channel: alerts}, notify.WithChannelInterval(time.Hour), notify.WithMaxWait(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Post(context.Background(), notify.Message{Text: "1"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = n.Post(ctx, notify.Message{Text: "2"})
	if !errors.Is(err, context.DeadlineExceeded) || !notify.IsRetryable(err) {
		t.Fatalf("err %v: want a retryable deadline error", err)
	}
	if c := srv.CallsTo("chat.postMessage"); len(c) != 1 {
		t.Fatalf("%d posts reached the fake", len(c))
	}
}

func TestUpload(t *testing.T) {
	srv, n, _ := setup(t, nil, notify.WithChannelInterval(0))
	ctx := context.Background()
	root, err := n.Post(ctx, notify.Message{Text: "Scaling plan for etl"})
	if err != nil {
		t.Fatal(err)
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 4096)...)
	fr, err := n.Upload(ctx, notify.File{ThreadTS: root.TS, Name: "etl-load.png", Title: "etl weekly load",
		AltText: "weekly load chart", Comment: "Learned load, 4 weeks", Content: png})
	if err != nil {
		t.Fatal(err)
	}
	files := srv.Files()
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	f := files[0]
	if f.ID != fr.ID || fr.Channel != alerts || !bytes.Equal(f.Content, png) || f.Name != "etl-load.png" ||
		f.Title != "etl weekly load" || f.Channel != alerts || f.ThreadTS != root.TS || !f.Completed ||
		f.AltText != "weekly load chart" || f.Comment != "Learned load, 4 weeks" {
		t.Fatalf("file %+v (ref %+v)", f, fr)
	}
	var methods []string
	for _, c := range srv.Calls()[1:] {
		methods = append(methods, c.Method)
	}
	if got := strings.Join(methods, ","); got != "files.getUploadURLExternal,upload,files.completeUploadExternal" {
		t.Fatalf("upload flow %s", got)
	}
}

func TestUploadRateLimitedRestartsFlow(t *testing.T) {
	srv, n, clock := setup(t, nil)
	srv.Fail("files.completeUploadExternal", 1, slacktest.RateLimited(2*time.Second))
	if _, err := n.Upload(context.Background(), notify.File{Name: "a.txt", Content: []byte("hello")}); err != nil {
		t.Fatal(err)
	}
	if got := clock.Sleeps(); len(got) != 1 || got[0] != 2*time.Second {
		t.Fatalf("sleeps %v", got)
	}
	var done int
	for _, f := range srv.Files() {
		if f.Completed {
			done++
		}
	}
	if done != 1 {
		t.Fatalf("%d completed files, want 1", done)
	}
}

func TestNetworkErrorIsRetryable(t *testing.T) {
	srv := slacktest.New()
	url := srv.URL()
	srv.Close()
	n, err := notify.NewSlack(notify.Config{Token: "xoxb-111-222-secretsecret", APIURL: url, Channel: alerts})
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Post(context.Background(), notify.Message{Text: "x"})
	if !errors.Is(err, notify.ErrUnavailable) || !notify.IsRetryable(err) {
		t.Fatalf("err %v", err)
	}
}

// After a long Retry-After, later posts to the channel fail fast with the remaining wait instead of
// sleeping through it; other channels are unaffected.
func TestLongHoldFailsFastForLaterPosts(t *testing.T) {
	srv, n, clock := setup(t, nil, notify.WithMaxWait(30*time.Second))
	srv.Fail("chat.postMessage", 1, slacktest.RateLimited(2*time.Minute))
	ctx := context.Background()
	if _, err := n.Post(ctx, alertMessage()); !errors.Is(err, notify.ErrRateLimited) {
		t.Fatalf("first: %v", err)
	}
	_, err := n.Post(ctx, alertMessage())
	var ne *notify.Error
	if !errors.As(err, &ne) || ne.Code != "paced" || !ne.Retryable || ne.RetryAfter != 2*time.Minute {
		t.Fatalf("second: %v, want a retryable paced error with 2m left", err)
	}
	if _, err := n.Post(ctx, notify.Message{Channel: "C0OTHER", Text: "x"}); err != nil {
		t.Fatalf("other channel: %v", err)
	}
	if len(clock.Sleeps()) != 0 || len(srv.CallsTo("chat.postMessage")) != 2 {
		t.Fatalf("sleeps %v, %d calls; want none and 2", clock.Sleeps(), len(srv.CallsTo("chat.postMessage")))
	}
}

func TestErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		fail slacktest.Failure
		want string
	}{
		{slacktest.SlackError("not_in_channel"), "notify: slack post to C0ALERTS: bot is not in the channel (not_in_channel); not retryable (invite the bot to the channel with /invite)"},
		{slacktest.SlackError("invalid_auth"), "notify: slack post to C0ALERTS: Slack rejected the bot token (invalid_auth); not retryable (check SLACK_BOT_TOKEN)"},
		{slacktest.HTTPError(http.StatusBadGateway), "notify: slack post to C0ALERTS: Slack unavailable (http_502): slack server error: 502 Bad Gateway"},
		{slacktest.RateLimited(3 * time.Second), "notify: slack post to C0ALERTS: rate limited by Slack (ratelimited): slack rate limit exceeded, retry after 3s"},
	} {
		srv, n, _ := setup(t, nil, notify.WithMaxRetries(0))
		srv.Fail("", 1, tc.fail)
		_, err := n.Post(context.Background(), notify.Message{Text: "x"})
		if err == nil || err.Error() != tc.want {
			t.Errorf("got  %v\nwant %s", err, tc.want)
		}
	}
	_, n, _ := setup(t, nil)
	_, err := n.Post(context.Background(), notify.Message{})
	if want := "notify: slack post to C0ALERTS: invalid message: no text and no blocks; not retryable"; err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

// A channel posted to by name and then by its ID is paced as one channel.
func TestPacingKnowsNameAndID(t *testing.T) {
	srv, n, clock := setup(t, nil)
	ctx := context.Background()
	ref, err := n.Post(ctx, notify.Message{Channel: "#jobs", Text: "by name"})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Update(ctx, ref, notify.Message{Text: "by id"}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Post(ctx, notify.Message{Channel: "#jobs", Text: "by name again"}); err != nil {
		t.Fatal(err)
	}
	if got := clock.Sleeps(); len(got) != 2 || got[0] != time.Second || got[1] != time.Second {
		t.Fatalf("sleeps %v, want [1s 1s]", got)
	}
	_ = srv
}
