package sync

import (
	"context"
	"fmt"

	"github.com/fluxcd/pkg/ssa"
	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
)

// ObjectDiff is what a sync would do to one object, with a unified diff of the live object
// against the server's dry-run result (Secret values masked).
type ObjectDiff struct {
	Object  ObjectID
	Action  Action
	Unified string
}

// secretMask replaces every Secret value shown in a diff.
const secretMask = "***"

// Diff dry-runs res against the cluster with server-side apply and returns, for each object
// that would change, its action and a unified diff; objects that would be pruned come last.
// Nothing is written. The error names the object whose dry-run failed.
func (s *Syncer) Diff(ctx context.Context, env *environments.Environment, res render.Result) ([]ObjectDiff, error) {
	st, err := s.state.Load(ctx, env.Name)
	if err != nil {
		return nil, err
	}
	opts := ssa.DefaultDiffOptions()
	opts.ForceSelector = map[string]string{ForceAnnotation: "true"}
	var out []ObjectDiff
	for _, o := range res.Objects {
		entry, live, merged, err := s.mgr.Diff(ctx, o.DeepCopy(), opts)
		if err != nil {
			return nil, fmt.Errorf("%s: dry-run: %w", IDOf(o), redactSecretValues(err, res.Objects))
		}
		if entry.Action == ssa.UnchangedAction || entry.Action == ssa.SkippedAction {
			continue
		}
		if live == nil && merged == nil {
			merged = o // a new object: ssa returns no dry-run result, show what would be created
		}
		unified, err := unifiedDiff(IDOf(o), live, merged)
		if err != nil {
			return nil, err
		}
		out = append(out, ObjectDiff{Object: IDOf(o), Action: Action(entry.Action), Unified: unified})
	}
	inv, err := NewInventory(res.Objects)
	if err != nil {
		return nil, err
	}
	for _, e := range Removed(st.Inventory, inv) {
		out = append(out, ObjectDiff{Object: e.ObjectID, Action: Pruned})
	}
	return out, nil
}

// unifiedDiff renders live against merged as YAML without server-managed metadata, with Secret
// values masked (a changed value shows as "*** (before)" and "*** (after)").
func unifiedDiff(id ObjectID, live, merged *unstructured.Unstructured) (string, error) {
	live, merged = display(live), display(merged)
	if id.Kind == "Secret" && id.Group == "" {
		if err := maskSecret(live, merged); err != nil {
			return "", fmt.Errorf("%s: mask: %w", id, err)
		}
	}
	a, err := toYAML(live)
	if err != nil {
		return "", err
	}
	b, err := toYAML(merged)
	if err != nil {
		return "", err
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: "live/" + id.String(), ToFile: "ferry/" + id.String(), Context: 3,
	})
}

// display copies o without the fields the server manages, which only add noise to a diff.
func display(o *unstructured.Unstructured) *unstructured.Unstructured {
	if o == nil {
		return nil
	}
	o = o.DeepCopy()
	for _, f := range [][]string{
		{"metadata", "managedFields"}, {"metadata", "resourceVersion"}, {"metadata", "uid"},
		{"metadata", "generation"}, {"metadata", "creationTimestamp"}, {"status"},
	} {
		unstructured.RemoveNestedField(o.Object, f...)
	}
	return o
}

// maskSecret masks data and stringData of both sides of a Secret diff.
func maskSecret(live, merged *unstructured.Unstructured) error {
	if live != nil && merged != nil {
		if err := ssa.SanitizeUnstructuredData(live, merged); err != nil {
			return err
		}
	}
	for _, o := range []*unstructured.Unstructured{live, merged} {
		if o == nil {
			continue
		}
		for _, field := range []string{"data", "stringData"} {
			values, found, _ := unstructured.NestedMap(o.Object, field)
			if !found {
				continue
			}
			for k, v := range values {
				if s, ok := v.(string); !ok || (s != "*** (before)" && s != "*** (after)") {
					values[k] = secretMask
				}
			}
			if err := unstructured.SetNestedMap(o.Object, values, field); err != nil {
				return err
			}
		}
	}
	return nil
}

func toYAML(o *unstructured.Unstructured) (string, error) {
	if o == nil {
		return "", nil
	}
	data, err := yaml.Marshal(o.Object)
	return string(data), err
}
