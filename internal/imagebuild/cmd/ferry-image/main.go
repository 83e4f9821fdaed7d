// Command ferry-image builds ferry's OCI image without a container engine and writes it as a
// `docker save` tarball (see internal/imagebuild); `make image` runs it. It prints the tag,
// the digest and the size.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/ferry-cd/ferry/internal/imagebuild"
)

func main() {
	opts := imagebuild.DefaultOptions()
	epoch := os.Getenv("SOURCE_DATE_EPOCH")
	flag.StringVar(&opts.Output, "o", opts.Output, "the tarball to write")
	flag.StringVar(&opts.Version, "version", opts.Version, "ferry's version: the image's tag and version label")
	flag.StringVar(&opts.Commit, "commit", opts.Commit, "the source commit: the revision label")
	flag.StringVar(&opts.Repository, "repository", opts.Repository, "the image's name, without tag")
	flag.StringVar(&opts.Arch, "arch", opts.Arch, "the GOARCH to build for")
	flag.StringVar(&opts.CACerts, "ca-certs", opts.CACerts, "the CA bundle copied into the image")
	flag.StringVar(&epoch, "source-date-epoch", epoch, "every timestamp in the image, in seconds since 1970 (default $SOURCE_DATE_EPOCH, else 0)")
	flag.Parse()
	if epoch != "" {
		secs, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "ferry-image: -source-date-epoch %q: %v\n", epoch, err)
			os.Exit(2)
		}
		opts.Created = time.Unix(secs, 0).UTC()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := imagebuild.Build(ctx, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferry-image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %s (linux/%s, created %s)\n", opts.Output, res.Tag, opts.Arch, opts.Created.Format(time.RFC3339))
	fmt.Printf("  digest   %s (the manifest's, as a registry shows it after crane push)\n", res.Digest)
	fmt.Printf("  image ID %s (the config's: the image ID podman and docker show)\n", res.ImageID)
	fmt.Printf("  size     %s tarball, %s in compressed layers\n", mib(res.Size), mib(res.Layers))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
