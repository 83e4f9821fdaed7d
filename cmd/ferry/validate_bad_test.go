package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/internal/testutil"
)

// TestValidateRefusesBadFerryYAML runs `ferry validate` on examples/gceme with a ferry.yaml that
// is huge, names a promotion cycle, points an overlay outside the repository, gives two
// environments one namespace, or expands YAML aliases; each is refused with exit 1 and an error naming ferry.yaml (and the line where
// there is one), within the bounds of TestBadInputsExitOneFast.
func TestValidateRefusesBadFerryYAML(t *testing.T) {
	example, err := os.ReadFile("../../examples/gceme/ferry.yaml")
	if err != nil {
		t.Fatal(err)
	}
	good := string(example)
	replace := func(old, new string) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			if !strings.Contains(good, old) {
				t.Fatalf("examples/gceme/ferry.yaml lacks %q", old)
			}
			if err := os.WriteFile(path, []byte(strings.Replace(good, old, new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name  string
		write func(t *testing.T, path string)
		want  []string
	}{
		{"huge", func(t *testing.T, path string) {
			// A valid file padded past the limit with a comment: 64 MiB, never read whole.
			if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			line := "# " + strings.Repeat("x", 1021) + "\n"
			chunk := strings.Repeat(line, 1024)
			for range 64 {
				if _, err := f.WriteString(chunk); err != nil {
					t.Fatal(err)
				}
			}
		}, []string{"ferry.yaml: larger than the limit of 1048576 bytes"}},
		{"promotion cycle", replace("    prune: true ", "    promotion: {from: production}\n    prune: true "),
			[]string{"ferry.yaml:", "promotion cycle", "staging", "production"}},
		{"path with ..", replace("path: environments/production", "path: ../production"),
			[]string{"ferry.yaml:", "path", "../production"}},
		{"absolute path", replace("path: environments/production", "path: /etc"),
			[]string{"ferry.yaml:", "path", "/etc"}},
		// Two environments in one namespace: pruning one would delete the other's objects. Both
		// namespace fields are named, each as ferry.yaml:LINE:COL, and the fix is said.
		{"shared namespace", replace("    namespace: production\n", "    namespace: staging\n"),
			[]string{"ferry.yaml:19:16: environments[1].namespace:", `namespace "staging" is also environment "staging"'s, at ferry.yaml:12:16`,
				`give "staging" or "production" another namespace`}},
		{"aliases", replace("  - name: production\n", "  - &prod\n    name: production\n"),
			[]string{"ferry.yaml:", "anchors and aliases are not supported"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			repo := testutil.CopyTree(t, "../../examples/gceme")
			tc.write(t, filepath.Join(repo, "ferry.yaml"))
			res := runFerry(t, t.Context(), "validate", "--repo", repo)
			if res.code != 1 {
				t.Fatalf("exit code %d, want 1:\n%s%s", res.code, res.stdout, res.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("error lacks %q:\n%s", w, res.stderr)
				}
			}
			if res.wall > badInputWall || res.maxRSS > badInputRSS {
				t.Errorf("took %s and %d MiB, want at most %s and %d MiB", res.wall, res.maxRSS>>20, badInputWall, badInputRSS>>20)
			}
			t.Logf("refused in %s with %d MiB peak RSS: %s", res.wall.Round(time.Millisecond), res.maxRSS>>20, strings.TrimSpace(res.stderr))
		})
	}
}
