// Command kustomize-pristine runs krusty from sigs.k8s.io/kustomize/api v0.21.2 as released,
// without ferry's patch (this module has no replace), on the folder given as its argument, as
// `kustomize build` does: the YAML goes to stdout. With -time it also prints the build's wall time
// (krusty's Run, not the process start) in nanoseconds on stderr. ferry's tests compare the patched copy's output with this one's, and the
// benchmarks time both in one run.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
	timed := flag.Bool("time", false, "also print the build's duration in nanoseconds on stderr")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: kustomize-pristine [-time] DIR")
		os.Exit(2)
	}
	start := time.Now()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), flag.Arg(0))
	took := time.Since(start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kustomize build %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
	if *timed {
		fmt.Fprintln(os.Stderr, took.Nanoseconds())
	}
	out, err := m.AsYaml()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kustomize build %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
