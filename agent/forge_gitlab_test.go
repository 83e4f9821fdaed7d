package agent

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/internal/gitlabtest"
	"github.com/ferry-cd/ferry/promote"
)

// TestGitLabStatusesThroughAStagedRollout runs the agent on the local control plane with GitLab
// as its forge: internal/gitlabtest, which answers GitLab 18.x's documented REST API v4 shapes
// and keeps commit statuses as GitLab's state machine does (GitLab cannot run here). A commit
// rolled out in two stages gets ferry/staging pending when the rollout starts, running when the
// canary stage applies, and success once every stage is healthy. The later running updates
// (canary soaking, stage all applying) are refused by GitLab with 400, as a status already
// running cannot run again; the agent takes that as no failure (no warning is logged).
func TestGitLabStatusesThroughAStagedRollout(t *testing.T) {
	const token = "glpat-AGENTtoken0123456789"
	gl := gitlabtest.Start(t, "acme/deploy", token)
	forge, err := promote.NewGitLab(gl.APIURL(), "acme/deploy", token)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "@every 1s")
	f.stageStaging()
	logs := &logBuffer{}
	opts := f.options(logs)
	opts.Forge = forge
	f.start(opts)
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "result": "applied", "health": "Healthy"}, 3*time.Minute)

	sha := f.commitTag("1.3.0")
	logs.waitLine(t, "sync finished", map[string]any{"env": "staging", "revision": sha[:7], "stage": "all", "health": "Healthy"}, 3*time.Minute)
	err = wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		state, _ := gl.Status(sha, "ferry/staging")
		return state == "success", nil
	})
	if err != nil {
		t.Fatalf("ferry/staging on %s never became success; posts %+v\nlog:\n%s", sha[:7], gl.StatusPosts(), logs.String())
	}

	var got []gitlabtest.StatusPost
	for _, p := range gl.StatusPosts() {
		if p.SHA == sha {
			got = append(got, p)
		}
	}
	post := func(state, desc string, code int) gitlabtest.StatusPost {
		return gitlabtest.StatusPost{SHA: sha, Name: "ferry/staging", State: state, Description: desc, Code: code}
	}
	want := []gitlabtest.StatusPost{
		post("pending", "rolling out in 2 stages", 201),
		post("running", "stage canary (1/2): applying", 201),
		post("running", "stage canary (1/2): soaking", 400),
		post("running", "stage all (2/2): applying", 400),
		post("success", "healthy", 201),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status posts on %s (-want +got):\n%s", sha[:7], diff)
	}
	if state, desc := gl.Status(sha, "ferry/staging"); state != "success" || desc != "healthy" {
		t.Errorf("GitLab shows ferry/staging %s %q, want success \"healthy\"", state, desc)
	}
	if lines := logs.lines("cannot set commit status"); len(lines) != 0 {
		t.Errorf("the agent warned about statuses GitLab kept: %v", lines)
	}
}
