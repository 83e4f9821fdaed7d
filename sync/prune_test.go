package sync

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPruneDisabled(t *testing.T) {
	cases := []struct {
		labels, annotations map[string]string
		want                bool
	}{
		{annotations: map[string]string{PruneAnnotation: "disabled"}, want: true},
		{annotations: map[string]string{PruneAnnotation: "Disabled"}, want: true},
		{labels: map[string]string{PruneAnnotation: "disabled"}, want: true},
		{annotations: map[string]string{PruneAnnotation: "enabled"}},
		{annotations: map[string]string{"other": "disabled"}},
		{},
	}
	for _, c := range cases {
		if got := pruneDisabled(c.labels, c.annotations); got != c.want {
			t.Errorf("labels %v annotations %v: %v, want %v", c.labels, c.annotations, got, c.want)
		}
	}
}

// TestDeleteWaves: kinds go in the reverse of ssa's apply order, one wave per kind.
func TestDeleteWaves(t *testing.T) {
	e := func(group, kind, name string) Entry {
		return Entry{ObjectID: ObjectID{Group: group, Kind: kind, Namespace: "ns", Name: name}, Version: "v1"}
	}
	entries := Inventory{
		e("", "Namespace", "ns"), e("", "ConfigMap", "a"), e("apps", "Deployment", "web"),
		e("apiextensions.k8s.io", "CustomResourceDefinition", "widgets"), e("", "ConfigMap", "b"),
		e("admissionregistration.k8s.io", "ValidatingWebhookConfiguration", "hook"),
	}
	var got []string
	for _, wave := range deleteWaves(entries) {
		got = append(got, fmt.Sprint(wave))
	}
	want := []string{
		fmt.Sprint([]Entry{entries[5]}),             // webhooks first
		fmt.Sprint([]Entry{entries[2]}),             // then workloads
		fmt.Sprint([]Entry{entries[4], entries[1]}), // ConfigMaps, together
		fmt.Sprint([]Entry{entries[0]}),             // Namespaces
		fmt.Sprint([]Entry{entries[3]}),             // CRDs last
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("waves (-want +got):\n%s", diff)
	}
}
