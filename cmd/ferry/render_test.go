package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/internal/sopstest"
	"github.com/ferry-cd/ferry/internal/testutil"
)

func TestValidateExample(t *testing.T) {
	res := runFerry(t, t.Context(), "validate", "--repo", "../../examples/gceme")
	if res.code != 0 {
		t.Fatalf("ferry validate exited %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, env := range []string{"staging", "production"} {
		if !strings.Contains(res.stdout, "ok "+env+" ") || !strings.Contains(res.stdout, "objects sha256:") {
			t.Errorf("ferry validate output lacks an ok line for %s:\n%s", env, res.stdout)
		}
	}
}

// TestRenderMatchesGolden checks that `ferry render` prints exactly the render package's golden
// output: the CLI adds nothing and loses nothing.
func TestRenderMatchesGolden(t *testing.T) {
	res := runFerry(t, t.Context(), "render", "production", "--repo", "../../examples/gceme")
	if res.code != 0 {
		t.Fatalf("ferry render exited %d: %s", res.code, res.stderr)
	}
	want, err := os.ReadFile("../../render/testdata/golden/gceme-production.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if res.stdout != string(want) {
		t.Errorf("ferry render production differs from render/testdata/golden/gceme-production.yaml")
	}
}

// Bounds the issue sets for every bad input: refused with exit 1 within 5 s and 512 MiB. They
// are ceilings on a process that must fail fast, not performance targets: a correct refusal
// takes milliseconds, an unguarded alias bomb or 100 MiB read takes far longer or far more.
const (
	badInputWall = 5 * time.Second
	badInputRSS  = 512 << 20
)

// writeZeros writes a file of size zero bytes in chunks, keeping this process small: a child's
// peak RSS as Linux reports it includes the parent's at the moment of the fork.
func writeZeros(t *testing.T, path string, size int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for written := 0; written < size; written += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBadInputsExitOneFast runs `ferry render` on every case of render/testdata/bad in a child
// process and checks its exit code, its error naming the file, its wall time and its peak RSS.
func TestBadInputsExitOneFast(t *testing.T) {
	cases, err := os.ReadDir("../../render/testdata/bad")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			src := filepath.Join("../../render/testdata/bad", c.Name())
			dir := testutil.CopyTree(t, src)
			repo := filepath.Join(dir, "repo")
			if c.Name() == "huge-file" {
				writeZeros(t, filepath.Join(repo, "env", "huge.yaml"), 100<<20)
			}
			ferryYAML := "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n- name: app\n  path: env\n  namespace: app\n"
			if err := os.WriteFile(filepath.Join(repo, "ferry.yaml"), []byte(ferryYAML), 0o644); err != nil {
				t.Fatal(err)
			}
			res := runFerry(t, t.Context(), "render", "app", "--repo", repo)
			if res.code != 1 {
				t.Fatalf("exit code %d, want 1; stderr:\n%s", res.code, res.stderr)
			}
			if !strings.Contains(res.stderr, "env/kustomization.yaml") && !strings.Contains(res.stderr, "ferry: env:") {
				t.Errorf("error does not name the overlay file:\n%s", res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("a refused render printed objects:\n%s", res.stdout)
			}
			// maxRSS is an upper bound: it includes this test process's RSS at the fork.
			if res.wall > badInputWall || res.maxRSS > badInputRSS {
				t.Errorf("took %s and %d MiB, want at most %s and %d MiB", res.wall, res.maxRSS>>20, badInputWall, badInputRSS>>20)
			}
			t.Logf("refused in %s with %d MiB peak RSS: %s", res.wall.Round(time.Millisecond), res.maxRSS>>20, strings.TrimSpace(res.stderr))
		})
	}
}

// TestRenderMasksSecrets checks that `ferry render` prints a Secret's keys with its values as
// "***" (a plain Secret, a generated one and a sops-encrypted one, decrypted) and says so on
// stderr, and prints the values with --show-secrets.
func TestRenderMasksSecrets(t *testing.T) {
	const value, sopsValue = "render-canary-value-4711", "render-sops-value-4712"
	key := sopstest.NewIdentity(t)
	t.Setenv("SOPS_AGE_KEY", key.Secret)
	encrypted := sopstest.EncryptWith(t, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: sops\nstringData:\n  api-key: "+sopsValue+"\n"),
		"yaml", sopstest.Options{EncryptedRegex: "^(data|stringData)$"}, key.Recipient)
	repo := t.TempDir()
	for p, content := range map[string]string{
		"ferry.yaml":             "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n- name: app\n  path: env\n  namespace: app\n  decryption: {provider: sops}\n",
		"env/kustomization.yaml": "resources:\n- secret.yaml\n- sops.yaml\nsecretGenerator:\n- name: generated\n  literals:\n  - token=" + value + "\n",
		"env/secret.yaml":        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: " + value + "\n",
		"env/sops.yaml":          string(encrypted),
	} {
		if err := os.MkdirAll(filepath.Join(repo, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res := runFerry(t, t.Context(), "render", "app", "--repo", repo)
	if res.code != 0 {
		t.Fatalf("ferry render exited %d: %s", res.code, res.stderr)
	}
	for _, want := range []string{"password: '***'", "token: '***'", "api-key: '***'", "name: db"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("ferry render lacks %q:\n%s", want, res.stdout)
		}
	}
	if !strings.Contains(res.stderr, secretsMaskedNote) {
		t.Errorf("ferry render does not say it masked values on stderr:\n%s", res.stderr)
	}
	assertNoSecret(t, res, value)
	assertNoSecret(t, res, sopsValue)

	res = runFerry(t, t.Context(), "render", "app", "--repo", repo, "--show-secrets")
	if res.code != 0 || !strings.Contains(res.stdout, "password: "+value) || !strings.Contains(res.stdout, "api-key: "+sopsValue) ||
		strings.Contains(res.stderr, secretsMaskedNote) {
		t.Errorf("ferry render --show-secrets: exit %d, want the value and no note:\n%s%s", res.code, res.stdout, res.stderr)
	}
}
