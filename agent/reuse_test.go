package agent

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// TestCommitsReRenderOnlyTheEnvironmentsTheyChange runs an agent syncing staging and
// production of examples/gceme (production without its staged rollout) from a real git server
// into the local control plane, and sends it commits of several kinds through the webhook. Each
// environment renders again only when something its render read changed, or its entry in
// ferry.yaml did; otherwise it reuses its last render without running kustomize, which its sync
// line (render=reused) and ferry_renders_total say.
func TestCommitsReRenderOnlyTheEnvironmentsTheyChange(t *testing.T) {
	f := newFixture(t, "@every 1h") // only the start and the webhook trigger syncs
	f.files["ferry.yaml"] = withoutRollout(f.files["ferry.yaml"])
	f.files["ferry.yaml"] = strings.Replace(f.files["ferry.yaml"], "    pin: \"\"", "    schedule: \"@every 1h\"\n    pin: \"\"", 1)
	f.srv.Commit(t, "config", "production: no staged rollout, hourly", map[string]string{"ferry.yaml": f.files["ferry.yaml"]})
	logs := &logBuffer{}
	opts := f.options(logs)
	opts.Environments = nil // staging and production
	f.start(opts)
	for _, env := range []string{"staging", "production"} {
		logs.waitLine(t, "sync finished", map[string]any{"env": env, "result": "applied", "health": "Healthy"}, 3*time.Minute)
	}
	renders := map[string]int{"staging/rendered": 1, "production/rendered": 1}
	checkRenders(t, opts.MetricsAddr, renders)

	step := func(what string, commit func() string, reused map[string]bool) string {
		t.Helper()
		sha := commit()
		if code := postHook(t, opts.HTTPAddr, "github", "refs/heads/main"); code != http.StatusAccepted {
			t.Fatalf("%s: webhook answered %d, want 202", what, code)
		}
		for _, env := range []string{"staging", "production"} {
			line := logs.waitLine(t, "sync finished", map[string]any{"env": env, "revision": sha[:7]}, 2*time.Minute)
			if got, want := line["render"], map[bool]any{true: "reused", false: nil}[reused[env]]; got != want {
				t.Errorf("%s: %s's sync line says render=%v, want %v: %v", what, env, got, want, line)
			}
			renders[env+"/"+map[bool]string{true: "reused", false: "rendered"}[reused[env]]]++
		}
		checkRenders(t, opts.MetricsAddr, renders)
		return sha
	}

	sha := step("a commit changing only staging's overlay", func() string { return f.commitTag("1.2.0") },
		map[string]bool{"production": true})
	if line := logs.waitLine(t, "sync finished", map[string]any{"env": "production", "revision": sha[:7]}, time.Second); line["created"] != 0.0 || line["configured"] != 0.0 {
		t.Errorf("production's reused render changed objects: %v", line)
	}
	base := "apps/gceme/base/configmap.yaml"
	step("a commit changing the shared base", func() string {
		f.files[base] = f.files[base] + "# a comment kustomize drops: the objects stay the same\n"
		return f.srv.Commit(t, "config", "base: a comment", map[string]string{base: f.files[base]})
	}, nil)
	step("a commit changing production's entry in ferry.yaml", func() string {
		f.files["ferry.yaml"] = strings.Replace(f.files["ferry.yaml"], `schedule: "@every 1h"`+"\n    pin:", `schedule: "@every 2h"`+"\n    pin:", 1)
		return f.srv.Commit(t, "config", "production: every 2h", map[string]string{"ferry.yaml": f.files["ferry.yaml"]})
	}, map[string]bool{"staging": true})

	// kustomize looks for kustomization.yaml, kustomization.yml and Kustomization in each
	// folder, and refuses a folder with two of them. A render that recorded only the files it
	// read would reuse production's render here; the missing Kustomization it probed is an
	// input too, so production renders again, and fails.
	probed := "environments/production/Kustomization"
	sha = f.srv.Commit(t, "config", "production: a second kustomization file", map[string]string{probed: f.files["environments/production/kustomization.yaml"]})
	if code := postHook(t, opts.HTTPAddr, "github", "refs/heads/main"); code != http.StatusAccepted {
		t.Fatalf("webhook answered %d, want 202", code)
	}
	failed := logs.waitLine(t, "sync failed", map[string]any{"env": "production", "revision": sha[:7], "phase": "render"}, 2*time.Minute)
	if msg, _ := failed["error"].(string); !strings.Contains(msg, "multiple kustomization files") {
		t.Errorf("production's render at %s failed with %q, want kustomize's refusal of two kustomization files", sha[:7], msg)
	}
	if line := logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": sha[:7]}, 2*time.Minute); line["render"] != "reused" {
		t.Errorf("staging did not reuse its render at %s: %v", sha[:7], line)
	}
	renders["production/rendered"]++
	renders["staging/reused"]++
	// Production's failed render is retried with backoff, and each retry renders again.
	checkRenders(t, opts.MetricsAddr, renders, "production/rendered")
}

// withoutRollout removes production's rollout: block from examples/gceme's ferry.yaml.
func withoutRollout(ferryYAML string) string {
	start := strings.Index(ferryYAML, "    rollout:\n")
	end := strings.Index(ferryYAML, "      timeout: 5m")
	if start < 0 || end < start {
		return ferryYAML
	}
	end += strings.Index(ferryYAML[end:], "\n") + 1
	return ferryYAML[:start] + ferryYAML[end:]
}

var rendersSeries = regexp.MustCompile(`(?m)^ferry_renders_total\{env="([^"]+)",result="([^"]+)"\} (\d+)$`)

// checkRenders polls /metrics until ferry_renders_total holds want (env/result → count), or at
// least want's count for the series in atLeast, and fails the test with what it holds otherwise.
func checkRenders(t *testing.T, metricsAddr string, want map[string]int, atLeast ...string) {
	t.Helper()
	var got map[string]int
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		got = map[string]int{}
		for _, m := range rendersSeries.FindAllStringSubmatch(httpGet(t, "http://"+metricsAddr+"/metrics"), -1) {
			got[m[1]+"/"+m[2]], _ = strconv.Atoi(m[3])
		}
		for k, v := range want {
			if got[k] != v && !(slices.Contains(atLeast, k) && got[k] > v) {
				return false, nil
			}
		}
		return len(got) == len(want), nil
	})
	if err != nil {
		t.Fatalf("ferry_renders_total: %v, want %v", got, want)
	}
}
