package giteatest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// This file is a small private copy of internal/localcluster/process.go: programs run in their
// own process group with SIGKILL as parent-death signal, their output in LOGDIR/NAME.log.

// process is a long-running program (gitea web).
type process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the program has exited
	err     error         // the exit error, valid after done is closed
}

// startProcess starts cmd (whose Path, Args, Env and ExtraFiles the caller set) with its output
// appended to LOGDIR/NAME.log. The program gets its own process group, so that stop can signal
// everything it forked, and SIGKILL when the starting thread dies (Pdeathsig), so that no
// server outlives a test binary that panicked or was killed.
func startProcess(name string, cmd *exec.Cmd, logDir string) (*process, error) {
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
	p := &process{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the program's process group, waits up to grace for it to exit, then
// sends SIGKILL to the group, which also ends any child (git, hooks) still running.
func (p *process) stop(grace time.Duration) {
	if !p.exited() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
		}
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// failure describes an early exit or a readiness failure with the tail of the program's log.
func (p *process) failure(what string) error {
	msg := fmt.Sprintf("%s: %s (log %s)", p.name, what, p.logPath)
	if p.exited() && p.err != nil {
		msg += ": " + p.err.Error()
	}
	if tail := logTail(p.logPath, 30); tail != "" {
		msg += "\n" + tail
	}
	return errors.New(msg)
}

// runCommand runs a short gitea command to completion within timeout, its output in
// LOGDIR/NAME.log, in its own process group that is killed when the timeout passes.
func runCommand(ctx context.Context, name string, cmd *exec.Cmd, logDir string, timeout time.Duration) error {
	p, err := startProcess(name, cmd, logDir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.stop(0)
		return p.failure(fmt.Sprintf("did not finish within %s", timeout))
	}
	// Kill anything the command left behind in its group.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if p.err != nil {
		return p.failure("failed")
	}
	return nil
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
