package render

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

// TestExampleGolden renders every environment of examples/gceme, from its folder and from a git
// commit of it, and compares the output with testdata/golden/gceme-ENV.yaml.
func TestExampleGolden(t *testing.T) {
	example := filepath.Join("..", "examples", "gceme")
	fromDir := rootFS(t, example)
	pipeline, err := environments.Load(fromDir)
	if err != nil {
		t.Fatal(err)
	}
	fromGit := testutil.CommitFS(t, testutil.CopyTree(t, example))
	for i := range pipeline.Environments {
		env := &pipeline.Environments[i]
		t.Run(env.Name, func(t *testing.T) {
			res, err := Render(t.Context(), fromDir, env)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "golden", "gceme-"+env.Name+".yaml")
			if *update {
				if err := os.WriteFile(golden, res.YAML(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./render -run TestExampleGolden -update)", err)
			}
			if diff := cmp.Diff(string(want), string(res.YAML())); diff != "" {
				t.Errorf("%s differs from the golden file (-want +got):\n%s", env.Name, diff)
			}
			gitRes, err := Render(t.Context(), fromGit, env)
			if err != nil {
				t.Fatal(err)
			}
			if gitRes.Digest != res.Digest {
				t.Errorf("render of the git commit has digest %s, of the folder %s", gitRes.Digest, res.Digest)
			}
		})
	}
}
