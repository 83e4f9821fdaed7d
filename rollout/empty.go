package rollout

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ferry-cd/ferry/environments"
)

// StageError is a stage of an environment's rollout that cannot be rolled out with a render:
// it adds no object to those of the stages before it (an empty stage would soak nothing and
// leave the whole release to the last stage), or, before the last stage, it leaves nothing
// for the later stages.
type StageError struct {
	Env, Stage string
	// Index is the stage's index in the environment's rollout.
	Index int
	// Position is where the stage's selector is in ferry.yaml ("ferry.yaml:LINE:COL").
	Position string
	// Problem says what the stage selects, without the stage's name.
	Problem string
	// Hint says how to fix it, when that is known ("" otherwise).
	Hint string
}

// Error names the position first, then the environment and the stage, what is wrong and
// how to fix it.
func (e *StageError) Error() string {
	msg := fmt.Sprintf("%s: environment %s: stage %s %s", e.Position, e.Env, e.Stage, e.Problem)
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// Reason is the error as a halted rollout's reason: the stage, what is wrong, the position,
// and how to fix it.
func (e *StageError) Reason() string {
	msg := fmt.Sprintf("stage %s %s (%s)", e.Stage, e.Problem, e.Position)
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// AsStageError reports whether err is a *StageError, and returns it.
func AsStageError(err error) (*StageError, bool) {
	var se *StageError
	ok := errors.As(err, &se)
	return se, ok
}

// CheckStages returns a *StageError for the first stage before the last of env's rollout that
// adds no object of objs (env's render) to those the stages before it select, or that, with
// them, selects every object, leaving nothing for the later stages. It returns nil when env
// is not Staged or objs is empty (an empty render is refused, or allowed, on its own terms).
func CheckStages(env *environments.Environment, objs []*unstructured.Unstructured) error {
	if !Staged(env) || len(objs) == 0 {
		return nil
	}
	stages := env.Rollout.Stages
	before := 0
	for k, st := range stages[:len(stages)-1] {
		sel, err := metav1.LabelSelectorAsSelector(st.Selector)
		if err != nil {
			return stageError(env, k, "has an invalid selector: "+err.Error(), "")
		}
		selected := len(Select(objs, stages[:k+1]))
		switch {
		case selected == before:
			return emptyStage(env, k, sel, objs)
		case selected == len(objs):
			return stageError(env, k, "selects every object of the render, leaving nothing for the later stages", "")
		}
		before = selected
	}
	return nil
}

func stageError(env *environments.Environment, k int, problem, hint string) *StageError {
	st := env.Rollout.Stages[k]
	return &StageError{Env: env.Name, Stage: st.Name, Index: k, Position: st.Position, Problem: problem, Hint: hint}
}

// emptyStage is the error for stage k, which adds no object: when its selector matches the
// pod template labels of objects it does not select, the hint names them and says to label
// the objects themselves.
func emptyStage(env *environments.Environment, k int, sel labels.Selector, objs []*unstructured.Unstructured) *StageError {
	problem := "selects no object of the render"
	if k > 0 && len(Select(objs, env.Rollout.Stages[k:k+1])) > 0 {
		problem = "selects no object of the render that the stages before it do not select"
	}
	selected := map[*unstructured.Unstructured]bool{}
	for _, o := range Select(objs, env.Rollout.Stages[:k+1]) {
		selected[o] = true
	}
	var names []string
	for _, o := range objs {
		if tmpl, ok := podTemplateLabels(o); ok && !selected[o] && sel.Matches(labels.Set(tmpl)) {
			names = append(names, o.GetKind()+" "+namespaced(o))
		}
	}
	if len(names) == 0 {
		return stageError(env, k, problem, "")
	}
	return stageError(env, k, problem, templateHint(env.Rollout.Stages[k], names))
}

// templateHint says that the stage's selector matches the pod template labels of the objects
// named, not their own, and how to label them.
func templateHint(st environments.Stage, names []string) string {
	const few = 3
	list, own, fix := names[0], "its own", "label the object itself"
	if len(names) > 1 {
		own, fix = "their own", "label the objects themselves"
		shown := names[:min(len(names), few)]
		list = strings.Join(shown[:len(shown)-1], ", ") + " and " + shown[len(shown)-1]
		if len(names) > few {
			list = strings.Join(shown, ", ") + fmt.Sprintf(" and %d more", len(names)-few)
		}
	}
	return fmt.Sprintf("its selector matches the pod template labels of %s but not %s metadata.labels: %s, e.g. kustomize labels: %s in the %s component",
		list, own, fix, kustomizeLabels(st.Selector), st.Name)
}

// kustomizeLabels is the kustomize labels: entry that gives an object the selector's
// matchLabels (without touching selectors or templates), or a placeholder without them.
func kustomizeLabels(sel *metav1.LabelSelector) string {
	if sel == nil || len(sel.MatchLabels) == 0 {
		return "[{pairs: {…}}]"
	}
	keys := make([]string, 0, len(sel.MatchLabels))
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + ": " + sel.MatchLabels[k]
	}
	return "[{pairs: {" + strings.Join(pairs, ", ") + "}}]"
}

// podTemplateLabels returns the labels of o's pod template: spec.template (Deployment,
// StatefulSet, DaemonSet, ReplicaSet, Job, …) or a CronJob's spec.jobTemplate.spec.template.
func podTemplateLabels(o *unstructured.Unstructured) (map[string]string, bool) {
	for _, path := range [][]string{
		{"spec", "template", "metadata", "labels"},
		{"spec", "jobTemplate", "spec", "template", "metadata", "labels"},
	} {
		if l, found, err := unstructured.NestedStringMap(o.Object, path...); found && err == nil {
			return l, true
		}
	}
	return nil, false
}

func namespaced(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}
