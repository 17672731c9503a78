package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeDlibot verifies the Slack signature independently of slacksig and
// answers with what it parsed.
func fakeDlibot(t *testing.T, secret string, delayed bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/slack/commands" {
			http.Error(w, "wrong route "+r.Method+" "+r.URL.Path, 404)
			return
		}
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get("X-Slack-Request-Timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
			http.Error(w, "bad timestamp", 401)
			return
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte("v0:" + ts + ":"))
		mac.Write(body)
		if r.Header.Get("X-Slack-Signature") != "v0="+hex.EncodeToString(mac.Sum(nil)) {
			http.Error(w, "bad signature", 401)
			return
		}
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			http.Error(w, "bad content type", 400)
			return
		}
		f, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		for _, k := range []string{"command", "text", "user_id", "user_name", "channel_id", "team_id", "response_url", "trigger_id"} {
			if f.Get(k) == "" && k != "text" {
				http.Error(w, "missing "+k, 400)
				return
			}
		}
		answer := "command=" + f.Get("command") + " text=" + f.Get("text") + " user=" + f.Get("user_id") + " channel=" + f.Get("channel_id")
		if delayed {
			w.WriteHeader(200) // empty ack, the answer follows on response_url
			go func() {
				resp, err := http.Post(f.Get("response_url"), "application/json", strings.NewReader(`{"text":"delayed `+answer+`"}`))
				if err == nil {
					resp.Body.Close()
				}
			}()
			return
		}
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSlackSendsSignedSlashCommand(t *testing.T) {
	srv := fakeDlibot(t, "planted-cli-secret", false)
	code, out, errOut := runCLI(t, map[string]string{"SLACK_SIGNING_SECRET": "planted-cli-secret"},
		"slack", "--url", srv.URL, "--user", "U123", "--channel", "C456", "/dli queue etl")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if want := "command=/dli text=queue etl user=U123 channel=C456\n"; out != want {
		t.Fatalf("stdout %q, want %q", out, want)
	}
	if strings.Contains(out+errOut, "planted-cli-secret") {
		t.Fatal("secret printed")
	}
}

func TestSlackSecretFromDevFileAndDelayedAnswer(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("file-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := fakeDlibot(t, "file-secret", true)
	code, out, errOut := runCLI(t, nil, "slack", "--url", srv.URL, "--secret-file", file, "/dli", "queues")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if !strings.Contains(out, `"delayed command=/dli text=queues`) {
		t.Fatalf("stdout %q lacks the delayed answer", out)
	}
}

func TestSlackErrors(t *testing.T) {
	srv := fakeDlibot(t, "right", false)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"wrong secret → 401 and non-zero exit", map[string]string{"SLACK_SIGNING_SECRET": "wrong"}, []string{"--url", srv.URL, "/dli queues"}, "401"},
		{"not a slash command", map[string]string{"SLACK_SIGNING_SECRET": "right"}, []string{"--url", srv.URL, "dli queues"}, "not a slash command"},
		{"no secret anywhere", nil, []string{"--url", srv.URL, "--secret-file", filepath.Join(t.TempDir(), "none"), "/dli queues"}, "SLACK_SIGNING_SECRET"},
		{"nothing to send", map[string]string{"SLACK_SIGNING_SECRET": "right"}, []string{"--url", srv.URL}, "missing the command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.env, append([]string{"slack"}, tt.args...)...)
			if code == 0 {
				t.Fatalf("exit 0: %s", out)
			}
			if !strings.Contains(errOut, tt.want) {
				t.Fatalf("stderr %q lacks %q", errOut, tt.want)
			}
		})
	}
}

func TestSlackClickSendsSignedInteraction(t *testing.T) {
	const secret = "click-secret"
	var got struct {
		Type string `json:"type"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		Channel struct {
			ID string `json:"id"`
		} `json:"channel"`
		ResponseURL string `json:"response_url"`
		Actions     []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"actions"`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts := r.Header.Get("X-Slack-Request-Timestamp")
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte("v0:" + ts + ":"))
		mac.Write(body)
		if r.URL.Path != "/slack/interactions" || r.Header.Get("X-Slack-Signature") != "v0="+hex.EncodeToString(mac.Sum(nil)) {
			http.Error(w, "bad route or signature", 401)
			return
		}
		f, _ := url.ParseQuery(string(body))
		if err := json.Unmarshal([]byte(f.Get("payload")), &got); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.WriteHeader(200)
		go func() { // the answer comes on response_url, as Slack apps do
			resp, err := http.Post(got.ResponseURL, "application/json", strings.NewReader(`{"text":"scaled etl to 64 CU"}`))
			if err == nil {
				resp.Body.Close()
			}
		}()
	}))
	defer srv.Close()
	code, out, errOut := runCLI(t, map[string]string{"SLACK_SIGNING_SECRET": secret},
		"slack", "--url", srv.URL, "--user", "U2", "--channel", "C9", "--click", "confirm", "--value", "chg-123")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	if got.Type != "block_actions" || got.User.ID != "U2" || got.Channel.ID != "C9" || len(got.Actions) != 1 ||
		got.Actions[0].ActionID != "confirm" || got.Actions[0].Value != "chg-123" {
		t.Fatalf("payload %+v", got)
	}
	if !strings.Contains(out, "scaled etl to 64 CU") {
		t.Fatalf("stdout %q lacks the delayed answer", out)
	}
	if code, _, errOut := runCLI(t, map[string]string{"SLACK_SIGNING_SECRET": secret}, "slack", "--click", "confirm", "/dli queues"); code == 0 || !strings.Contains(errOut, "--click") {
		t.Fatalf("click with a command: exit %d %q", code, errOut)
	}
}
