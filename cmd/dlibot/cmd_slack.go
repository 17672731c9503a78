package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dlibot/dlibot/pkg/host/slacksig"
)

func init() {
	register("slack", command{
		summary: `send a signed Slack slash command to a running dlibot, e.g. dlibot slack "/dli queues"`,
		run:     runSlack,
	})
}

// devSecretFile is where `dlibot dev` saves the Slack signing secret it
// generates (relative to the working directory).
const devSecretFile = ".dlibot/slack-signing-secret"

const slackHelp = `
Sends "/command text…" as Slack would: a form-encoded slash command (command,
text, user_id, user_name, channel_id, channel_name, team_id, team_domain,
response_url, trigger_id) signed with the v0 scheme (X-Slack-Signature,
X-Slack-Request-Timestamp), POSTed to <url>/slack/commands. It prints the
response body; when the immediate answer is empty it waits (see --wait) for
delayed answers dlibot posts to the response_url (a local listener) and prints
them too. So you can try chatops without a Slack workspace.

With --click ACTION_ID [--value VALUE] it clicks a button instead: a signed
block_actions interaction (payload=<JSON>) POSTed to <url>/slack/interactions,
e.g. to confirm a change dlibot asked about (the button's action_id and value
are in the earlier answer's blocks); --user clicks as someone else (a second
person's approval).

The signing secret is SLACK_SIGNING_SECRET, else the file ` + devSecretFile + `
that 'dlibot dev' writes. Exit status is non-zero when dlibot does not answer
2xx.`

func runSlack(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := hostFlagSet("slack", `dlibot slack [flags] "/dli <text>"  |  dlibot slack --click ACTION_ID [--value VALUE]`, slackHelp, stdout)
	base := fs.String("url", "http://127.0.0.1:8080", "base URL of the running dlibot")
	userID := fs.String("user", "U0DLIBOTDEV", "Slack user ID to send as")
	userName := fs.String("user-name", "", "Slack user name (default: your login name)")
	channel := fs.String("channel", "C0DLIBOTDEV", "Slack channel ID to send from")
	team := fs.String("team", "T0DLIBOTDEV", "Slack team (workspace) ID")
	secretFile := fs.String("secret-file", devSecretFile, "file holding the signing secret when SLACK_SIGNING_SECRET is unset")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for delayed answers on response_url when the immediate answer is empty (0: do not wait)")
	click := fs.String("click", "", "instead of a slash command, click the button with this action_id (e.g. confirm, cancel, approve, deny) of an earlier answer")
	value := fs.String("value", "", "the clicked button's value (from the earlier answer's blocks), with --click")
	if err := parseHostFlags(fs, args); err != nil {
		return helpOK(err)
	}
	var cmd, text string
	switch {
	case *click != "" && fs.NArg() > 0:
		return errors.New("--click sends a button click; do not also give a slash command")
	case *click == "" && *value != "":
		return errors.New("--value goes with --click")
	case *click == "" && fs.NArg() == 0:
		fs.Usage()
		return errors.New(`missing the command, e.g. dlibot slack "/dli queues"`)
	case *click == "":
		line := strings.TrimSpace(strings.Join(fs.Args(), " "))
		cmd, text, _ = strings.Cut(line, " ")
		if !strings.HasPrefix(cmd, "/") || len(cmd) < 2 {
			return fmt.Errorf("%q is not a slash command (want e.g. \"/dli queues\")", cmd)
		}
	}
	secret, err := slackSecret(*secretFile)
	if err != nil {
		return err
	}
	if *userName == "" {
		*userName = "dev"
		if u, err := user.Current(); err == nil && u.Username != "" {
			*userName = u.Username
		}
	}
	route := "/slack/commands"
	if *click != "" {
		route = "/slack/interactions"
	}
	target, err := url.Parse(strings.TrimRight(*base, "/") + route)
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") {
		return fmt.Errorf("--url %q is not an http(s) URL", *base)
	}

	// A local listener receives delayed answers posted to response_url.
	delayed := make(chan string, 16)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rs := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		select {
		case delayed <- string(b):
		default:
		}
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = rs.Serve(ln) }()
	defer rs.Close()

	responseURL := "http://" + ln.Addr().String() + "/response"
	var form url.Values
	if *click != "" {
		if form, err = interactionForm(*click, *value, *userID, *userName, *channel, *team, responseURL); err != nil {
			return err
		}
	} else {
		form = slashForm(cmd, text, *userID, *userName, *channel, *team, responseURL)
	}
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target.String(), strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	slacksig.SetHeaders(req.Header, secret, time.Now(), []byte(body))
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("is dlibot running at %s? %w", *base, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if len(answer) > 0 {
		fmt.Fprintln(stdout, strings.TrimRight(string(answer), "\n"))
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", target, resp.Status)
	}
	if len(strings.TrimSpace(string(answer))) == 0 && *wait > 0 {
		t := time.NewTimer(*wait)
		defer t.Stop()
		select {
		case d := <-delayed:
			fmt.Fprintln(stdout, strings.TrimRight(d, "\n"))
		case <-t.C:
			fmt.Fprintf(stderr, "no answer on response_url within %s\n", *wait)
		case <-ctx.Done():
		}
	}
	return nil
}

// slackSecret returns SLACK_SIGNING_SECRET or the content of file.
func slackSecret(file string) (string, error) {
	if s := os.Getenv("SLACK_SIGNING_SECRET"); s != "" {
		return s, nil
	}
	b, err := os.ReadFile(filepath.Clean(file))
	if err != nil {
		return "", fmt.Errorf("no signing secret: SLACK_SIGNING_SECRET is unset and %s cannot be read (start 'dlibot dev' in this directory, or set SLACK_SIGNING_SECRET): %w", file, errors.Unwrap(err))
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("no signing secret: %s is empty", file)
	}
	return s, nil
}

func randomTriggerID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "dlibot." + hex.EncodeToString(b[:])
}

// slashForm is the form Slack posts for a slash command.
func slashForm(cmd, text, userID, userName, channel, team, responseURL string) url.Values {
	return url.Values{
		"token":        {"dlibot-cli"},
		"team_id":      {team},
		"team_domain":  {"dlibot-dev"},
		"channel_id":   {channel},
		"channel_name": {"dlibot-dev"},
		"user_id":      {userID},
		"user_name":    {userName},
		"command":      {cmd},
		"text":         {text},
		"api_app_id":   {"A0DLIBOTDEV"},
		"response_url": {responseURL},
		"trigger_id":   {randomTriggerID()},
	}
}

// interactionForm is the form Slack posts when a user clicks a button: a
// block_actions payload.
func interactionForm(actionID, value, userID, userName, channel, team, responseURL string) (url.Values, error) {
	type idOnly struct {
		ID string `json:"id"`
	}
	payload := map[string]any{
		"type":         "block_actions",
		"user":         map[string]string{"id": userID, "username": userName, "name": userName, "team_id": team},
		"api_app_id":   "A0DLIBOTDEV",
		"token":        "dlibot-cli",
		"team":         idOnly{team},
		"channel":      idOnly{channel},
		"container":    map[string]string{"type": "message", "channel_id": channel},
		"trigger_id":   randomTriggerID(),
		"response_url": responseURL,
		"actions": []map[string]string{{
			"type": "button", "action_id": actionID, "block_id": "dlibot-cli", "value": value,
			"action_ts": strconv.FormatInt(time.Now().Unix(), 10),
		}},
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	return url.Values{"payload": {string(b)}}, nil
}
