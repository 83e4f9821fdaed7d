package bench

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scenario 10's repository: staging small, production large.
const (
	reuseStaging    = 100
	reuseProduction = 4000
	reuseImage      = "gcr.io/cloud-solutions-images/gceme"
)

// benchRenderReuse is scenario 10: a two-environment repository where production has 4000
// objects, synced by one `ferry agent` process, receives commits that change only staging's
// image tag. Production's inputs did not change, so the agent reuses its render: no kustomize
// run (ferry_renders_total), `render=reused` on its sync line. The baseline is the same commit
// with a comment added to production's kustomization.yaml, which changes an input but not the
// objects, so that production renders again: what every such commit cost before. The figure
// is the CPU time the agent process spent on the commit, from before the commit until it is
// idle again after both environments' sync lines, alternating the two kinds of commit.
func benchRenderReuse(t *testing.T, st settings, tab *table) {
	id := uniqueName("reuse", reuseProduction, 0)
	staging, production := id+"-stg", id+"-prod"
	files := reuseFiles(staging, production)
	metrics := "127.0.0.1:" + freePort(t)
	a := startAgentOn(t, id, files, "--metrics-addr", metrics)
	for _, env := range []string{staging, production} {
		if _, ok := a.logs.wait(func(l logLine) bool {
			return l.Msg == "sync finished" && l.Env == env && l.Result == "applied" && l.Health == "Healthy"
		}, 30*time.Minute); !ok {
			t.Fatalf("agent %s: %s never applied; its log:\n%s", id, env, a.logs.tail(40))
		}
	}
	reps := min(st.reps, 3)
	var reused, forced reuseRun
	for i := range reps {
		alternate(i, func() {
			reused.add(a.reuseCommit(t, metrics, staging, production, fmt.Sprintf("1.1.%d", 2*i+1), false))
		}, func() {
			forced.add(a.reuseCommit(t, metrics, staging, production, fmt.Sprintf("1.1.%d", 2*i+2), true))
		})
		t.Logf("render reuse run %d: reused %+v, forced %+v", i, reused.last(), forced.last())
	}
	a.stop()
	r, f := medianDuration(reused.cpu), medianDuration(forced.cpu)
	tab.add(row{"10. commit changing only staging's tag: agent CPU", fmt.Sprintf("%d + %d", reuseProduction, reuseStaging),
		seconds(r), seconds(f), ratio(float64(r), float64(f)), "production: 0 kustomize runs", met(reused.kustomize == 0 && reused.lines == reps),
		fmt.Sprintf("baseline: the same commit plus a comment in production's kustomization.yaml (an input changed, the objects did not), so that production renders again; "+
			"production's kustomize runs: %d in %d reused commits, %d in %d forced; its sync line said render=reused %d times of %d; "+
			"commit → production's sync line: median %s reused, %s forced; agent CPU from the commit until it idles after both sync lines, %d runs each, alternating",
			reused.kustomize, reps, forced.kustomize, reps, reused.lines, reps,
			seconds(medianDuration(reused.latency)), seconds(medianDuration(forced.latency)), reps)})
}

// reuseFiles is scenario 10's repository: ferry.yaml, and the overlays of staging (100
// objects) and production (4000), each with an images: entry for the gceme image.
func reuseFiles(staging, production string) map[string]string {
	files := map[string]string{}
	y := "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n"
	for _, env := range []struct {
		name, tag string
		n         int
	}{{staging, "1.1.0", reuseStaging}, {production, "1.0.0", reuseProduction}} {
		y += fmt.Sprintf("  - name: %[1]s\n    path: %[1]s\n    namespace: %[1]s\n    schedule: \"@every 1h\"\n", env.name)
		for p, content := range environmentFiles(env.name, env.name, env.n) {
			files[p] = content
		}
		files[env.name+"/kustomization.yaml"] += fmt.Sprintf("images:\n- name: %s\n  newTag: %q\n", reuseImage, env.tag)
	}
	files["ferry.yaml"] = y
	return files
}

// reuseSample is one commit of scenario 10.
type reuseSample struct {
	cpu, latency time.Duration
	kustomize    int  // production's kustomize runs for the commit
	reused       bool // production's sync line said render=reused
}

type reuseRun struct {
	cpu, latency []time.Duration
	kustomize    int
	lines        int
	samples      []reuseSample
}

func (r *reuseRun) add(s reuseSample) {
	r.cpu, r.latency = append(r.cpu, s.cpu), append(r.latency, s.latency)
	r.kustomize += s.kustomize
	if s.reused {
		r.lines++
	}
	r.samples = append(r.samples, s)
}

func (r *reuseRun) last() reuseSample { return r.samples[len(r.samples)-1] }

// reuseCommit commits staging's tag (and, forced, a comment in production's
// kustomization.yaml), posts the push webhook, waits for both environments' sync lines of the
// commit and for the agent to idle, and returns what the commit cost.
func (a *agentProcess) reuseCommit(t *testing.T, metrics, staging, production, tag string, forced bool) reuseSample {
	t.Helper()
	file := staging + "/kustomization.yaml"
	changes := map[string]string{file: regexp.MustCompile(`newTag: "[^"]*"`).ReplaceAllString(a.files[file], fmt.Sprintf("newTag: %q", tag))}
	if forced {
		file := production + "/kustomization.yaml"
		changes[file] = a.files[file] + "# staging " + tag + "\n"
	}
	for p, c := range changes {
		a.files[p] = c
	}
	a.settle()
	before, runs := cpuTime(a.cmd.Process.Pid), rendered(t, metrics, production)
	rev := a.srv.Commit(t, "config", "staging: gceme "+tag, changes)
	start := time.Now()
	a.postWebhook(t, rev)
	var s reuseSample
	for _, env := range []string{staging, production} {
		l, ok := a.logs.wait(func(l logLine) bool {
			return l.Msg == "sync finished" && l.Env == env && strings.HasPrefix(rev, l.Revision) && l.Health == "Healthy"
		}, 10*time.Minute)
		if !ok {
			t.Fatalf("agent %s: no healthy sync of %s at %s; its log:\n%s", a.name, env, rev, a.logs.tail(40))
		}
		if env == production {
			s.latency, s.reused = l.Time.Sub(start), l.Render == "reused"
		}
	}
	a.settle()
	s.cpu, s.kustomize = cpuTime(a.cmd.Process.Pid)-before, rendered(t, metrics, production)-runs
	return s
}

// settle waits until the agent has used no CPU for a second (at most a minute): a render's
// release of memory, a health wait's last poll are part of what a commit cost.
func (a *agentProcess) settle() {
	last := cpuTime(a.cmd.Process.Pid)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		time.Sleep(time.Second)
		now := cpuTime(a.cmd.Process.Pid)
		if now == last {
			return
		}
		last = now
	}
}

// rendered returns env's ferry_renders_total{result="rendered"}: its kustomize runs.
func rendered(t *testing.T, metrics, env string) int {
	t.Helper()
	resp, err := http.Get("http://" + metrics + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	m := regexp.MustCompile(`(?m)^ferry_renders_total\{env="` + regexp.QuoteMeta(env) + `",result="rendered"\} (\d+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
