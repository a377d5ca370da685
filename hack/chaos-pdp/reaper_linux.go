package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// startReaper starts a watchdog shell that, should this process die
// without cleaning up (a panic in a goroutine it does not own, SIGKILL),
// kills the kube-apiserver and etcd children (envtest gives them no
// parent-death signal; the replicas have one) and removes dir (if not
// empty). stop ends
// the watchdog after a normal cleanup.
func startReaper(dir string) (stop func(), err error) {
	var pids []string
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		comm := string(stat[bytes.IndexByte(stat, '(')+1 : i])
		if len(f) > 1 && f[1] == strconv.Itoa(self) && (comm == "etcd" || comm == "kube-apiserver") {
			pids = append(pids, strconv.Itoa(pid))
		}
	}
	script := fmt.Sprintf(`while kill -0 "$1" 2>/dev/null; do sleep 0.5; done; kill -9 %s 2>/dev/null`, strings.Join(pids, " "))
	if dir != "" {
		script += fmt.Sprintf(`; rm -rf '%s'`, strings.ReplaceAll(dir, "'", ""))
	}
	cmd := exec.Command("/bin/sh", "-c", script, "chaos-pdp-reaper", strconv.Itoa(self))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	return func() {
		_ = cmd.Process.Kill()
		<-done
	}, nil
}
