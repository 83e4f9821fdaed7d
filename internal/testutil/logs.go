package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// LogBuffer collects the JSON log lines of an agent (slog.NewJSONHandler) from several
// goroutines, for tests that assert on what a user reads in the log.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer; it is safe for concurrent use.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the parsed lines whose fields include every key and value of want (all lines
// when want is empty).
func (b *LogBuffer) Lines(want map[string]any) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && Matches(m, want) {
			out = append(out, m)
		}
	}
	return out
}

// WaitLine waits up to timeout for a line matching want and returns it; it fails the test with
// the whole log otherwise.
func (b *LogBuffer) WaitLine(t testing.TB, want map[string]any, timeout time.Duration) map[string]any {
	t.Helper()
	var found map[string]any
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		if lines := b.Lines(want); len(lines) > 0 {
			found = lines[0]
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no log line with %v within %s; log:\n%s", want, timeout, b.String())
	}
	return found
}

// Matches reports whether line has every key of want with the same value.
func Matches(line, want map[string]any) bool {
	for k, v := range want {
		if line[k] != v {
			return false
		}
	}
	return true
}
