package render

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/sopstest"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// BenchmarkRender4000 renders a generated overlay of 4000 resources (ConfigMaps, Services,
// Deployments, ServiceAccounts, one file each, under an overlay that sets labels and an image
// tag) with ferry, and with kustomize build (krusty on disk) as the baseline in the same run.
// Compare the two ns/op figures; the target for ferry is under 1 s.
func BenchmarkRender4000(b *testing.B) {
	repo := b.TempDir()
	testutil.WriteGeneratedOverlay(b, repo, 4000)
	env := &environments.Environment{Name: "bench", Path: "env", Namespace: "bench", Prune: true}
	b.Run("ferry", func(b *testing.B) {
		fsys := os.DirFS(repo)
		for b.Loop() {
			res, err := Render(b.Context(), fsys, env)
			if err != nil {
				b.Fatal(err)
			}
			if len(res.Objects) != 4000 {
				b.Fatalf("%d objects, want 4000", len(res.Objects))
			}
		}
	})
	b.Run("kustomize-build", func(b *testing.B) {
		for b.Loop() {
			if _, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(repo, "env")); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkRenderSecrets100 renders an overlay of 100 Secret manifests, each a file of its
// own, in plain text and SOPS-encrypted (age, encrypted_regex ^(data|stringData)$), in the
// same run: the difference between the two ns/op figures is the cost of decryption.
func BenchmarkRenderSecrets100(b *testing.B) {
	id := sopstest.NewIdentity(b)
	keys, err := ParseAgeKeys(sopstest.KeyFile(id))
	must(b, err)
	plain, encrypted := fstest.MapFS{}, fstest.MapFS{}
	var kust strings.Builder
	kust.WriteString("resources:\n")
	for i := range 100 {
		name := fmt.Sprintf("secret-%03d.yaml", i)
		fmt.Fprintf(&kust, "- %s\n", name)
		doc := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s%03d\nstringData:\n  user: app\n  password: value-%03d\n", i, i)
		plain["env/"+name] = &fstest.MapFile{Data: []byte(doc)}
		encrypted["env/"+name] = &fstest.MapFile{Data: sopstest.EncryptWith(b, []byte(doc), "yaml",
			sopstest.Options{EncryptedRegex: "^(data|stringData)$"}, id.Recipient)}
	}
	plain["env/kustomization.yaml"] = &fstest.MapFile{Data: []byte(kust.String())}
	encrypted["env/kustomization.yaml"] = plain["env/kustomization.yaml"]
	env := &environments.Environment{Name: "bench", Path: "env", Namespace: "bench", Prune: true,
		Decryption: &environments.Decryption{Provider: environments.DecryptionSOPS}}
	opts := DefaultOptions()
	opts.AgeKeys = func() (AgeKeys, error) { return keys, nil }
	r := New(opts)
	for name, fsys := range map[string]fstest.MapFS{"plain": plain, "sops": encrypted} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				res, err := r.Render(b.Context(), fsys, env)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Objects) != 100 {
					b.Fatalf("%d objects, want 100", len(res.Objects))
				}
			}
		})
	}
}
