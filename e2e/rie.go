//go:build linux

// Package e2e runs dlibot's Lambda bootstrap the way AWS Lambda runs it: under
// the AWS Lambda Runtime Interface Emulator (RIE), as a separate process,
// invoked over the RIE's HTTP invoke API with real event shapes. It builds
// both programs with the go command (no Docker) and binds only 127.0.0.1.
//
// The RIE is Linux-only, and so is this package.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/dlibot/dlibot/internal/testsync"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// RIEPackage and RIEVersion pin the emulator: a pseudo-version of
// github.com/aws/aws-lambda-runtime-interface-emulator (its go directive is
// 1.26.6, which is why it is built with `go install pkg@version` instead of
// being a tool of this module: that would raise our go directive).
const (
	RIEPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// InvokePath is the RIE's invoke endpoint (the Lambda Invoke API path).
const InvokePath = "/2015-03-31/functions/function/invocations"

// goCommand runs the go tool with env added to the process environment and
// returns its combined output in the error.
func goCommand(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %v: %v\n%s", args, err, out)
	}
	return nil
}

// BuildBootstrap builds ./cmd/dlibot of the module at moduleRoot as
// dir/bootstrap for this machine, with the Lambda build's flags
// (CGO_ENABLED=0, -tags lambda.norpc, -trimpath), and returns its path.
func BuildBootstrap(ctx context.Context, moduleRoot, dir string) (string, error) {
	out := filepath.Join(dir, "bootstrap")
	err := goCommand(ctx, moduleRoot, []string{"CGO_ENABLED=0"},
		"build", "-tags", "lambda.norpc", "-trimpath", "-o", out, "./cmd/dlibot")
	return out, err
}

// BuildRIE installs the pinned RIE into dir and returns its path. The go
// command's build cache makes repeated builds cheap.
func BuildRIE(ctx context.Context, dir string) (string, error) {
	err := goCommand(ctx, dir, []string{"GOBIN=" + dir, "CGO_ENABLED=0"},
		"install", RIEPackage+"@"+RIEVersion)
	return filepath.Join(dir, "aws-lambda-rie"), err
}

// Options configures Start.
type Options struct {
	// RIE and Bootstrap are the paths of the two programs; required.
	RIE, Bootstrap string
	// Handler is the Lambda Handler setting (_HANDLER): the dlibot function.
	Handler string
	// Env is the function's environment (KEY=value). The RIE passes its own
	// environment to the bootstrap; nothing of the test process's
	// environment is inherited except PATH and HOME.
	Env []string
	// Timeout is the function timeout (AWS_LAMBDA_FUNCTION_TIMEOUT);
	// default 30s.
	Timeout time.Duration
	// Dir is the working directory (the RIE's task root); default the
	// bootstrap's directory.
	Dir string
}

// RIE is a running emulator with the bootstrap under it.
type RIE struct {
	// URL is the invoke URL (http://127.0.0.1:<port>/2015-03-31/...).
	URL string

	cmd  *exec.Cmd
	out  *testsync.Buffer
	done chan struct{}
	err  error
}

// Start runs the RIE on two free loopback ports (the invoke API and the
// Runtime API the bootstrap talks to) and waits until it accepts
// connections. The bootstrap itself starts on the first invocation, as in
// Lambda (that is when the RIE measures Init Duration). Call Stop.
func Start(ctx context.Context, o Options) (*RIE, error) {
	if o.RIE == "" || o.Bootstrap == "" {
		return nil, errors.New("e2e: Options.RIE and Options.Bootstrap are required")
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Dir == "" {
		o.Dir = filepath.Dir(o.Bootstrap)
	}
	invokeAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.RIE,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", apiAddr,
		o.Bootstrap)
	cmd.Dir = o.Dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"_HANDLER=" + o.Handler,
		"AWS_LAMBDA_FUNCTION_NAME=dlibot-" + o.Handler,
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(int(o.Timeout.Seconds())),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
	}, o.Env...)
	out := &testsync.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group: Stop ends the RIE and the bootstrap it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("e2e: start RIE: %w", err)
	}
	r := &RIE{URL: "http://" + invokeAddr + InvokePath, cmd: cmd, out: out, done: make(chan struct{})}
	go func() { r.err = cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", invokeAddr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("e2e: RIE exited before listening (%v):\n%s", r.err, out.String())
		case <-ctx.Done():
			r.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, fmt.Errorf("e2e: RIE not listening on %s after 10s:\n%s", invokeAddr, out.String())
		}
	}
}

// Invoke posts payload to the invoke URL and returns the HTTP status and
// body (the function's JSON result, or the RIE's error document).
func (r *RIE) Invoke(ctx context.Context, payload []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// Output returns everything the RIE and the bootstrap wrote so far (the
// RIE's START/END/REPORT lines and dlibot's JSON logs).
func (r *RIE) Output() string { return r.out.String() }

// WaitOutput polls Output until ok accepts it or timeout passes, and
// returns the last Output and whether ok accepted it. The bootstrap's log
// lines reach Output through the RIE asynchronously, possibly after the
// invocation's answer.
func (r *RIE) WaitOutput(timeout time.Duration, ok func(output string) bool) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		out := r.Output()
		if ok(out) {
			return out, true
		}
		if time.Now().After(deadline) {
			return out, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop terminates the process group (SIGTERM, then SIGKILL after 3s) and
// waits for the RIE to exit. It is safe to call more than once.
func (r *RIE) Stop() {
	pgid := -r.cmd.Process.Pid
	select {
	case <-r.done:
		_ = syscall.Kill(pgid, syscall.SIGKILL) // a bootstrap left behind
		return
	default:
	}
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-r.done
	}
	_ = syscall.Kill(pgid, syscall.SIGKILL)
}

var (
	initReportRE   = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	initDurationRE = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)
)

// InitDuration returns the function's init duration as the RIE logs it in
// its first "INIT REPORT(durationMs: …)" line: from starting the bootstrap
// to its first request for an event (dlibot's whole start: configuration,
// NATS connection, streams, the function's own set-up). It falls back to
// the "Init Duration" of the REPORT line, which this RIE measures around an
// asynchronous call and so reports near zero.
func InitDuration(output string) (time.Duration, bool) {
	m := initReportRE.FindStringSubmatch(output)
	if m == nil {
		m = initDurationRE.FindStringSubmatch(output)
	}
	if m == nil {
		return 0, false
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("e2e: find a free port: %w", err)
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
