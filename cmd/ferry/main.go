// Command ferry is the GitOps sync agent and its CLI. main only wires signals and exit codes;
// the commands live beside it and call into ferry's packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferry-cd/ferry/internal/redact"
)

func main() {
	// client-go logs through klog and controller-runtime's client (used by fluxcd/pkg/ssa)
	// through logr: send both where the command's own log goes (see libraryLog).
	routeLibraryLogs(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

// exitCode maps an error to DESIGN.md's exit codes (0 ok, 1 failed, 2 bad usage) and prints it.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var le *loggedError
	if !errors.As(err, &le) {
		// The packages keep credentials out of their errors; this is the last line of defence
		// for the ones given to the process.
		fmt.Fprintln(os.Stderr, "ferry:", processSecrets().String(err.Error()))
	}
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// processSecrets returns the credentials given to the process through its environment.
func processSecrets() *redact.Set {
	return redact.NewSet(os.Getenv(envGitPassword), os.Getenv(envForgeToken), os.Getenv(envWebhookSecret))
}

// usageError marks an error as bad usage: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// loggedError is an error the command has logged already, in its log's format: exitCode
// does not print it again.
type loggedError struct{ err error }

func (e *loggedError) Error() string { return e.err.Error() }
func (e *loggedError) Unwrap() error { return e.err }
