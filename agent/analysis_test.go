package agent

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferry-cd/ferry/rollout"
)

// analysedStaging gives the fixture's staging the canary Deployments and a canary stage whose
// analysis is one webhook check, smoke, posting to hookURL every second (failureLimit 2, soak
// 2m), in a commit before the agent starts.
func (f *fixture) analysedStaging(hookURL string) {
	f.t.Helper()
	y := f.files["ferry.yaml"]
	i := strings.Index(y, "    prune: true")
	i += strings.Index(y[i:], "\n") + 1
	f.files["ferry.yaml"] = y[:i] + `    rollout:
      stages:
        - name: canary
          selector: {matchLabels: {track: canary}}
          soak: 2m
          analysis:
            interval: 1s
            failureLimit: 2
            checks:
              - name: smoke
                webhook: {url: "` + hookURL + `", timeout: 10s}
        - name: all
      timeout: 1m
` + y[i:]
	f.files[stagingKust] = strings.Replace(f.files[stagingKust], "images:\n", "components:\n- ../../components/canary\nimages:\n", 1)
	f.srv.Commit(f.t, "config", "staging: a canary stage with a smoke test", map[string]string{"ferry.yaml": f.files["ferry.yaml"], stagingKust: f.files[stagingKust]})
}

// TestAnalysisFailureHaltsTheRollout rolls out a release whose canary's smoke webhook answers
// 500: each evaluation is logged (msg=analysis), counted and recorded as an Event, and the
// second failure in a row halts the rollout with check=smoke; the stable Deployments stay on
// the applied release, and the webhook's token is nowhere in the log.
func TestAnalysisFailureHaltsTheRollout(t *testing.T) {
	var mu gosync.Mutex
	calls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(hook.Close)
	f := newFixture(t, "@every 1s")
	f.analysedStaging(hook.URL + "/smoke/{{stage}}?token=s3cret")
	logs := &logBuffer{}
	opts := f.options(logs)
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "health": "Healthy"}, 3*time.Minute)
	stable := f.frontendImage(t.Context())

	bad := f.commitTag("1.3.0")
	halt := logs.waitLine(t, "rollout halted", map[string]any{"env": "staging", "revision": bad[:7], "stage": "canary", "check": "smoke"}, 3*time.Minute)
	if halt["reason"] != "check smoke failed 2 times in a row: webhook answered 500" || halt["level"] != "ERROR" {
		t.Errorf("halt line %v, want reason check smoke failed 2 times in a row: webhook answered 500", halt)
	}
	for _, k := range []string{"value", "min", "max", "object"} {
		if v, ok := halt[k]; ok {
			t.Errorf("halt line has %s=%v, want none for a webhook check", k, v)
		}
	}
	evals := filterLines(logs.lines("analysis"), map[string]any{"env": "staging", "revision": bad[:7], "stage": "canary", "check": "smoke"})
	if len(evals) != 2 {
		t.Fatalf("%d analysis lines, want 2: %v", len(evals), evals)
	}
	for _, l := range evals {
		if l["result"] != "fail" || l["reason"] != "webhook answered 500" || l["level"] != "WARN" {
			t.Errorf("analysis line %v, want result=fail reason=webhook answered 500", l)
		}
	}
	if got := f.frontendImage(t.Context()); got != stable {
		t.Errorf("the stable frontend runs %s, want %s (the canary stage halted)", got, stable)
	}
	if strings.Contains(logs.String(), "s3cret") {
		t.Error("the webhook's token is in the log")
	}
	body := httpGet(t, "http://"+opts.MetricsAddr+"/metrics")
	if want := `ferry_analysis_total{check="smoke",env="staging",result="fail",stage="canary"} 2`; !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	events, err := f.kube.CoreV1().Events(f.ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, e := range events.Items {
		if e.Reason == "AnalysisFailed" && e.Type == "Warning" && strings.Contains(e.Message, "check smoke: webhook answered 500") {
			failed++
		}
	}
	if failed == 0 {
		t.Error("no AnalysisFailed Event")
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("the webhook was called %d times, want 2", calls)
	}
}

// TestRolloutLines is the halt and analysis lines as DESIGN.md shows them (the agent's and
// `ferry sync`'s): check=, value= (with a sample), the check's bounds, object= of an unhealthy
// object, reason= of a failure.
func TestRolloutLines(t *testing.T) {
	var b strings.Builder
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	log := slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: noTime}))
	rev := strings.Repeat("3f2a1c9", 5) + "abcde"
	value, lo, hi := 0.31, 0.5, 0.05
	LogHalt(log, &rollout.Halt{Env: "production", Revision: rev, Stage: "canary", Check: "error-rate", Value: &value, Max: &hi,
		Reason: "check error-rate failed: 0.31 > max 0.05"})
	LogHalt(log, &rollout.Halt{Env: "production", Revision: rev, Stage: "canary", Check: "error-rate", Min: &lo, Reason: "check error-rate failed: no data"})
	LogHalt(log, &rollout.Halt{Env: "production", Revision: rev, Stage: "canary", Object: "Deployment.apps production/x", Reason: "Deployment.apps production/x is InProgress: 0/1"})
	LogEvaluation(log, "production", rev, "canary", rollout.CheckResult{Check: "error-rate", Pass: true, Value: &value, Min: &lo})
	LogEvaluation(log, "production", rev, "canary", rollout.CheckResult{Check: "smoke", Reason: "webhook answered 500"})
	want := `level=ERROR msg="rollout halted" env=production revision=3f2a1c9 stage=canary check=error-rate value=0.31 max=0.05 reason="check error-rate failed: 0.31 > max 0.05"
level=ERROR msg="rollout halted" env=production revision=3f2a1c9 stage=canary check=error-rate min=0.5 reason="check error-rate failed: no data"
level=ERROR msg="rollout halted" env=production revision=3f2a1c9 stage=canary object="Deployment.apps production/x" reason="Deployment.apps production/x is InProgress: 0/1"
level=INFO msg=analysis env=production revision=3f2a1c9 stage=canary check=error-rate result=pass value=0.31
level=WARN msg=analysis env=production revision=3f2a1c9 stage=canary check=smoke result=fail reason="webhook answered 500"
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
