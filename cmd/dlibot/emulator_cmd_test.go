//go:build !lambda.norpc

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	dli "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1/model"
)

// startEmulatorCmd runs `dlibot emulator args…` in-process and returns its
// base URL, the printed line and a stop function that waits for the
// command's result.
func startEmulatorCmd(t *testing.T, args ...string) (url, line string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		err := runEmulator(ctx, args, pw, &stderr)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case line = <-lines:
	case err := <-done:
		cancel()
		t.Fatalf("emulator exited early: %v (stderr %s)", err, stderr.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("no start line within 30s")
	}
	m := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).FindString(line)
	if m == "" {
		cancel()
		t.Fatalf("start line has no URL: %q", line)
	}
	var once bool
	stop = func() error {
		if once {
			return nil
		}
		once = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			return errors.New("emulator did not stop within 10s of cancel")
		}
	}
	t.Cleanup(func() { _ = stop() })
	return m, line, stop
}

func TestEmulatorCommand(t *testing.T) {
	const ak, sk, proj = "cmd-ak", "cmd-secret-sk", "cmd-project"
	url, line, stop := startEmulatorCmd(t, "--listen", "127.0.0.1:0", "--project", proj, "--ak", ak, "--sk", sk, "--seed", "demo")
	if !strings.Contains(line, proj) || !strings.Contains(line, ak) || strings.Contains(line, sk) {
		t.Fatalf("start line %q: want project and AK, never the SK", line)
	}

	// Unsigned → 401 with a DLI error body.
	resp, err := http.Get(url + "/v1.0/" + proj + "/queues")
	if err != nil {
		t.Fatal(err)
	}
	var eb struct {
		ErrorCode string `json:"error_code"`
		ErrorMsg  string `json:"error_msg"`
	}
	err = json.NewDecoder(resp.Body).Decode(&eb)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusUnauthorized || eb.ErrorCode != "DLI.0013" || eb.ErrorMsg == "" {
		t.Fatalf("unsigned: %d %+v %v", resp.StatusCode, eb, err)
	}

	// Signed through the official SDK → the demo queues.
	cred, err := basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithProjectId(proj).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := dli.DliClientBuilder().WithEndpoints([]string{url}).WithCredential(cred).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	all := "all"
	list, err := dli.NewDliClient(hc).ListQueues(&model.ListQueuesRequest{QueueType: &all})
	if err != nil {
		t.Fatal(err)
	}
	if list.Queues == nil || len(*list.Queues) != 4 {
		t.Fatalf("demo queues: %+v", list)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if _, err := http.Get(url + "/_emulator/state"); err == nil {
		t.Fatal("still serving after stop")
	}
}

func TestEmulatorCommandEnvAndErrors(t *testing.T) {
	t.Setenv("HUAWEICLOUD_SDK_AK", "env-ak")
	t.Setenv("HUAWEICLOUD_SDK_SK", "env-sk")
	t.Setenv("HUAWEICLOUD_SDK_PROJECT_ID", "env-proj")
	_, line, stop := startEmulatorCmd(t, "--real-time=false")
	if !strings.Contains(line, "env-proj") || !strings.Contains(line, "env-ak") || strings.Contains(line, "env-sk") ||
		!strings.Contains(line, "manual clock") {
		t.Fatalf("start line %q", line)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	var out, errb bytes.Buffer
	if err := runEmulator(context.Background(), []string{"--help"}, &out, &errb); err != nil || !strings.Contains(out.String(), "--listen") {
		t.Fatalf("--help: %v %q", err, out.String())
	}
	for _, tc := range []struct {
		args []string
		frag string
	}{
		{[]string{"--seed", "huge"}, "unknown seed"},
		{[]string{"--listen", "256.0.0.1:x"}, "listen on"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--nope"}, "not defined"},
	} {
		err := runEmulator(context.Background(), tc.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.frag) {
			t.Errorf("%v: %v, want an error saying %q", tc.args, err, tc.frag)
		}
	}
}
