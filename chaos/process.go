package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Replica is one `dlibot serve` process the harness controls. It can be
// killed (SIGKILL to its process group), paused (SIGSTOP), resumed and
// restarted; each start is a new incarnation listening on a new random
// port.
type Replica struct {
	// Name tells replicas apart in logs and tables ("r0", "r1", …).
	Name string

	tb   testing.TB
	bin  string
	args []string
	env  []string

	mu          sync.Mutex
	cmd         *exec.Cmd
	addr        string
	incarnation int
	paused      bool
	exited      chan struct{}
	output      bytes.Buffer // stdout and stderr of every incarnation
	ready       chan string  // the HTTP address, once "dlibot running" is logged
}

// StartTimeout bounds how long a replica may take to log "dlibot running".
// Generous: the machine is shared and may be loaded.
const StartTimeout = 90 * time.Second

func newReplica(tb testing.TB, name, bin string, args, env []string) *Replica {
	r := &Replica{Name: name, tb: tb, bin: bin, args: args, env: env}
	tb.Cleanup(r.Kill)
	return r
}

// Start starts a new incarnation and waits until it serves HTTP.
func (r *Replica) Start() error {
	r.mu.Lock()
	if r.cmd != nil {
		r.mu.Unlock()
		return fmt.Errorf("replica %s already running", r.Name)
	}
	r.incarnation++
	cmd := exec.Command(r.bin, r.args...)
	cmd.Env = r.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	ready := make(chan string, 1)
	w := &lineWriter{onLine: func(line []byte) {
		r.mu.Lock()
		r.output.Write(line)
		r.output.WriteByte('\n')
		r.mu.Unlock()
		if addr, ok := runningAddr(line); ok {
			select {
			case ready <- addr:
			default:
			}
		}
	}}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.cmd = nil
		r.mu.Unlock()
		return fmt.Errorf("start replica %s: %w", r.Name, err)
	}
	exited := make(chan struct{})
	r.cmd, r.exited, r.ready, r.addr, r.paused = cmd, exited, ready, "", false
	r.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		w.flush()
		close(exited)
	}()
	select {
	case addr := <-ready:
		r.mu.Lock()
		r.addr = addr
		r.mu.Unlock()
		return nil
	case <-exited:
		r.mu.Lock()
		r.cmd = nil
		r.mu.Unlock()
		return fmt.Errorf("replica %s exited at start (%s); output:\n%s", r.Name, cmd.ProcessState, r.tail(2000))
	case <-time.After(StartTimeout):
		r.Kill()
		return fmt.Errorf("replica %s not running within %s; output:\n%s", r.Name, StartTimeout, r.tail(2000))
	}
}

// runningAddr finds the HTTP address in the host's "dlibot running" log line.
func runningAddr(line []byte) (string, bool) {
	if !bytes.Contains(line, []byte(`"dlibot running"`)) {
		return "", false
	}
	var l struct {
		Msg  string `json:"msg"`
		HTTP string `json:"http"`
	}
	if json.Unmarshal(line, &l) != nil || l.Msg != "dlibot running" || l.HTTP == "" {
		return "", false
	}
	return l.HTTP, true
}

func (r *Replica) signal(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return errors.New("not running")
	}
	return syscall.Kill(-r.cmd.Process.Pid, sig)
}

// Kill sends SIGKILL to the replica's process group and waits for it to
// exit. Safe to call when it is not running.
func (r *Replica) Kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGCONT)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		r.tb.Logf("replica %s: no exit 10s after SIGKILL", r.Name)
	}
	r.mu.Lock()
	r.cmd, r.addr, r.paused = nil, "", false
	r.mu.Unlock()
}

// Stop sends SIGTERM and waits up to timeout for a graceful exit, then
// kills. It reports whether the exit was graceful and in time.
func (r *Replica) Stop(timeout time.Duration) (graceful bool, took time.Duration) {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil {
		return true, 0
	}
	start := time.Now()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
		graceful = cmd.ProcessState != nil && cmd.ProcessState.Success()
	case <-time.After(timeout):
	}
	took = time.Since(start)
	r.Kill()
	return graceful, took
}

// Pause stops the replica with SIGSTOP (its TCP connections stay open, it
// answers nothing).
func (r *Replica) Pause() error {
	if err := r.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	r.mu.Lock()
	r.paused = true
	r.mu.Unlock()
	return nil
}

// Resume continues a paused replica with SIGCONT.
func (r *Replica) Resume() error {
	if err := r.signal(syscall.SIGCONT); err != nil {
		return err
	}
	r.mu.Lock()
	r.paused = false
	r.mu.Unlock()
	return nil
}

// URL is the base URL of the running incarnation ("" when not running).
func (r *Replica) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.addr == "" {
		return ""
	}
	return "http://" + r.addr
}

// Running reports whether an incarnation is running (paused or not).
func (r *Replica) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd != nil
}

// Incarnation counts the starts so far.
func (r *Replica) Incarnation() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.incarnation
}

// PeakRSS returns the running incarnation's peak resident set size
// (VmHWM from /proc/<pid>/status), in bytes; 0 when unknown.
func (r *Replica) PeakRSS() int64 {
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// Output returns everything every incarnation wrote on stdout and stderr.
func (r *Replica) Output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.output.String()
}

func (r *Replica) tail(n int) string {
	out := r.Output()
	if len(out) > n {
		out = "…" + out[len(out)-n:]
	}
	return out
}

// lineWriter splits a process's output into lines.
type lineWriter struct {
	mu     sync.Mutex
	buf    []byte
	onLine func([]byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.onLine(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.onLine(w.buf)
		w.buf = nil
	}
}

// RunOnce runs bin with args and env to completion (bounded by timeout)
// and returns its combined output and exit error.
func RunOnce(bin string, args, env []string, timeout time.Duration) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return out.String(), fmt.Errorf("%s %s: killed after %s", bin, strings.Join(args, " "), timeout)
	}
}

// scanLines is bufio.ScanLines over s (for log assertions).
func scanLines(s string) []string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}
