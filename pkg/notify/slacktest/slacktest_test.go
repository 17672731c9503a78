package slacktest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

func client(srv *slacktest.Server) *slack.Client {
	return slack.New(srv.Token(), slack.OptionAPIURL(srv.URL()))
}

func TestAuth(t *testing.T) {
	srv := slacktest.Start(t)
	resp, err := client(srv).AuthTest()
	if err != nil {
		t.Fatal(err)
	}
	if resp.UserID != slacktest.UserID || resp.TeamID != slacktest.TeamID || resp.BotID != slacktest.BotID {
		t.Fatalf("auth.test %+v", resp)
	}
	if _, err := slack.New("xoxb-wrong", slack.OptionAPIURL(srv.URL())).AuthTest(); err == nil || err.Error() != "invalid_auth" {
		t.Fatalf("wrong token: %v", err)
	}
	// No token at all.
	r, err := http.Post(srv.URL()+"chat.postMessage", "application/x-www-form-urlencoded", strings.NewReader("channel=C1&text=x"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	if body["error"] != "not_authed" {
		t.Fatalf("no token: %v", body)
	}
	for _, c := range srv.Calls() {
		if c.OK() && c.Method != "auth.test" {
			t.Fatalf("unexpected successful call %+v", c)
		}
	}
}

// JSON bodies with a bearer token (how other clients call chat.postMessage) work like forms.
func TestJSONBody(t *testing.T) {
	srv := slacktest.Start(t)
	body := `{"channel":"C0JSON","text":"hello","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*hi*"}}],"reply_broadcast":false}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"chat.postMessage", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+srv.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		OK      bool   `json:"ok"`
		Channel string `json:"channel"`
		TS      string `json:"ts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || !out.OK || out.Channel != "C0JSON" || out.TS == "" {
		t.Fatalf("answer %+v, %v", out, err)
	}
	c := srv.CallsTo("chat.postMessage")[0]
	if c.Text != "hello" || !strings.Contains(string(c.Blocks), `"*hi*"`) {
		t.Fatalf("recorded %+v", c)
	}
}

func TestValidationLikeSlack(t *testing.T) {
	srv := slacktest.Start(t)
	api := client(srv)
	section := func(n int) slack.Block {
		return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, strings.Repeat("x", n), false, false), nil, nil)
	}
	header := func(n int) slack.Block {
		return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("h", n), false, false))
	}
	blocks := func(n int) []slack.Block {
		out := make([]slack.Block, n)
		for i := range out {
			out[i] = slack.NewDividerBlock()
		}
		return out
	}
	btn := func(label string) slack.Block {
		return slack.NewActionBlock("", slack.NewButtonBlockElement("a", "v", slack.NewTextBlockObject(slack.PlainTextType, label, false, false)))
	}
	tests := []struct {
		name   string
		opts   []slack.MsgOption
		result string
	}{
		{"text only", []slack.MsgOption{slack.MsgOptionText("hi", false)}, ""},
		{"nothing", nil, "no_text"},
		{"text too long", []slack.MsgOption{slack.MsgOptionText(strings.Repeat("t", 40001), false)}, "msg_too_long"},
		{"section 3000", []slack.MsgOption{slack.MsgOptionBlocks(section(3000))}, ""},
		{"section 3001", []slack.MsgOption{slack.MsgOptionBlocks(section(3001))}, "invalid_blocks"},
		{"header 150", []slack.MsgOption{slack.MsgOptionBlocks(header(150))}, ""},
		{"header 151", []slack.MsgOption{slack.MsgOptionBlocks(header(151))}, "invalid_blocks"},
		{"50 blocks", []slack.MsgOption{slack.MsgOptionText("x", false), slack.MsgOptionBlocks(blocks(50)...)}, ""},
		{"51 blocks", []slack.MsgOption{slack.MsgOptionText("x", false), slack.MsgOptionBlocks(blocks(51)...)}, "invalid_blocks"},
		{"button 76", []slack.MsgOption{slack.MsgOptionBlocks(btn(strings.Repeat("b", 76)))}, "invalid_blocks"},
		{"total block text", []slack.MsgOption{slack.MsgOptionBlocks(section(3000), section(3000), section(3000), section(3000), section(3000))}, "msg_blocks_too_long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := api.PostMessage("C0VALID", tc.opts...)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.result {
				t.Fatalf("got %q, want %q", got, tc.result)
			}
		})
	}
}

func TestThreadsUpdatesAndChannels(t *testing.T) {
	srv := slacktest.Start(t, slacktest.WithChannels("alerts=C0ALERTS", "C0OTHER"))
	api := client(srv)
	ch, ts, err := api.PostMessage("#alerts", slack.MsgOptionText("root", false))
	if err != nil || ch != "C0ALERTS" {
		t.Fatalf("post by name: %s %v", ch, err)
	}
	if _, _, err := api.PostMessage("#nope", slack.MsgOptionText("x", false)); err == nil || err.Error() != "channel_not_found" {
		t.Fatalf("unknown channel: %v", err)
	}
	if _, _, err := api.PostMessage("C0UNKNOWN", slack.MsgOptionText("x", false)); err == nil || err.Error() != "channel_not_found" {
		t.Fatalf("unknown channel id: %v", err)
	}
	_, r1, err := api.PostMessage(ch, slack.MsgOptionText("reply", false), slack.MsgOptionTS(ts))
	if err != nil {
		t.Fatal(err)
	}
	// A reply to the reply lands in the root's thread.
	if _, _, err := api.PostMessage(ch, slack.MsgOptionText("reply 2", false), slack.MsgOptionTS(r1)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessage(ch, slack.MsgOptionText("x", false), slack.MsgOptionTS("1.1")); err == nil || err.Error() != "thread_not_found" {
		t.Fatalf("reply to a missing thread: %v", err)
	}
	if th := srv.Thread(ch, ts); len(th) != 2 || th[1].Text != "reply 2" {
		t.Fatalf("thread %+v", th)
	}
	if _, _, _, err := api.UpdateMessage(ch, ts, slack.MsgOptionText("edited", false)); err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Message("#alerts", ts); m.Text != "edited" || m.Edits != 1 {
		t.Fatalf("after update %+v", m)
	}
	if _, _, _, err := api.UpdateMessage(ch, "9.9", slack.MsgOptionText("x", false)); err == nil || err.Error() != "message_not_found" {
		t.Fatalf("update missing: %v", err)
	}
}

func TestProgrammedFailures(t *testing.T) {
	srv := slacktest.Start(t)
	api := client(srv)
	srv.Fail("chat.postMessage", 1, slacktest.RateLimited(1500*time.Millisecond))
	srv.Fail("chat.postMessage", 1, slacktest.HTTPError(http.StatusServiceUnavailable))
	srv.Fail("", 1, slacktest.SlackError("not_in_channel"))

	_, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false))
	if rl, ok := err.(*slack.RateLimitedError); !ok || rl.RetryAfter != 2*time.Second {
		t.Fatalf("first: %v, want RateLimitedError 2s (rounded up)", err)
	}
	_, _, err = api.PostMessage("C1", slack.MsgOptionText("x", false))
	if sc, ok := err.(slack.StatusCodeError); !ok || sc.Code != 503 {
		t.Fatalf("second: %#v", err)
	}
	_, _, err = api.PostMessage("C1", slack.MsgOptionText("x", false))
	if err == nil || err.Error() != "not_in_channel" {
		t.Fatalf("third: %v", err)
	}
	if _, _, err = api.PostMessage("C1", slack.MsgOptionText("x", false)); err != nil {
		t.Fatalf("fourth: %v", err)
	}
	calls := srv.CallsTo("chat.postMessage")
	want := []struct {
		status int
		err    string
	}{{429, "ratelimited"}, {503, ""}, {200, "not_in_channel"}, {200, ""}}
	for i, w := range want {
		if calls[i].Status != w.status || calls[i].Error != w.err {
			t.Errorf("call %d: %d %q, want %d %q", i, calls[i].Status, calls[i].Error, w.status, w.err)
		}
	}
}

func TestRateLimitEnforcement(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	srv := slacktest.Start(t, slacktest.WithRateLimit(time.Second, clock))
	api := client(srv)
	post := func(ch string) error { _, _, err := api.PostMessage(ch, slack.MsgOptionText("x", false)); return err }
	if err := post("C1"); err != nil {
		t.Fatal(err)
	}
	advance(400 * time.Millisecond)
	if rl, ok := post("C1").(*slack.RateLimitedError); !ok || rl.RetryAfter != time.Second {
		t.Fatal("second post within the second was not rate limited")
	}
	if err := post("C2"); err != nil {
		t.Fatalf("other channel: %v", err)
	}
	advance(600 * time.Millisecond)
	if err := post("C1"); err != nil {
		t.Fatalf("after a second: %v", err)
	}
}

func TestUploadFlow(t *testing.T) {
	srv := slacktest.Start(t)
	api := client(srv)
	content := bytes.Repeat([]byte("chart"), 1000)
	sum, err := api.UploadFileContext(context.Background(), slack.UploadFileParameters{
		Reader: bytes.NewReader(content), FileSize: len(content), Filename: "c.png", Title: "Chart",
		Channel: "C0UP", InitialComment: "see chart",
	})
	if err != nil {
		t.Fatal(err)
	}
	f := srv.Files()
	if len(f) != 1 || f[0].ID != sum.ID || !bytes.Equal(f[0].Content, content) || f[0].Channel != "C0UP" || f[0].Comment != "see chart" || f[0].Title != "Chart" {
		t.Fatalf("files %+v", f)
	}
	// Completing an upload whose bytes never arrived fails.
	gu, err := api.GetUploadURLExternalContext(context.Background(), slack.GetUploadURLExternalParameters{FileName: "x", FileSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = api.CompleteUploadExternalContext(context.Background(), slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: gu.FileID}}, Channel: "C0UP"})
	if err == nil || err.Error() != "file_not_found" {
		t.Fatalf("complete without bytes: %v", err)
	}
	// The upload URL checks the bearer token.
	req, _ := http.NewRequest(http.MethodPost, gu.UploadURL, strings.NewReader("x"))
	req.Header.Set("Authorization", "Bearer xoxb-wrong")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("upload with a wrong token: %d", resp.StatusCode)
	}
}

func TestResponseURL(t *testing.T) {
	srv := slacktest.Start(t)
	u := srv.ResponseURL("cmd-1")
	for i := range 5 {
		err := slack.PostWebhookContext(context.Background(), u, &slack.WebhookMessage{
			Text: fmt.Sprintf("step %d", i+1), ResponseType: slack.ResponseTypeEphemeral, ReplaceOriginal: i > 0,
		})
		if err != nil {
			t.Fatalf("response %d: %v", i+1, err)
		}
	}
	if err := slack.PostWebhookContext(context.Background(), u, &slack.WebhookMessage{Text: "6th"}); err == nil {
		t.Fatal("a sixth response was accepted; Slack allows 5")
	}
	got := srv.Responses("cmd-1")
	if len(got) != 5 || got[0].Text != "step 1" || got[0].ResponseType != "ephemeral" || got[0].ReplaceOriginal || !got[4].ReplaceOriginal {
		t.Fatalf("responses %+v", got)
	}
	if got := srv.WaitResponses("cmd-1", 5, time.Second); len(got) != 5 {
		t.Fatalf("WaitResponses = %d", len(got))
	}
	if len(srv.Responses("other")) != 0 {
		t.Fatal("responses leak between names")
	}
	// Not JSON.
	resp, err := http.Post(u+"x", "application/json", strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad JSON: %d", resp.StatusCode)
	}
}

func TestConcurrentUse(t *testing.T) {
	srv := slacktest.Start(t)
	api := client(srv)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				if _, _, err := api.PostMessage(fmt.Sprintf("C%d", i+10), slack.MsgOptionText(fmt.Sprint(j), false)); err != nil {
					t.Error(err)
				}
				_ = srv.Calls()
			}
		})
	}
	wg.Wait()
	if n := len(srv.CallsTo("chat.postMessage")); n != 80 {
		t.Fatalf("%d calls", n)
	}
	seen := map[string]bool{}
	for _, c := range srv.Calls() {
		if seen[c.TS] {
			t.Fatalf("duplicate ts %s", c.TS)
		}
		seen[c.TS] = true
	}
}

func TestWaitCalls(t *testing.T) {
	srv := slacktest.Start(t)
	go func() {
		_, _, _ = client(srv).PostMessage("C1", slack.MsgOptionText("async", false))
	}()
	if got := srv.WaitCalls("chat.postMessage", 1, 5*time.Second); len(got) != 1 || got[0].Text != "async" {
		t.Fatalf("WaitCalls = %+v", got)
	}
	if got := srv.WaitCalls("chat.update", 1, 10*time.Millisecond); len(got) != 0 {
		t.Fatalf("WaitCalls on nothing = %+v", got)
	}
}

func TestUnknownMethod(t *testing.T) {
	srv := slacktest.Start(t)
	resp, err := http.PostForm(srv.URL()+"users.list", url.Values{"token": {srv.Token()}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if body["error"] != "unknown_method" {
		t.Fatalf("%v", body)
	}
	if c := srv.CallsTo("users.list"); len(c) != 1 || c[0].Error != "unknown_method" {
		t.Fatalf("unknown method not recorded: %+v", c)
	}
}

func TestPostEphemeral(t *testing.T) {
	srv := slacktest.Start(t)
	ts, err := client(srv).PostEphemeral("C0EPH", "U0123", slack.MsgOptionText("only you", false))
	if err != nil || ts == "" {
		t.Fatalf("ephemeral: %q, %v", ts, err)
	}
	c := srv.CallsTo("chat.postEphemeral")
	if len(c) != 1 || c[0].User != "U0123" || c[0].Text != "only you" || c[0].TS != ts {
		t.Fatalf("calls %+v", c)
	}
	if len(srv.Messages("C0EPH")) != 0 {
		t.Fatal("an ephemeral message was stored as a channel message")
	}
	if _, err := client(srv).PostEphemeral("C0EPH", "", slack.MsgOptionText("x", false)); err == nil {
		t.Fatal("ephemeral without user accepted")
	}
}
