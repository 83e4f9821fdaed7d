package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ferry-cd/ferry/render"
)

// benchRender is scenario 5: ferry's render of 4000 resources against kustomize build (krusty
// on disk, as `kustomize build` runs it) of the same overlay: render's BenchmarkRender4000's
// overlay, one file per resource under an overlay that sets labels and an image tag.
func benchRender(t *testing.T, reps int, tab *table) {
	repo := t.TempDir()
	writeRenderOverlay(t, repo, 4000)
	env := newEnvironment("bench")
	var ferry, kustomize []time.Duration
	for i := range reps {
		alternate(i, func() {
			start := time.Now()
			res, err := render.Render(t.Context(), os.DirFS(repo), env)
			must(t, err)
			ferry = append(ferry, time.Since(start))
			if len(res.Objects) != 4000 {
				t.Fatalf("ferry rendered %d objects, want 4000", len(res.Objects))
			}
		}, func() {
			start := time.Now()
			_, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(repo, "env"))
			must(t, err)
			kustomize = append(kustomize, time.Since(start))
		})
		t.Logf("render 4000 run %d: ferry %s, kustomize %s", i, ferry[i], kustomize[i])
	}
	f, k := medianDuration(ferry), medianDuration(kustomize)
	tab.add(row{"5. render of 4000 resources", "4000", seconds(f), seconds(k), ratio(float64(f), float64(k)), "≤ 1 s", met(f <= time.Second),
		fmt.Sprintf("baseline: kustomize build (krusty); %d runs each. The baseline alone takes %s: kustomize api's "+
			"resWrangler.Append scans every resource already accumulated for each one appended (O(n²), FACTS.md), "+
			"and ferry renders through it", reps, seconds(k))})
}

// writeRenderOverlay writes base/ with n resources, one file each, and env/ on top of it
// (the generator of render's BenchmarkRender4000, which is test code that cannot be imported).
func writeRenderOverlay(tb testing.TB, repo string, n int) {
	tb.Helper()
	base := filepath.Join(repo, "base")
	must(tb, os.MkdirAll(base, 0o755))
	must(tb, os.MkdirAll(filepath.Join(repo, "env"), 0o755))
	var resources strings.Builder
	resources.WriteString("resources:\n")
	for i := range n {
		name := fmt.Sprintf("r%05d.yaml", i)
		must(tb, os.WriteFile(filepath.Join(base, name), []byte(renderResource(i)), 0o644))
		resources.WriteString("- " + name + "\n")
	}
	must(tb, os.WriteFile(filepath.Join(base, "kustomization.yaml"), []byte(resources.String()), 0o644))
	overlay := "resources:\n- ../base\nlabels:\n- pairs:\n    team: bench\nimages:\n- name: app\n  newTag: \"2.0\"\n"
	must(tb, os.WriteFile(filepath.Join(repo, "env", "kustomization.yaml"), []byte(overlay), 0o644))
}

func renderResource(i int) string {
	switch i % 4 {
	case 0:
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  key: value-%d\n", i, i)
	case 1:
		return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\nspec:\n  selector:\n    app: app-%d\n  ports:\n  - port: 80\n", i, i)
	case 2:
		return strings.ReplaceAll(deployment(fmt.Sprintf("app-%d", i)), "gcr.io/cloud-solutions-images/gceme:1.0.0", "app:1.0")
	default:
		return fmt.Sprintf("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-%d\n", i)
	}
}
