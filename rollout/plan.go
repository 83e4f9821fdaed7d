package rollout

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

// Staged reports whether env rolls out in stages (more than the final "everything" stage).
func Staged(env *environments.Environment) bool {
	return env.Rollout != nil && len(env.Rollout.Stages) > 1
}

// Needed reports whether res must be rolled out to env in stages: env is Staged and res differs
// from what is applied. deployed says whether the environment runs anything yet: a state that
// records an applied revision, or (when the state is missing or new) any of res's objects found
// in the cluster. Only a true first sync, with none of them deployed, applies everything at once:
// a lost state ConfigMap must not open a path around the stages. A render already applied is
// still rolled out while its last stage's soak (a verification after everything moved) is not
// over, or its approval not given: a restarted agent resumes it.
func Needed(env *environments.Environment, st *sync.State, res render.Result, deployed bool) bool {
	if !Staged(env) {
		return false
	}
	if st.AppliedRevision != "" {
		return st.AppliedDigest != res.Digest || verifying(env, st.Progress)
	}
	return deployed
}

// verifying reports whether p is a rollout at env's last stage that has a soak to finish or
// an approval to wait for.
func verifying(env *environments.Environment, p sync.Progress) bool {
	last := len(env.Rollout.Stages) - 1
	st := env.Rollout.Stages[last]
	return p.Revision != "" && p.StageIndex == last && (st.Soak > 0 || st.Approval == environments.ApprovalManual)
}

// Select returns the objects matched by any of the stages' selectors (a stage without a
// selector matches nothing here: only the last stage has none, and it applies everything).
func Select(objs []*unstructured.Unstructured, stages []environments.Stage) []*unstructured.Unstructured {
	var sels []labels.Selector
	for _, st := range stages {
		if st.Selector == nil {
			continue
		}
		if sel, err := metav1.LabelSelectorAsSelector(st.Selector); err == nil {
			sels = append(sels, sel)
		}
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		for _, sel := range sels {
			if sel.Matches(labels.Set(o.GetLabels())) {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

// Moved returns the objects of objs that a rollout halted as p records has already applied at
// its own revision (the selections of stages 1..k, k = p.StageIndex): what holding the
// environment at its applied revision must leave to the halted rollout. Halted at the last
// stage, everything moved; halted before applying anything (a stage CheckStages refused),
// nothing did.
func Moved(env *environments.Environment, objs []*unstructured.Unstructured, p sync.Progress) []*unstructured.Unstructured {
	stages, k := env.Rollout.Stages, p.StageIndex
	switch {
	case p.HaltedBeforeApply:
		return nil
	case k >= len(stages)-1:
		return objs
	}
	return Select(objs, stages[:k+1])
}
