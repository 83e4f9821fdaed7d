package rollout

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/environments"
)

// workload is a Deployment (or kind) named name in production with its own labels and, when
// template is not nil, pod template labels (a CronJob's under spec.jobTemplate).
func workload(kind, name string, own, template map[string]string) *unstructured.Unstructured {
	o := object(name, own)
	o.SetKind(kind)
	if template == nil {
		return o
	}
	tmpl := map[string]any{}
	for k, v := range template {
		tmpl[k] = v
	}
	path := []string{"spec", "template", "metadata", "labels"}
	if kind == "CronJob" {
		o.SetAPIVersion("batch/v1")
		path = []string{"spec", "jobTemplate", "spec", "template", "metadata", "labels"}
	}
	if err := unstructured.SetNestedMap(o.Object, tmpl, path...); err != nil {
		panic(err)
	}
	return o
}

func matchLabels(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

// pipeline is production with the given stages before a last stage "all"; stage k's
// position is ferry.yaml:4k+30:11.
func pipeline(stages ...environments.Stage) *environments.Environment {
	for k := range stages {
		stages[k].Position = "ferry.yaml:" + strconv.Itoa(4*k+30) + ":11"
	}
	stages = append(stages, environments.Stage{Name: "all", Position: "ferry.yaml:50:11"})
	return &environments.Environment{Name: "production", Rollout: &environments.Rollout{Stages: stages}}
}

func TestCheckStages(t *testing.T) {
	app := map[string]string{"app": "gceme"}
	canary := map[string]string{"app": "gceme", "track": "canary"}
	stable := []*unstructured.Unstructured{
		workload("Deployment", "frontend", app, app),
		workload("Service", "frontend", app, nil),
	}
	// The seed's mistake: the canaries say track: canary only in their pod templates.
	mislabelled := append([]*unstructured.Unstructured{
		workload("Deployment", "backend-canary", app, canary),
		workload("Deployment", "frontend-canary", app, canary),
	}, stable...)
	labelled := append([]*unstructured.Unstructured{
		workload("Deployment", "backend-canary", canary, canary),
		workload("Deployment", "frontend-canary", canary, canary),
	}, stable...)
	canaryStage := environments.Stage{Name: "canary", Selector: matchLabels("track", "canary")}
	betaStage := environments.Stage{Name: "beta", Selector: matchLabels("track", "beta")}
	tests := []struct {
		name string
		env  *environments.Environment
		objs []*unstructured.Unstructured
		want *StageError // nil: no error
	}{
		{"labelled canaries", pipeline(canaryStage), labelled, nil},
		{"not staged", &environments.Environment{Name: "staging"}, mislabelled, nil},
		{"one stage is everything", pipeline(), mislabelled, nil},
		{"an empty render is refused elsewhere", pipeline(canaryStage), nil, nil},
		{"the seed's mistake", pipeline(canaryStage), mislabelled, &StageError{
			Env: "production", Stage: "canary", Index: 0, Position: "ferry.yaml:30:11",
			Problem: "selects no object of the render",
			Hint: "its selector matches the pod template labels of Deployment production/backend-canary and Deployment production/frontend-canary " +
				"but not their own metadata.labels: label the objects themselves, e.g. kustomize labels: [{pairs: {track: canary}}] in the canary component",
		}},
		{"one mislabelled object", pipeline(canaryStage), []*unstructured.Unstructured{
			workload("Deployment", "frontend-canary", app, canary), stable[0],
		}, &StageError{
			Env: "production", Stage: "canary", Position: "ferry.yaml:30:11", Problem: "selects no object of the render",
			Hint: "its selector matches the pod template labels of Deployment production/frontend-canary " +
				"but not its own metadata.labels: label the object itself, e.g. kustomize labels: [{pairs: {track: canary}}] in the canary component",
		}},
		{"a few named, then how many more", pipeline(canaryStage), append([]*unstructured.Unstructured{
			workload("StatefulSet", "a", app, canary), workload("DaemonSet", "b", app, canary),
			workload("Job", "c", app, canary), workload("CronJob", "d", app, canary), workload("Deployment", "e", app, canary),
		}, stable...), &StageError{
			Env: "production", Stage: "canary", Position: "ferry.yaml:30:11", Problem: "selects no object of the render",
			Hint: "its selector matches the pod template labels of StatefulSet production/a, DaemonSet production/b, Job production/c and 2 more " +
				"but not their own metadata.labels: label the objects themselves, e.g. kustomize labels: [{pairs: {track: canary}}] in the canary component",
		}},
		{"a CronJob's job template", pipeline(canaryStage), []*unstructured.Unstructured{
			workload("CronJob", "report", app, canary), stable[0],
		}, &StageError{
			Env: "production", Stage: "canary", Position: "ferry.yaml:30:11", Problem: "selects no object of the render",
			Hint: "its selector matches the pod template labels of CronJob production/report " +
				"but not its own metadata.labels: label the object itself, e.g. kustomize labels: [{pairs: {track: canary}}] in the canary component",
		}},
		{"no template matches either: no hint", pipeline(betaStage), labelled, &StageError{
			Env: "production", Stage: "beta", Position: "ferry.yaml:30:11", Problem: "selects no object of the render",
		}},
		{"a later stage that adds nothing", pipeline(canaryStage, environments.Stage{Name: "canary-again", Selector: matchLabels("track", "canary")}), labelled, &StageError{
			Env: "production", Stage: "canary-again", Index: 1, Position: "ferry.yaml:34:11",
			Problem: "selects no object of the render that the stages before it do not select",
		}},
		{"a later empty stage", pipeline(canaryStage, betaStage), labelled, &StageError{
			Env: "production", Stage: "beta", Index: 1, Position: "ferry.yaml:34:11", Problem: "selects no object of the render",
		}},
		{"a first stage that selects everything", pipeline(environments.Stage{Name: "canary", Selector: matchLabels("app", "gceme")}), labelled, &StageError{
			Env: "production", Stage: "canary", Position: "ferry.yaml:30:11",
			Problem: "selects every object of the render, leaving nothing for the later stages",
		}},
		{"an empty selector selects everything", pipeline(environments.Stage{Name: "canary", Selector: &metav1.LabelSelector{}}), labelled, &StageError{
			Env: "production", Stage: "canary", Position: "ferry.yaml:30:11",
			Problem: "selects every object of the render, leaving nothing for the later stages",
		}},
		{"stages that together select everything", pipeline(canaryStage, environments.Stage{Name: "rest", Selector: matchLabels("app", "gceme")}), labelled, &StageError{
			Env: "production", Stage: "rest", Index: 1, Position: "ferry.yaml:34:11",
			Problem: "selects every object of the render, leaving nothing for the later stages",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckStages(tt.env, tt.objs)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckStages = %v, want nil", err)
				}
				return
			}
			got, ok := AsStageError(err)
			if !ok {
				t.Fatalf("CheckStages = %v, want a *StageError", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

func TestStageErrorMessages(t *testing.T) {
	e := &StageError{Env: "production", Stage: "canary", Position: "ferry.yaml:31:11", Problem: "selects no object of the render",
		Hint: "its selector matches the pod template labels of Deployment production/gceme-frontend-canary but not its own metadata.labels: " +
			"label the object itself, e.g. kustomize labels: [{pairs: {track: canary}}] in the canary component"}
	tests := []struct{ name, got, want string }{
		{"Error starts with the position", e.Error(), "ferry.yaml:31:11: environment production: stage canary selects no object of the render: " + e.Hint},
		{"Reason as DESIGN.md words it", e.Reason(), "stage canary selects no object of the render (ferry.yaml:31:11): " + e.Hint},
		{"Reason without a hint", (&StageError{Stage: "canary", Position: "ferry.yaml:31:11", Problem: "selects every object of the render, leaving nothing for the later stages"}).Reason(),
			"stage canary selects every object of the render, leaving nothing for the later stages (ferry.yaml:31:11)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}
