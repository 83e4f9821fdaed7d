package render

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ferry-cd/ferry/environments"
)

// BenchmarkRender4000 renders a generated overlay of 4000 resources (ConfigMaps, Services,
// Deployments, ServiceAccounts, one file each, under an overlay that sets labels and an image
// tag) with ferry, and with kustomize build (krusty on disk) as the baseline in the same run.
// Compare the two ns/op figures; the target for ferry is under 1 s.
func BenchmarkRender4000(b *testing.B) {
	repo := b.TempDir()
	writeGeneratedOverlay(b, repo, 4000)
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

// writeGeneratedOverlay writes base/ with n resources, one file each, and env/ on top of it.
func writeGeneratedOverlay(tb testing.TB, repo string, n int) {
	tb.Helper()
	base := filepath.Join(repo, "base")
	must(tb, os.MkdirAll(base, 0o755))
	must(tb, os.MkdirAll(filepath.Join(repo, "env"), 0o755))
	var resources strings.Builder
	resources.WriteString("resources:\n")
	for i := range n {
		name := fmt.Sprintf("r%05d.yaml", i)
		must(tb, os.WriteFile(filepath.Join(base, name), []byte(generatedResource(i)), 0o644))
		resources.WriteString("- " + name + "\n")
	}
	must(tb, os.WriteFile(filepath.Join(base, "kustomization.yaml"), []byte(resources.String()), 0o644))
	overlay := "resources:\n- ../base\nlabels:\n- pairs:\n    team: bench\nimages:\n- name: app\n  newTag: \"2.0\"\n"
	must(tb, os.WriteFile(filepath.Join(repo, "env", "kustomization.yaml"), []byte(overlay), 0o644))
}

func generatedResource(i int) string {
	switch i % 4 {
	case 0:
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  key: value-%d\n", i, i)
	case 1:
		return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\nspec:\n  selector:\n    app: app-%d\n  ports:\n  - port: 80\n", i, i)
	case 2:
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%d
spec:
  replicas: 0
  selector:
    matchLabels:
      app: app-%d
  template:
    metadata:
      labels:
        app: app-%d
    spec:
      containers:
      - name: app
        image: app:1.0
`, i, i, i)
	default:
		return fmt.Sprintf("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-%d\n", i)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
