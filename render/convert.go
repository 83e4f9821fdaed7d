package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	yamlv2 "go.yaml.in/yaml/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/api/resource"
	sigsyaml "sigs.k8s.io/yaml"
)

// ToUnstructured converts kustomize's output to objects, through JSON so that numbers are the
// int64 and float64 unstructured expects. The resources are converted in parallel. The error
// names the resource (the first in kustomize's order that failed).
func ToUnstructured(m resmap.ResMap) ([]*unstructured.Unstructured, error) {
	resources := m.Resources()
	objs := make([]*unstructured.Unstructured, len(resources))
	err := eachParallel(len(resources), func(i int) error {
		obj, err := toUnstructured(resources[i])
		if err != nil {
			return fmt.Errorf("%s: %w", resources[i].CurId(), err)
		}
		objs[i] = obj
		return nil
	})
	if err != nil {
		return nil, err
	}
	return objs, nil
}

// toUnstructured decodes res's YAML nodes into Go values as kyaml's RNode.MarshalJSON does
// (go-yaml v3's decoding into a map), without first printing them as YAML and parsing that
// again, and then goes through JSON as before.
func toUnstructured(res *resource.Resource) (*unstructured.Unstructured, error) {
	m := map[string]any{}
	if err := res.YNode().Decode(&m); err != nil {
		return nil, err
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return obj, nil
}

// canonicalYAML prints objects as multi-document YAML, keys sorted; each object is printed on
// its own, in parallel.
func canonicalYAML(objs []*unstructured.Unstructured) ([]byte, error) {
	docs := make([][]byte, len(objs))
	err := eachParallel(len(objs), func(i int) error {
		data, err := printYAML(objs[i].Object)
		if err != nil {
			return fmt.Errorf("%s: %w", objectRef(objs[i]), err)
		}
		docs[i] = data
		return nil
	})
	if err != nil {
		return nil, err
	}
	size := 0
	for _, d := range docs {
		size += len(d) + len("---\n")
	}
	var b bytes.Buffer
	b.Grow(size)
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(d)
	}
	return b.Bytes(), nil
}

// printYAML prints an object's values as sigs.k8s.io/yaml's Marshal does, byte for byte,
// without its detour where it can: Marshal prints the value as JSON, parses that JSON with
// go-yaml v2 and prints the result. For the values decoding JSON gives an Unstructured (strings
// of valid UTF-8, int64, float64 that are not whole numbers, bools, nil, maps with string keys
// and slices of them), parsing the JSON gives equal values back, and go-yaml v2 prints equal
// values alike, keys sorted the same way. Anything else (a whole float64 such as 2^63, which
// the detour prints as an integer; a Go type JSON decoding never makes) takes the detour.
// TestConversionMatchesKyaml checks both ways on tricky values.
func printYAML(obj map[string]any) ([]byte, error) {
	if !plainJSON(obj) {
		return sigsyaml.Marshal(obj)
	}
	return yamlv2.Marshal(obj)
}

// plainJSON reports whether v holds only values that print the same with or without a
// round trip through JSON (see printYAML).
func plainJSON(v any) bool {
	switch v := v.(type) {
	case nil, bool, int64:
		return true
	case string:
		return utf8.ValidString(v)
	case float64:
		return v != math.Trunc(v) && !math.IsNaN(v) && !math.IsInf(v, 0)
	case map[string]any:
		for k, e := range v {
			if !utf8.ValidString(k) || !plainJSON(e) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range v {
			if !plainJSON(e) {
				return false
			}
		}
		return true
	}
	return false
}

// sortForApply sorts objs in server-side apply order, exactly as sort.Sort of
// ssa.SortableUnstructureds does (the same comparisons, so the same order), with each object's
// kind, namespace and name read once instead of at every comparison.
func sortForApply(objs []*unstructured.Unstructured) {
	metas := make(ssa.SortableMetas, len(objs))
	for i, o := range objs {
		metas[i] = object.UnstructuredToObjMetadata(o)
	}
	sort.Sort(applyOrder{objs: objs, metas: metas})
}

type applyOrder struct {
	objs  []*unstructured.Unstructured
	metas ssa.SortableMetas
}

func (a applyOrder) Len() int           { return len(a.objs) }
func (a applyOrder) Less(i, j int) bool { return a.metas.Less(i, j) }
func (a applyOrder) Swap(i, j int) {
	a.objs[i], a.objs[j] = a.objs[j], a.objs[i]
	a.metas.Swap(i, j)
}

// eachParallel calls fn for every index below n, on as many goroutines as the process may run
// at once, each taking the next index in turn. It returns the error of the lowest index that
// failed, so that the error does not depend on scheduling.
func eachParallel(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			if err := fn(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				errs[i] = fn(i)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
