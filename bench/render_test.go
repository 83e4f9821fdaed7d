package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/render"
)

// benchRender is scenario 5: ferry's render of 4000 resources against kustomize build (krusty
// on disk, as `kustomize build` runs it) of the same overlay: render's BenchmarkRender4000's
// overlay, one file per resource under an overlay that sets labels and an image tag.
func benchRender(t *testing.T, reps int, tab *table) {
	repo := t.TempDir()
	testutil.WriteGeneratedOverlay(t, repo, 4000)
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
