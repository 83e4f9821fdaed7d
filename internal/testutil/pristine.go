package testutil

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// BuildPristineKustomize builds third_party/kustomize-pristine (kustomize api v0.21.2 without
// ferry's patch: a module of its own, without the replace) into a temporary folder and returns
// the program's path. It is called from a package folder one level below the repository's root
// (render, bench).
func BuildPristineKustomize(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "kustomize-pristine")
	cmd := exec.CommandContext(t.Context(), filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "third_party", "kustomize-pristine")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build third_party/kustomize-pristine: %v\n%s", err, out)
	}
	return bin
}
