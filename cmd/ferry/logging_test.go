package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// TestLibraryLogsFollowTheLogFormat: what client-go (klog) and controller-runtime log goes
// through the agent's handler, so that with --log-format json every line is JSON. The
// messages are the ones a reflector and the ssa client write.
func TestLibraryLogsFollowTheLogFormat(t *testing.T) {
	routeLibraryLogs(&bytes.Buffer{})
	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetErr(&out)
	logger, err := newLogger(cmd, "json")
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("sync finished", "env", "staging")
	klog.ErrorS(errors.New("the server could not find the requested resource"), "Failed to watch", "reflector", "informer.go:1")
	klog.InfoS("attempting to acquire leader lease", "lock", "ferry-system/ferry-agent")
	klog.V(4).InfoS("too verbose to show")
	ctrllog.Log.WithName("ssa").Error(errors.New("boom"), "apply failed")
	ctrllog.Log.Info("controller-runtime info is not shown")
	klog.Flush()

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	var msgs []string
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not JSON: %q", line)
			continue
		}
		msgs = append(msgs, m["msg"].(string))
	}
	want := "sync finished|Failed to watch|attempting to acquire leader lease|apply failed"
	if got := strings.Join(msgs, "|"); got != want {
		t.Errorf("messages %q, want %q; output:\n%s", got, want, out.String())
	}
}
