package localcluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The helper process: TestMain runs runHelper instead of the tests when helperEnv is set. It
// starts a cluster with workloads in the folder named by helperDirEnv, prints the programs'
// PIDs as one JSON line, waits for a line on stdin, then ends the way helperEnv says: "kill"
// waits to be killed, "panic" panics, "stop" calls Stop and exits.
const (
	helperEnv    = "FERRY_LOCALCLUSTER_HELPER"
	helperDirEnv = "FERRY_LOCALCLUSTER_HELPER_DIR"
)

func runHelper() {
	opts := DefaultOptions()
	opts.Workloads = true
	opts.Dir = os.Getenv(helperDirEnv)
	c, err := Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(3)
	}
	_ = json.NewEncoder(os.Stdout).Encode(c.PIDs())
	// Wait until the test has seen every program running: on a loaded machine, stopping at once
	// could end one before the test looks.
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	switch os.Getenv(helperEnv) {
	case "panic":
		panic("helper panics with the control plane running")
	case "stop":
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(4)
		}
		os.Exit(0)
	default:
		select {} // wait for SIGKILL
	}
}

// TestNoProgramOutlivesItsOwner starts a cluster in a child test binary and ends that child in
// three ways; afterwards none of the programs it started may still run.
func TestNoProgramOutlivesItsOwner(t *testing.T) {
	for _, mode := range []string{"stop", "panic", "kill"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperDirEnv+"="+dir)
			cmd.Stderr = &prefixWriter{t: t}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pids := readPIDs(t, stdout)
			for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
				if pids[name] == 0 || !running(pids[name]) {
					t.Fatalf("%s is not running in the helper: pids %v", name, pids)
				}
			}
			if mode == "kill" {
				_ = cmd.Process.Kill()
			} else {
				_, _ = stdin.Write([]byte("go\n")) // stop or panic now
			}
			_ = cmd.Wait()
			assertGone(t, pids, dir)
		})
	}
}

func readPIDs(t *testing.T, stdout interface{ Read([]byte) (int, error) }) map[string]int {
	t.Helper()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read the helper's PIDs: %v", err)
	}
	var pids map[string]int
	if err := json.Unmarshal([]byte(line), &pids); err != nil {
		t.Fatalf("parse PIDs %q: %v", line, err)
	}
	return pids
}

// assertGone waits a bounded time for every PID to exit and for no process at all to mention
// the cluster folder on its command line (which catches anything the programs forked).
func assertGone(t *testing.T, pids map[string]int, dir string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		left := leftovers(pids, dir)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("programs still running after their owner ended: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func leftovers(pids map[string]int, dir string) map[string]int {
	left := map[string]int{}
	for name, pid := range pids {
		if running(pid) {
			left[name] = pid
		}
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), dir) && running(pid) {
			left[strings.SplitN(string(cmdline), "\x00", 2)[0]] = pid
		}
	}
	return left
}

// running reports whether pid is a live process; a zombie waiting to be reaped counts as gone.
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name: "pid (comm) S ...".
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// prefixWriter copies a child's stderr into the test log.
type prefixWriter struct{ t *testing.T }

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.t.Logf("helper: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
