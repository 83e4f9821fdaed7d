package promote

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestMaskSecrets(t *testing.T) {
	secret := func(name string, stringData map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"name": name, "namespace": "prod"}, "stringData": stringData}}
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "db", "namespace": "prod"}, "data": map[string]any{"password": "not-secret"}}}
	tests := []struct {
		name          string
		before, after []*unstructured.Unstructured
		want          string // the unified diff's changed lines
	}{
		{"a Secret-only change shows, without the value",
			[]*unstructured.Unstructured{cm, secret("db", map[string]any{"password": "old-value", "user": "app"})},
			[]*unstructured.Unstructured{cm, secret("db", map[string]any{"password": "new-value", "user": "app"})},
			"-  password: '***'\n+  password: '*** (changed)'\n"},
		{"a key added and one removed",
			[]*unstructured.Unstructured{secret("db", map[string]any{"old": "v1-value"})},
			[]*unstructured.Unstructured{secret("db", map[string]any{"new": "v2-value"})},
			"-  old: '*** (removed)'\n+  new: '*** (added)'\n"},
		{"unchanged: no diff",
			[]*unstructured.Unstructured{secret("db", map[string]any{"password": "same"})},
			[]*unstructured.Unstructured{secret("db", map[string]any{"password": "same"})},
			""},
		{"a Secret renamed: masked whole on both sides",
			[]*unstructured.Unstructured{secret("release-1", map[string]any{"password": "one-value"})},
			[]*unstructured.Unstructured{secret("release-2", map[string]any{"password": "two-value"})},
			"-  name: release-1\n+  name: release-2\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, a := maskSecrets(tc.before, tc.after)
			before, err := toYAML(b)
			if err != nil {
				t.Fatal(err)
			}
			after, err := toYAML(a)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, changedLines(before, after)); diff != "" {
				t.Errorf("changed lines (-want +got):\n%s", diff)
			}
			for _, v := range []string{"old-value", "new-value", "v1-value", "v2-value", "one-value", "two-value", "same"} {
				if strings.Contains(before+after, v) {
					t.Errorf("the masked renders show %q:\n%s\n%s", v, before, after)
				}
			}
			if !strings.Contains(after, "not-secret") && len(tc.after) > 1 {
				t.Errorf("a ConfigMap's value was masked")
			}
		})
	}
}

// changedLines returns the "-" and "+" lines of the unified diff of before and after, as the
// pull request body shows them.
func changedLines(before, after string) string {
	diff, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{A: difflib.SplitLines(before), B: difflib.SplitLines(after), Context: 0})
	var out strings.Builder
	for _, l := range strings.SplitAfter(diff, "\n") {
		if (strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+")) && !strings.HasPrefix(l, "---") && !strings.HasPrefix(l, "+++") {
			out.WriteString(l)
		}
	}
	return out.String()
}
