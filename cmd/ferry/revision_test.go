package main

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/sync"
)

// revisionFerryYAML turns examples/gceme's ferry.yaml to promotion mode revision, production
// pinned at pin.
func revisionFerryYAML(y, pin string) string {
	y = strings.Replace(y, `    pin: ""`, "    pin: "+pin, 1)
	y = strings.Replace(y, "      images:                     # which images' tags move; must equal the `name:` in the overlays' images: entries\n        - gcr.io/cloud-solutions-images/gceme\n", "", 1)
	return strings.Replace(y, "      from: staging ", "      mode: revision\n      from: staging ", 1)
}

// TestRevisionPinsRefusedCLI: `ferry validate` refuses a mode revision pin that is no commit of
// the repository, or one on another branch, naming the revision and ferry.yaml's line; `ferry
// promote` refuses an unhealthy source and a source revision older than the pin, naming the
// revision, with the source's state read from its state ConfigMap (--evidence cluster). Each
// refusal exits 1; the good pin validates and promotes.
func TestRevisionPinsRefusedCLI(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: "cli-git-secret"})
	files := gcemeFiles(t)
	srv.NewRepo(t, "config", files)
	t.Setenv(envGitUsername, "ci")
	t.Setenv(envGitPassword, "cli-git-secret")
	url := srv.RepoURL("config")
	c1 := srv.Head(t, "config")
	c2 := srv.Commit(t, "config", "a README", map[string]string{"README.md": "config\n"})
	other, err := promote.Clone(t.Context(), url, "main", "ci", "cli-git-secret")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.WriteFile("README.md", []byte("elsewhere\n")); err != nil {
		t.Fatal(err)
	}
	elsewhere, err := other.Commit("on another branch")
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Push(t.Context(), "other", true); err != nil {
		t.Fatal(err)
	}
	unknown := strings.Repeat("ab", 20)
	for _, bad := range []struct{ pin, want string }{
		{unknown, "commit " + unknown + " is not in"},
		{elsewhere, "commit " + elsewhere + " is in "},
	} {
		srv.Commit(t, "config", "pin production", map[string]string{"ferry.yaml": revisionFerryYAML(files["ferry.yaml"], bad.pin)})
		res := runFerry(t, t.Context(), "validate", "--repo", srv.AuthURL("config"))
		if res.code != 1 || !strings.Contains(res.stdout, bad.want) || strings.Contains(res.stdout, "cli-git-secret") || !strings.Contains(res.stdout, "ferry.yaml:20:10: environment production: pin:") {
			t.Errorf("validate with pin %s exited %d, want 1 naming it:\n%s%s", bad.pin[:7], res.code, res.stdout, res.stderr)
		}
	}
	head := srv.Commit(t, "config", "pin production at c2", map[string]string{"ferry.yaml": revisionFerryYAML(files["ferry.yaml"], c2)})
	if res := runFerry(t, t.Context(), "validate", "--repo", srv.AuthURL("config")); res.code != 0 {
		t.Fatalf("validate with a good pin exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	}

	c, err := localcluster.Start(t.Context(), localcluster.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := "ferry-" + strings.ToLower(utilrand.String(5))
	if _, err := kube.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	promoteWith := func(evidence string) result {
		return runFerry(t, t.Context(), "promote", "--to", "production", "--repo", url, "--forge", "none",
			"--evidence", evidence, "--kubeconfig", c.KubeconfigPath, "--namespace", ns)
	}
	if res := promoteWith("auto"); res.code != 1 || !strings.Contains(res.stderr, "no forge: evidence needs --forge") {
		t.Errorf("promote without staging's state and without a forge exited %d, want 1 saying so:\n%s%s", res.code, res.stdout, res.stderr)
	}
	store := sync.NewStateStore(kube, ns)
	save := func(rev, health string) {
		t.Helper()
		st, err := store.Load(t.Context(), "staging")
		if err != nil {
			t.Fatal(err)
		}
		st.AppliedRevision, st.Health = rev, health
		if err := store.Save(t.Context(), st); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []struct {
		st   sync.State
		want string
	}{
		{sync.State{Env: "staging", AppliedRevision: head, Health: "Progressing"}, "source staging is Progressing at revision " + head + ", not Healthy"},
		{sync.State{Env: "staging", AppliedRevision: c1, Health: "Healthy"}, "revision " + c1 + " (applied by staging) is not a descendant of production's pin " + c2},
	} {
		save(bad.st.AppliedRevision, bad.st.Health)
		if res := promoteWith("cluster"); res.code != 1 || !strings.Contains(res.stderr, bad.want) {
			t.Errorf("promote with staging %s at %s exited %d, want 1 with %q:\n%s%s", bad.st.Health, bad.st.AppliedRevision[:7], res.code, bad.want, res.stdout, res.stderr)
		}
	}
	save(head, "Healthy")
	res := promoteWith("auto")
	if res.code != 0 || !strings.Contains(res.stdout, "pin of production "+c2+" → "+head) || !strings.Contains(res.stdout, promote.BranchFor("production")+" pushed") {
		t.Errorf("promote of a healthy staging exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
}
