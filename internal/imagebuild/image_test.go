package imagebuild

import (
	"archive/tar"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

var testCreated = time.Date(2026, 11, 30, 2, 54, 33, 0, time.UTC)

func testImage() Image {
	return Image{
		Repository: "ghcr.io/ferry-cd/ferry",
		Version:    "v1.2.3",
		Commit:     "0123456789abcdef0123456789abcdef01234567",
		Source:     "https://github.com/ferry-cd/ferry",
		Created:    testCreated,
		Arch:       "amd64",
	}
}

// header is what a test compares of one tar entry.
type header struct {
	Name     string
	Type     byte
	Mode     int64
	Uid, Gid int
	Uname    string
	ModTime  time.Time
	Size     int64
}

func readHeaders(t *testing.T, r io.Reader) []header {
	t.Helper()
	var got []header
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, header{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.Uname, h.ModTime.UTC(), h.Size})
	}
}

func TestTarLayerSortsEntriesAndFixesTheirMetadata(t *testing.T) {
	layer, err := tarLayer([]entry{
		{name: "etc/passwd", mode: 0o644, body: []byte("x\n")},
		{name: "tmp", dir: true, mode: 0o1777},
		{name: "etc", dir: true, mode: 0o755},
		{name: "home/nonroot", dir: true, mode: 0o700, uid: 65532, gid: 65532},
	}, testCreated)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layer.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := []header{
		{"etc/", tar.TypeDir, 0o755, 0, 0, "", testCreated, 0},
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0, "", testCreated, 2},
		{"home/nonroot/", tar.TypeDir, 0o700, 65532, 65532, "", testCreated, 0},
		{"tmp/", tar.TypeDir, 0o1777, 0, 0, "", testCreated, 0},
	}
	if diff := cmp.Diff(want, readHeaders(t, rc)); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
}

func TestTarLayerRefusesPathsThatAreNotCleanAndRelative(t *testing.T) {
	for _, name := range []string{"", "/etc/passwd", "etc/../passwd", "etc/", "./ferry"} {
		_, err := tarLayer([]entry{{name: name, mode: 0o644}}, testCreated)
		if err == nil || !strings.Contains(err.Error(), "not a clean relative path") {
			t.Errorf("tarLayer(%q): err = %v, want it refused", name, err)
		}
	}
}

func TestAssembleConfigRunsFerryAsNonRoot(t *testing.T) {
	img, err := Assemble(testImage(), []byte("binary"), []byte("certs"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := v1.Config{
		User:       "65532:65532",
		Entrypoint: []string{"/ferry"},
		WorkingDir: "/home/nonroot",
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/nonroot"},
		Labels: map[string]string{
			"org.opencontainers.image.source":   "https://github.com/ferry-cd/ferry",
			"org.opencontainers.image.version":  "v1.2.3",
			"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
			"org.opencontainers.image.title":    "ferry",
		},
	}
	if diff := cmp.Diff(want, cfg.Config); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" || !cfg.Created.Time.Equal(testCreated) {
		t.Errorf("platform %s/%s created %s, want linux/amd64 created %s", cfg.OS, cfg.Architecture, cfg.Created, testCreated)
	}
	if len(cfg.RootFS.DiffIDs) != 2 || len(cfg.History) != 2 {
		t.Fatalf("%d layers, %d history entries, want 2 and 2", len(cfg.RootFS.DiffIDs), len(cfg.History))
	}
	for _, h := range cfg.History {
		if !h.Created.Time.Equal(testCreated) {
			t.Errorf("history %q created %s, want %s", h.CreatedBy, h.Created, testCreated)
		}
	}
}

func TestAssembleOmitsTheRevisionLabelWithoutACommit(t *testing.T) {
	m := testImage()
	m.Commit = ""
	img, err := Assemble(m, []byte("binary"), []byte("certs"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if rev, ok := cfg.Config.Labels["org.opencontainers.image.revision"]; ok {
		t.Errorf("revision label %q without a commit, want none", rev)
	}
}

func TestAssembleFilesystem(t *testing.T) {
	img, err := Assemble(testImage(), []byte("binary"), []byte("certs"))
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	want := []header{
		{"etc", tar.TypeDir, 0o755, 0, 0, "", testCreated, 0},
		{"etc/group", tar.TypeReg, 0o644, 0, 0, "", testCreated, int64(len(group))},
		{"etc/passwd", tar.TypeReg, 0o644, 0, 0, "", testCreated, int64(len(passwd))},
		{"etc/ssl", tar.TypeDir, 0o755, 0, 0, "", testCreated, 0},
		{"etc/ssl/certs", tar.TypeDir, 0o755, 0, 0, "", testCreated, 0},
		{"etc/ssl/certs/ca-certificates.crt", tar.TypeReg, 0o644, 0, 0, "", testCreated, 5},
		{"home", tar.TypeDir, 0o755, 0, 0, "", testCreated, 0},
		{"home/nonroot", tar.TypeDir, 0o700, 65532, 65532, "", testCreated, 0},
		{"tmp", tar.TypeDir, 0o1777, 0, 0, "", testCreated, 0},
		{"ferry", tar.TypeReg, 0o755, 0, 0, "", testCreated, 6},
	}
	got := readHeaders(t, rc)
	// mutate.Extract lists the top layer (the binary) first, and names without a trailing slash.
	if diff := cmp.Diff(want, append(got[1:], got[0])); diff != "" {
		t.Errorf("image files (-want +got):\n%s", diff)
	}
}

func TestAssembleDigestDependsOnlyOnItsInputs(t *testing.T) {
	digest := func(m Image, binary string) v1.Hash {
		t.Helper()
		img, err := Assemble(m, []byte(binary), []byte("certs"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := digest(testImage(), "binary")
	if again := digest(testImage(), "binary"); again != base {
		t.Errorf("same inputs: digest %s, then %s", base, again)
	}
	later := testImage()
	later.Created = testCreated.Add(time.Second)
	otherVersion := testImage()
	otherVersion.Version = "v1.2.4"
	for name, d := range map[string]v1.Hash{
		"created":    digest(later, "binary"),
		"version":    digest(otherVersion, "binary"),
		"binary":     digest(testImage(), "binary2"),
		"sub-second": digest(func() Image { m := testImage(); m.Created = testCreated.Add(time.Millisecond); return m }(), "binary"),
	} {
		if name == "sub-second" {
			if d != base {
				t.Errorf("created differing by a millisecond: digest %s, want %s (timestamps are whole seconds)", d, base)
			}
			continue
		}
		if d == base {
			t.Errorf("another %s gave the same digest %s", name, d)
		}
	}
}

func TestTagNeedsAValidVersion(t *testing.T) {
	for version, ok := range map[string]bool{
		"v0.1.0":                 true,
		"edcfe5f-dirty":          true,
		"v0.1.0-3-gedcfe5f":      true,
		"v0.1.0+build":           false,
		"-x":                     false,
		"":                       false,
		strings.Repeat("a", 129): false,
	} {
		m := testImage()
		m.Version = version
		tag, err := m.Tag()
		if ok && (err != nil || tag.String() != "ghcr.io/ferry-cd/ferry:"+version) {
			t.Errorf("Tag() with version %q = %q, %v; want ghcr.io/ferry-cd/ferry:%s", version, tag, err, version)
		}
		if !ok && err == nil {
			t.Errorf("Tag() with version %q = %q, want an error", version, tag)
		}
	}
}
