package sync

import (
	"context"
	"fmt"

	"github.com/fluxcd/pkg/ssa"
	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/redact"
	"github.com/ferry-cd/ferry/render"
)

// ObjectDiff is what a sync would do to one object, with a unified diff of the live object
// against the server's dry-run result (Secret values masked).
type ObjectDiff struct {
	Object  ObjectID
	Action  Action
	Unified string
}

// Diff dry-runs res against the cluster with server-side apply and returns, for each object
// that would change, its action and a unified diff; objects that would be pruned come last.
// Nothing is written. The error names the object whose dry-run failed.
func (s *Syncer) Diff(ctx context.Context, env *environments.Environment, res render.Result) ([]ObjectDiff, error) {
	st, err := s.loadState(ctx, env)
	if err != nil {
		return nil, err
	}
	opts := ssa.DefaultDiffOptions()
	opts.ForceSelector = map[string]string{ForceAnnotation: "true"}
	inv, err := NewInventory(res.Objects)
	if err != nil {
		return nil, err
	}
	suspects := changedSince(st.Inventory, inv, s.Drifted(env.Name))
	var out []ObjectDiff
	for _, o := range res.Objects {
		entry, live, merged, err := s.mgr.Diff(ctx, o.DeepCopy(), opts)
		if err != nil {
			return nil, fmt.Errorf("%s: dry-run: %w", IDOf(o), secretValues(res.Objects).Error(err))
		}
		if entry.Action == ssa.UnchangedAction && suspects[IDOf(o)] {
			// ssa compares only labels and annotations of metadata: see metadataChanged.
			var changed bool
			live, merged, changed, err = s.metadataChanged(ctx, o)
			if err != nil {
				return nil, secretValues(res.Objects).Error(err)
			}
			if changed {
				entry.Action = ssa.ConfiguredAction
			}
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
	pruned, err := s.diffPrune(ctx, env, st, res)
	return append(out, pruned...), err
}

// diffPrune says what a sync would prune, as prune decides it: what the render still needs is
// kept, and a Namespace or CRD says what its deletion would take with it, or why it would not
// be deleted.
func (s *Syncer) diffPrune(ctx context.Context, env *environments.Environment, st *State, res render.Result) ([]ObjectDiff, error) {
	inv, err := NewInventory(res.Objects)
	if err != nil {
		return nil, err
	}
	all := merge(st.Inventory, st.Pending)
	removed := Removed(all, inv)
	if len(removed) == 0 {
		return nil, nil
	}
	var out []ObjectDiff
	if !env.Prune {
		for _, e := range removed {
			out = append(out, ObjectDiff{Object: e.ObjectID, Action: Skipped, Unified: "  not pruned: prune: false\n"})
		}
		return out, nil
	}
	plan, err := s.checkCascades(ctx, env.Name, keptByRender(env.Namespace, removed, res.Objects, s.crdNames(res.Objects)), merge(all, inv))
	if err != nil {
		return nil, err
	}
	for _, c := range plan.kept {
		out = append(out, ObjectDiff{Object: c.Object, Action: Skipped, Unified: "  " + c.Reason + "\n"})
	}
	for _, e := range plan.remove {
		d := ObjectDiff{Object: e.ObjectID, Action: Pruned}
		if c, ok := plan.cascades[e.ObjectID]; ok {
			d.Unified = "  " + c.String() + "\n"
		}
		out = append(out, d)
	}
	for _, c := range plan.refused {
		out = append(out, ObjectDiff{Object: c.Object, Action: Skipped,
			Unified: "  not pruned, the sync fails instead: " + c.String() + "\n"})
	}
	return out, nil
}

// unifiedDiff renders live against merged as YAML without server-managed metadata, with Secret
// values masked (a value that changes shows as "***" before and "*** (changed)" after; see
// redact.SecretPair).
func unifiedDiff(id ObjectID, live, merged *unstructured.Unstructured) (string, error) {
	live, merged = redact.SecretPair(display(live), display(merged))
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

// secretValues returns the values of the Secrets among objs, which the API server quotes in
// some errors (a server-side apply type error: "expected string, got
// &value.valueUnstructured{…}"); its Error flattens such an error with each value as "***".
func secretValues(objs []*unstructured.Unstructured) *redact.Set {
	set := redact.NewSet()
	set.AddSecretValues(objs)
	return set
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

func toYAML(o *unstructured.Unstructured) (string, error) {
	if o == nil {
		return "", nil
	}
	data, err := yaml.Marshal(o.Object)
	return string(data), err
}
