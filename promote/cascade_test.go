package promote

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/ferry-cd/ferry/environments"
)

func objects(t *testing.T, docs ...string) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, d := range docs {
		o := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(d), &o.Object); err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

func TestCascadeWarnings(t *testing.T) {
	env := &environments.Environment{Name: "production", Namespace: "production"}
	nsOwn := "apiVersion: v1\nkind: Namespace\nmetadata: {name: production}"
	nsExtra := "apiVersion: v1\nkind: Namespace\nmetadata: {name: extra}"
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: production}"
	inExtra := "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: extra}"
	crd := "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.x.dev}\nspec: {group: x.dev, names: {kind: Widget, plural: widgets}}"
	widget := "apiVersion: x.dev/v1\nkind: Widget\nmetadata: {name: w, namespace: production}"
	cases := []struct {
		name          string
		before, after []string
		want          []string
	}{
		{"nothing leaves", []string{nsOwn, cm}, []string{nsOwn, cm}, nil},
		{"own namespace kept", []string{nsOwn, cm}, []string{cm}, []string{"**Namespace production** leaves the render, but", "keeps it"}},
		{"namespace deleted with its objects", []string{nsExtra, inExtra, cm}, []string{cm},
			[]string{"**Namespace extra would be deleted with 1 objects of this render** (Secret s)", "refuses the prune"}},
		{"CRD still used", []string{crd, widget}, []string{widget}, []string{"still has Widget resources"}},
		{"CRD deleted with its resources", []string{crd, widget, cm}, []string{cm},
			[]string{"**CustomResourceDefinition widgets.x.dev would be deleted with 1 custom resources of this render** (Widget w)"}},
	}
	for _, c := range cases {
		got := cascadeWarnings(env, objects(t, c.before...), objects(t, c.after...))
		if c.want == nil && got != "" {
			t.Errorf("%s: got %q, want none", c.name, got)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q does not say %q", c.name, got, w)
			}
		}
	}
}
