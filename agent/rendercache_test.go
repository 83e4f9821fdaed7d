package agent

import (
	"os"
	"testing"

	"github.com/ferry-cd/ferry/environments"
)

func TestRenderMemoReusesARenderOfTheSameRevisionAndEnvironment(t *testing.T) {
	repo := os.DirFS("../examples/gceme")
	pipeline, err := environments.Load(repo)
	if err != nil {
		t.Fatal(err)
	}
	staging, _ := pipeline.Environment("staging")
	var m renderMemo
	first, fresh, err := m.render(t.Context(), repo, staging, "rev1")
	if err != nil || !fresh {
		t.Fatalf("first render: fresh %v, err %v", fresh, err)
	}
	first.Objects[0].SetName("changed-by-a-sync")
	again, fresh, err := m.render(t.Context(), repo, staging, "rev1")
	if err != nil || fresh {
		t.Fatalf("second render: fresh %v, err %v", fresh, err)
	}
	if again.Digest != first.Digest || again.Objects[0].GetName() == "changed-by-a-sync" {
		t.Errorf("the memo handed out its own objects: %s", again.Objects[0].GetName())
	}
	key := m.key
	other := *staging
	other.Namespace = "elsewhere"
	moved, fresh, err := m.render(t.Context(), repo, &other, "rev1")
	if err != nil || !fresh {
		t.Fatalf("render of a changed environment: fresh %v, err %v", fresh, err)
	}
	if m.key == key || moved.Digest == first.Digest {
		t.Errorf("a changed environment reused the old render")
	}
	if _, fresh, err := m.render(t.Context(), repo, &other, "rev2"); err != nil || !fresh || m.key == key {
		t.Errorf("a new revision: key %q, fresh %v, err %v", m.key, fresh, err)
	}
}
