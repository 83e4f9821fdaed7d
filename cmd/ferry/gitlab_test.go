package main

// GitLab cannot run here: these tests use internal/gitlabtest, which answers GitLab 18.x's
// documented REST API v4 shapes (see its package comment). The git server is real.

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferry-cd/ferry/internal/gitlabtest"
	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/promote"
)

const glToken = "glpat-CLItoken0123456789abcdef"

// TestDetectForge checks what --forge auto picks: gitlab.com and github.com by name; a
// self-managed GitLab by its answer to /api/v4/version (200 with the token, 401 in GitLab's
// words without one), on the repository's host or at --forge-url; none for a server that
// answers neither as GitLab nor as Gitea.
func TestDetectForge(t *testing.T) {
	gl := gitlabtest.Start(t, "acme/platform/deploy", glToken)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v4/version" {
			w.WriteHeader(http.StatusUnauthorized) // not GitLab's JSON: a login page
			_, _ = w.Write([]byte("<html>sign in</html>"))
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(other.Close)
	cases := []struct {
		name, remote, apiURL, token, want string
	}{
		{"gitlab.com over https", "https://gitlab.com/acme/platform/deploy.git", "", "", "gitlab"},
		{"gitlab.com over ssh", "git@gitlab.com:acme/deploy.git", "", "", "gitlab"},
		{"github.com", "https://github.com/acme/deploy.git", "", "", "github"},
		{"self-managed GitLab with the token", gl.URL + "/acme/platform/deploy.git", "", glToken, "gitlab"},
		{"self-managed GitLab without a token", gl.URL + "/acme/platform/deploy.git", "", "", "gitlab"},
		{"self-managed GitLab at --forge-url", other.URL + "/acme/deploy.git", gl.APIURL(), glToken, "gitlab"},
		{"a server that is not GitLab", other.URL + "/acme/deploy.git", "", glToken, "none"},
		{"a local path", "/srv/git/acme/deploy.git", "", "", "none"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := detectForge(t.Context(), c.remote, c.apiURL, c.token); got != c.want {
				t.Errorf("detectForge(%s) = %s, want %s", c.remote, got, c.want)
			}
		})
	}
	for _, r := range gl.Requests() {
		if strings.Contains(r, glToken) {
			t.Errorf("the token is in a request line: %s", r)
		}
	}
}

// TestImageSetAndRollbackCLIOnGitLab runs `ferry image set --pr` with --forge gitlab and
// `ferry rollback` with --forge auto against a real git server whose project sits in a
// subgroup, with a GitLab API at --forge-url: each opens a merge request and prints its URL.
func TestImageSetAndRollbackCLIOnGitLab(t *testing.T) {
	git := gitserver.Start(t, gitserver.Options{Username: "ci", Password: glToken})
	git.NewRepo(t, "acme/platform/deploy", gcemeFiles(t))
	gl := gitlabtest.Start(t, "acme/platform/deploy", glToken)
	t.Setenv(envGitUsername, "ci")
	t.Setenv(envForgeToken, glToken)
	repo := git.RepoURL("acme/platform/deploy")

	res := runFerry(t, t.Context(), "image", "set", "staging", "gcr.io/cloud-solutions-images/gceme=1.2.0", "--pr",
		"--repo", repo, "--forge", "gitlab", "--forge-url", gl.APIURL())
	want := "opened " + gl.WebURL() + "/-/merge_requests/1"
	if res.code != 0 || !strings.Contains(res.stdout, want) {
		t.Fatalf("image set --pr exited %d, want %q:\n%s%s", res.code, want, res.stdout, res.stderr)
	}
	if _, err := promote.SetImage(t.Context(), cloneMain(t, repo), promote.NoForge{}, "staging",
		promote.Image{Name: "gcr.io/cloud-solutions-images/gceme", NewTag: "1.3.0"}, false); err != nil {
		t.Fatal(err)
	}
	res = runFerry(t, t.Context(), "rollback", "staging", "--repo", repo, "--forge", "auto", "--forge-url", gl.APIURL())
	want = "opened " + gl.WebURL() + "/-/merge_requests/2"
	if res.code != 0 || !strings.Contains(res.stdout, want) {
		t.Fatalf("rollback exited %d, want %q:\n%s%s", res.code, want, res.stdout, res.stderr)
	}
	mrs := gl.MergeRequests()
	if len(mrs) != 2 || mrs[0].SourceBranch != promote.ReleaseBranchFor("staging") || mrs[1].SourceBranch != promote.RollbackBranchFor("staging") ||
		!strings.HasPrefix(mrs[1].Title, "rollback(staging): revert ") || mrs[1].TargetBranch != "main" {
		t.Errorf("merge requests on GitLab: %+v", mrs)
	}
	if strings.Contains(res.stdout+res.stderr, glToken) {
		t.Error("output contains the token")
	}
}

func cloneMain(t *testing.T, url string) *promote.Repo {
	t.Helper()
	r, err := promote.Clone(t.Context(), url, "main", "ci", glToken)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
