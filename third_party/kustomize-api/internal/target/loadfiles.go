// Copyright 2026 The ferry Authors.
// SPDX-License-Identifier: Apache-2.0

// ferry: this file is ferry's, not kustomize's (PATCHES.md, 6).

package target

import (
	"runtime"
	"sync"
	"sync/atomic"

	load "sigs.k8s.io/kustomize/api/internal/loader"
	"sigs.k8s.io/kustomize/api/resmap"
)

// loadedFile is the result of FromFile on one resources entry, when done.
type loadedFile struct {
	done      bool
	resources resmap.ResMap
	err       error
}

// loadFiles reads and parses the resources entries of a kustomization as
// files, several at once: FromFile reads a file through the loader and
// parses it, and touches nothing else. accumulateResources then accumulates
// them one by one, in order, exactly as before. Remote (http) files are left
// to accumulateFile, in order, so that nothing is fetched that upstream would
// not fetch.
func (kt *KustTarget) loadFiles(paths []string) []loadedFile {
	out := make([]loadedFile, len(paths))
	workers := min(runtime.GOMAXPROCS(0), len(paths))
	if workers < 2 {
		return out
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(paths); i = int(next.Add(1) - 1) {
				if load.IsRemoteFile(paths[i]) {
					continue
				}
				r, err := kt.rFactory.FromFile(kt.ldr, paths[i])
				out[i] = loadedFile{done: true, resources: r, err: err}
			}
		}()
	}
	wg.Wait()
	return out
}
