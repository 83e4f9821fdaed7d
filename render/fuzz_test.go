package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/ferry-cd/ferry/environments"
)

// fuzzLimits are small caps, so that every input renders or fails quickly.
var fuzzLimits = Limits{MaxFileBytes: 64 << 10, MaxTotalBytes: 256 << 10, MaxFiles: 64, MaxObjects: 200, MaxAliasNodes: 5_000, MaxSymlinks: 8}

const fuzzBase = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: example.com/web:1.0.0
`

// fuzzTree builds the repository a fuzz input describes: a fixed base (a Deployment and a
// kustomization listing it and base/extra.yaml), the overlay env/ whose kustomization,
// resource and patch are the input's, and per bit of shape a component, a symlink inside the
// repository and one leaving it.
func fuzzTree(kustomization, resource, patch string, shape uint8) fstest.MapFS {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s), Mode: 0o644} }
	link := func(target string) *fstest.MapFile {
		return &fstest.MapFile{Data: []byte(target), Mode: fs.ModeSymlink | 0o777}
	}
	tree := fstest.MapFS{
		"ferry.yaml":              file("apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\n"),
		"base/kustomization.yaml": file("resources:\n- deployment.yaml\n- extra.yaml\n"),
		"base/deployment.yaml":    file(fuzzBase),
		"base/extra.yaml":         file(resource),
		"env/kustomization.yaml":  file(kustomization),
		"env/resource.yaml":       file(resource),
		"env/patch.yaml":          file(patch),
	}
	if shape&1 != 0 {
		tree["components/extra/kustomization.yaml"] = file("apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n- path: patch.yaml\n")
		tree["components/extra/patch.yaml"] = file(patch)
	}
	if shape&2 != 0 {
		tree["env/linked.yaml"] = link("../base/extra.yaml")
		tree["env/linked-base"] = link("../base")
	}
	if shape&4 != 0 {
		tree["env/outside.yaml"] = link("../../outside.yaml")
		tree["env/etc"] = link("/etc")
	}
	return tree
}

// FuzzRender renders overlays built from fuzz input (fuzzTree) with small limits, and checks
// that a render never panics, ends well within its deadline, fails only with a *render.Error
// that names repository files (never the virtual root), and when it succeeds yields labelled,
// confined objects whose digest is their YAML's and the same on a second render.
func FuzzRender(f *testing.F) {
	for _, k := range []string{
		"resources:\n- ../base\n",
		"resources:\n- ../base\n- resource.yaml\nimages:\n- name: example.com/web\n  newTag: \"1.2.0\"\nnamePrefix: app-\nlabels:\n- pairs: {tier: web}\n",
		"resources:\n- ../base\npatches:\n- path: patch.yaml\ncomponents:\n- ../components/extra\n",
		"resources:\n- linked-base\n- linked.yaml\n",
		"resources:\n- outside.yaml\n- etc/passwd\n",
		"resources:\n- resource.yaml\nconfigMapGenerator:\n- name: cfg\n  literals: [a=b]\nsecretGenerator:\n- name: s\n  literals: [k=v]\nreplicas:\n- name: web\n  count: 3\n",
		"resources:\n- ../base\npatches:\n- patch: |-\n    - op: replace\n      path: /spec/replicas\n      value: 2\n  target: {kind: Deployment}\n",
		"resources:\n- ../env\n",
		"resources: [resource.yaml]\nnamespace: other\n",
		"a: &a [x, *a]\n",
	} {
		f.Add(k, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\ndata:\n  k: v\n", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n", uint8(7))
	}
	// Each case of testdata/bad: its overlay's kustomization and first other file.
	cases, err := filepath.Glob("testdata/bad/*/repo/env/kustomization.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, k := range cases {
		kust, err := os.ReadFile(k)
		if err != nil {
			f.Fatal(err)
		}
		var resource []byte
		others, _ := filepath.Glob(filepath.Join(filepath.Dir(k), "*.yaml"))
		for _, o := range others {
			if filepath.Base(o) != "kustomization.yaml" {
				if info, err := os.Stat(o); err == nil && info.Mode().IsRegular() && info.Size() < 64<<10 {
					resource, _ = os.ReadFile(o)
				}
				break
			}
		}
		f.Add(strings.ReplaceAll(string(kust), "configmap.yaml", "resource.yaml"), string(resource), "", uint8(0))
	}
	env := &environments.Environment{Name: "app", Path: "env", Namespace: "app", Prune: true, ClusterScoped: []string{"Namespace"}}
	r := New(Options{Limits: fuzzLimits})
	f.Fuzz(func(t *testing.T, kustomization, resource, patch string, shape uint8) {
		tree := fuzzTree(kustomization, resource, patch, shape)
		render := func() (Result, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			res, err := r.Render(ctx, tree, env)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("render took %s", took)
			}
			return res, err
		}
		res, err := render()
		if err != nil {
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("error is %T, want a *render.Error: %v", err, err)
			}
			if strings.Contains(err.Error(), virtualRoot) {
				t.Fatalf("error names the virtual root: %v", err)
			}
			return
		}
		checkOwned(t, res, env)
		again, err := render()
		if err != nil || again.Digest != res.Digest {
			t.Fatalf("second render: %s, %v; first %s", again.Digest, err, res.Digest)
		}
	})
}

// checkOwned checks a successful render's invariants: objects, each labelled for env and in
// its namespace unless of an allowed cluster-scoped kind, and a digest of the YAML.
func checkOwned(t *testing.T, res Result, env *environments.Environment) {
	t.Helper()
	if len(res.Objects) == 0 || len(res.Objects) > fuzzLimits.MaxObjects {
		t.Fatalf("%d objects", len(res.Objects))
	}
	for _, o := range res.Objects {
		labels := o.GetLabels()
		if labels[ManagedByLabel] != ManagedByValue || labels[EnvironmentLabel] != env.Name {
			t.Fatalf("%s: labels %v lack ferry's", objectRef(o), labels)
		}
		if ns := o.GetNamespace(); ns != env.Namespace && !(ns == "" && o.GetKind() == "Namespace") {
			if namespaced, known := BuiltinScope.Namespaced(o.GroupVersionKind().GroupKind()); namespaced || !known {
				t.Fatalf("%s: in namespace %q, want %q", objectRef(o), ns, env.Namespace)
			}
			t.Fatalf("%s: cluster-scoped kind not allowed by the environment", objectRef(o))
		}
	}
	sum := sha256.Sum256(res.YAML())
	if res.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Fatalf("digest %s is not the YAML's", res.Digest)
	}
}
