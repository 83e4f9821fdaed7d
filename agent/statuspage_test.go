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

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"
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

// TestStatusPageAnswersQuestions opens, in headless Chromium, the status page of an agent
// syncing staging (with a canary stage) and production (promoted from staging), after a release
// that never becomes ready halted staging's canary. The page must show what /api/status says:
// each environment's image tags, production's pending promotion (staging runs another tag), the
// halted rollout's timeline with its reason and the command to retry, and the sync history with
// the commit subjects. The screenshot is kept as a test artifact.
func TestStatusPageAnswersQuestions(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: install Debian's chromium package (.ci/run does)", chromium)
	}
	f := newFixture(t, "@every 1s")
	f.stageStaging()
	logs := &logBuffer{}
	opts := f.options(logs)
	opts.Environments = nil // staging and production
	f.start(opts)
	for _, env := range []string{"staging", "production"} {
		logs.waitLine(t, "sync finished", map[string]any{"env": env, "result": "applied", "health": "Healthy"}, 3*time.Minute)
	}
	good := f.srv.Head(t, "config")
	bad := f.commitFailingRelease("1.3.0")
	logs.waitLine(t, "rollout halted", map[string]any{"env": "staging", "revision": bad[:7], "stage": "canary"}, 3*time.Minute)

	url := "http://" + opts.HTTPAddr
	var staging, production EnvStatus
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		var report StatusReport
		if err := json.Unmarshal([]byte(httpGet(t, url+"/api/status")), &report); err != nil || len(report.Environments) != 2 {
			return false, err
		}
		staging, production = report.Environments[0], report.Environments[1]
		return len(staging.History) > 0 && staging.History[0].Result == resultHalted, nil
	})
	if err != nil {
		t.Fatalf("/api/status never recorded the halt in staging's history: %+v", staging.History)
	}
	checkStatusAPI(t, staging, production, good, bad)

	dom := runChromium(t, "--virtual-time-budget=5000", "--dump-dom", url+"/")
	for _, want := range []string{
		`<code class="image">` + gcemeImage + `:1.1.0</code>`, // staging runs
		`<code class="image">` + gcemeImage + `:1.0.0</code>`, // production runs
		"gceme 1.0.0 → 1.1.0 (in staging)",                    // pending promotion
		`class="current halted" data-stage="canary"`, `<code class="command">ferry retry staging</code>`,
		`class="pending" data-stage="all"`,
		`id="history-staging"`, `id="history-production"`,
		`<code class="revision">` + bad[:7] + `</code> staging: gceme 1.3.0, which never becomes ready`,
		`<td class="result-halted">halted</td>`, `<td class="result-applied">applied</td>`, "<td>startup</td>",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %s:\n%s", want, dom)
		}
	}
	shot := filepath.Join(t.ArtifactDir(), "status-page-details.png")
	runChromium(t, "--virtual-time-budget=5000", "--window-size=1280,1100", "--screenshot="+shot, url+"/")
	if info, err := os.Stat(shot); err != nil || info.Size() == 0 {
		t.Errorf("no screenshot at %s: %v", shot, err)
	}
	t.Logf("screenshot: %s", shot)
}

// checkStatusAPI checks what /api/status says of staging, halted at its canary with bad, and
// of production, which runs 1.0.0 while staging's applied revision good runs 1.1.0.
func checkStatusAPI(t *testing.T, staging, production EnvStatus, good, bad string) {
	t.Helper()
	if diff := cmp.Diff([]Image{{Name: gcemeImage, Tag: "1.1.0"}}, staging.Images); diff != "" {
		t.Errorf("staging images (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Image{{Name: gcemeImage, Tag: "1.0.0"}}, production.Images); diff != "" {
		t.Errorf("production images (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]ImageChange{{Name: gcemeImage, Current: "1.0.0", Promoted: "1.1.0"}}, production.Pending); diff != "" {
		t.Errorf("production pending promotion (-want +got):\n%s", diff)
	}
	if r := staging.Rollout; r == nil || r.Revision != bad || len(r.Stages) != 2 || r.Stages[0].State != "halted" ||
		r.Stages[0].Reason == "" || r.Stages[0].Command != "ferry retry staging" || r.Stages[1].State != "pending" {
		t.Errorf("staging rollout = %+v, want %s halted at canary with its reason and `ferry retry staging`, all pending", r, bad[:7])
	}
	h := staging.History
	if len(h) < 2 || h[0].Revision != bad || h[0].Stage != "canary" || h[0].Message == "" ||
		h[0].Subject != "staging: gceme 1.3.0, which never becomes ready" || h[0].Duration <= 0 {
		t.Errorf("staging history = %+v, want the halt of %s at canary first, with subject, reason and duration", h, bad[:7])
	}
	if last := h[len(h)-1]; last.Revision != good || last.Result != "applied" || last.Trigger != string(TriggerStartup) || last.Subject == "" {
		t.Errorf("staging's oldest sync = %+v, want %s applied at startup", last, good[:7])
	}
	// production follows the branch: it applied each new revision (its objects unchanged by
	// the staging commit), once; its no-op syncs, one a second, are not recorded.
	seen := map[string]bool{}
	for _, rec := range production.History {
		if rec.Result != "applied" || seen[rec.Revision] {
			t.Errorf("production history = %+v, want one applied sync per revision (no-op syncs are not recorded)", production.History)
			break
		}
		seen[rec.Revision] = true
	}
	if !seen[good] {
		t.Errorf("production history = %+v, want the apply of %s", production.History, good[:7])
	}
}
