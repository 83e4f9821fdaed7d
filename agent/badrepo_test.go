package agent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/sync"
)

const stagingKustomization = "environments/staging/kustomization.yaml"

// addResource returns kustomization with file listed first under resources:.
func addResource(t *testing.T, kustomization, file string) string {
	t.Helper()
	if !strings.Contains(kustomization, "resources:\n") {
		t.Fatalf("the staging kustomization has no resources: list")
	}
	return strings.Replace(kustomization, "resources:\n", "resources:\n- "+file+"\n", 1)
}

// TestForcePushToUnrelatedHistory lets the agent apply a history with an extra ConfigMap, then
// replaces the branch with an unrelated root commit without it and with another tag: the agent
// follows, applies the new tree, prunes the ConfigMap and keeps nothing of the old history in
// its inventory.
func TestForcePushToUnrelatedHistory(t *testing.T) {
	f := newFixture(t, "@every 1s")
	original := map[string]string{}
	for k, v := range f.files {
		original[k] = v
	}
	legacy := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy-only\ndata:\n  from: old-history\n"
	old := f.srv.Commit(t, "config", "staging: legacy ConfigMap", map[string]string{
		"environments/staging/legacy.yaml": legacy,
		stagingKustomization:               addResource(t, f.files[stagingKustomization], "legacy.yaml"),
	})
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": old[:7], "result": "applied"}, 2*time.Minute)
	if _, err := f.kube.CoreV1().ConfigMaps(f.stagingNS).Get(t.Context(), "legacy-only", metav1.GetOptions{}); err != nil {
		t.Fatalf("the old history's ConfigMap was not applied: %v", err)
	}

	rewritten := map[string]string{}
	for k, v := range original {
		rewritten[k] = v
	}
	rewritten[stagingKustomization] = strings.Replace(original[stagingKustomization], `newTag: "1.1.0"`, `newTag: "2.0.0"`, 1)
	sha := f.srv.ForcePush(t, "config", rewritten)
	f.waitImage("2.0.0", time.Minute)
	line := logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": sha[:7], "result": "applied"}, time.Minute)
	if line["pruned"] != 1.0 {
		t.Errorf("sync of the rewritten history: %v, want the legacy ConfigMap pruned", line)
	}
	_, err := f.kube.CoreV1().ConfigMaps(f.stagingNS).Get(t.Context(), "legacy-only", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("legacy-only after the force push: %v, want it pruned", err)
	}
	st, err := sync.NewStateStore(f.kube, f.ns).Load(t.Context(), "staging")
	if err != nil {
		t.Fatal(err)
	}
	if st.AppliedRevision != sha {
		t.Errorf("applied revision %s, want the rewritten %s", st.AppliedRevision, sha)
	}
	for _, e := range st.Inventory {
		if e.Name == "legacy-only" {
			t.Errorf("inventory still lists %s from the old history", e.ObjectID)
		}
	}
	if n := len(logs.lines("sync failed")); n != 0 {
		t.Errorf("%d failed syncs around the force push:\n%s", n, logs.String())
	}
	if got := httpGet(t, "http://"+opts.HTTPAddr+"/healthz"); strings.TrimSpace(got) != "ok" {
		t.Errorf("/healthz = %q after the force push", got)
	}
	t.Logf("force push %s → %s applied: %v", old[:7], sha[:7], line)
}

// TestGiganticFileIsRefused commits a 20 MiB YAML file into staging's overlay together with a
// new tag: the agent fetches it, refuses the render with an error naming the file and the
// limit, leaves the cluster as it was, and applies the next commit without the file. The time
// to the refusal and the agent's peak heap (it runs in this process) are logged.
func TestGiganticFileIsRefused(t *testing.T) {
	f := newFixture(t, "@every 1s")
	logs := &logBuffer{}
	f.start(f.options(logs))
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied"}, 2*time.Minute)

	// Random data, so the pack is about as large as the file.
	huge := func() string {
		var b strings.Builder
		b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: huge\ndata:\n")
		raw := make([]byte, 48)
		for i := 0; b.Len() < 20<<20; i++ {
			rand.Read(raw)
			b.WriteString("  k" + strings.Repeat("0", 8-len(itoa(i))) + itoa(i) + ": " + base64.StdEncoding.EncodeToString(raw) + "\n")
		}
		return b.String()
	}()
	kust := addResource(t, f.files[stagingKustomization], "huge.yaml")
	kust = strings.Replace(kust, `newTag: "1.1.0"`, `newTag: "1.9.0"`, 1)

	var line map[string]any
	var took time.Duration
	peak := heapPeak(t, func() {
		start := time.Now()
		sha := f.srv.Commit(t, "config", "staging: a gigantic file", map[string]string{"environments/staging/huge.yaml": huge, stagingKustomization: kust})
		line = logs.waitLine(t, "sync failed", map[string]any{"env": "staging", "revision": sha[:7], "phase": "render"}, 2*time.Minute)
		took = time.Since(start)
	})
	msg, _ := line["error"].(string)
	for _, want := range []string{"environments/staging/huge.yaml", "over the 16777216-byte file limit"} {
		if !strings.Contains(msg, want) {
			t.Errorf("render error lacks %q: %s", want, msg)
		}
	}
	t.Logf("%d MiB file refused %s after the commit; peak heap %d MiB: %s", len(huge)>>20, took.Round(time.Millisecond), peak>>20, msg)
	if img := f.frontendImage(t.Context()); !strings.HasSuffix(img, ":1.1.0") {
		t.Errorf("the cluster changed with the refused commit: frontend runs %s", img)
	}

	f.srv.Commit(t, "config", "staging: drop the gigantic file", map[string]string{stagingKustomization: strings.Replace(kust, "- huge.yaml\n", "", 1)},
		"environments/staging/huge.yaml")
	f.waitImage("1.9.0", time.Minute)
}

func itoa(i int) string { return strconv.Itoa(i) }

// heapPeak runs fn and returns the highest heap in use seen while it ran, sampled every 10ms.
func heapPeak(t *testing.T, fn func()) uint64 {
	t.Helper()
	runtime.GC()
	var peak atomic.Uint64
	ctx, cancel := context.WithCancel(t.Context())
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		_ = wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(context.Context) (bool, error) {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			return false, nil
		})
	}()
	fn()
	cancel()
	<-sampled
	return peak.Load()
}
