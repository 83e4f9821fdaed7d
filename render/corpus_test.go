package render

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ferry-cd/ferry/environments"
)

// corpusDir holds overlays written by others, copied unchanged from the project's shared corpus
// (see its README for their origin and licence), so that the test runs on any clean clone.
var corpusDir = filepath.Join("testdata", "corpus")

// TestCorpusMatchesKustomizeBuild renders every overlay listed in the corpus and compares it
// with what `kustomize build` makes of the same folder: krusty, the library behind the
// kustomize CLI, run on the real disk with its default options. ferry's output must be the
// same objects plus exactly ferry's two labels and the environment's namespace on namespaced
// objects that had none.
func TestCorpusMatchesKustomizeBuild(t *testing.T) {
	for _, overlay := range corpusOverlays(t) {
		t.Run(overlay, func(t *testing.T) {
			want := kustomizeBuild(t, filepath.Join(corpusDir, overlay))
			if len(want) == 0 {
				t.Fatal("kustomize build produced no objects: nothing to compare")
			}
			env := corpusEnvironment(want)
			env.Path = overlay
			got, err := Render(t.Context(), rootFS(t, corpusDir), env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(byID(want), byID(withoutFerry(got.Objects, want, env))); diff != "" {
				t.Errorf("ferry render differs from kustomize build beyond ferry's labels and namespace (-want +got):\n%s", diff)
			}
			for _, o := range got.Objects {
				if l := o.GetLabels(); l[ManagedByLabel] != ManagedByValue || l[EnvironmentLabel] != env.Name {
					t.Errorf("%s lacks ferry's labels: %v", objectRef(o), l)
				}
			}
		})
	}
}

func corpusOverlays(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(corpusDir, "overlays.txt"))
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	defer f.Close()
	var out []string
	for s := bufio.NewScanner(f); s.Scan(); {
		if line := strings.TrimSpace(s.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

func kustomizeBuild(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	objs, err := ToUnstructured(m)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// corpusEnvironment makes the environment an overlay fits: the namespace its objects use (or
// "corpus"), and its cluster-scoped kinds allowed.
func corpusEnvironment(objs []*unstructured.Unstructured) *environments.Environment {
	env := &environments.Environment{Name: "corpus", Namespace: "corpus", Prune: true}
	for _, o := range objs {
		namespaced, _ := BuiltinScope.Namespaced(o.GroupVersionKind().GroupKind())
		if ns := o.GetNamespace(); ns != "" && namespaced {
			env.Namespace = ns
		}
		if !namespaced {
			env.ClusterScoped = append(env.ClusterScoped, o.GetKind())
		}
	}
	return env
}

// withoutFerry undoes ferry's step on copies of got, so they can be compared with kustomize's
// output: the two labels go, and so does a namespace the reference object did not have.
func withoutFerry(got, want []*unstructured.Unstructured, env *environments.Environment) []*unstructured.Unstructured {
	hadNamespace := map[string]bool{}
	for _, o := range want {
		hadNamespace[o.GetKind()+"/"+o.GetName()] = o.GetNamespace() != ""
	}
	out := make([]*unstructured.Unstructured, 0, len(got))
	for _, o := range got {
		o = o.DeepCopy()
		labels := o.GetLabels()
		delete(labels, ManagedByLabel)
		delete(labels, EnvironmentLabel)
		if len(labels) == 0 {
			unstructured.RemoveNestedField(o.Object, "metadata", "labels")
		} else {
			o.SetLabels(labels)
		}
		if !hadNamespace[o.GetKind()+"/"+o.GetName()] && o.GetNamespace() == env.Namespace {
			unstructured.RemoveNestedField(o.Object, "metadata", "namespace")
		}
		out = append(out, o)
	}
	return out
}

// byID indexes objects by apiVersion, kind, namespace and name, so order does not matter.
func byID(objs []*unstructured.Unstructured) map[string]map[string]any {
	out := make(map[string]map[string]any, len(objs))
	for _, o := range objs {
		key := strings.Join([]string{o.GetAPIVersion(), o.GetKind(), o.GetNamespace(), o.GetName()}, " ")
		out[key] = o.Object
	}
	return out
}
