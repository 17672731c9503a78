package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
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

The signing secret is SLACK_SIGNING_SECRET, else the file ` + devSecretFile + `
that 'dlibot dev' writes. Exit status is non-zero when dlibot does not answer
2xx.`

func runSlack(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := hostFlagSet("slack", `dlibot slack [flags] "/dli <text>"`, slackHelp, stdout)
	base := fs.String("url", "http://127.0.0.1:8080", "base URL of the running dlibot")
	userID := fs.String("user", "U0DLIBOTDEV", "Slack user ID to send as")
	userName := fs.String("user-name", "", "Slack user name (default: your login name)")
	channel := fs.String("channel", "C0DLIBOTDEV", "Slack channel ID to send from")
	team := fs.String("team", "T0DLIBOTDEV", "Slack team (workspace) ID")
	secretFile := fs.String("secret-file", devSecretFile, "file holding the signing secret when SLACK_SIGNING_SECRET is unset")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for delayed answers on response_url when the immediate answer is empty (0: do not wait)")
	if err := parseHostFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New(`missing the command, e.g. dlibot slack "/dli queues"`)
	}
	line := strings.TrimSpace(strings.Join(fs.Args(), " "))
	cmd, text, _ := strings.Cut(line, " ")
	if !strings.HasPrefix(cmd, "/") || len(cmd) < 2 {
		return fmt.Errorf("%q is not a slash command (want e.g. \"/dli queues\")", cmd)
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
	target, err := url.Parse(strings.TrimRight(*base, "/") + "/slack/commands")
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

	form := url.Values{
		"token":        {"dlibot-cli"},
		"team_id":      {*team},
		"team_domain":  {"dlibot-dev"},
		"channel_id":   {*channel},
		"channel_name": {"dlibot-dev"},
		"user_id":      {*userID},
		"user_name":    {*userName},
		"command":      {cmd},
		"text":         {text},
		"api_app_id":   {"A0DLIBOTDEV"},
		"response_url": {"http://" + ln.Addr().String() + "/response"},
		"trigger_id":   {randomTriggerID()},
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
