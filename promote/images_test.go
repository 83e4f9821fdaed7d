package promote

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

const gceme = "gcr.io/cloud-solutions-images/gceme"

// TestSetImagesGolden edits each testdata/edit/NAME.in.yaml and compares with NAME.want.yaml:
// only tag and digest values (or an added entry) may differ from the input.
func TestSetImagesGolden(t *testing.T) {
	digest := "sha256:" + strings.Repeat("2", 64)
	cases := []struct {
		name        string
		set         []Image
		wantChanges []Change
	}{
		{"newtag", []Image{{Name: gceme, NewTag: "1.2.0"}}, []Change{{Image: gceme, Old: "1.0.0", New: "1.2.0"}}},
		{"digest", []Image{{Name: gceme, Digest: digest}, {Name: "redis", NewTag: "7.4"}},
			[]Change{{Image: gceme, Old: "@sha256:" + strings.Repeat("1", 64), New: "@" + digest}, {Image: "redis", Old: "7.2", New: "7.4"}}},
		{"missing", []Image{{Name: gceme, NewTag: "1.2.0"}}, []Change{{Image: gceme, New: "1.2.0"}}},
		{"noimages", []Image{{Name: gceme, NewTag: "1.2.0"}}, []Change{{Image: gceme, New: "1.2.0"}}},
		{"tagtodigest", []Image{{Name: gceme, Digest: digest}}, []Change{{Image: gceme, Old: "1.0.0", New: "@" + digest}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "edit", c.name+".in.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			got, changes, err := SetImages(in, c.set)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.wantChanges, changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			golden := filepath.Join("testdata", "edit", c.name+".want.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("edited file (-want +got):\n%s", diff)
			}
			assertOnlyPinsChanged(t, string(in), string(got))
			again, more, err := SetImages(got, c.set)
			if err != nil || string(again) != string(got) || len(more) != 0 {
				t.Errorf("a second edit is not a no-op: %d changes, %v", len(more), err)
			}
			if imgs, err := ReadImages(got); err != nil || len(imgs) == 0 {
				t.Errorf("edited file does not parse: %v", err)
			}
		})
	}
}

// assertOnlyPinsChanged checks that every input line is kept byte for byte unless it holds a
// newTag or digest value.
func assertOnlyPinsChanged(t *testing.T, in, out string) {
	t.Helper()
	kept := map[string]int{}
	for _, l := range strings.Split(out, "\n") {
		kept[l]++
	}
	for _, l := range strings.Split(in, "\n") {
		if strings.Contains(l, "newTag:") || strings.Contains(l, "digest:") {
			continue
		}
		if kept[l] == 0 {
			t.Errorf("input line lost or changed: %q", l)
		}
		kept[l]--
	}
}
