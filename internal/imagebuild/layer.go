package imagebuild

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NonRoot is the user and group the image runs as, distroless' "nonroot" (65532).
const NonRoot = 65532

// entry is one file or directory of a layer. Everything that goes into the tar header is here,
// so that a layer's bytes depend on nothing but its entries and the time given to tarLayer.
type entry struct {
	name     string // relative to /, without a leading or trailing slash
	dir      bool
	mode     int64
	uid, gid int
	body     []byte
}

// tarLayer returns the entries as one gzipped layer: sorted by name (a directory before
// what it holds), every timestamp set to mtime, owners and modes as given, no user or group
// names. It returns an error naming the entry that could not be written.
func tarLayer(entries []entry, mtime time.Time) (v1.Layer, error) {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range sorted {
		if err := writeEntry(tw, e, mtime); err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(
		func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
		tarball.WithMediaType(types.DockerLayer),
		tarball.WithCompressionLevel(compressionLevel),
		tarball.WithCompressedCaching,
	)
}

// compressionLevel is gzip's default. Measured on ferry's 94 MB binary layer: 28.3 MB in
// 10.5 s, where go-containerregistry's BestSpeed gives 32.4 MB (3.6 s) and BestCompression
// 28.1 MB (38 s).
const compressionLevel = 6

func writeEntry(tw *tar.Writer, e entry, mtime time.Time) error {
	if e.name == "" || path.Clean(e.name) != e.name || path.IsAbs(e.name) {
		return fmt.Errorf("not a clean relative path")
	}
	h := &tar.Header{
		Name:    e.name,
		Mode:    e.mode,
		Uid:     e.uid,
		Gid:     e.gid,
		ModTime: mtime,
	}
	if e.dir {
		h.Typeflag = tar.TypeDir
		h.Name += "/"
	} else {
		h.Typeflag = tar.TypeReg
		h.Size = int64(len(e.body))
	}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(e.body)
	return err
}
