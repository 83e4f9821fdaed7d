package render

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"

	"github.com/ferry-cd/ferry/environments"
)

// Ownership labels ferry puts on every object it applies (DESIGN.md, "Objects ferry owns").
const (
	ManagedByLabel   = "app.kubernetes.io/managed-by"
	ManagedByValue   = "ferry"
	EnvironmentLabel = "ferry.dev/environment"
)

// Options configure a Renderer.
type Options struct {
	// Limits bound reads and output; zero fields take DefaultLimits' values.
	Limits Limits
	// Scope says which kinds are namespaced; BuiltinScope when nil. The CRDs of the render
	// itself are always consulted first.
	Scope Scope
	// AgeKeys returns the age identities SOPS files may be decrypted with; it is called once
	// per render, when the first encrypted file is met. AgeKeysFromEnv when nil.
	AgeKeys func() (AgeKeys, error)
}

// DefaultOptions returns Options with DefaultLimits, BuiltinScope and AgeKeysFromEnv.
func DefaultOptions() Options {
	return Options{Limits: DefaultLimits(), Scope: BuiltinScope, AgeKeys: AgeKeysFromEnv}
}

// Result is one environment rendered at one revision.
type Result struct {
	// Objects in server-side apply order (CRDs and Namespaces first, then by kind, namespace
	// and name), with ferry's labels and namespace applied.
	Objects []*unstructured.Unstructured
	// Digest is "sha256:" and the hex sha256 of YAML(), the canonical output.
	Digest string
	// Warnings are kinds neither the scope nor the render's CRDs know, taken as namespaced.
	Warnings []string
	// Inputs are what the render read from the repository, for a caller that reuses the
	// Result at another revision where they did not change (see Inputs.Changed); nil when the
	// repository view is no HashFS. They are never modified.
	Inputs *Inputs
	yaml   []byte
}

// YAML returns the objects as multi-document YAML with sorted keys: exactly what is applied.
func (r Result) YAML() []byte { return r.yaml }

// Clone returns a copy whose objects may be modified without changing r's; the objects are
// copied in parallel.
func (r Result) Clone() Result {
	c := r
	c.Objects = make([]*unstructured.Unstructured, len(r.Objects))
	_ = eachParallel(len(r.Objects), func(i int) error {
		c.Objects[i] = r.Objects[i].DeepCopy()
		return nil
	})
	c.Warnings = slices.Clone(r.Warnings)
	return c
}

// Renderer renders environments with fixed Options.
type Renderer struct{ opts Options }

// New returns a Renderer; zero fields of opts take their defaults.
func New(opts Options) *Renderer {
	def := DefaultOptions()
	if opts.Scope == nil {
		opts.Scope = def.Scope
	}
	if opts.AgeKeys == nil {
		opts.AgeKeys = def.AgeKeys
	}
	opts.Limits = opts.Limits.withDefaults(def.Limits)
	return &Renderer{opts: opts}
}

// Render renders env from fsys with DefaultOptions. See Renderer.Render.
func Render(ctx context.Context, fsys fs.FS, env *environments.Environment) (Result, error) {
	return New(DefaultOptions()).Render(ctx, fsys, env)
}

// Render builds env's overlay from fsys, a read-only view of the repository at one revision
// (its root is the repository root; symlinks are honoured when fsys implements fs.ReadLinkFS).
// Nothing outside the repository is read, nothing remote is fetched and no plugin runs. The
// error is an *Error naming the overlay's file and, where there is one, the object; several
// bad objects are reported together. SOPS-encrypted files are decrypted in memory before
// kustomize reads them when env has Decryption (see AgeKeys), and env.Secrets is enforced.
func (r *Renderer) Render(ctx context.Context, fsys fs.FS, env *environments.Environment) (Result, error) {
	t := newTree(ctx, fsys, r.opts.Limits)
	kfs := &kustFS{t: t, sops: newDecrypter(env, r.opts.AgeKeys), checkYAML: func(name string, data []byte) error {
		return checkAliases(name, data, r.opts.Limits.MaxAliasNodes)
	}}
	overlay := path.Join(env.Path, "kustomization.yaml")
	c := &checker{fs: kfs, done: map[string]bool{}, encryptedOnly: env.Secrets == environments.SecretsEncryptedOnly}
	if err := c.check(env.Path); err != nil {
		var re *Error
		if errors.As(err, &re) {
			return Result{}, err
		}
		return Result{}, &Error{File: overlay, Err: err}
	}
	objs, err := r.build(kfs, env.Path)
	if err != nil {
		return Result{}, &Error{File: overlay, Err: err}
	}
	if len(objs) == 0 && !env.AllowEmpty {
		return Result{}, &Error{File: overlay, Err: errors.New("the overlay renders no objects; ferry never applies (or prunes to) an empty render unless the environment sets allowEmpty: true")}
	}
	warnings, err := own(objs, env, newCRDScope(objs, r.opts.Scope), overlay)
	if err != nil {
		return Result{}, err
	}
	sortForApply(objs)
	out, err := canonicalYAML(objs)
	if err != nil {
		return Result{}, &Error{File: overlay, Err: err}
	}
	sum := sha256.Sum256(out)
	return Result{Objects: objs, Digest: "sha256:" + hex.EncodeToString(sum[:]), Warnings: warnings, Inputs: t.inputs(), yaml: out}, nil
}

// build runs kustomize on the overlay folder dir and converts its output.
func (r *Renderer) build(kfs *kustFS, dir string) (objs []*unstructured.Unstructured, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("kustomize failed: %v", p)
		}
	}()
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionNone // ferry sorts in apply order itself
	m, err := krusty.MakeKustomizer(opts).Run(kfs, path.Join(virtualRoot, dir))
	if err != nil {
		return nil, err
	}
	if m.Size() > r.opts.Limits.MaxObjects {
		return nil, fmt.Errorf("%d objects, over the limit of %d: %w", m.Size(), r.opts.Limits.MaxObjects, ErrLimit)
	}
	return ToUnstructured(m)
}

func (l Limits) withDefaults(def Limits) Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = def.MaxFileBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = def.MaxTotalBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = def.MaxFiles
	}
	if l.MaxObjects <= 0 {
		l.MaxObjects = def.MaxObjects
	}
	if l.MaxAliasNodes <= 0 {
		l.MaxAliasNodes = def.MaxAliasNodes
	}
	if l.MaxSymlinks <= 0 {
		l.MaxSymlinks = def.MaxSymlinks
	}
	return l
}
