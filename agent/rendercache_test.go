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
	first, err := m.render(t.Context(), repo, staging, "rev1")
	if err != nil {
		t.Fatal(err)
	}
	first.Objects[0].SetName("changed-by-a-sync")
	again, err := m.render(t.Context(), repo, staging, "rev1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != first.Digest || again.Objects[0].GetName() == "changed-by-a-sync" {
		t.Errorf("the memo handed out its own objects: %s", again.Objects[0].GetName())
	}
	key := m.key
	other := *staging
	other.Namespace = "elsewhere"
	moved, err := m.render(t.Context(), repo, &other, "rev1")
	if err != nil {
		t.Fatal(err)
	}
	if m.key == key || moved.Digest == first.Digest {
		t.Errorf("a changed environment reused the old render")
	}
	if _, err := m.render(t.Context(), repo, &other, "rev2"); err != nil || m.key == key {
		t.Errorf("a new revision: key %q, err %v", m.key, err)
	}
}
