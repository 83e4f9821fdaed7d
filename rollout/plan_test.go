package rollout

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/render"
	"github.com/ferry-cd/ferry/sync"
)

func staged() *environments.Environment {
	return &environments.Environment{Name: "production", Rollout: &environments.Rollout{Stages: []environments.Stage{
		{Name: "canary", Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"track": "canary"}}},
		{Name: "all"},
	}}}
}

// verified is staged() with a soak on its last stage.
func verified() *environments.Environment {
	env := staged()
	env.Rollout.Stages[1].Soak = time.Minute
	return env
}

// approved is staged() with approval: manual on its last stage, and no soak.
func approved() *environments.Environment {
	env := staged()
	env.Rollout.Stages[1].Approval = environments.ApprovalManual
	return env
}

func TestNeeded(t *testing.T) {
	oneStage := &environments.Environment{Name: "staging", Rollout: &environments.Rollout{Stages: []environments.Stage{{Name: "all"}}}}
	res := render.Result{Digest: "new"}
	tests := []struct {
		name     string
		env      *environments.Environment
		st       sync.State
		deployed bool
		want     bool
	}{
		{"no rollout", &environments.Environment{Name: "staging"}, sync.State{AppliedRevision: "a", AppliedDigest: "old"}, true, false},
		{"one stage is everything at once", oneStage, sync.State{AppliedRevision: "a", AppliedDigest: "old"}, true, false},
		{"a change", staged(), sync.State{AppliedRevision: "a", AppliedDigest: "old"}, true, true},
		{"the applied render", staged(), sync.State{AppliedRevision: "a", AppliedDigest: "new"}, true, false},
		{"first sync, nothing deployed", staged(), sync.State{}, false, false},
		{"state lost, objects deployed", staged(), sync.State{}, true, true},
		{"state lost, same digest is no proof", staged(), sync.State{AppliedDigest: "new"}, true, true},
		{"the applied render verifying at the last stage", verified(),
			sync.State{AppliedRevision: "a", AppliedDigest: "new", Progress: sync.Progress{Revision: "a", StageIndex: 1, Phase: sync.PhaseSoaking}}, true, true},
		{"the applied render applying the last stage that soaks", verified(),
			sync.State{AppliedRevision: "a", AppliedDigest: "new", Progress: sync.Progress{Revision: "a", StageIndex: 1, Phase: sync.PhaseApplying}}, true, true},
		{"the applied render at a last stage without soak", staged(),
			sync.State{AppliedRevision: "a", AppliedDigest: "new", Progress: sync.Progress{Revision: "a", StageIndex: 1, Phase: sync.PhaseApplying}}, true, false},
		{"the applied render halted at the last stage", verified(),
			sync.State{AppliedRevision: "a", AppliedDigest: "new", Progress: sync.Progress{HaltedRevision: "a", StageIndex: 1, Phase: sync.PhaseHalted}}, true, false},
		{"the applied render waiting for approval at the last stage", approved(),
			sync.State{AppliedRevision: "a", AppliedDigest: "new", Progress: sync.Progress{Revision: "a", StageIndex: 1, Phase: sync.PhaseWaiting}}, true, true},
		{"the applied render at the first stage", verified(),
			sync.State{AppliedRevision: "a", AppliedDigest: "new", Progress: sync.Progress{Revision: "b", StageIndex: 0, Phase: sync.PhaseSoaking}}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Needed(tt.env, &tt.st, res, tt.deployed); got != tt.want {
				t.Errorf("Needed = %v, want %v", got, tt.want)
			}
		})
	}
}

func object(name string, labels map[string]string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion("apps/v1")
	o.SetKind("Deployment")
	o.SetNamespace("production")
	o.SetName(name)
	o.SetLabels(labels)
	return o
}

func names(objs []*unstructured.Unstructured) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.GetName())
	}
	return out
}

func TestSelectAndMoved(t *testing.T) {
	objs := []*unstructured.Unstructured{
		object("frontend", map[string]string{"app": "gceme"}),
		object("frontend-canary", map[string]string{"app": "gceme", "track": "canary"}),
		object("backend-canary", map[string]string{"track": "canary"}),
		object("backend-beta", map[string]string{"track": "beta"}),
	}
	three := staged()
	three.Rollout.Stages = []environments.Stage{
		three.Rollout.Stages[0],
		{Name: "beta", Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "track", Operator: metav1.LabelSelectorOpIn, Values: []string{"beta"}}}}},
		{Name: "all"},
	}
	tests := []struct {
		name string
		got  []*unstructured.Unstructured
		want []string
	}{
		{"first stage", Select(objs, three.Rollout.Stages[:1]), []string{"frontend-canary", "backend-canary"}},
		{"stages accumulate", Select(objs, three.Rollout.Stages[:2]), []string{"frontend-canary", "backend-canary", "backend-beta"}},
		{"a stage without a selector matches nothing", Select(objs, three.Rollout.Stages[2:]), []string{}},
		{"none", Select(nil, three.Rollout.Stages), []string{}},
		{"moved when halted at the first stage", Moved(three, objs, sync.Progress{StageIndex: 0}), []string{"frontend-canary", "backend-canary"}},
		{"moved when halted at the second stage", Moved(three, objs, sync.Progress{StageIndex: 1}), []string{"frontend-canary", "backend-canary", "backend-beta"}},
		{"moved when halted at the last stage: everything", Moved(three, objs, sync.Progress{StageIndex: 2}), []string{"frontend", "frontend-canary", "backend-canary", "backend-beta"}},
		{"nothing moved when halted before applying", Moved(three, objs, sync.Progress{StageIndex: 1, HaltedBeforeApply: true}), []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, names(tt.got)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestHaltError(t *testing.T) {
	h := &Halt{Env: "production", Revision: "abc", Stage: "canary", Reason: "Deployment.apps production/x is InProgress: 0/1"}
	if got, ok := IsHalt(error(h)); !ok || got != h {
		t.Errorf("IsHalt(%v) = %v, %v", h, got, ok)
	}
	if got, ok := IsHalt(fmt.Errorf("wrapped: %w", h)); !ok || got != h {
		t.Errorf("IsHalt of a wrapped halt = %v, %v", got, ok)
	}
	if _, ok := IsHalt(errors.New("not healthy after 5m")); ok {
		t.Error("IsHalt of another error = true")
	}
	want := "rollout of abc halted at stage canary: Deployment.apps production/x is InProgress: 0/1"
	if h.Error() != want {
		t.Errorf("Error() = %q, want %q", h.Error(), want)
	}
}
