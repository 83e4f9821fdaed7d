package sync

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestChangedSince(t *testing.T) {
	id := func(name string) ObjectID { return ObjectID{Kind: "ConfigMap", Namespace: "ns", Name: name} }
	last := Inventory{{ObjectID: id("same"), Hash: "a"}, {ObjectID: id("changed"), Hash: "a"}, {ObjectID: id("rebuilt")}}
	now := Inventory{{ObjectID: id("same"), Hash: "a"}, {ObjectID: id("changed"), Hash: "b"}, {ObjectID: id("rebuilt"), Hash: "c"}, {ObjectID: id("new"), Hash: "d"}}
	got := changedSince(last, now, []ObjectID{id("drifted")})
	want := map[ObjectID]bool{id("changed"): true, id("drifted"): true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("suspects (-want +got):\n%s", diff)
	}
}

func TestUserMetadata(t *testing.T) {
	o := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{
		"name": "x", "finalizers": []any{"f"}, "resourceVersion": "7", "uid": "u", "generation": int64(2),
		"managedFields": []any{}, "creationTimestamp": "t", "ownerReferences": []any{map[string]any{"name": "o"}},
	}}}
	want := map[string]any{"name": "x", "finalizers": []any{"f"}, "ownerReferences": []any{map[string]any{"name": "o"}}}
	if diff := cmp.Diff(want, userMetadata(o)); diff != "" {
		t.Errorf("user metadata (-want +got):\n%s", diff)
	}
}
