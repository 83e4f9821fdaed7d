package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/render"
)

// renderSizes are scenario 5's overlay sizes (issue 21): 4000 resources in ≤ 1 s, 10,000 in ≤ 3 s.
var renderSizes = []int{1000, 2000, 4000, 10000}

// TestBenchRender runs scenario 5 alone, without the control plane: FERRY_BENCH_RENDER=1 go test
// -run TestBenchRender ./bench/ (FERRY_BENCH_REPS sets the runs per side; FERRY_BENCH_RENDER_N,
// comma-separated, other sizes).
func TestBenchRender(t *testing.T) {
	if os.Getenv("FERRY_BENCH_RENDER") != "1" {
		t.Skip("set FERRY_BENCH_RENDER=1 to run the render benchmarks alone (make bench runs them too)")
	}
	st := loadSettings(t)
	if v := os.Getenv("FERRY_BENCH_RENDER_N"); v != "" {
		renderSizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			must(t, err)
			renderSizes = append(renderSizes, n)
		}
	}
	tab := &table{}
	benchRender(t, st.reps, tab)
	fmt.Printf("\n%s\n", tab.markdown())
}

// benchRender is scenario 5: ferry's render (through ferry's patched kustomize api, see
// third_party/kustomize-api/PATCHES.md) of 1000 to 10,000 resources against krusty from
// sigs.k8s.io/kustomize/api v0.21.2 as released, built as a program of its own
// (third_party/kustomize-pristine) and timed around its Run on the same overlay: render's
// BenchmarkRender4000's overlay, one file per resource under an overlay that sets labels and an
// image tag. Each pristine run's output must equal the patched krusty's byte for byte.
func benchRender(t *testing.T, reps int, tab *table) {
	pristine := testutil.BuildPristineKustomize(t)
	ferry, baseline := map[int]time.Duration{}, map[int]time.Duration{}
	var repo4000 string
	for _, n := range renderSizes {
		repo := t.TempDir()
		testutil.WriteGeneratedOverlay(t, repo, n)
		if n == 4000 {
			repo4000 = repo
		}
		r := reps
		if n >= 10000 {
			r = 1 // pristine kustomize takes minutes at this size
		}
		ferry[n], baseline[n] = renderRuns(t, pristine, repo, n, r)
		target, ok := "—", ""
		if lim, has := map[int]time.Duration{4000: time.Second, 10000: 3 * time.Second}[n]; has {
			target, ok = "≤ "+seconds(lim), met(ferry[n] <= lim)
		}
		tab.add(row{"5. render", count(float64(n)), seconds(ferry[n]), seconds(baseline[n]),
			ratio(float64(ferry[n]), float64(baseline[n])), target, ok,
			fmt.Sprintf("baseline: pristine kustomize api v0.21.2 (krusty Run, own process); %d runs each; kustomize output byte-identical; one file per resource", r)})
	}
	if ferry[2000] == 0 || ferry[4000] == 0 {
		return
	}
	tab.add(row{"5. render, scaling 2000 → 4000", "2000 / 4000", fmt.Sprintf("×%.1f", float64(ferry[4000])/float64(ferry[2000])),
		fmt.Sprintf("×%.1f", float64(baseline[4000])/float64(baseline[2000])), "—", "×2 (linear)", "", "×2 would be linear, ×4 quadratic"})
	if repo4000 != "" {
		benchRenderProfile(t, repo4000, tab)
	}
}

// renderRuns times ferry's render and pristine kustomize's build of repo's overlay, alternating,
// and checks that the two kustomize builds print the same bytes.
func renderRuns(t *testing.T, pristine, repo string, n, reps int) (ferry, baseline time.Duration) {
	env := newEnvironment("bench")
	opts := render.DefaultOptions()
	opts.Limits.MaxFiles = max(opts.Limits.MaxFiles, 2*n) // one file per resource; 10,000 by default
	renderer := render.New(opts)
	var fs, bs []time.Duration
	for i := range reps {
		alternate(i, func() {
			start := time.Now()
			res, err := renderer.Render(t.Context(), os.DirFS(repo), env)
			must(t, err)
			fs = append(fs, time.Since(start))
			if len(res.Objects) != n {
				t.Fatalf("ferry rendered %d objects, want %d", len(res.Objects), n)
			}
		}, func() {
			out, took := runPristine(t, pristine, filepath.Join(repo, "env"))
			bs = append(bs, took)
			if i == 0 && !bytes.Equal(out, kustomizeBuild(t, repo)) {
				t.Fatalf("render of %d: the patched kustomize api's output differs from pristine v0.21.2's", n)
			}
		})
		t.Logf("render %d run %d: ferry %s, pristine kustomize %s", n, i, fs[i], bs[i])
	}
	return medianDuration(fs), medianDuration(bs)
}

// The kustomize api functions the render's time went to before ferry's patch (FACTS.md): each
// appended resource was checked against every resource accumulated before it, and each resource
// that may refer to others was matched against every resource.
const (
	appendFunc  = "sigs.k8s.io/kustomize/api/resmap.(*resWrangler).Append"
	nameRefFunc = "sigs.k8s.io/kustomize/api/internal/accumulator.(*nameReferenceTransformer).Transform"
)

// benchRenderProfile shows where the patched build of 4000 resources spends its CPU now.
func benchRenderProfile(t *testing.T, repo4000 string, tab *table) {
	shares := cpuShares(t, func() { kustomizeBuild(t, repo4000) }, appendFunc, nameRefFunc)
	tab.add(row{"5. render, CPU profile (patched)", "4000", "—", "—", "—", "—", "",
		fmt.Sprintf("%s of the CPU under %s, %s under %s (59%% and 33%% before ferry's patch)",
			percent(shares[appendFunc]), shortName(appendFunc), percent(shares[nameRefFunc]), shortName(nameRefFunc))})
}

// runPristine builds dir with the pristine program: its YAML and the time its Run took.
func runPristine(t *testing.T, bin, dir string) ([]byte, time.Duration) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "-time", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pristine kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	lines := strings.Fields(stderr.String())
	ns, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		t.Fatalf("pristine kustomize build %s: no duration on stderr: %q", dir, stderr.String())
	}
	return stdout.Bytes(), time.Duration(ns)
}

// kustomizeBuild runs krusty (ferry's patched kustomize api) on the overlay of a repository
// WriteGeneratedOverlay wrote, as `kustomize build` does, and returns its YAML.
func kustomizeBuild(t *testing.T, repo string) []byte {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(repo, "env"))
	must(t, err)
	out, err := m.AsYaml()
	must(t, err)
	return out
}
