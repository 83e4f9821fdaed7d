// Package imagebuild builds ferry's OCI image without a container engine: the static binary
// and the few files it needs (passwd and group naming the non-root user, CA certificates) on
// an empty base, written as a `docker save` tarball that `docker load`, `podman load` and
// `crane push` read. The same inputs give the same image digest: every timestamp is the one
// given, tar entries are sorted and carry fixed owners and modes.
package imagebuild

import (
	"fmt"
	"regexp"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Image says what goes into the image besides the binary: its name, version and where it
// comes from.
type Image struct {
	// Repository is the image's name without a tag, e.g. ghcr.io/ferry-cd/ferry.
	Repository string
	// Version is ferry's version: the image's tag and its org.opencontainers.image.version.
	Version string
	// Commit is the source commit: org.opencontainers.image.revision (omitted when empty).
	Commit string
	// Source is the source repository's URL: org.opencontainers.image.source.
	Source string
	// Created is every timestamp in the image: the config's, the history's and each file's.
	Created time.Time
	// Arch is the GOARCH the binary was built for (the image's architecture); the OS is linux.
	Arch string
}

// Paths inside the image.
const (
	BinaryPath  = "ferry"
	CACertsPath = "etc/ssl/certs/ca-certificates.crt"
	HomeDir     = "home/nonroot"
)

// validTag is the distribution spec's tag grammar.
var validTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Tag returns the image's repository:tag. It returns an error when the version is not a valid
// tag (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-').
func (m Image) Tag() (name.Tag, error) {
	// go-containerregistry accepts a leading '.' or '-', which docker refuses.
	if !validTag.MatchString(m.Version) {
		return name.Tag{}, fmt.Errorf("image %s, version %q: not a valid tag (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')", m.Repository, m.Version)
	}
	tag, err := name.NewTag(m.Repository+":"+m.Version, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image %s, version %q: %w", m.Repository, m.Version, err)
	}
	return tag, nil
}

// Assemble returns the image: a layer of base files (passwd, group, CA certificates, the
// home and /tmp directories) and a layer with the binary at /ferry, under a config that runs
// /ferry as 65532:65532. It returns an error when a layer cannot be built.
func Assemble(m Image, binary, caCerts []byte) (v1.Image, error) {
	created := m.Created.UTC().Truncate(time.Second)
	base, err := tarLayer(baseEntries(caCerts), created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	bin, err := tarLayer([]entry{{name: BinaryPath, mode: 0o755, body: binary}}, created)
	if err != nil {
		return nil, fmt.Errorf("binary layer: %w", err)
	}
	// Docker's media types (empty.Image's): a `docker save` tarball keeps no manifest, and
	// crane, docker and podman rebuild a Docker v2 one from it, so this manifest is the one a
	// registry receives and Digest is the digest it shows.
	img, err := mutate.ConfigFile(empty.Image, configFile(m, created))
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, History: history(created, "passwd, group (nonroot 65532), CA certificates, /home/nonroot, /tmp")},
		mutate.Addendum{Layer: bin, History: history(created, "/ferry: static ferry "+m.Version)},
	)
}

// configFile is the image's config without its layers (mutate.Append adds them).
func configFile(m Image, created time.Time) *v1.ConfigFile {
	labels := map[string]string{
		"org.opencontainers.image.source":  m.Source,
		"org.opencontainers.image.version": m.Version,
		"org.opencontainers.image.title":   "ferry",
	}
	if m.Commit != "" {
		labels["org.opencontainers.image.revision"] = m.Commit
	}
	return &v1.ConfigFile{
		Architecture: m.Arch,
		OS:           "linux",
		Created:      v1.Time{Time: created},
		Config: v1.Config{
			User:       fmt.Sprintf("%d:%d", NonRoot, NonRoot),
			Entrypoint: []string{"/" + BinaryPath},
			WorkingDir: "/" + HomeDir,
			// Go reads /etc/ssl/certs/ca-certificates.crt first of its own accord, so no
			// SSL_CERT_FILE; ferry starts no other program, PATH is the usual one for tools
			// that expect it.
			Env:    []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/" + HomeDir},
			Labels: labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
}

func history(created time.Time, what string) v1.History {
	return v1.History{Created: v1.Time{Time: created}, CreatedBy: "ferry imagebuild: " + what}
}

// baseEntries are the files a static Go binary needs to run as a named non-root user.
func baseEntries(caCerts []byte) []entry {
	dirs := []string{"etc", "etc/ssl", "etc/ssl/certs", "home"}
	entries := make([]entry, 0, len(dirs)+6)
	for _, d := range dirs {
		entries = append(entries, entry{name: d, dir: true, mode: 0o755})
	}
	return append(entries,
		entry{name: "etc/passwd", mode: 0o644, body: []byte(passwd)},
		entry{name: "etc/group", mode: 0o644, body: []byte(group)},
		entry{name: CACertsPath, mode: 0o644, body: caCerts},
		entry{name: HomeDir, dir: true, mode: 0o700, uid: NonRoot, gid: NonRoot},
		// Sticky and writable by all, as /tmp is everywhere; the install mounts an emptyDir
		// here because the root filesystem is read-only.
		entry{name: "tmp", dir: true, mode: 0o1777},
	)
}

// passwd and group name root, nobody and nonroot, as distroless' static image does.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"
)
