package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// process is one control-plane program running in its own process group with its output in
// LOGDIR/NAME.log.
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the program has exited
	err     error         // the exit error, valid after done is closed
}

// startProcess starts bin with args. The program gets its own process group, so that stop can
// signal everything it forked, and SIGKILL when the starting process dies (Pdeathsig), so that
// no program outlives a test binary that panicked or was killed.
func startProcess(name, bin string, args []string, logDir string) (*process, error) {
	logPath := filepath.Join(logDir, name+".log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// pid returns the program's process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the program has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the program's process group, waits up to grace for it to exit, then
// sends SIGKILL to the group. kube-apiserver drains for longer than a test wants to wait, so
// the grace is short on purpose.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	// Kill the group even when the leader exited: a child it forked may still be running.
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// failure describes an early exit or a readiness failure with the tail of the program's log.
func (p *process) failure(what string) error {
	msg := fmt.Sprintf("%s: %s (log %s)", p.name, what, p.logPath)
	if p.exited() && p.err != nil {
		msg += ": " + p.err.Error()
	}
	if tail := logTail(p.logPath, 20); tail != "" {
		msg += "\n" + tail
	}
	return errors.New(msg)
}

// logTail returns the last n lines of the file at path, or "" when it cannot be read.
func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
