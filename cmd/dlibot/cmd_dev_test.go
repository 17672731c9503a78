//go:build !lambda.norpc

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dlibot/dlibot/internal/testsync"
	"github.com/dlibot/dlibot/pkg/host"
)

// TestDevCommandBootsAndPrintsWorkingCommands runs `dlibot dev` in-process
// on random ports in a temporary working directory and runs what it prints.
func TestDevCommandBootsAndPrintsWorkingCommands(t *testing.T) {
	// No configuration at all, as on a fresh clone: every function that
	// needs a file (chatops' policy, obsimport's rules) falls back to its
	// built-in dev one.
	for _, k := range []string{"SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "HUAWEICLOUD_SDK_AK", "NATS_URL", "LOG_LEVEL",
		"OBSIMPORT_RULES", "CHATOPS_POLICY"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Chdir(t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut testsync.Buffer
	done := make(chan error, 1)
	go func() { done <- runDev(ctx, []string{"--http", "127.0.0.1:0"}, &out, &errOut) }()
	deadline := time.Now().Add(60 * time.Second)
	// The banner is one write that ends with a blank line after "Try:".
	bannerDone := func() bool {
		s := out.String()
		i := strings.Index(s, "\nTry:\n")
		return i >= 0 && strings.Contains(s[i:], "\n\n")
	}
	for !bannerDone() {
		select {
		case err := <-done:
			t.Fatalf("dev exited: %v\n%s", err, errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner:\n%s\n%s", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	banner := out.String()
	if i := strings.Index(banner, "\nTry:\n"); i >= 0 {
		end := strings.Index(banner[i:], "\n\n")
		banner = banner[:i+end]
	}
	var httpURL, curlLine string
	for _, l := range strings.Split(banner, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "HTTP" {
			httpURL = f[1]
		}
		if strings.HasPrefix(strings.TrimSpace(l), "curl ") {
			curlLine = strings.TrimSpace(l)
		}
	}
	if httpURL == "" || !strings.Contains(curlLine, "/_emulator/state") {
		t.Fatalf("banner:\n%s", banner)
	}
	// The emulator command works, with curl when present, else over HTTP.
	if _, err := exec.LookPath("curl"); err == nil {
		b, err := exec.Command("sh", "-c", curlLine).Output()
		if err != nil || !strings.Contains(string(b), "queues") {
			t.Fatalf("%s: %v\n%s\n%s", curlLine, err, b, errOut.String())
		}
	} else {
		resp, err := http.Get(strings.Fields(curlLine)[2])
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v", curlLine, err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(httpURL + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	// dlibot slack reads the generated secret from .dlibot and is answered
	// by chatops; without chatops registered dlibot answers 404 naming it.
	var sout, serr bytes.Buffer
	err = runSlack(context.Background(), []string{"--url", httpURL, "--wait", "0", "/dli help"}, &sout, &serr)
	if _, lookErr := host.DefaultRegistry.Lookup("chatops"); lookErr == nil {
		if err != nil || !strings.Contains(sout.String(), "/dli") {
			t.Fatalf("slack: %v %q %q", err, sout.String(), serr.String())
		}
		if !strings.Contains(banner, "slack --url "+httpURL) {
			t.Fatalf("no dlibot slack command printed for chatops:\n%s", banner)
		}
	} else if err == nil || !strings.Contains(sout.String(), "chatops") {
		t.Fatalf("slack: %v %q", err, sout.String())
	}
	if st, err := os.Stat(".dlibot/slack-signing-secret"); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %v %v", st, err)
	}
	// Every printed command works: curl lines through sh, dlibot lines
	// in-process.
	_, curlErr := exec.LookPath("curl")
	inTry := false
	for _, l := range strings.Split(banner, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "Try:":
			inTry = true
			continue
		case !inTry || l == "" || strings.HasPrefix(l, "#"):
			continue
		}
		t.Run(l[:min(len(l), 40)], func(t *testing.T) {
			switch {
			case strings.HasPrefix(l, "curl "):
				if curlErr != nil {
					t.Skip("no curl")
				}
				code, err := exec.Command("sh", "-c", l+" -o /dev/null -w '%{http_code}'").Output()
				if err != nil || len(code) == 0 || code[0] != '2' {
					t.Fatalf("%s: %s %v", l, code, err)
				}
			case strings.HasPrefix(l, "dlibot slack "):
				args := shellSplit(t, strings.TrimPrefix(l, "dlibot slack "))
				var o, e bytes.Buffer
				if err := runSlack(context.Background(), append([]string{"--wait", "5s"}, args...), &o, &e); err != nil {
					t.Fatalf("%s: %v %s %s", l, err, o.String(), e.String())
				}
			default:
				t.Fatalf("unexpected command line %q", l)
			}
		})
	}
	// obsimport, on its built-in dev rules, imported the printed example
	// notification's object into the emulator.
	if _, lookErr := host.DefaultRegistry.Lookup("obsimport"); lookErr == nil && curlErr == nil {
		const want = "obs://raw-data/landing/events/dt=2026-11-26/part-0001.csv"
		var state string
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(state, want) && time.Now().Before(deadline) {
			resp, err := http.Get(strings.Fields(curlLine)[2])
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				state = string(b)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(state, want) {
			t.Errorf("the emulator never saw an import of %s:\n%s", want, errOut.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("dev did not stop")
	}
}

// shellSplit splits a command line with single-quoted words, as printed by
// dlibot dev.
func shellSplit(t *testing.T, line string) []string {
	t.Helper()
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case inQuote && c == '\'':
			inQuote = false
		case inQuote:
			cur.WriteByte(c)
		case c == '\'':
			inQuote, have = true, true
		case c == ' ':
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQuote {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

func TestDevHelp(t *testing.T) {
	code, out, _ := runCLI(t, nil, "dev", "--help")
	if code != 0 || !strings.HasPrefix(out, "Usage: dlibot dev") || !strings.Contains(out, "--nats-port") {
		t.Fatalf("exit %d: %s", code, out)
	}
}
