package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// replica is one `agentguard serve --pdp` child process on a fixed
// loopback port, restartable with the same flags and data dir.
type replica struct {
	name    string
	url     string
	args    []string
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
	// received accumulates the fallback records counted by process
	// lifetimes that ended (a restart resets the PDP's counters).
	received float64
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// start runs the process. Its output goes to logPath (appended).
func (r *replica) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return fmt.Errorf("replica %s already running", r.name)
	}
	logf, err := os.OpenFile(r.logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(r.args[0], r.args[1:]...) //nolint:gosec // our own agentguard binary
	cmd.Env = append(os.Environ(), r.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start replica %s: %w", r.name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(exited)
	}()
	r.cmd, r.exited, r.paused = cmd, exited, false
	return nil
}

// waitReady polls /readyz until 200 or the timeout.
func (r *replica) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/readyz", nil)
		resp, err := httpc.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica %s not ready within %s (log: %s): %s", r.name, timeout, r.logPath, tail(r.logPath, 5))
		case <-r.exitedChan():
			return fmt.Errorf("replica %s exited (log: %s): %s", r.name, r.logPath, tail(r.logPath, 10))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *replica) exitedChan() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.exited == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return r.exited
}

// kill SIGKILLs the process and waits for it to be gone.
func (r *replica) kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// pause and resume send SIGSTOP and SIGCONT.
func (r *replica) pause() error  { return r.signal(sigStop, true) }
func (r *replica) resume() error { return r.signal(sigCont, false) }

func (r *replica) signal(sig os.Signal, paused bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return fmt.Errorf("replica %s is not running", r.name)
	}
	if sig == nil {
		return errors.New("pausing a process is not supported on this platform")
	}
	if err := r.cmd.Process.Signal(sig); err != nil {
		return err
	}
	r.paused = paused
	return nil
}

// stop ends the process for good: resumed if paused, then SIGTERM, then
// SIGKILL after a grace period.
func (r *replica) stop() {
	r.mu.Lock()
	cmd, exited, paused := r.cmd, r.exited, r.paused
	r.cmd = nil
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	if paused && sigCont != nil {
		_ = cmd.Process.Signal(sigCont)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// recordsCounted is the fallback records this process counted
// (agentguard_pdp_fallback_records_total), 0 before the first batch.
func (r *replica) recordsCounted(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/metrics", nil)
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape %s: %w", r.name, err)
	}
	defer func() { _ = resp.Body.Close() }()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "agentguard_pdp_fallback_records_total") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("scrape %s: %q: %w", r.name, line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// retire adds the running process's count to received before it is
// killed, so totals survive restarts.
func (r *replica) retire(ctx context.Context) {
	if n, err := r.recordsCounted(ctx); err == nil {
		r.mu.Lock()
		r.received += n
		r.mu.Unlock()
	}
}

// totalReceived is every fallback record counted by this replica's
// processes so far.
func (r *replica) totalReceived(ctx context.Context) (float64, error) {
	n, err := r.recordsCounted(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.received + n, err
}

// status is GET /v1/status: the bundle manager's view.
type status struct {
	Bundle struct {
		Revision            string `json:"revision"`
		LastError           string `json:"lastError"`
		ConsecutiveFailures int    `json:"consecutiveFailures"`
	} `json:"bundle"`
}

func (r *replica) status(ctx context.Context) (status, error) {
	var st status
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/v1/status", nil)
	resp, err := httpc.Do(req)
	if err != nil {
		return st, err
	}
	defer func() { _ = resp.Body.Close() }()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// rawStatus is the body of GET /v1/status.
func (r *replica) rawStatus(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/v1/status", nil)
	resp, err := httpc.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return string(data), err
}

// grantsPart is the "grants" member of a status body.
func grantsPart(body string) string {
	var v struct {
		Grants json.RawMessage `json:"grants"`
	}
	if json.Unmarshal([]byte(body), &v) != nil || len(v.Grants) == 0 {
		return "none"
	}
	return string(v.Grants)
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// httpc is the harness's own HTTP client (setup, scraping, access
// requests): loopback only, bounded.
var httpc = &http.Client{Timeout: 5 * time.Second}
