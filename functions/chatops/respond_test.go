package chatops

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dlibot/dlibot/pkg/notify/slacktest"
)

func testResponder(hosts []string, allowHTTP bool, now func() time.Time) *responder {
	cfg := &Config{ResponseURLHosts: hosts, ResponseURLAllowHTTP: allowHTTP, ResponseBudget: 5, ResponseWindow: 30 * time.Minute}
	return newResponder(cfg, nil, now)
}

func TestResponseURLAllowList(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	r := testResponder([]string{"hooks.slack.com", ".slack-gov.com"}, false, time.Now)
	for _, u := range []string{
		srv.URL + "/x",                      // loopback: not allowed
		"http://hooks.slack.com/commands/1", // http not allowed
		"https://hooks.slack.com.evil.example/x",
		"https://evil.example/hooks.slack.com",
		"https://user@hooks.slack.com/x",
		"ftp://hooks.slack.com/x",
		"https://169.254.169.254/latest/meta-data",
		"://bad",
		"",
	} {
		if err := r.post(context.Background(), u, message{Text: "x"}, true); !errors.Is(err, ErrResponseURL) {
			t.Errorf("%q: err %v, want ErrResponseURL", u, err)
		}
	}
	for _, u := range []string{"https://hooks.slack.com/commands/T/1/x", "https://HOOKS.slack.com/x", "https://hooks.slack-gov.com/x"} {
		if err := r.allowed(u); err != nil {
			t.Errorf("%q refused: %v", u, err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("a refused URL was contacted %d times", hits.Load())
	}
}

func TestResponseURLNoRedirects(t *testing.T) {
	var target atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { target.Add(1) }))
	defer other.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	r := testResponder([]string{"127.0.0.1"}, true, time.Now)
	err := r.post(context.Background(), redirector.URL+"/x", message{Text: "x"}, true)
	if err == nil || !strings.Contains(err.Error(), "307") {
		t.Errorf("err %v, want the redirect reported as a failure", err)
	}
	if target.Load() != 0 {
		t.Error("redirect followed")
	}
}

// TestResponseBudget: five uses at most, the last kept for a final
// message, none after 30 minutes; the Slack fake refuses a 6th post too.
func TestResponseBudget(t *testing.T) {
	sl := slacktest.Start(t)
	ck := &clock{t: testStart}
	r := testResponder([]string{"127.0.0.1"}, true, ck.Now)
	u := sl.ResponseURL("b")
	ctx := context.Background()
	for i := range 4 {
		if err := r.post(ctx, u, message{Text: "progress"}, false); err != nil {
			t.Fatalf("post %d: %v", i+1, err)
		}
	}
	if err := r.post(ctx, u, message{Text: "progress"}, false); !errors.Is(err, ErrResponseBudget) {
		t.Errorf("5th non-final: %v", err)
	}
	if err := r.post(ctx, u, message{Text: "final"}, true); err != nil {
		t.Errorf("5th final: %v", err)
	}
	if err := r.post(ctx, u, message{Text: "more"}, true); !errors.Is(err, ErrResponseBudget) {
		t.Errorf("6th: %v", err)
	}
	if n := len(sl.Responses("b")); n != 5 {
		t.Errorf("fake got %d posts", n)
	}
	u2 := sl.ResponseURL("late")
	if err := r.post(ctx, u2, message{Text: "first"}, false); err != nil {
		t.Fatal(err)
	}
	ck.Advance(31 * time.Minute)
	if err := r.post(ctx, u2, message{Text: "late"}, true); !errors.Is(err, ErrResponseBudget) {
		t.Errorf("after 30 min: %v", err)
	}
}

func TestResponseURLErrorHidesURL(t *testing.T) {
	r := testResponder([]string{"127.0.0.1"}, true, time.Now)
	err := r.post(context.Background(), "http://127.0.0.1:1/secret-capability-path", message{Text: "x"}, true)
	if err == nil || strings.Contains(err.Error(), "secret-capability-path") {
		t.Errorf("error %v leaks the response_url", err)
	}
}
