package render

import (
	"io/fs"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// inputsRepo is an overlay env on a base, beside a folder the overlay never reads.
var inputsRepo = map[string]string{
	"env/kustomization.yaml":   "resources:\n- ../base\n- cm.yaml\n",
	"env/cm.yaml":              "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: env-settings\ndata:\n  a: \"1\"\n",
	"base/kustomization.yaml":  "resources:\n- deploy.yaml\n",
	"base/deploy.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: base-settings\ndata:\n  b: \"2\"\n",
	"other/kustomization.yaml": "resources:\n- x.yaml\n",
	"other/x.yaml":             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
}

// gitTree commits files into a new git repository and returns the commit's tree as the agent
// reads it. Equal contents have equal hashes in any repository, so trees of separate
// repositories stand for revisions of one.
func gitTree(t *testing.T, files map[string]string) fs.FS {
	t.Helper()
	return testutil.CommitFS(t, writeFiles(t, files))
}

// writeFiles writes files (a value "-> TARGET" makes a symlink) into a new folder.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, files)
	return dir
}

// edit returns a copy of files with changes applied: a value "" removes the file.
func edit(files map[string]string, changes map[string]string) map[string]string {
	out := maps.Clone(files)
	for name, content := range changes {
		if content == "" {
			delete(out, name)
		} else {
			out[name] = content
		}
	}
	return out
}

func inputsEnv() *environments.Environment {
	return &environments.Environment{Name: "env", Path: "env", Namespace: "env", Prune: true}
}

// TestRenderRecordsItsInputs checks what a render records: the files it read, the
// kustomization names kustomize probed that do not exist, the folders it looked through, and
// nothing of a folder it never read.
func TestRenderRecordsItsInputs(t *testing.T) {
	res, err := Render(t.Context(), gitTree(t, inputsRepo), inputsEnv())
	if err != nil {
		t.Fatal(err)
	}
	if res.Inputs == nil {
		t.Fatal("a render of a git tree recorded no inputs")
	}
	got := map[string]input{}
	for _, in := range res.Inputs.entries {
		got[in.path] = in
	}
	for _, c := range []struct {
		path string
		kind entryKind
		use  use // at least these
	}{
		{"", folder, looked},
		{"env", folder, looked},
		{"env/kustomization.yaml", file, read},
		{"env/kustomization.yml", missing, looked},
		{"env/Kustomization", missing, looked},
		{"env/cm.yaml", file, read},
		{"base/kustomization.yaml", file, read},
		{"base/kustomization.yml", missing, looked},
		{"base/deploy.yaml", file, read},
	} {
		in, ok := got[c.path]
		if !ok {
			t.Errorf("%q not recorded", c.path)
			continue
		}
		if in.kind != c.kind || in.use&c.use != c.use || (c.kind == missing) != (in.hash == "") {
			t.Errorf("%q: kind %d, use %b, hash %q; want kind %d, use %b", c.path, in.kind, in.use, in.hash, c.kind, c.use)
		}
	}
	for path := range got {
		if strings.HasPrefix(path, "other") {
			t.Errorf("%q recorded, but the overlay never reads other/", path)
		}
	}

	fromDisk, err := Render(t.Context(), os.DirFS(writeFiles(t, inputsRepo)), inputsEnv())
	if err != nil {
		t.Fatal(err)
	}
	if fromDisk.Inputs != nil {
		t.Error("a render of a folder on disk recorded inputs: it cannot tell their hashes")
	}
}

// TestInputsChanged checks, for commits of several kinds, whether a render's inputs changed,
// and, where they did not, that rendering the new tree gives the same output (the reuse is
// sound).
func TestInputsChanged(t *testing.T) {
	res, err := Render(t.Context(), gitTree(t, inputsRepo), inputsEnv())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		changes map[string]string
		want    string // the changed path; "" when nothing the render read changed
		changed bool
	}{
		{name: "the same tree", changes: nil},
		{name: "a folder the render never read", changes: map[string]string{"other/x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n"}},
		{name: "a file added beside read ones, never read", changes: map[string]string{"env/README.md": "notes\n", "base/notes.txt": "x\n"}},
		{name: "a read file's content", changes: map[string]string{"base/deploy.yaml": strings.Replace(inputsRepo["base/deploy.yaml"], `"2"`, `"3"`, 1)},
			want: "base/deploy.yaml", changed: true},
		{name: "a probed kustomization.yml now exists", changes: map[string]string{"env/kustomization.yml": inputsRepo["env/kustomization.yaml"]},
			want: "env/kustomization.yml", changed: true},
		{name: "a probed Kustomization now exists in the base", changes: map[string]string{"base/Kustomization": inputsRepo["base/kustomization.yaml"]},
			want: "base/Kustomization", changed: true},
		{name: "a read file removed", changes: map[string]string{"env/cm.yaml": ""},
			want: "env/cm.yaml", changed: true},
		{name: "a read file replaced by a symlink to the same content", changes: map[string]string{"env/cm.yaml": "-> ../other/cm.yaml", "other/cm.yaml": inputsRepo["env/cm.yaml"]},
			want: "env/cm.yaml", changed: true},
		{name: "a read folder replaced by a file", changes: map[string]string{"base/kustomization.yaml": "", "base/deploy.yaml": "", "base": "not a folder\n"},
			want: "base", changed: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			next := gitTree(t, edit(inputsRepo, c.changes))
			path, changed := res.Inputs.Changed(next)
			if diff := cmp.Diff(struct {
				Path    string
				Changed bool
			}{c.want, c.changed}, struct {
				Path    string
				Changed bool
			}{path, changed}); diff != "" {
				t.Errorf("Changed (-want +got):\n%s", diff)
			}
			if changed {
				return
			}
			again, err := Render(t.Context(), next, inputsEnv())
			if err != nil {
				t.Fatal(err)
			}
			if again.Digest != res.Digest {
				t.Errorf("inputs unchanged, but the new tree renders %s, not %s", again.Digest, res.Digest)
			}
		})
	}
	if _, changed := (*Inputs)(nil).Changed(gitTree(t, inputsRepo)); !changed {
		t.Error("nil Inputs (a render that recorded none) reported unchanged")
	}
	if _, changed := res.Inputs.Changed(os.DirFS(t.TempDir())); !changed {
		t.Error("a view that cannot tell hashes reported unchanged")
	}
}

// TestInputsOfAListedFolder checks a folder whose names a render listed: a name added there
// is a change, a new content of a file in it that was not read is not.
func TestInputsOfAListedFolder(t *testing.T) {
	files := map[string]string{"dir/a.yaml": "a\n", "dir/b.yaml": "b\n"}
	tr := newTree(t.Context(), gitTree(t, files), DefaultLimits())
	names, err := tr.readDir("dir")
	if err != nil || len(names) != 2 {
		t.Fatalf("readDir: %v, %v", names, err)
	}
	in := tr.inputs()
	if in == nil || len(in.entries) != 2 || in.entries[1].path != "dir" || in.entries[1].use&listed == 0 || in.entries[1].names == "" {
		t.Fatalf("inputs after listing dir: %+v", in)
	}
	for _, c := range []struct {
		name    string
		changes map[string]string
		changed bool
	}{
		{"a listed file's content, never read", map[string]string{"dir/a.yaml": "changed\n"}, false},
		{"a name added", map[string]string{"dir/c.yaml": "c\n"}, true},
		{"a name removed", map[string]string{"dir/b.yaml": ""}, true},
	} {
		path, changed := in.Changed(gitTree(t, edit(files, c.changes)))
		if changed != c.changed || changed && path != "dir" {
			t.Errorf("%s: Changed = %q, %v; want %v at dir", c.name, path, changed, c.changed)
		}
	}
}

// BenchmarkInputsChanged4000 measures the check the agent makes before reusing a render: the
// inputs of a render that read 4000 resource files (one folder, as WriteGeneratedOverlay
// writes them), checked against a commit that changed another folder (the base's tree is
// unchanged: skipped whole) and against one that added a file to the base folder (each of the
// 4000 inputs is looked up in the new tree; no file is read).
func BenchmarkInputsChanged4000(b *testing.B) {
	repo := b.TempDir()
	testutil.WriteGeneratedOverlay(b, repo, 4000)
	files := testutil.ReadTree(b, repo)
	tr := newTree(b.Context(), testutil.CommitFS(b, repo), DefaultLimits())
	for name := range files {
		if strings.HasPrefix(name, "base/") {
			if _, err := tr.readFile(name); err != nil {
				b.Fatal(err)
			}
		}
	}
	in := tr.inputs()
	for _, c := range []struct {
		name   string
		change map[string]string
	}{
		{"another-folder", map[string]string{"env/kustomization.yaml": files["env/kustomization.yaml"] + "# changed\n"}},
		{"same-folder", map[string]string{"base/notes.txt": "not a resource\n"}},
	} {
		next := commitBench(b, edit(files, c.change))
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if path, changed := in.Changed(next); changed {
					b.Fatalf("changed at %q", path)
				}
			}
		})
	}
}

func commitBench(b *testing.B, files map[string]string) fs.FS {
	b.Helper()
	dir := b.TempDir()
	testutil.WriteFiles(b, dir, files)
	return testutil.CommitFS(b, dir)
}
