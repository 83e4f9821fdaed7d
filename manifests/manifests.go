package manifests

import (
	"embed"
	"fmt"
	"io/fs"
	"path"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ferry-cd/ferry/render"
)

// files holds the kustomizations: the default install (kustomization.yaml, which only lists
// base/), the base and the overlays. README.md and examples/ are left out.
//
//go:embed kustomization.yaml base overlays
var files embed.FS

// root is where the embedded files sit in the in-memory filesystem kustomize reads.
const root = "/manifests"

// Render returns the objects of the default install (`kubectl apply -k manifests/`): the
// agent with cluster-wide rights. Objects come in kustomize's legacy order, Namespaces first.
// An error means the embedded kustomization is broken, a bug of this package.
func Render() ([]*unstructured.Unstructured, error) {
	return renderDir(".")
}

// RenderNamespaced returns the objects of overlays/namespaced: the agent confined by RBAC to
// its own namespace and the environments' namespaces staging and production. Objects come in
// kustomize's legacy order. An error means the embedded kustomization is broken.
func RenderNamespaced() ([]*unstructured.Unstructured, error) {
	return renderDir("overlays/namespaced")
}

// render runs kustomize on dir, a folder of the embedded files, over an in-memory copy of them.
func renderDir(dir string) ([]*unstructured.Unstructured, error) {
	kfs, err := memoryFS()
	if err != nil {
		return nil, err
	}
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy // Namespaces and RBAC before what needs them
	m, err := krusty.MakeKustomizer(opts).Run(kfs, path.Join(root, dir))
	if err != nil {
		return nil, fmt.Errorf("manifests/%s: kustomize: %w", dir, err)
	}
	return render.ToUnstructured(m)
}

// memoryFS copies the embedded files under root into a new in-memory filesystem.
func memoryFS() (filesys.FileSystem, error) {
	kfs := filesys.MakeFsInMemory()
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		return kfs.WriteFile(path.Join(root, p), data)
	})
	if err != nil {
		return nil, fmt.Errorf("manifests: copy embedded files: %w", err)
	}
	return kfs, nil
}
