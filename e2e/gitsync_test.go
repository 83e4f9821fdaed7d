package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
	"github.com/ferry-cd/ferry/sync/source"
)

// exampleFiles reads examples/gceme into a map of repository path to content, without the
// canary's analysis (it asks a Prometheus these tests do not run; see testutil.StripAnalysis).
func exampleFiles(t *testing.T) map[string]string {
	t.Helper()
	files := testutil.ReadTree(t, filepath.Join("..", "examples", "gceme"))
	files["ferry.yaml"] = testutil.StripAnalysis(files["ferry.yaml"])
	return files
}

// TestGitToCluster is the sync engine's whole path with real parts: examples/gceme in a git
// repository served over smart HTTP with basic auth, fetched with go-git, rendered from the
// commit and synced; then a commit that moves staging's image tag is picked up and rolled out.
func TestGitToCluster(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: "s3cret-git-password"})
	files := exampleFiles(t)
	srv.NewRepo(t, "config", files)
	opts := source.DefaultOptions()
	opts.URL, opts.CacheDir = srv.RepoURL("config"), t.TempDir()
	opts.Auth = source.Auth{Username: "ci", Password: "s3cret-git-password"}
	src, err := source.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	syncOpts := sync.DefaultOptions()
	syncOpts.Namespace = "ferry-e2e"
	syncOpts.PollInterval = 500 * time.Millisecond
	syncer, err := sync.New(cluster.Config, syncOpts)
	if err != nil {
		t.Fatal(err)
	}
	syncer.EnableDriftWatch(t.Context())

	syncAt := func() *sync.Report {
		t.Helper()
		rev, err := src.Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		tree, err := src.Tree(t.Context(), rev)
		if err != nil {
			t.Fatal(err)
		}
		pipeline, err := environments.Load(tree)
		if err != nil {
			t.Fatal(err)
		}
		env, _ := pipeline.Environment("staging")
		res, err := render.Render(t.Context(), tree, env)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := syncer.Sync(t.Context(), env, res, rev)
		if err != nil {
			t.Fatalf("sync at %s: %v", rev, err)
		}
		return rep
	}

	rep := syncAt()
	if rep.ChangeSet.Count(sync.Created) != 5 || rep.Health != sync.Healthy {
		t.Fatalf("first sync: health %s, changes:\n%s", rep.Health, rep.ChangeSet)
	}

	kust := "environments/staging/kustomization.yaml"
	moved := srv.Commit(t, "config", "staging: gceme 1.2.0",
		map[string]string{kust: strings.Replace(files[kust], `newTag: "1.1.0"`, `newTag: "1.2.0"`, 1)})
	head, err := src.Head(t.Context())
	if err != nil || head != moved {
		t.Fatalf("Head = %s (%v), want the new commit %s", head, err, moved)
	}
	rep = syncAt()
	if rep.Revision != moved || rep.ChangeSet.Count(sync.Configured) != 2 || rep.Health != sync.Healthy {
		t.Fatalf("sync of the moved branch: revision %s health %s, changes:\n%s", rep.Revision, rep.Health, rep.ChangeSet)
	}
	kube, err := kubernetes.NewForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"gceme-frontend", "gceme-backend"} {
		d, err := kube.AppsV1().Deployments("staging").Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != "gcr.io/cloud-solutions-images/gceme:1.2.0" || !rolledOut(d) {
			t.Errorf("%s: image %s, status %+v; want 1.2.0 rolled out", name, img, d.Status)
		}
	}
}

func rolledOut(d *appsv1.Deployment) bool {
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == *d.Spec.Replicas && s.ReadyReplicas == *d.Spec.Replicas && s.Replicas == *d.Spec.Replicas
}
