package render

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// TestPatchedKustomizeMatchesPristine builds every corpus overlay, every environment of
// examples/gceme and two generated overlays with the kustomize api this module builds with
// (third_party/kustomize-api, ferry's patched copy, through go.mod's replace) and with
// sigs.k8s.io/kustomize/api v0.21.2 as released (third_party/kustomize-pristine, a module of its
// own without the replace), and requires the same bytes from both, or an error from both.
func TestPatchedKustomizeMatchesPristine(t *testing.T) {
	pristine := testutil.BuildPristineKustomize(t)
	dirs := map[string]string{}
	for _, overlay := range corpusOverlays(t) {
		dirs["corpus/"+overlay] = filepath.Join(corpusDir, overlay)
	}
	example := filepath.Join("..", "examples", "gceme")
	pipeline, err := environments.Load(rootFS(t, example))
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range pipeline.Environments {
		dirs["gceme/"+env.Name] = filepath.Join(example, env.Path)
	}
	generated := t.TempDir()
	writeReferringOverlay(t, generated, 400)
	dirs["generated/prefixed"] = filepath.Join(generated, "prefixed")
	dirs["generated/duplicate"] = filepath.Join(generated, "duplicate")
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			abs, err := filepath.Abs(dir)
			if err != nil {
				t.Fatal(err)
			}
			want, wantErr := runPristine(pristine, abs)
			got, gotErr := patchedBuild(abs)
			if strings.HasSuffix(name, "/duplicate") && wantErr == nil {
				t.Fatal("pristine kustomize built an overlay that lists a resource twice; want its duplicate-id error")
			}
			switch {
			case wantErr != nil && gotErr != nil:
				return
			case wantErr != nil:
				t.Fatalf("pristine kustomize failed (%v) but the patched copy built %d bytes", wantErr, len(got))
			case gotErr != nil:
				t.Fatalf("the patched copy failed (%v) but pristine kustomize built %d bytes", gotErr, len(want))
			}
			if len(want) == 0 {
				t.Fatal("pristine kustomize built nothing: nothing to compare")
			}
			if !bytes.Equal(want, got) {
				t.Errorf("the patched copy's output differs from pristine kustomize's:\n%s", firstDifference(want, got))
			}
		})
	}
}

func runPristine(bin, dir string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.Bytes(), nil
}

func patchedBuild(dir string) ([]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

// writeReferringOverlay writes base/ with n resources whose Deployments refer to ConfigMaps,
// Secrets and ServiceAccounts by name, prefixed/, an overlay that renames everything (prefix,
// suffix, namespace) and generates a ConfigMap the Deployments mount (so the name-reference pass
// rewrites each reference), and duplicate/, which lists one resource twice (an error).
func writeReferringOverlay(t testing.TB, repo string, n int) {
	t.Helper()
	for _, d := range []string{"base", "prefixed", "duplicate"} {
		must(t, os.MkdirAll(filepath.Join(repo, d), 0o755))
	}
	var list strings.Builder
	list.WriteString("resources:\n")
	for i := range n {
		name := fmt.Sprintf("r%04d.yaml", i)
		must(t, os.WriteFile(filepath.Join(repo, "base", name), []byte(referringResource(i)), 0o644))
		list.WriteString("- " + name + "\n")
	}
	must(t, os.WriteFile(filepath.Join(repo, "base", "kustomization.yaml"), []byte(list.String()), 0o644))
	overlay := "resources:\n- ../base\nnamePrefix: p-\nnameSuffix: -s\nnamespace: team\n" +
		"configMapGenerator:\n- name: shared\n  literals:\n  - mode=fast\n" +
		"labels:\n- pairs:\n    team: a\n  includeSelectors: true\n"
	must(t, os.WriteFile(filepath.Join(repo, "prefixed", "kustomization.yaml"), []byte(overlay), 0o644))
	dup := "resources:\n- ../base\n- ../base/r0000.yaml\n"
	must(t, os.WriteFile(filepath.Join(repo, "duplicate", "kustomization.yaml"), []byte(dup), 0o644))
}

func referringResource(i int) string {
	g := i / 4 * 4 // the group of four resources i belongs to
	switch i % 4 {
	case 0:
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  key: v%d\n", g, i)
	case 1:
		return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: sec-%d\nstringData:\n  key: v%d\n", g, i)
	case 2:
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%[1]d
spec:
  selector:
    matchLabels:
      app: app-%[1]d
  template:
    metadata:
      labels:
        app: app-%[1]d
    spec:
      serviceAccountName: sa-%[1]d
      containers:
      - name: app
        image: app:1.0
        envFrom:
        - configMapRef:
            name: cm-%[1]d
        - secretRef:
            name: sec-%[1]d
      volumes:
      - name: shared
        configMap:
          name: shared
`, g)
	default:
		return fmt.Sprintf("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-%d\n", g)
	}
}

// firstDifference shows the first line where want and got differ.
func firstDifference(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range min(len(w), len(g)) {
		if w[i] != g[i] {
			return fmt.Sprintf("line %d: pristine %q, patched %q", i+1, w[i], g[i])
		}
	}
	return fmt.Sprintf("pristine has %d lines, patched %d", len(w), len(g))
}
