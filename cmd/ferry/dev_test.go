package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/internal/localcluster"
)

func TestDevUpWithoutBinariesSaysWhatToRun(t *testing.T) {
	res := runFerry(t, t.Context(), "dev", "up", "--bin-dir", t.TempDir())
	if res.code != 2 {
		t.Errorf("exit code %d, want 2", res.code)
	}
	if !strings.Contains(res.stderr, "make controlplane") {
		t.Errorf("stderr does not say to run make controlplane:\n%s", res.stderr)
	}
}

// TestDevUpRunsWorkloads is the acceptance check: `ferry dev up --workloads` prints a
// kubeconfig on which `kubectl create deployment x --image=x --replicas=2` becomes 2/2 ready,
// and SIGTERM stops every program it started.
func TestDevUpRunsWorkloads(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cmd := ferryCommand(ctx, "dev", "up", "--workloads", "--dir", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control-plane logs: %s", filepath.Join(dir, "logs"))
		}
	})

	kubeconfig := readKubeconfigLine(t, stdout)
	kubectl := func(args ...string) string {
		t.Helper()
		bin := filepath.Join(localcluster.DefaultBinDir(), "kubectl")
		out, err := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	kubectl("create", "deployment", "x", "--image=x", "--replicas=2")
	kubectl("rollout", "status", "deployment/x", "--timeout=2m")
	if got := kubectl("get", "deployment", "x", "-o", "jsonpath={.status.readyReplicas}/{.spec.replicas}"); got != "2/2" {
		t.Errorf("deployment x ready/replicas = %q, want 2/2", got)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("ferry dev up after SIGTERM: %v", err)
	}
	if left := processesMentioning(dir); len(left) > 0 {
		t.Errorf("programs still running after ferry dev up stopped: %v", left)
	}
}

func readKubeconfigLine(t *testing.T, stdout interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	scanner := bufio.NewScanner(stdout)
	for scanner.Scan() {
		if path, ok := strings.CutPrefix(scanner.Text(), "kubeconfig: "); ok {
			go func() { // keep draining, so the child never blocks on a full pipe
				for scanner.Scan() {
				}
			}()
			return path
		}
	}
	t.Fatalf("ferry dev up ended without printing a kubeconfig line: %v", scanner.Err())
	return ""
}

// processesMentioning lists live processes whose command line contains dir.
func processesMentioning(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) {
			out = append(out, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}
