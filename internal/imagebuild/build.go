package imagebuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Options say where the image's inputs are and where it goes.
type Options struct {
	Image
	// ModuleDir is ferry's module root, where ./cmd/ferry is built.
	ModuleDir string
	// CACerts is the CA bundle copied to /etc/ssl/certs/ca-certificates.crt.
	CACerts string
	// Go is the go command that builds the binary.
	Go string
	// Output is the tarball written.
	Output string
}

// DefaultOptions returns the options `make image` starts from: ghcr.io/ferry-cd/ferry, version
// "dev", the build machine's CA bundle, the go on PATH, the host's architecture, created at the
// Unix epoch, written to bin/ferry-image.tar.
func DefaultOptions() Options {
	return Options{
		Image: Image{
			Repository: "ghcr.io/ferry-cd/ferry",
			Version:    "dev",
			Source:     "https://github.com/ferry-cd/ferry",
			Created:    time.Unix(0, 0).UTC(),
			Arch:       runtime.GOARCH,
		},
		ModuleDir: ".",
		CACerts:   "/etc/ssl/certs/ca-certificates.crt",
		Go:        "go",
		Output:    "bin/ferry-image.tar",
	}
}

// Result describes the tarball written.
type Result struct {
	Tag string
	// Digest is the manifest's digest: the one a registry shows after `crane push`.
	Digest v1.Hash
	// ImageID is the config's digest: the image ID podman and docker's classic image store show.
	ImageID v1.Hash
	// Size is the tarball's size in bytes; Layers is the compressed layers' total.
	Size, Layers int64
}

// Build builds the static binary for opts.Arch, assembles the image around it and writes it
// with its tag to opts.Output. It returns an error naming the step that failed: the go build
// (with its output), the CA bundle, the tag or the tarball.
func Build(ctx context.Context, opts Options) (Result, error) {
	tag, err := opts.Tag()
	if err != nil {
		return Result{}, err
	}
	caCerts, err := os.ReadFile(opts.CACerts)
	if err != nil {
		return Result{}, fmt.Errorf("CA certificates: %w", err)
	}
	tmp, err := os.MkdirTemp("", "ferry-image-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(tmp)
	binPath := filepath.Join(tmp, "ferry")
	if err := buildBinary(ctx, opts, binPath); err != nil {
		return Result{}, err
	}
	binary, err := os.ReadFile(binPath)
	if err != nil {
		return Result{}, err
	}
	img, err := Assemble(opts.Image, binary, caCerts)
	if err != nil {
		return Result{}, err
	}
	if err := writeTarball(opts.Output, tag, img); err != nil {
		return Result{}, fmt.Errorf("%s: %w", opts.Output, err)
	}
	return describeImage(opts.Output, tag.String(), img)
}

// writeTarball writes the image beside path and renames it into place, so that path is
// either the whole new tarball or what it was before.
func writeTarball(path string, tag name.Tag, img v1.Image) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".ferry-image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if err := tarball.Write(tag, img, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// buildBinary runs go build of ./cmd/ferry as `make build` does, plus what makes the binary
// the same on every build of the same source: no VCS stamp (the commit comes in through
// -ldflags instead, and a stamp would differ between a clean and a dirty work tree of the same
// files), no symbol table or DWARF (-s -w: a third of the size; stack traces keep their names).
func buildBinary(ctx context.Context, opts Options, out string) error {
	pkg := "github.com/ferry-cd/ferry/internal/buildinfo"
	ldflags := fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Commit=%s", pkg, opts.Version, pkg, opts.Commit)
	cmd := exec.CommandContext(ctx, opts.Go, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", ldflags, "-o", out, "./cmd/ferry")
	cmd.Dir = opts.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+opts.Arch)
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/ferry: %w\n%s", err, strings.TrimSpace(string(output)))
	}
	return nil
}

func describeImage(path, tag string, img v1.Image) (Result, error) {
	res := Result{Tag: tag}
	var err error
	if res.Digest, err = img.Digest(); err != nil {
		return Result{}, err
	}
	if res.ImageID, err = img.ConfigName(); err != nil {
		return Result{}, err
	}
	layers, err := img.Layers()
	if err != nil {
		return Result{}, err
	}
	for _, l := range layers {
		size, err := l.Size()
		if err != nil {
			return Result{}, err
		}
		res.Layers += size
	}
	fi, err := os.Stat(path)
	if err != nil {
		return Result{}, err
	}
	res.Size = fi.Size()
	return res, nil
}
