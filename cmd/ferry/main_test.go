package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// mainEnv makes the test binary run ferry's main instead of the tests, so that tests can run
// the real CLI in a child process and see its exit code, output and resource use.
const mainEnv = "FERRY_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		main()
		return
	}
	// controller-runtime takes its logger once, and a null one by itself 30 s after its first
	// use: route the libraries' logs now, so that a test that switches their handler later
	// (TestLibraryLogsFollowTheLogFormat) still sees them however long the tests before it ran.
	routeLibraryLogs(io.Discard)
	os.Exit(m.Run())
}

// result is what a ferry child process did.
type result struct {
	code           int
	stdout, stderr string
	wall           time.Duration
	maxRSS         int64 // bytes
}

// runFerry runs ferry with args in a child process and waits for it.
func runFerry(t *testing.T, ctx context.Context, args ...string) result {
	t.Helper()
	cmd := ferryCommand(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String(), wall: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("run ferry %v: %v", args, err)
	}
	if usage, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.maxRSS = usage.Maxrss * 1024 // Linux reports kilobytes
	}
	return res
}

func ferryCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	return cmd
}
