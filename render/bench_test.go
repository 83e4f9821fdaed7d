package render

import (
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// BenchmarkRender4000 renders a generated overlay of 4000 resources (ConfigMaps, Services,
// Deployments, ServiceAccounts, one file each, under an overlay that sets labels and an image
// tag) with ferry, and with kustomize build (krusty on disk) as the baseline in the same run.
// Compare the two ns/op figures; the target for ferry is under 1 s.
func BenchmarkRender4000(b *testing.B) {
	repo := b.TempDir()
	testutil.WriteGeneratedOverlay(b, repo, 4000)
	env := &environments.Environment{Name: "bench", Path: "env", Namespace: "bench", Prune: true}
	b.Run("ferry", func(b *testing.B) {
		fsys := os.DirFS(repo)
		for b.Loop() {
			res, err := Render(b.Context(), fsys, env)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Objects) != 4000 {
				b.Fatalf("%d objects, want 4000", len(res.Objects))
			}
		}
	})
	b.Run("kustomize-build", func(b *testing.B) {
		for b.Loop() {
			if _, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(repo, "env")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
