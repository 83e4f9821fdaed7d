package agent

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium is Debian's Chromium, which .ci/run installs when it is missing.
const chromium = "/usr/bin/chromium"

// TestStatusPageInABrowser opens the status page of an agent syncing staging and production in
// headless Chromium and checks that the rendered page shows each environment with its revision
// and health, in promotion order. The screenshot is kept as a test artifact.
func TestStatusPageInABrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: install Debian's chromium package (.ci/run does)", chromium)
	}
	f := newFixture(t, "@every 2s")
	logs := &logBuffer{}
	opts := f.options(logs)
	opts.Environments = nil // staging and production
	f.start(opts)
	for _, env := range []string{"staging", "production"} {
		logs.waitLine(t, "sync finished", map[string]any{"env": env, "result": "applied", "health": "Healthy"}, 2*time.Minute)
	}

	var report StatusReport
	if err := json.Unmarshal([]byte(httpGet(t, "http://"+opts.HTTPAddr+"/api/status")), &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Environments) != 2 || report.Environments[0].Name != "staging" || report.Environments[1].Name != "production" {
		t.Fatalf("/api/status environments: %+v, want staging then production", report.Environments)
	}
	rev := report.Environments[0].Short
	if len(rev) != 7 || report.Environments[0].Subject == "" || report.Environments[1].PromotedFrom != "staging" {
		t.Errorf("/api/status staging: %+v", report.Environments[0])
	}

	dom := runChromium(t, "--virtual-time-budget=5000", "--dump-dom", "http://"+opts.HTTPAddr+"/")
	for _, want := range []string{`id="env-staging"`, `id="env-production"`, ">" + rev + "<", ">Healthy<"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %s:\n%s", want, dom)
		}
	}
	if strings.Index(dom, `id="env-staging"`) > strings.Index(dom, `id="env-production"`) {
		t.Error("the page does not draw staging before production")
	}
	shot := filepath.Join(t.ArtifactDir(), "status-page.png")
	runChromium(t, "--virtual-time-budget=5000", "--window-size=1200,520", "--screenshot="+shot, "http://"+opts.HTTPAddr+"/")
	if info, err := os.Stat(shot); err != nil || info.Size() == 0 {
		t.Errorf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)
}

// runChromium runs headless Chromium with the flags this closed network needs and returns stdout.
func runChromium(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()}
	out, err := exec.CommandContext(ctx, chromium, append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return string(out)
}
