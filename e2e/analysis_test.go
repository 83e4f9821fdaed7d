package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"

	"github.com/ferry-cd/ferry/internal/promtest"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/sync"
)

// errorRateQuery is examples/gceme's error-rate check over 5s windows: the share of the
// canary's requests in the environment's namespace that answered 5xx (0 while none did).
const errorRateQuery = `(sum(rate(http_requests_total{namespace="{{namespace}}",track="canary",code=~"5.."}[5s])) or vector(0))` +
	` / sum(rate(http_requests_total{namespace="{{namespace}}",track="canary"}[5s]))`

// analysisEdit shortens production's rollout as rolloutEdit does, with a canary that soaks for
// soak (its stage timeout 45s: a healthy canary on a loaded machine) and has analysis, an
// analysisBlock ("" for none).
func analysisEdit(onFailure, soak, analysis string) func(string) string {
	return func(y string) string {
		y = strings.Replace(rolloutEdit(onFailure)(y), "timeout: 20s", "timeout: 45s", 1)
		return strings.Replace(y, "soak: 3s\n", "soak: "+soak+"\n"+analysis, 1)
	}
}

// analysisBlock is a canary stage's `analysis:` in ferry.yaml: checks (prometheusCheck or
// webhookCheck each) evaluated every interval, failureLimit failures in a row halting.
func analysisBlock(interval string, failureLimit int, checks ...string) string {
	return fmt.Sprintf("          analysis:\n            interval: %s\n            failureLimit: %d\n            checks:\n%s",
		interval, failureLimit, strings.Join(checks, ""))
}

// prometheusCheck is a check that asks the Prometheus at address query, passing while its value
// is at most max.
func prometheusCheck(name, address, query, max string) string {
	return fmt.Sprintf("              - name: %s\n                prometheus:\n                  address: %s\n                  query: '%s'\n                max: %s\n",
		name, address, query, max)
}

// webhookCheck is a check that posts to url, passing on a 2xx answer within timeout.
func webhookCheck(name, url, timeout string) string {
	return fmt.Sprintf("              - name: %s\n                webhook: {url: %q, timeout: %s}\n", name, url, timeout)
}

// playTraffic plays production's canary traffic for prom to scrape: rate requests per second,
// all answered 200.
func playTraffic(p *giteaPipeline, prom *promtest.Prometheus, rate float64) {
	prom.Traffic.SetRate(p.productionNS, "canary", "200", rate)
	prom.Traffic.SetRate(p.productionNS, "canary", "500", 0)
}

// analysisLines returns production's `msg=analysis` lines of revision (a commit SHA).
func (p *giteaPipeline) analysisLines(revision string) []map[string]any {
	return p.logs.Lines(map[string]any{"msg": "analysis", "env": "production", "revision": revision[:7]})
}

// summary is what a list of analysis lines says, as "pass(0.01) fail(no data) ...".
func summary(lines []map[string]any) string {
	var out []string
	for _, l := range lines {
		s := fmt.Sprint(l["result"])
		if v, ok := l["value"]; ok {
			s += fmt.Sprintf("(%.3g)", v)
		} else if r, ok := l["reason"]; ok {
			s += fmt.Sprintf("(%v)", r)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// TestAnalysisPassesAGoodRelease is the good release: a promotion is merged, the canary rolls
// out, the error-rate check asks a real Prometheus every 2s while the canary soaks, passes
// every time, and then every Deployment moves.
func TestAnalysisPassesAGoodRelease(t *testing.T) {
	prom := promtest.Start(t)
	check := prometheusCheck("error-rate", prom.URL, errorRateQuery, "0.05")
	p := setupGiteaPipeline(t, analysisEdit("halt", "12s", analysisBlock("2s", 2, check)))
	p.metricsAddr = freeAddr(t)
	p.startAgent(t)
	playTraffic(p, prom, 50)
	prom.Traffic.SetRate(p.productionNS, "canary", "500", 0.5) // 1% of the canary's requests fail
	p.waitImages(t, p.productionNS, "1.0.0", append(stable, canary...)...)
	p.waitImages(t, p.stagingNS, "1.1.0", stable...)

	res, err := promote.Promote(t.Context(), p.clone(t), p.forge, promote.Options{To: "production"})
	if err != nil || !res.Created {
		t.Fatalf("promotion: %+v %v", res, err)
	}
	merged := time.Now()
	p.merge(t, p.openPRs(t)[0])
	head := p.head(t)
	p.waitImages(t, p.productionNS, "1.1.0", canary...)
	if imgs := p.images(t, p.productionNS); imgs["gceme-frontend"] != "1.0.0" || imgs["gceme-backend"] != "1.0.0" {
		t.Errorf("the main Deployments moved before the canary's analysis: %v", imgs)
	}
	waitLog(t, p.logs, map[string]any{"msg": "sync finished", "env": "production", "stage": "all", "revision": head[:7], "health": "Healthy"})
	allAt := time.Since(merged)
	p.waitImages(t, p.productionNS, "1.1.0", stable...)

	lines := p.analysisLines(head)
	if len(lines) < 2 {
		t.Errorf("%d analysis lines, want one every 2s of the 12s soak (at least 2); log:\n%s", len(lines), p.logs.String())
	}
	for _, l := range lines {
		v, ok := l["value"].(float64)
		if l["result"] != "pass" || l["stage"] != "canary" || l["check"] != "error-rate" || !ok || v > 0.05 {
			t.Errorf("analysis line %v, want the canary's error-rate passing with a value ≤ 0.05", l)
		}
	}
	if h := p.logLines("rollout halted"); len(h) != 0 {
		t.Errorf("the good release halted: %v", h)
	}
	metric := `ferry_analysis_total{check="error-rate",env="production",result="pass",stage="canary"} ` + fmt.Sprint(len(lines))
	if m := scrape(t, p.metricsAddr); !strings.Contains(m, metric+"\n") || strings.Contains(m, `result="fail"`) {
		t.Errorf("the agent's /metrics lacks %q (or counts a failure):\n%s", metric, grepLines(m, "ferry_analysis_total"))
	}
	t.Logf("merge → all rolled out %s (soak 12s); evaluations: %s; stage lines: %v", allAt.Round(time.Millisecond), summary(lines), stageDurations(p))
}

// freeAddr returns a free loopback host:port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrape returns the text of the /metrics an agent serves at addr.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// head returns the commit at the tip of the config repository's main branch.
func (p *giteaPipeline) head(t *testing.T) string {
	t.Helper()
	b, _, err := p.g.Client.GetRepoBranch(p.g.AdminUser, "config", "main")
	if err != nil {
		t.Fatal(err)
	}
	return b.Commit.ID
}

// TestAnalysisHaltsABadReleaseAndReverts is the bad release: once the canary runs the new tag,
// its requests start failing; the error-rate check fails twice in a row (3s apart), the rollout
// halts naming the check, its value and bound before the stable Deployments move, a revert pull
// request is opened, and merging it brings the canary back to the old tag.
func TestAnalysisHaltsABadReleaseAndReverts(t *testing.T) {
	prom := promtest.Start(t)
	check := prometheusCheck("error-rate", prom.URL, errorRateQuery, "0.05")
	p := newGiteaPipeline(t, analysisEdit("revert", "40s", analysisBlock("3s", 2, check)))
	playTraffic(p, prom, 50)
	p.waitImages(t, p.productionNS, "1.0.0", append(stable, canary...)...)

	sha := p.setProductionTag(t, "1.1.0")
	p.waitImages(t, p.productionNS, "1.1.0", canary...)
	bad := time.Now()
	prom.Traffic.SetRate(p.productionNS, "canary", "500", 50) // half the canary's requests fail

	halted := waitLog(t, p.logs, map[string]any{"msg": "rollout halted", "env": "production", "revision": sha[:7], "stage": "canary"})
	latency := time.Since(bad)
	if v, ok := halted["value"].(float64); halted["check"] != "error-rate" || !ok || v <= 0.05 || halted["max"] != 0.05 {
		t.Errorf("halt line %v, want check=error-rate, a value above max=0.05", halted)
	}
	if reason, _ := halted["reason"].(string); !strings.Contains(reason, "> max 0.05") {
		t.Errorf("halt reason %q, want the value above its bound", reason)
	}
	if imgs := p.images(t, p.productionNS); imgs["gceme-frontend"] != "1.0.0" || imgs["gceme-backend"] != "1.0.0" {
		t.Errorf("the main Deployments left the old tag: %v", imgs)
	}
	lines := p.analysisLines(sha)
	t.Logf("bad rate set → rollout halted in %s (interval 3s × failureLimit 2, scrape 1s, 5s rate window); %d evaluations: %s; halt: %v",
		latency.Round(time.Millisecond), len(lines), summary(lines), halted["reason"])

	proposed := waitLog(t, p.logs, map[string]any{"msg": "revert proposed", "env": "production"})
	t.Logf("revert: %v", proposed["url"])
	revert := p.revertPR(t)
	// Merging the revert replaces the bad canary: its errors end.
	prom.Traffic.SetRate(p.productionNS, "canary", "500", 0)
	p.merge(t, revert)
	p.waitImages(t, p.productionNS, "1.0.0", canary...)
	waitLog(t, p.logs, map[string]any{"msg": "sync finished", "env": "production", "revision": p.head(t)[:7], "health": "Healthy"})
	if imgs := p.images(t, p.productionNS); imgs["gceme-frontend"] != "1.0.0" || imgs["gceme-backend"] != "1.0.0" {
		t.Errorf("after the revert: %v, want every Deployment on 1.0.0", imgs)
	}
	if n := len(p.logLines("revert proposed")); n != 1 {
		t.Errorf("%d revert proposals, want one", n)
	}
}

// revertPR returns production's open revert pull request.
func (p *giteaPipeline) revertPR(t *testing.T) *gitea.PullRequest {
	t.Helper()
	for _, pr := range p.openPRs(t) {
		if pr.Head != nil && pr.Head.Ref == promote.RollbackBranchFor("production") {
			return pr
		}
	}
	t.Fatalf("no open revert pull request; agent log:\n%s", p.logs.String())
	return nil
}

var newTag = regexp.MustCompile(`newTag: "[^"]*"`)

// release commits, in one commit, tag into production's overlay and analysis (an
// analysisBlock) as the canary stage's analysis in ferry.yaml, and returns the commit.
func (p *giteaPipeline) release(t *testing.T, tag, soak, analysis string) string {
	t.Helper()
	repo := p.clone(t)
	edit := func(file string, change func(string) string) {
		data, err := repo.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := repo.WriteFile(file, []byte(change(string(data)))); err != nil {
			t.Fatal(err)
		}
	}
	edit("environments/production/kustomization.yaml", func(s string) string {
		return newTag.ReplaceAllString(s, `newTag: "`+tag+`"`)
	})
	edit("ferry.yaml", func(s string) string {
		return strings.Replace(testutil.StripAnalysis(s), "soak: "+soak+"\n", "soak: "+soak+"\n"+analysis, 1)
	})
	sha, err := repo.Commit("release(production): gceme " + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(t.Context(), "main", false); err != nil {
		t.Fatal(err)
	}
	return sha
}

// webhooks is the user's smoke-test service: /fail/… answers 500, /hang/… answers only when
// the caller gives up. It records what it was sent.
type webhooks struct {
	srv *httptest.Server
	mu  gosync.Mutex
	got []webhookCall
}

type webhookCall struct {
	Path, Token string
	Body        map[string]any
}

func startWebhooks(t *testing.T) *webhooks {
	w := &webhooks{}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		call := webhookCall{Path: r.URL.Path, Token: r.URL.Query().Get("token")}
		_ = json.Unmarshal(data, &call.Body)
		w.mu.Lock()
		w.got = append(w.got, call)
		w.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/hang/") {
			<-r.Context().Done()
			return
		}
		http.Error(rw, "smoke test failed", http.StatusInternalServerError)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *webhooks) calls() []webhookCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]webhookCall(nil), w.got...)
}

// assertCalls checks that the webhook was called at least n times, each time as want: the
// placeholders in the path expanded, the token in the query, the documented JSON body.
func (w *webhooks) assertCalls(t *testing.T, n int, want webhookCall) {
	t.Helper()
	calls := w.calls()
	if len(calls) < n {
		t.Fatalf("the webhook was called %d times, want at least %d", len(calls), n)
	}
	for _, c := range calls {
		if c.Path != want.Path || c.Token != want.Token || fmt.Sprint(c.Body) != fmt.Sprint(want.Body) {
			t.Errorf("webhook got %s token=%q %v, want %s token=%q %v", c.Path, c.Token, c.Body, want.Path, want.Token, want.Body)
		}
	}
}

// haltOf waits for the canary's halt of revision and checks that the stable Deployments kept
// the old tag and the canary runs tag.
func (p *giteaPipeline) haltOf(t *testing.T, revision, tag string) map[string]any {
	t.Helper()
	h := waitLog(t, p.logs, map[string]any{"msg": "rollout halted", "env": "production", "revision": revision[:7], "stage": "canary"})
	imgs := p.images(t, p.productionNS)
	if imgs["gceme-frontend"] != "1.0.0" || imgs["gceme-backend"] != "1.0.0" || imgs["gceme-frontend-canary"] != tag {
		t.Errorf("halted at the canary of %s: %v, want the stable Deployments on 1.0.0", tag, imgs)
	}
	lines := p.analysisLines(revision)
	t.Logf("halt: check=%v reason=%q; %d evaluations: %s", h["check"], h["reason"], len(lines), summary(lines))
	return h
}

// TestAnalysisFailuresHaltTheCanary plays, one release after the other on one pipeline, the
// ways a check fails other than a bad value: the metric has no data, the smoke-test webhook
// answers 500, it hangs past its timeout, Prometheus is down. Each halts the canary with the
// reason the user needs, the stable Deployments never move, and the webhook's token never
// reaches the log.
func TestAnalysisFailuresHaltTheCanary(t *testing.T) {
	prom := promtest.Start(t)
	hooks := startWebhooks(t)
	const token = "s3cret-e2e-webhook-token"
	p := newGiteaPipeline(t, analysisEdit("halt", "20s", ""))
	playTraffic(p, prom, 50)
	p.waitImages(t, p.productionNS, "1.0.0", append(stable, canary...)...)
	reason := func(h map[string]any) string { s, _ := h["reason"].(string); return s }

	t.Run("no data", func(t *testing.T) {
		absent := `sum(rate(ferry_e2e_absent_requests_total{namespace="{{namespace}}"}[5s]))`
		sha := p.release(t, "1.1.0", "20s", analysisBlock("2s", 2, prometheusCheck("absent", prom.URL, absent, "0.05")))
		h := p.haltOf(t, sha, "1.1.0")
		if h["check"] != "absent" || !strings.Contains(reason(h), "no data") || h["value"] != nil {
			t.Errorf("halt %v, want check=absent, no value, reason with \"no data\"", h)
		}
	})
	t.Run("webhook answers 500", func(t *testing.T) {
		url := hooks.srv.URL + "/fail/{{env}}?token=" + token
		sha := p.release(t, "1.2.0", "20s", analysisBlock("2s", 2, webhookCheck("smoke", url, "5s")))
		h := p.haltOf(t, sha, "1.2.0")
		if h["check"] != "smoke" || !strings.Contains(reason(h), "webhook answered 500") {
			t.Errorf("halt %v, want check=smoke, reason with \"webhook answered 500\"", h)
		}
		want := webhookCall{Path: "/fail/production", Token: token,
			Body: map[string]any{"env": "production", "namespace": p.productionNS, "revision": sha, "stage": "canary", "check": "smoke"}}
		hooks.assertCalls(t, 2, want)
	})
	t.Run("webhook hangs", func(t *testing.T) {
		url := hooks.srv.URL + "/hang/{{stage}}?token=" + token
		sha := p.release(t, "1.3.0", "20s", analysisBlock("2s", 2, webhookCheck("smoke", url, "2s")))
		h := p.haltOf(t, sha, "1.3.0")
		if h["check"] != "smoke" || !strings.Contains(reason(h), "timed out after 2s") {
			t.Errorf("halt %v, want check=smoke, reason with \"timed out after 2s\"", h)
		}
	})
	t.Run("prometheus down", func(t *testing.T) {
		prom.Kill()
		check := prometheusCheck("error-rate", prom.URL, errorRateQuery, "0.05")
		sha := p.release(t, "1.4.0", "20s", analysisBlock("2s", 2, check))
		h := p.haltOf(t, sha, "1.4.0")
		if h["check"] != "error-rate" || !strings.Contains(reason(h), "connection refused") {
			t.Errorf("halt %v, want check=error-rate, reason with the connection error", h)
		}
	})
	if leaked := grepLines(p.logs.String(), token); leaked != "" {
		t.Errorf("the webhook's token reached the log:\n%s", leaked)
	}
}

// TestAnalysisResumesAfterRestart stops the agent after the canary's first passing evaluation;
// the new agent resumes the soak and the analysis where they were (same soak start, the check's
// evaluations counted on), does not apply the canary again, and finishes the rollout.
func TestAnalysisResumesAfterRestart(t *testing.T) {
	prom := promtest.Start(t)
	check := prometheusCheck("error-rate", prom.URL, errorRateQuery, "0.05")
	p := newGiteaPipeline(t, analysisEdit("halt", "30s", analysisBlock("3s", 2, check)))
	playTraffic(p, prom, 50)
	p.waitImages(t, p.productionNS, "1.0.0", append(stable, canary...)...)
	sha := p.setProductionTag(t, "1.1.0")
	waitLog(t, p.logs, map[string]any{"msg": "analysis", "env": "production", "revision": sha[:7], "result": "pass"})
	stopped := time.Now()
	p.stopAgent()
	first := p.logs

	store := sync.NewStateStore(p.kube, p.agentNS)
	before, err := store.Load(t.Context(), "production")
	if err != nil || before.Stage != "canary" || before.Progress.Phase != sync.PhaseSoaking || len(before.Progress.Analysis) != 1 {
		t.Fatalf("saved progress: stage %q %+v %v, want canary soaking with the check's state", before.Stage, before.Progress, err)
	}
	n := before.Progress.Analysis[0].Evaluations
	p.startAgent(t)
	waitLog(t, p.logs, map[string]any{"msg": "analysis", "env": "production", "revision": sha[:7]})
	after, err := store.Load(t.Context(), "production")
	switch {
	case err != nil:
		t.Fatal(err)
	case after.Stage != "canary" || len(after.Progress.Analysis) != 1:
		t.Logf("the canary's soak ended before the state was read: stage %q", after.Stage)
	case !after.Progress.Since.Equal(before.Progress.Since):
		t.Errorf("the soak started over: since %s, was %s", after.Progress.Since, before.Progress.Since)
	case after.Progress.Analysis[0].Evaluations <= n:
		t.Errorf("the check's evaluations restarted: %d after the restart, %d before", after.Progress.Analysis[0].Evaluations, n)
	}
	waitLog(t, p.logs, map[string]any{"msg": "sync finished", "env": "production", "stage": "all", "revision": sha[:7]})
	resumed := time.Since(stopped)
	p.waitImages(t, p.productionNS, "1.1.0", stable...)
	for _, l := range p.logs.Lines(map[string]any{"msg": "sync finished", "env": "production", "stage": "canary"}) {
		created, _ := l["created"].(float64)
		configured, _ := l["configured"].(float64)
		if created > 0 || configured > 0 {
			t.Errorf("the restarted agent applied the canary again: %v", l)
		}
	}
	firstLines, secondLines := first.Lines(map[string]any{"msg": "analysis", "revision": sha[:7]}), p.analysisLines(sha)
	t.Logf("stopped after %d evaluation(s) (state: %d); the new agent evaluated %d more (%s) and finished %s after the stop",
		len(firstLines), n, len(secondLines), summary(secondLines), resumed.Round(time.Millisecond))
}
