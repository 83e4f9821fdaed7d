package promote

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/environments"
)

// cascadeWarnings says, for each Namespace and CustomResourceDefinition of before that after
// no longer renders, what deleting it would take with it: the API server deletes everything in
// a Namespace and every custom resource of a CRD. It says too what the agent will do instead
// (DESIGN.md: ferry never prunes a Namespace or CRD the render still uses, nor one holding
// objects outside the environment's inventory). "" when none leaves.
func cascadeWarnings(env *environments.Environment, before, after []*unstructured.Unstructured) string {
	kept := map[string]bool{}
	for _, o := range after {
		kept[o.GetKind()+"/"+o.GetName()] = true
	}
	var b strings.Builder
	for _, o := range before {
		if kept[o.GetKind()+"/"+o.GetName()] {
			continue
		}
		switch {
		case o.GetKind() == "Namespace" && o.GroupVersionKind().Group == "":
			b.WriteString(namespaceWarning(env, o.GetName(), before, after))
		case o.GetKind() == "CustomResourceDefinition" && o.GroupVersionKind().Group == "apiextensions.k8s.io":
			b.WriteString(crdWarning(o, before, after))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "\n### Deletions that cascade\n\n" + b.String()
}

func namespaceWarning(env *environments.Environment, ns string, before, after []*unstructured.Unstructured) string {
	if ns == env.Namespace || len(inNamespace(after, ns)) > 0 {
		return fmt.Sprintf("- **Namespace %s** leaves the render, but the render still places objects in it (or it is the environment's own): ferry keeps it in the cluster and drops it from the inventory.\n", ns)
	}
	objs := inNamespace(before, ns)
	return fmt.Sprintf("- **Namespace %s would be deleted with %d objects of this render** (%s) and everything else in it. ferry refuses the prune, and the sync fails, while it holds objects that are not %s's.\n",
		ns, len(objs), names(objs), env.Name)
}

func crdWarning(crd *unstructured.Unstructured, before, after []*unstructured.Unstructured) string {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	if len(ofKind(after, group, kind)) > 0 {
		return fmt.Sprintf("- **CustomResourceDefinition %s** leaves the render, but the render still has %s resources: ferry keeps it in the cluster and drops it from the inventory.\n", crd.GetName(), kind)
	}
	objs := ofKind(before, group, kind)
	return fmt.Sprintf("- **CustomResourceDefinition %s would be deleted with %d custom resources of this render** (%s) and every other %s in the cluster. ferry refuses the prune, and the sync fails, while other %s resources exist.\n",
		crd.GetName(), len(objs), names(objs), kind, kind)
}

func inNamespace(objs []*unstructured.Unstructured, ns string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetNamespace() == ns {
			out = append(out, o)
		}
	}
	return out
}

func ofKind(objs []*unstructured.Unstructured, group, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GroupVersionKind().Group == group && o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// names lists up to five objects as "Kind name", saying how many more there are.
func names(objs []*unstructured.Unstructured) string {
	if len(objs) == 0 {
		return "none"
	}
	var parts []string
	for i, o := range objs {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(objs)-5))
			break
		}
		parts = append(parts, o.GetKind()+" "+o.GetName())
	}
	return strings.Join(parts, ", ")
}
