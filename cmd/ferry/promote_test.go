package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/promote"
)

// TestImageSetAndPromoteCLI runs `ferry image set --push` and `ferry promote --forge none`
// against a real git server with credentials from the environment, and checks the commits.
func TestImageSetAndPromoteCLI(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: "cli-git-secret"})
	srv.NewRepo(t, "config", gcemeFiles(t))
	t.Setenv(envGitUsername, "ci")
	t.Setenv(envGitPassword, "cli-git-secret")
	url := srv.RepoURL("config")

	res := runFerry(t, t.Context(), "image", "set", "staging", "gcr.io/cloud-solutions-images/gceme=1.2.0", "--push", "--repo", url, "--forge", "none")
	if res.code != 0 || !strings.Contains(res.stdout, "1.1.0 → 1.2.0") {
		t.Fatalf("image set exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	res = runFerry(t, t.Context(), "promote", "--to", "production", "--repo", url, "--forge", "none")
	if res.code != 0 || !strings.Contains(res.stdout, "1.0.0 → 1.2.0") || !strings.Contains(res.stdout, promote.BranchFor("production")+" pushed") {
		t.Fatalf("promote exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, "cli-git-secret") {
		t.Error("output contains the git password")
	}
	res = runFerry(t, t.Context(), "image", "set", "staging", "gceme", "--push", "--repo", url)
	if res.code != 2 {
		t.Errorf("image set without a tag exited %d, want 2", res.code)
	}
}

// gcemeFiles returns the gceme example's config repository.
func gcemeFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	for _, p := range []string{"ferry.yaml", "apps/gceme/base/kustomization.yaml", "apps/gceme/base/backend-deployment.yaml",
		"apps/gceme/base/frontend-deployment.yaml", "apps/gceme/base/services.yaml", "apps/gceme/base/configmap.yaml",
		"components/canary/kustomization.yaml", "components/canary/frontend-canary-deployment.yaml",
		"components/canary/backend-canary-deployment.yaml", "environments/staging/kustomization.yaml",
		"environments/production/kustomization.yaml"} {
		data, err := os.ReadFile("../../examples/gceme/" + p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(data)
	}
	return files
}

// TestRacingImageSetPushCLI runs two `ferry image set --push` of different images at once,
// as two CI pipelines finishing together do: both exit 0 and both pins land on main.
func TestRacingImageSetPushCLI(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: "cli-git-secret"})
	srv.NewRepo(t, "config", gcemeFiles(t))
	t.Setenv(envGitUsername, "ci")
	t.Setenv(envGitPassword, "cli-git-secret")
	url := srv.RepoURL("config")
	for round := range 3 {
		pins := []string{fmt.Sprintf("gcr.io/cloud-solutions-images/gceme=2.%d.0", round), fmt.Sprintf("example.com/worker=3.%d.0", round)}
		results := make([]result, len(pins))
		var wg sync.WaitGroup
		for i, pin := range pins {
			wg.Go(func() {
				results[i] = runFerry(t, t.Context(), "image", "set", "staging", pin, "--push", "--repo", url, "--forge", "none")
			})
		}
		wg.Wait()
		for i, res := range results {
			if res.code != 0 {
				t.Errorf("round %d: image set %s exited %d:\n%s%s", round, pins[i], res.code, res.stdout, res.stderr)
			}
		}
		r, err := promote.Clone(t.Context(), url, "main", "ci", "cli-git-secret")
		if err != nil {
			t.Fatal(err)
		}
		data, err := r.ReadFile("environments/staging/kustomization.yaml")
		if err != nil {
			t.Fatal(err)
		}
		imgs, err := promote.ReadImages(data)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, img := range imgs {
			got[img.Name+"="+img.NewTag] = "on main"
		}
		for _, pin := range pins {
			if got[pin] == "" {
				t.Errorf("round %d: %s is not on main; staging pins %+v", round, pin, imgs)
			}
		}
	}
}
