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
			kustomizeBuild(t, repo)
			kustomize = append(kustomize, time.Since(start))
		})
		t.Logf("render 4000 run %d: ferry %s, kustomize %s", i, ferry[i], kustomize[i])
	}
	f, k := medianDuration(ferry), medianDuration(kustomize)
	tab.add(row{"5. render of 4000 resources", "4000", seconds(f), seconds(k), ratio(float64(f), float64(k)), "≤ 1 s", met(f <= time.Second),
		fmt.Sprintf("baseline: kustomize build (krusty); %d runs each. ferry renders through krusty, and the baseline alone takes %s (next rows)", reps, seconds(k))})
	benchKustomizeBound(t, repo, k, tab)
}

// The kustomize api functions the render's time goes to (see FACTS.md): each appended
// resource is checked against every resource accumulated before it, and each resource that
// may refer to others (a Deployment to its ConfigMaps) is matched against every resource.
const (
	appendFunc  = "sigs.k8s.io/kustomize/api/resmap.(*resWrangler).Append"
	nameRefFunc = "sigs.k8s.io/kustomize/api/internal/accumulator.(*nameReferenceTransformer).Transform"
)

// benchKustomizeBound shows what bounds scenario 5, with kustomize alone: how its time grows
// with the number of resources (the same overlay at 1000 and 2000 resources, against 4000's
// median k), and where a 4000-resource build spends its CPU, from a CPU profile.
func benchKustomizeBound(t *testing.T, repo4000 string, k time.Duration, tab *table) {
	times := map[int]time.Duration{4000: k}
	for _, n := range []int{1000, 2000} {
		repo := t.TempDir()
		testutil.WriteGeneratedOverlay(t, repo, n)
		start := time.Now()
		kustomizeBuild(t, repo)
		times[n] = time.Since(start)
	}
	growth := float64(times[4000]) / float64(times[2000])
	tab.add(row{"5. kustomize alone, by size", "1000 / 2000 / 4000", "—",
		fmt.Sprintf("%s / %s / %s", seconds(times[1000]), seconds(times[2000]), seconds(times[4000])), "—", "—", "",
		fmt.Sprintf("×%.1f from 2000 to 4000 resources (×2 would be linear, ×4 quadratic)", growth)})
	shares := cpuShares(t, func() { kustomizeBuild(t, repo4000) }, appendFunc, nameRefFunc)
	tab.add(row{"5. kustomize alone, CPU profile", "4000", "—", "—", "—", "—", "",
		fmt.Sprintf("%s of the CPU under %s, %s under %s: both loops over every resource per resource, inside kustomize api; "+
			"no seam in krusty replaces them (its target and resmap are internal or hard-wired)",
			percent(shares[appendFunc]), shortName(appendFunc), percent(shares[nameRefFunc]), shortName(nameRefFunc))})
}

// kustomizeBuild runs krusty on the overlay of a repository WriteGeneratedOverlay wrote, as
// `kustomize build` does.
func kustomizeBuild(t *testing.T, repo string) {
	_, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(repo, "env"))
	must(t, err)
}
