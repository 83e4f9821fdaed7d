package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestBuildImage builds the image as `make image` does (go build of ./cmd/ferry included, about
// a minute each), reads the tarball back as crane and docker load do, runs the binary from its
// layer, and builds again to check that the digest is the same.
func TestBuildImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	opts := DefaultOptions()
	opts.ModuleDir = "../.."
	opts.Version = "v0.0.0-imagetest"
	opts.Commit = "0123456789abcdef0123456789abcdef01234567"
	opts.Created = testCreated
	opts.Output = filepath.Join(t.TempDir(), "first", "ferry-image.tar")
	first, err := Build(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: digest %s, %d bytes", first.Tag, first.Digest, first.Size)

	img := loadTarball(t, opts.Output, first)
	checkConfig(t, img, opts.Image)
	root := unpack(t, img)
	checkFiles(t, root, opts.CACerts)
	runVersion(t, ctx, exec.CommandContext(ctx, filepath.Join(root, BinaryPath), "version"), opts.Image)
	t.Run("in the image's root as 65532", func(t *testing.T) { runInRoot(t, ctx, root, opts.Image) })

	again := opts
	again.Output = filepath.Join(t.TempDir(), "second", "ferry-image.tar")
	second, err := Build(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("a second build of the same source differs (-first +second):\n%s", diff)
	}
	a, b := readFile(t, opts.Output), readFile(t, again.Output)
	if !bytes.Equal(a, b) {
		t.Errorf("the two tarballs differ in their bytes (%d and %d)", len(a), len(b))
	}
}

// loadTarball reads the tarball as `crane push` does and its manifest.json as `docker load`
// does, and checks the tag and the digest Build reported.
func loadTarball(t *testing.T, path string, res Result) v1.Image {
	t.Helper()
	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatalf("%s: manifest.json: %v", path, err)
	}
	if len(manifest) != 1 || !cmp.Equal(manifest[0].RepoTags, []string{"ghcr.io/ferry-cd/ferry:v0.0.0-imagetest"}) {
		t.Fatalf("%s: manifest.json %+v, want one image tagged ghcr.io/ferry-cd/ferry:v0.0.0-imagetest", path, manifest)
	}
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	digest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	id, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if digest != res.Digest || id != res.ImageID {
		t.Errorf("read back: digest %s, image ID %s; Build reported %s and %s", digest, id, res.Digest, res.ImageID)
	}
	return img
}

func checkConfig(t *testing.T, img v1.Image, want Image) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (never root)", c.User)
	}
	if !cmp.Equal(c.Entrypoint, []string{"/ferry"}) || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want [/ferry] and none", c.Entrypoint, c.Cmd)
	}
	for key, value := range map[string]string{
		"org.opencontainers.image.source":   "https://github.com/ferry-cd/ferry",
		"org.opencontainers.image.version":  want.Version,
		"org.opencontainers.image.revision": want.Commit,
	} {
		if c.Labels[key] != value {
			t.Errorf("label %s = %q, want %q", key, c.Labels[key], value)
		}
	}
	if !cfg.Created.Time.Equal(testCreated) || cfg.OS != "linux" || cfg.Architecture != want.Arch {
		t.Errorf("%s/%s created %s, want linux/%s created %s", cfg.OS, cfg.Architecture, cfg.Created, want.Arch, testCreated)
	}
}

// unpack writes the image's flattened filesystem (regular files and directories; the image
// has nothing else) into a new directory and returns it.
func unpack(t *testing.T, img v1.Image) string {
	t.Helper()
	root := t.TempDir()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return root
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := unpackEntry(root, h, tr); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
	}
}

func unpackEntry(root string, h *tar.Header, r io.Reader) error {
	dst := filepath.Join(root, filepath.FromSlash(h.Name))
	mode := fs.FileMode(h.Mode).Perm()
	switch h.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return err
		}
		if h.Mode&0o1000 != 0 {
			mode |= fs.ModeSticky
		}
		return os.Chmod(dst, mode)
	case tar.TypeReg:
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	default:
		return fmt.Errorf("type %q: the image should hold only files and directories", h.Typeflag)
	}
}

func checkFiles(t *testing.T, root, caCerts string) {
	t.Helper()
	fi, err := os.Stat(filepath.Join(root, BinaryPath))
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
		t.Errorf("/ferry: %v, %v; want a regular file with mode 0755", fi, err)
	}
	passwd := string(readFile(t, filepath.Join(root, "etc/passwd")))
	if !strings.Contains(passwd, "\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", passwd)
	}
	if g := string(readFile(t, filepath.Join(root, "etc/group"))); !strings.Contains(g, "\nnonroot:x:65532:\n") {
		t.Errorf("/etc/group has no nonroot group 65532:\n%s", g)
	}
	certs := readFile(t, filepath.Join(root, CACertsPath))
	if !bytes.Equal(certs, readFile(t, caCerts)) || !x509.NewCertPool().AppendCertsFromPEM(certs) {
		t.Errorf("/%s: not the %d bytes of certificates of %s", CACertsPath, len(certs), caCerts)
	}
	if _, err := os.Stat(filepath.Join(root, "bin/sh")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/bin/sh: %v, want no shell in the image", err)
	}
}

func runVersion(t *testing.T, ctx context.Context, cmd *exec.Cmd, want Image) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ferry version: %v\n%s", err, out)
	}
	for _, line := range []string{"ferry " + want.Version + "\n", "commit: " + want.Commit + "\n", "go: go"} {
		if !strings.Contains(string(out), line) {
			t.Errorf("ferry version printed\n%s\nwant a line %q", out, line)
		}
	}
}

// runInRoot runs /ferry with the unpacked image as its root directory and 65532 as its user, in
// a user namespace that maps 65532 to the test's own user: it sees nothing of the host's
// files, so `ferry validate` of a schedule with CRON_TZ shows that the image needs no zoneinfo.
func runInRoot(t *testing.T, ctx context.Context, root string, want Image) {
	repo := filepath.Join(root, HomeDir, "config")
	if err := os.CopyFS(repo, os.DirFS("testdata/config")); err != nil {
		t.Fatal(err)
	}
	command := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "/"+BinaryPath, args...)
		cmd.Dir = "/" + HomeDir
		cmd.Env = []string{"HOME=/" + HomeDir}
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: NonRoot, HostID: os.Getuid(), Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: NonRoot, HostID: os.Getgid(), Size: 1}},
			Chroot:      root,
			Credential:  &syscall.Credential{Uid: NonRoot, Gid: NonRoot, NoSetGroups: true},
		}
		return cmd
	}
	out, err := command("version").CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS)) {
		t.Skipf("this machine allows no user namespace with chroot (%v): the image's binary ran only on the host's root", err)
	}
	if err != nil || !strings.HasPrefix(string(out), "ferry "+want.Version+"\n") {
		t.Fatalf("ferry version in the image's root: %v\n%s", err, out)
	}
	out, err = command("validate", "--repo", "config").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok staging 1 objects ") {
		t.Errorf("ferry validate of a CRON_TZ schedule in the image's root: %v\n%s", err, out)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
