package manifests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// InstallFieldManager is the server-side apply field manager of the objects Install applies.
const InstallFieldManager = "ferry-install"

// InstallOptions say how Install applies the objects.
type InstallOptions struct {
	// FieldManager owns the applied fields. Install takes them over from any other manager
	// (as `kubectl apply --server-side --force-conflicts` does): the install manifests are
	// the source of truth for ferry's own objects.
	FieldManager string
	// DryRun has the API server validate, default and admit every object (RBAC included)
	// without persisting it. Namespaced objects still need their Namespace to exist.
	DryRun bool
}

// DefaultInstallOptions returns options that really apply, as InstallFieldManager.
func DefaultInstallOptions() InstallOptions {
	return InstallOptions{FieldManager: InstallFieldManager}
}

// Install server-side applies objs (from Render or RenderNamespaced) to the cluster of cfg:
// Namespaces, CRDs and cluster RBAC first, then the rest, one request per object. It does not
// wait for the Deployment to become ready. It applies every object it can and returns the
// failures joined, each naming its object; an error before any apply names the client.
func Install(ctx context.Context, cfg *rest.Config, objs []*unstructured.Unstructured, opts InstallOptions) error {
	if opts.FieldManager == "" {
		opts.FieldManager = InstallFieldManager
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return fmt.Errorf("kubernetes REST mapper: %w", err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return fmt.Errorf("kubernetes dynamic client: %w", err)
	}
	ordered := slices.Clone(objs)
	sort.Stable(ssa.SortableUnstructureds(ordered))
	var errs []error
	for _, obj := range ordered {
		if err := apply(ctx, dyn, mapper, obj, opts); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// apply server-side applies one object; the error names it.
func apply(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, obj *unstructured.Unstructured, opts InstallOptions) error {
	gvk := obj.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("%s: %w", objectRef(obj), err)
	}
	var res dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		res = dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace())
	}
	applyOpts := metav1.ApplyOptions{FieldManager: opts.FieldManager, Force: true}
	if opts.DryRun {
		applyOpts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := res.Apply(ctx, obj.GetName(), obj, applyOpts); err != nil {
		return fmt.Errorf("%s: apply failed: %w", objectRef(obj), err)
	}
	return nil
}

// objectRef names an object as ferry's errors do: "Kind namespace/name" or "Kind name".
func objectRef(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", o.GetKind(), ns, o.GetName())
	}
	return fmt.Sprintf("%s %s", o.GetKind(), o.GetName())
}
