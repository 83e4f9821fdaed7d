package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/testutil"
	"github.com/ferry-cd/ferry/render"
)

// writeEnvironment writes an overlay of n objects at repo/path in the mix of FACTS.md's
// baselines: 40% ConfigMaps, 20% Secrets, 20% Services, Deployments with 0 replicas for the
// rest, and the environment's own Namespace (it counts as one object). The objects are split
// into files of 100, as a real overlay would be, plus kustomization.yaml.
func writeEnvironment(tb testing.TB, repo, path, namespace string, n int) {
	tb.Helper()
	testutil.WriteFiles(tb, repo, environmentFiles(path, namespace, n))
}

// environmentFiles returns writeEnvironment's files as repository path → content.
func environmentFiles(path, namespace string, n int) map[string]string {
	const perFile = 100
	files := map[string]string{}
	kust := "resources:\n- namespace.yaml\n"
	files[path+"/namespace.yaml"] = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + namespace + "\n"
	var docs []string
	flush := func() {
		name := fmt.Sprintf("objects-%03d.yaml", len(files)-1)
		files[path+"/"+name] = strings.Join(docs, "---\n")
		kust += "- " + name + "\n"
		docs = docs[:0]
	}
	for i := 1; i < n; i++ {
		docs = append(docs, generatedObject(i, n))
		if len(docs) == perFile {
			flush()
		}
	}
	if len(docs) > 0 {
		flush()
	}
	files[path+"/kustomization.yaml"] = kust
	return files
}

// generatedObject is object i of n in writeEnvironment's mix.
func generatedObject(i, n int) string {
	switch {
	case i < n*4/10:
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  key: value-%d\n", i, i)
	case i < n*6/10:
		return fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s-%d\nstringData:\n  password: not-a-secret-%d\n", i, i)
	case i < n*8/10:
		return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\nspec:\n  selector:\n    app: d-%d\n  ports:\n  - port: 80\n", i, i)
	default:
		return deployment(fmt.Sprintf("d-%d", i))
	}
}

func deployment(name string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  replicas: 0
  selector:
    matchLabels:
      app: %[1]s
  template:
    metadata:
      labels:
        app: %[1]s
    spec:
      containers:
      - name: app
        image: gcr.io/cloud-solutions-images/gceme:1.0.0
`, name)
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// placeholder names the template environment and its namespace until instance renames it.
const placeholder = "benchtmpl0"

// template is an environment of n objects rendered once by ferry under placeholder. Runs take
// renamed instances of it, so that each gets a fresh environment and namespace without paying
// kustomize's quadratic render again (render is scenario 5, measured on its own).
type template struct {
	yaml string
	n    int
}

func renderTemplate(tb testing.TB, n int) template {
	tb.Helper()
	repo := tb.TempDir()
	writeEnvironment(tb, repo, "env", placeholder, n)
	res, err := render.Render(tb.Context(), os.DirFS(repo), newEnvironment(placeholder))
	must(tb, err)
	return template{yaml: string(res.YAML()), n: len(res.Objects)}
}

func newEnvironment(name string) *environments.Environment {
	return &environments.Environment{Name: name, Path: "env", Namespace: name, Prune: true}
}

// instance is the template as environment name, in namespace name.
type instance struct {
	env  *environments.Environment
	res  render.Result
	yaml []byte // what kubectl applies: the same bytes ferry's render printed
}

func (tp template) instance(tb testing.TB, name string) instance {
	tb.Helper()
	y := strings.ReplaceAll(tp.yaml, placeholder, name)
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(y, "\n---\n") {
		data, err := yaml.YAMLToJSON([]byte(doc))
		must(tb, err)
		o := &unstructured.Unstructured{}
		must(tb, o.UnmarshalJSON(data))
		objs = append(objs, o)
	}
	return instance{env: newEnvironment(name), res: result(tb, objs), yaml: []byte(y)}
}

// result is objs as render returns them: Digest is the sha256 of the canonical YAML.
func result(tb testing.TB, objs []*unstructured.Unstructured) render.Result {
	tb.Helper()
	h := sha256.New()
	for i, o := range objs {
		data, err := yaml.Marshal(o.Object)
		must(tb, err)
		if i > 0 {
			h.Write([]byte("---\n"))
		}
		h.Write(data)
	}
	return render.Result{Objects: objs, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil))}
}

// changed returns objs with ConfigMap cm-1's value set to value (a copy of it; the others
// shared).
func changed(objs []*unstructured.Unstructured, value string) []*unstructured.Unstructured {
	out := slices.Clone(objs)
	for i, o := range out {
		if o.GetKind() == "ConfigMap" && o.GetName() == "cm-1" {
			c := o.DeepCopy()
			_ = unstructured.SetNestedField(c.Object, value, "data", "key")
			out[i] = c
		}
	}
	return out
}

// withoutTenth splits objs into the objects kept and every tenth one (the Namespace always
// stays), which a prune removes: a mix of every kind.
func withoutTenth(objs []*unstructured.Unstructured) (kept, removed []*unstructured.Unstructured) {
	for i, o := range objs {
		if i%10 == 5 && o.GetKind() != "Namespace" {
			removed = append(removed, o)
		} else {
			kept = append(kept, o)
		}
	}
	return kept, removed
}

// copies returns deep copies: ssa mutates what it is given.
func copies(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}

func writeFile(path string, data []byte) error { return os.WriteFile(path, data, 0o644) }
