// Package procgroup runs the long-lived programs of ferry's test and development environments
// (the control plane, Gitea): each in its own process group with SIGKILL as its parent-death
// signal, its output in LOGDIR/NAME.log, stopped with SIGTERM and then SIGKILL of the group.
package procgroup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Process is a running program.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the program has exited
	err     error         // the exit error, valid after done is closed
}

// Start starts cmd (Path, Args and Env set by the caller) with its output appended to
// LOGDIR/NAME.log. The program gets its own process group, so that Stop can signal everything
// it forked, and SIGKILL when the starting thread dies (Pdeathsig), so that no program outlives
// a test binary that panicked or was killed.
func Start(name string, cmd *exec.Cmd, logDir string) (*Process, error) {
	logPath := filepath.Join(logDir, name+".log")
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, cmd.Path, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// PID returns the program's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the program has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the program has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the program's process group, waits up to grace for it to exit, then
// sends SIGKILL to the group (kube-apiserver drains for longer than a test wants to wait).
func (p *Process) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
	}
	// Kill the group even when the leader exited: a child it forked may still be running.
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	<-p.done
}

// Failure describes an early exit or a readiness failure with the tail of the program's log.
func (p *Process) Failure(what string) error {
	msg := fmt.Sprintf("%s: %s (log %s)", p.Name, what, p.LogPath)
	if p.Exited() && p.err != nil {
		msg += ": " + p.err.Error()
	}
	if tail := LogTail(p.LogPath, 20); tail != "" {
		msg += "\n" + tail
	}
	return errors.New(msg)
}

// LogTail returns the last n lines of the file at path, or "" when it cannot be read.
func LogTail(path string, n int) string {
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

// Run runs a short command to completion within timeout, its output in LOGDIR/NAME.log, in its
// own process group, which is killed when the timeout passes and, after the command exits, so
// that nothing it forked is left behind. The error carries the log's tail.
func Run(ctx context.Context, name string, cmd *exec.Cmd, logDir string, timeout time.Duration) error {
	p, err := Start(name, cmd, logDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.Stop(0)
		return p.Failure(fmt.Sprintf("did not finish within %s", timeout))
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	if p.err != nil {
		return p.Failure("failed")
	}
	return nil
}

// WaitHTTP polls url until it answers 200, p exits, or timeout passes; what the wait was for
// ("healthy", "ready") words the error, which carries p's log tail.
func (p *Process) WaitHTTP(ctx context.Context, url, what string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.Done():
			return p.Failure("exited before it was " + what)
		case <-ctx.Done():
			return p.Failure(fmt.Sprintf("not %s within %s", what, timeout))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
