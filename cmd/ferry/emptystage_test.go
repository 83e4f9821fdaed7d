package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-cd/ferry/internal/testutil"
)

// TestValidateRefusesAnEmptyStage runs `ferry validate` on examples/gceme with the seed's
// label mistake (the canary Deployments say track: canary only in their selector and pod
// template, not in their own metadata.labels), and with a canary stage that selects every
// object. Each is refused with exit 1 and a line that starts with the stage selector's
// ferry.yaml:LINE:COL and names the environment and the stage; the mistake also gets the
// objects whose pod templates match and how to label them. (Issue 16, item 1: before, validate
// said ok and the agent rolled out a canary stage with nothing in it.)
func TestValidateRefusesAnEmptyStage(t *testing.T) {
	example, err := os.ReadFile("../../examples/gceme/ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pos := "ferry.yaml:" + strconv.Itoa(selectorLine(t, string(example), "canary")) + ":13"
	tests := []struct {
		name  string
		write func(t *testing.T, repo string)
		want  []string
	}{
		{"canaries labelled only in their pod templates", func(t *testing.T, repo string) {
			for _, role := range []string{"frontend", "backend"} {
				// The object's own labels are indented by 4; the selector's and template's deeper.
				edit(t, filepath.Join(repo, "components/canary", role+"-canary-deployment.yaml"), "\n    track: canary\n", "\n")
			}
		}, []string{
			pos + ": environment production: stage canary selects no object of the render: its selector matches the pod template labels of " +
				"Deployment production/gceme-backend-canary and Deployment production/gceme-frontend-canary but not their own metadata.labels: " +
				"label the objects themselves, e.g. kustomize labels: [{pairs: {track: canary}}] in the canary component\n",
		}},
		{"a canary stage that selects everything", func(t *testing.T, repo string) {
			edit(t, filepath.Join(repo, "ferry.yaml"), "              track: canary\n", "              app: gceme\n")
		}, []string{
			pos + ": environment production: stage canary selects every object of the render, leaving nothing for the later stages\n",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := testutil.CopyTree(t, "../../examples/gceme")
			tc.write(t, repo)
			res := runFerry(t, t.Context(), "validate", "--repo", repo)
			if res.code != 1 {
				t.Fatalf("exit code %d, want 1:\n%s%s", res.code, res.stdout, res.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, res.stdout)
				}
			}
			if !strings.Contains(res.stdout, "ok staging ") {
				t.Errorf("staging, which has no stages, is not ok:\n%s", res.stdout)
			}
			if !strings.Contains(res.stderr, "1 of 2 environments failed validation") {
				t.Errorf("stderr lacks the summary:\n%s", res.stderr)
			}
		})
	}
}

// selectorLine returns the 1-based line of the first key of stage's selector in ferry.yaml.
func selectorLine(t *testing.T, ferryYAML, stage string) int {
	t.Helper()
	lines := strings.Split(ferryYAML, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) == "- name: "+stage && i+2 < len(lines) && strings.TrimSpace(lines[i+1]) == "selector:" {
			return i + 3
		}
	}
	t.Fatalf("ferry.yaml has no stage %s with a selector: on its next line", stage)
	return 0
}

// edit replaces the first old in the file at path with new.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}
