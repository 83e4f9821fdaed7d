package promote

// GitLab cannot run on the machines these tests run on, so they use internal/gitlabtest: an
// httptest server answering with the request and response shapes of GitLab's REST API v4 as
// documented for GitLab 18.x (docs.gitlab.com: Merge requests API, Commits API "set the pipeline
// status of a commit", pagination headers) and the commit status transitions of GitLab's own
// API spec. The git side is real: promotions and rollbacks push to internal/gitserver.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/internal/gitlabtest"
	"github.com/ferry-cd/ferry/internal/gitserver"
)

const (
	glToken   = "glpat-FAKEtoken0123456789abcdef"
	glProject = "acme/platform/deploy" // a subgroup: the path has three parts
	glMRs     = "/api/v4/projects/acme%2Fplatform%2Fdeploy/merge_requests"
)

func newTestGitLab(t *testing.T) (*gitlabtest.Server, *GitLab) {
	t.Helper()
	srv := gitlabtest.Start(t, glProject, glToken)
	g, err := NewGitLab(srv.APIURL(), glProject, glToken)
	if err != nil {
		t.Fatal(err)
	}
	return srv, g
}

func TestGitLabEnsureMergeRequest(t *testing.T) {
	srv, g := newTestGitLab(t)
	ctx := t.Context()
	if g.Name() != "gitlab" {
		t.Errorf("Name() = %q, want gitlab", g.Name())
	}
	list := "GET " + glMRs + "?page=1&per_page=100&source_branch=ferry%2Fpromote-prod&state=opened&target_branch=main"

	pr := PullRequest{Head: "ferry/promote-prod", Base: "main", Title: "promote(prod): app 1.0 → 1.1", Body: "first"}
	url, created, err := g.EnsurePullRequest(ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	wantURL := "https://gitlab.example.com/acme/platform/deploy/-/merge_requests/1"
	if url != wantURL || !created {
		t.Errorf("first EnsurePullRequest = %q, %v; want %q, true", url, created, wantURL)
	}
	if diff := cmp.Diff([]string{list, "POST " + glMRs}, srv.Requests()); diff != "" {
		t.Errorf("requests of the first call (-want +got):\n%s", diff)
	}

	pr.Title, pr.Body = "promote(prod): app 1.0 → 1.2", "second"
	url, created, err = g.EnsurePullRequest(ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	if url != wantURL || created {
		t.Errorf("second EnsurePullRequest = %q, %v; want %q, false", url, created, wantURL)
	}
	if diff := cmp.Diff([]string{list, "PUT " + glMRs + "/1"}, srv.Requests()); diff != "" {
		t.Errorf("requests of the second call (-want +got):\n%s", diff)
	}
	assertOneOpenMR(t, srv, 1, pr)
}

// assertOneOpenMR checks what a reviewer sees on GitLab: one open merge request from ferry's
// branch, !iid, with pr's title and description.
func assertOneOpenMR(t *testing.T, srv *gitlabtest.Server, iid int64, pr PullRequest) {
	t.Helper()
	var open []gitlabtest.MergeRequest
	for _, mr := range srv.MergeRequests() {
		if mr.State == "opened" && mr.SourceBranch == pr.Head && mr.SourceProjectID == gitlabtest.ProjectID {
			open = append(open, mr)
		}
	}
	want := []gitlabtest.MergeRequest{{ID: 90000 + iid, IID: iid, ProjectID: gitlabtest.ProjectID,
		SourceProjectID: gitlabtest.ProjectID, TargetProjectID: gitlabtest.ProjectID, SourceBranch: pr.Head, TargetBranch: pr.Base,
		Title: pr.Title, Description: pr.Body, State: "opened", WebURL: fmt.Sprintf("https://gitlab.example.com/%s/-/merge_requests/%d", glProject, iid)}}
	if diff := cmp.Diff(want, open); diff != "" {
		t.Errorf("open merge requests from %s (-want +got):\n%s", pr.Head, diff)
	}
}

// TestGitLabFindsTheMergeRequestOnPage2 puts 100 merge requests from forks' branches of the same
// name before ferry's: GitLab lists them all (its source_branch filter does not look at the
// project), so ferry's is on the second page, and must be updated, not opened again.
func TestGitLabFindsTheMergeRequestOnPage2(t *testing.T) {
	srv, g := newTestGitLab(t)
	pr := PullRequest{Head: "ferry/promote-prod", Base: "main", Title: "promote(prod)", Body: "evidence"}
	for i := range 100 {
		srv.AddMergeRequest(gitlabtest.MergeRequest{SourceProjectID: int64(5000 + i), SourceBranch: pr.Head, TargetBranch: pr.Base, Title: "a fork's"})
	}
	ours := srv.AddMergeRequest(gitlabtest.MergeRequest{SourceBranch: pr.Head, TargetBranch: pr.Base, Title: "old title"})
	srv.Requests()

	url, created, err := g.EnsurePullRequest(t.Context(), pr)
	if err != nil {
		t.Fatal(err)
	}
	if url != ours.WebURL || created {
		t.Errorf("EnsurePullRequest = %q, %v; want %q, false", url, created, ours.WebURL)
	}
	want := []string{
		"GET " + glMRs + "?page=1&per_page=100&source_branch=ferry%2Fpromote-prod&state=opened&target_branch=main",
		"GET " + glMRs + "?page=2&per_page=100&source_branch=ferry%2Fpromote-prod&state=opened&target_branch=main",
		"PUT " + glMRs + "/101",
	}
	if diff := cmp.Diff(want, srv.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	assertOneOpenMR(t, srv, 101, pr)
}

// TestGitLabCreateRace opens the same merge request from another client between ferry's list
// and its create: GitLab answers 409, and ferry updates the one the other client opened.
func TestGitLabCreateRace(t *testing.T) {
	srv, g := newTestGitLab(t)
	pr := PullRequest{Head: "ferry/rollback-prod", Base: "main", Title: "rollback(prod)", Body: "ours"}
	var rival gitlabtest.MergeRequest
	srv.BeforeCreate(func() {
		rival = srv.AddMergeRequest(gitlabtest.MergeRequest{SourceBranch: pr.Head, TargetBranch: pr.Base, Title: "theirs"})
	})
	url, created, err := g.EnsurePullRequest(t.Context(), pr)
	if err != nil {
		t.Fatal(err)
	}
	if url != rival.WebURL || created {
		t.Errorf("EnsurePullRequest = %q, %v; want the rival's %q, false", url, created, rival.WebURL)
	}
	list := "GET " + glMRs + "?page=1&per_page=100&source_branch=ferry%2Frollback-prod&state=opened&target_branch=main"
	if diff := cmp.Diff([]string{list, "POST " + glMRs, list, "PUT " + glMRs + "/1"}, srv.Requests()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	assertOneOpenMR(t, srv, 1, pr)
}

func TestGitLabSetStatus(t *testing.T) {
	srv, g := newTestGitLab(t)
	sha := "0123456789abcdef0123456789abcdef01234567"
	long := strings.Repeat("é", 300) // 300 characters, 600 bytes: GitLab counts characters
	url := "https://ferry.example/envs/prod"
	// One status, ferry/prod, through a rollout: each step is what GitLab then shows. A state
	// GitLab cannot move to from the one it holds is not an error: the status stays as it was.
	steps := []struct {
		name      string
		st        Status
		wantPost  gitlabtest.StatusPost
		wantState string
		wantDesc  string
	}{
		{"pending", Status{Context: "ferry/prod", State: "pending", Description: "rolling out in 2 stages", TargetURL: url},
			gitlabtest.StatusPost{SHA: sha, Name: "ferry/prod", State: "pending", Description: "rolling out in 2 stages", TargetURL: url, Code: 201},
			"pending", "rolling out in 2 stages"},
		{"running", Status{Context: "ferry/prod", State: "running", Description: "stage canary (1/2): applying"},
			gitlabtest.StatusPost{SHA: sha, Name: "ferry/prod", State: "running", Description: "stage canary (1/2): applying", Code: 201},
			"running", "stage canary (1/2): applying"},
		{"running again is kept", Status{Context: "ferry/prod", State: "running", Description: long},
			gitlabtest.StatusPost{SHA: sha, Name: "ferry/prod", State: "running", Description: strings.Repeat("é", 254) + "…", Code: 400},
			"running", "stage canary (1/2): applying"},
		{"back to pending is kept", Status{Context: "ferry/prod", State: "pending", Description: "waiting for approval"},
			gitlabtest.StatusPost{SHA: sha, Name: "ferry/prod", State: "pending", Description: "waiting for approval", Code: 400},
			"running", "stage canary (1/2): applying"},
		{"failure is failed", Status{Context: "ferry/prod", State: "failure", Description: long, TargetURL: url + strings.Repeat("/x", 200)},
			gitlabtest.StatusPost{SHA: sha, Name: "ferry/prod", State: "failed", Description: strings.Repeat("é", 254) + "…", Code: 201},
			"failed", strings.Repeat("é", 254) + "…"},
		{"success after failed is a new status", Status{Context: "ferry/prod", State: "success", Description: "healthy"},
			gitlabtest.StatusPost{SHA: sha, Name: "ferry/prod", State: "success", Description: "healthy", Code: 201},
			"success", "healthy"},
	}
	for i, s := range steps {
		if err := g.SetStatus(t.Context(), sha, s.st); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		posts := srv.StatusPosts()
		if diff := cmp.Diff(s.wantPost, posts[len(posts)-1]); len(posts) != i+1 || diff != "" {
			t.Errorf("%s: %d posts; the last (-want +got):\n%s", s.name, len(posts), diff)
		}
		if state, desc := srv.Status(sha, "ferry/prod"); state != s.wantState || desc != s.wantDesc {
			t.Errorf("%s: GitLab shows %s %q, want %s %q", s.name, state, desc, s.wantState, s.wantDesc)
		}
	}
	if reqs := srv.Requests(); len(reqs) == 0 || reqs[0] != "POST /api/v4/projects/acme%2Fplatform%2Fdeploy/statuses/"+sha {
		t.Errorf("requests %v, want POST …/projects/acme%%2Fplatform%%2Fdeploy/statuses/%s", reqs, sha)
	}
}

// TestGitLabStatusConflictIsRetried answers the first two status POSTs with 409, as GitLab does
// while another update of the commit is in progress: ferry posts again and the status is set.
func TestGitLabStatusConflictIsRetried(t *testing.T) {
	srv, g := newTestGitLab(t)
	sha := "0123456789abcdef0123456789abcdef01234567"
	srv.ConflictStatuses(2)
	if err := g.SetStatus(t.Context(), sha, Status{Context: "ferry/prod", State: "success", Description: "healthy"}); err != nil {
		t.Fatal(err)
	}
	var codes []int
	for _, p := range srv.StatusPosts() {
		codes = append(codes, p.Code)
	}
	if diff := cmp.Diff([]int{409, 409, 201}, codes); diff != "" {
		t.Errorf("answers to the status posts (-want +got):\n%s", diff)
	}
	if state, _ := srv.Status(sha, "ferry/prod"); state != "success" {
		t.Errorf("GitLab shows %q, want success", state)
	}
	srv.ConflictStatuses(3)
	err := g.SetStatus(t.Context(), sha, Status{Context: "ferry/prod", State: "failure"})
	assertForgeError(t, err, "gitlab acme/platform/deploy: set status ferry/prod on 0123456: ", "409", glToken)
}

func TestGitLabErrors(t *testing.T) {
	srv := gitlabtest.Start(t, glProject, glToken)
	pr := PullRequest{Head: "ferry/promote-prod", Base: "main", Title: "t", Body: "b"}
	cases := []struct {
		name, project, token, prefix, contains string
	}{
		{"wrong token", glProject, "glpat-WRONGtoken", "gitlab acme/platform/deploy: list open merge requests from ferry/promote-prod into main: ", "401 Unauthorized"},
		{"unknown project", "acme/other", glToken, "gitlab acme/other: list open merge requests from ferry/promote-prod into main: ", "404"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := NewGitLab(srv.APIURL(), c.project, c.token)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = g.EnsurePullRequest(t.Context(), pr)
			assertForgeError(t, err, c.prefix, c.contains, c.token)
			err = g.SetStatus(t.Context(), "0123456789abcdef", Status{Context: "ferry/prod", State: "success"})
			assertForgeError(t, err, "gitlab "+c.project+": set status ferry/prod on 0123456: ", c.contains, c.token)
		})
	}
	t.Run("unknown state", func(t *testing.T) {
		g, _ := NewGitLab(srv.APIURL(), glProject, glToken)
		err := g.SetStatus(t.Context(), "0123456789abcdef", Status{Context: "ferry/prod", State: "bogus"})
		assertForgeError(t, err, "gitlab acme/platform/deploy: set status ferry/prod on 0123456: ", `unknown state "bogus"`, glToken)
	})
	t.Run("cancelled", func(t *testing.T) {
		g, _ := NewGitLab(srv.APIURL(), glProject, glToken)
		srv.Requests()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, _, err := g.EnsurePullRequest(ctx, pr); !errors.Is(err, context.Canceled) {
			t.Errorf("EnsurePullRequest with a cancelled context = %v, want context.Canceled", err)
		}
		if got := srv.Requests(); len(got) != 0 {
			t.Errorf("requests sent with a cancelled context: %v", got)
		}
	})
}

func TestNewGitLab(t *testing.T) {
	cases := []struct {
		name, baseURL, project, token, wantErr string
	}{
		{"gitlab.com", "", "acme/deploy", "tok", ""},
		{"self-managed", "https://gitlab.example.com/api/v4", "acme/platform/deploy", "tok", ""},
		{"no token", "", "acme/deploy", "", "gitlab acme/deploy: no token: opening merge requests and setting statuses need one (scope api)"},
		{"no group", "", "deploy", "tok", `gitlab "deploy": want the project's full path, group/name`},
		{"not a URL", "gitlab.example.com/api/v4", "acme/deploy", "tok",
			`gitlab acme/deploy: API URL "gitlab.example.com/api/v4" is not an http(s) URL like https://gitlab.example.com/api/v4`},
		{"credentials in URL", "https://me:tok@gitlab.example.com/api/v4", "acme/deploy", "tok",
			`gitlab acme/deploy: API URL "https://me:***@gitlab.example.com/api/v4" is not an http(s) URL like https://gitlab.example.com/api/v4`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewGitLab(c.baseURL, c.project, c.token)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.wantErr {
				t.Errorf("NewGitLab error = %q, want %q", got, c.wantErr)
			}
		})
	}
}

func TestParseGitLabRemote(t *testing.T) {
	type want struct{ Host, Project, Err string }
	cases := []struct {
		remote string
		want   want
	}{
		{"https://gitlab.com/acme/deploy.git", want{Host: "gitlab.com", Project: "acme/deploy"}},
		{"https://gitlab.com/acme/platform/deploy", want{Host: "gitlab.com", Project: "acme/platform/deploy"}},
		{"https://oauth2:glpat-abc@gitlab.com/acme/platform/deploy.git", want{Host: "gitlab.com", Project: "acme/platform/deploy"}},
		{"git@gitlab.com:acme/platform/deploy.git", want{Host: "gitlab.com", Project: "acme/platform/deploy"}},
		{"ssh://git@gitlab.example.com:2222/acme/deploy.git", want{Host: "gitlab.example.com", Project: "acme/deploy"}},
		{"https://gitlab.example.com:8443/acme/deploy", want{Host: "gitlab.example.com:8443", Project: "acme/deploy"}},
		{"https://gitlab.com/acme", want{Err: "remote https://gitlab.com/acme: not a GitLab project URL"}},
		{"https://gitlab.com/acme/deploy/-/tree/main", want{Err: "remote https://gitlab.com/acme/deploy/-/tree/main: not a GitLab project URL"}},
		{"https://me:s3cret@gitlab.com/acme", want{Err: "remote https://me:***@gitlab.com/acme: not a GitLab project URL"}},
		{"/srv/git/acme/deploy.git", want{Err: "remote /srv/git/acme/deploy.git: not a GitLab project URL"}},
	}
	for _, c := range cases {
		t.Run(c.remote, func(t *testing.T) {
			var got want
			var err error
			got.Host, got.Project, err = ParseGitLabRemote(c.remote)
			if err != nil {
				got.Err, _, _ = strings.Cut(err.Error(), " (want ")
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("ParseGitLabRemote(%q) (-want +got):\n%s", c.remote, diff)
			}
		})
	}
}

// TestGitLabProjectUnder checks the project path of a GitLab served under a path prefix: the
// prefix --forge-url shows is taken off an http(s) remote's path, and nothing else is.
func TestGitLabProjectUnder(t *testing.T) {
	cases := []struct{ project, remote, api, want string }{
		{"gitlab/acme/deploy", "https://example.com/gitlab/acme/deploy.git", "https://example.com/gitlab/api/v4", "acme/deploy"},
		{"tools/gitlab/acme/deploy", "https://example.com/tools/gitlab/acme/deploy", "https://example.com/tools/gitlab/api/v4/", "acme/deploy"},
		{"acme/deploy", "https://gitlab.example.com/acme/deploy.git", "https://gitlab.example.com/api/v4", "acme/deploy"},
		{"gitlab/deploy", "https://example.com/gitlab/deploy.git", "https://example.com/gitlab/api/v4", "gitlab/deploy"}, // no project left: a group named gitlab
		{"gitlab/acme/deploy", "git@example.com:gitlab/acme/deploy.git", "https://example.com/gitlab/api/v4", "gitlab/acme/deploy"},
		{"gitlab/acme/deploy", "https://example.com/gitlab/acme/deploy.git", "https://example.com/gitlab/api/v3", "gitlab/acme/deploy"},
		{"other/acme/deploy", "https://example.com/other/acme/deploy.git", "https://example.com/gitlab/api/v4", "other/acme/deploy"},
	}
	for _, c := range cases {
		if got := GitLabProjectUnder(c.project, c.remote, c.api); got != c.want {
			t.Errorf("GitLabProjectUnder(%q, %q, %q) = %q, want %q", c.project, c.remote, c.api, got, c.want)
		}
	}
}

// TestPromoteAndRollbackOnGitLab promotes staging into production and rolls staging back on a
// real git server with GitLab as the forge: each opens a merge request from ferry's branch with
// the commit's title and the evidence as its description; a second promotion updates the first
// merge request.
func TestPromoteAndRollbackOnGitLab(t *testing.T) {
	git := gitserver.Start(t, gitserver.Options{Username: "ci", Password: gitPassword})
	git.NewRepo(t, "config", exampleFiles(t))
	srv, g := newTestGitLab(t)

	res, err := Promote(t.Context(), clone(t, git), g, Options{To: "production"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.URL != srv.WebURL()+"/-/merge_requests/1" {
		t.Errorf("promotion: %s created=%v, want merge request !1 created", res.URL, res.Created)
	}
	title := "promote(production): " + gceme + " 1.0.0 → 1.1.0"
	assertOneOpenMR(t, srv, 1, PullRequest{Head: BranchFor("production"), Base: "main", Title: title, Body: res.Body})
	if !strings.Contains(res.Body, "| `"+gceme+"` | `1.0.0` | `1.1.0` |") {
		t.Errorf("merge request description lacks the image table:\n%s", res.Body)
	}
	again, err := Promote(t.Context(), clone(t, git), g, Options{To: "production"})
	if err != nil || again.Created || again.URL != res.URL {
		t.Errorf("second promotion: %+v %v, want !1 updated", again, err)
	}

	img, _ := ParseImageArg(gceme + "=1.2.0")
	if _, err := SetImage(t.Context(), clone(t, git), NoForge{}, "staging", img, false); err != nil {
		t.Fatal(err)
	}
	rb, err := Rollback(t.Context(), clone(t, git), g, "staging", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if !rb.Created || rb.URL != srv.WebURL()+"/-/merge_requests/2" || rb.Branch != RollbackBranchFor("staging") {
		t.Errorf("rollback: %s %s created=%v, want merge request !2 from %s", rb.URL, rb.Branch, rb.Created, RollbackBranchFor("staging"))
	}
	mrs := srv.MergeRequests()
	if len(mrs) != 2 || !strings.HasPrefix(mrs[1].Title, "rollback(staging): revert ") || mrs[1].Description != rb.Body || mrs[1].TargetBranch != "main" {
		t.Errorf("rollback merge request: %+v", mrs[len(mrs)-1])
	}
}

// TestGitLabCommitStatuses reads back the latest status of each name, across pages (GitLab
// answers at most 100 per page), in ferry's states: failed reads as failure, running as running.
func TestGitLabCommitStatuses(t *testing.T) {
	_, g := newTestGitLab(t)
	sha := "0123456789abcdef0123456789abcdef01234567"
	set := func(name, state string) {
		t.Helper()
		if err := g.SetStatus(t.Context(), sha, Status{Context: name, State: state, Description: name + " " + state}); err != nil {
			t.Fatal(err)
		}
	}
	set("ferry/staging", "running")
	set("ferry/staging", "success")
	set("ferry/production", "failure")
	for i := range 110 {
		set(fmt.Sprintf("ci/job-%03d", i), "pending")
	}
	got, err := g.CommitStatuses(t.Context(), sha)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, s := range got {
		if _, dup := states[s.Context]; dup {
			t.Errorf("%s listed twice", s.Context)
		}
		states[s.Context] = s.State
	}
	if len(got) != 112 || states["ferry/staging"] != "success" || states["ferry/production"] != "failure" || states["ci/job-109"] != "pending" {
		t.Errorf("%d statuses, staging %q, production %q, job 109 %q; want 112, success, failure, pending",
			len(got), states["ferry/staging"], states["ferry/production"], states["ci/job-109"])
	}
	if _, err := g.CommitStatuses(t.Context(), "ffffffffffffffffffffffffffffffffffffffff"); err != nil {
		t.Errorf("a commit without statuses: %v, want none and no error", err)
	}
}
