package render

import (
	"errors"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/environments"
)

// own applies ferry's step to rendered objects: the ownership labels on every object, the
// environment's namespace on namespaced objects without one, and refusal of objects in another
// namespace and of cluster-scoped kinds the environment does not allow. It returns warnings
// for kinds scope does not know (taken as namespaced) and all refusals joined, each an *Error
// naming file (the overlay) and the object.
func own(objs []*unstructured.Unstructured, env *environments.Environment, scope Scope, file string) ([]string, error) {
	var warnings []string
	var errs []error
	warned := map[string]bool{}
	for _, o := range objs {
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[ManagedByLabel] = ManagedByValue
		labels[EnvironmentLabel] = env.Name
		o.SetLabels(labels)

		gk := o.GroupVersionKind().GroupKind()
		namespaced, known := scope.Namespaced(gk)
		if !known {
			namespaced = true
			if key := gk.String(); !warned[key] {
				warned[key] = true
				warnings = append(warnings, fmt.Sprintf("%s: unknown kind %s, taken as namespaced (a CRD in the cluster decides during a sync)", objectRef(o), key))
			}
		}
		if err := placeObject(o, env, namespaced); err != nil {
			errs = append(errs, &Error{File: file, Object: objectRef(o), Err: err})
		}
	}
	return warnings, errors.Join(errs...)
}

// placeObject defaults or checks o's namespace.
func placeObject(o *unstructured.Unstructured, env *environments.Environment, namespaced bool) error {
	if namespaced {
		switch ns := o.GetNamespace(); ns {
		case "":
			o.SetNamespace(env.Namespace)
		case env.Namespace:
		default:
			return fmt.Errorf("namespace %q is not allowed: environment %s writes only to namespace %q", ns, env.Name, env.Namespace)
		}
		return nil
	}
	kind := o.GetKind()
	if kind == "Namespace" && o.GetName() == env.Namespace {
		return nil
	}
	if !slices.Contains(env.ClusterScoped, kind) {
		return fmt.Errorf("cluster-scoped kind %s is not allowed in environment %s (list it in clusterScoped in ferry.yaml to allow it)", kind, env.Name)
	}
	return nil
}

// objectRef names an object as Kind namespace/name, or Kind name when cluster-scoped.
func objectRef(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", o.GetKind(), ns, o.GetName())
	}
	return fmt.Sprintf("%s %s", o.GetKind(), o.GetName())
}
