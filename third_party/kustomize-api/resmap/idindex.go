// Copyright 2026 The ferry Authors.
// SPDX-License-Identifier: Apache-2.0

// Patched by ferry (not upstream kustomize): see PATCHES.md, patch 1.

package resmap

import (
	"runtime"
	"sync"
	"weak"

	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/kyaml/resid"
)

// idKey is a ResId reduced to what ResId.Equals compares, so that two ids
// are Equal exactly when their keys are ==.
type idKey struct {
	group, version, kind, name, namespace string
}

func keyOf(id resid.ResId) idKey {
	return idKey{id.Group, id.Version, id.Kind, id.Name, id.EffectiveNamespace()}
}

// idIndex maps current ids to the resources of a resWrangler that had them
// when they were indexed, so that Append need not recompute the id of every
// resource already held (kubernetes-sigs/kustomize#5084).
//
// A resource's id lives in its YAML and changes behind the index's back
// (name prefixes, namespaces, patches, filters). So the index is trusted
// only while nobody outside Append could have changed an id: every
// resWrangler method that hands out resources or changes them "touches" the
// family of resWranglers that share resources (shallow copies, subsets, and
// maps merged with AppendAll/AbsorbAll), and an index built before the last
// touch is rebuilt from scratch on the next lookup. A hit is also checked
// against the resource's id of now, so a stale entry never makes a false
// duplicate.
type idIndex struct {
	ids    map[idKey][]*resource.Resource
	size   int     // len(rList) the index covers
	built  *family // family root and epoch when built
	epoch  uint64
	family *family
}

// family is a union-find node: resWranglers sharing resources share a root,
// whose epoch counts the touches.
type family struct {
	parent *family
	epoch  uint64
}

func (x *idIndex) root() *family {
	if x.family == nil {
		x.family = &family{}
	}
	f := x.family
	for f.parent != nil {
		f = f.parent
	}
	x.family = f
	return f
}

// join puts other's family into x's: they now share resources.
func (x *idIndex) join(other *idIndex) {
	a, b := x.root(), other.root()
	if a != b {
		b.parent = a
	}
}

// indexes holds each live resWrangler's idIndex beside it, not in it, so
// that resWrangler stays the plain list that tests compare with
// reflect.DeepEqual.
var indexes = struct {
	sync.Mutex
	m map[weak.Pointer[resWrangler]]*idIndex
}{m: map[weak.Pointer[resWrangler]]*idIndex{}}

// index returns m's idIndex, made empty on first use.
func (m *resWrangler) index() *idIndex {
	k := weak.Make(m)
	indexes.Lock()
	defer indexes.Unlock()
	x := indexes.m[k]
	if x == nil {
		x = &idIndex{}
		indexes.m[k] = x
		runtime.AddCleanup(m, forgetIndex, k)
	}
	return x
}

func forgetIndex(k weak.Pointer[resWrangler]) {
	indexes.Lock()
	defer indexes.Unlock()
	delete(indexes.m, k)
}

// share puts result, which holds some of m's resources, in m's family.
func (m *resWrangler) share(result *resWrangler) {
	result.index().family = m.index().root()
}

// touch records that ids in m's family may have changed.
func (m *resWrangler) touch() { m.index().root().epoch++ }

// valid reports whether the index is up to date for m.
func (x *idIndex) valid(m *resWrangler) bool {
	f := x.root()
	return x.ids != nil && x.built == f && x.epoch == f.epoch && x.size == len(m.rList)
}

// rebuild indexes m's resources by their ids of now.
func (x *idIndex) rebuild(m *resWrangler) {
	x.ids = make(map[idKey][]*resource.Resource, len(m.rList))
	for _, r := range m.rList {
		k := keyOf(r.CurId())
		x.ids[k] = append(x.ids[k], r)
	}
	x.size, x.built = len(m.rList), x.root()
	x.epoch = x.built.epoch
}

// add records res, just appended to m with id, if the index was up to date
// before the append.
func (x *idIndex) add(m *resWrangler, id resid.ResId, res *resource.Resource) {
	x.size++
	if !x.valid(m) {
		return
	}
	k := keyOf(id)
	x.ids[k] = append(x.ids[k], res)
}

// hasCurrentId reports whether a resource of m has id now.
func (m *resWrangler) hasCurrentId(id resid.ResId) bool {
	x := m.index()
	if !x.valid(m) {
		x.rebuild(m)
	}
	for _, r := range x.ids[keyOf(id)] {
		if id.Equals(r.CurId()) {
			return true
		}
	}
	return false
}
