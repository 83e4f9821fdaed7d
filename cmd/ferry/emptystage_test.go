package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/gitserver"
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
				editFile(t, filepath.Join(repo, "components/canary", role+"-canary-deployment.yaml"), "\n    track: canary\n", "\n")
			}
		}, []string{
			pos + ": environment production: stage canary selects no object of the render: its selector matches the pod template labels of " +
				"Deployment production/gceme-backend-canary and Deployment production/gceme-frontend-canary but not their own metadata.labels: " +
				"label the objects themselves, e.g. kustomize labels: [{pairs: {track: canary}}] in the canary component\n",
		}},
		{"a canary stage that selects everything", func(t *testing.T, repo string) {
			editFile(t, filepath.Join(repo, "ferry.yaml"), "              track: canary\n", "              app: gceme\n")
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

// TestSyncOnceRefusesAnEmptyStage drives `ferry sync production --once` on the example with the
// seed's label mistake: the first sync applies everything (nothing runs yet); the next release
// halts at the canary stage before anything is applied, with the hint, and every Deployment
// keeps its image and generation; the halted revision is refused afterwards.
func TestSyncOnceRefusesAnEmptyStage(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	files := testutil.ReadTree(t, "../../examples/gceme")
	for _, role := range []string{"frontend", "backend"} {
		path := "components/canary/" + role + "-canary-deployment.yaml"
		if !strings.Contains(files[path], "\n    track: canary\n") {
			t.Fatalf("%s has no track: canary in its own labels", path)
		}
		files[path] = strings.Replace(files[path], "\n    track: canary\n", "\n", 1)
	}
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: "empty-stage-secret"})
	srv.NewRepo(t, "config", files)
	repo := srv.AuthURL("config")
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	sync1 := func() result {
		t.Helper()
		return runFerry(t, ctx, "sync", "production", "--repo", repo, "--kubeconfig", c.KubeconfigPath)
	}
	deployments := func() map[string]string {
		list, err := kube.AppsV1().Deployments("production").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, d := range list.Items {
			out[d.Name] = d.Spec.Template.Spec.Containers[0].Image + " generation " + strconv.FormatInt(d.Generation, 10)
		}
		return out
	}

	if res := sync1(); res.code != 0 {
		t.Fatalf("first sync: exit %d\n%s", res.code, res.stderr)
	}
	before := deployments()
	const kust = "environments/production/kustomization.yaml"
	srv.Commit(t, "config", "production: gceme 1.1.0", map[string]string{kust: strings.Replace(files[kust], `newTag: "1.0.0"`, `newTag: "1.1.0"`, 1)})
	res := sync1()
	for _, want := range []string{`msg="rollout halted"`, "stage=canary", "stage canary selects no object of the render (ferry.yaml:",
		"matches the pod template labels of Deployment production/gceme-backend-canary and Deployment production/gceme-frontend-canary"} {
		if res.code != 1 || !strings.Contains(res.stderr, want) {
			t.Errorf("a release with an empty canary stage: exit %d, want 1 and %q:\n%s", res.code, want, res.stderr)
		}
	}
	if strings.Contains(res.stderr, `msg="sync finished"`) {
		t.Errorf("a stage was applied:\n%s", res.stderr)
	}
	if after := deployments(); !maps.Equal(before, after) {
		t.Errorf("Deployments changed although the rollout halted before applying anything:\nbefore %v\nafter  %v", before, after)
	}
	if res := sync1(); res.code != 1 || !strings.Contains(res.stderr, "halted at stage canary") {
		t.Errorf("the halted revision again: exit %d, want 1 naming the halt:\n%s", res.code, res.stderr)
	}
}
