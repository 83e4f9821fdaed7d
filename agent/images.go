package agent

import (
	"cmp"
	"slices"
	"strings"
	gosync "sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Image is a container image a render runs: its name (registry and repository) and its tag or
// digest, as the status page shows it.
type Image struct {
	Name   string `json:"name"`
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// Version is the image's tag, digest, or both as "TAG@DIGEST"; "" when the reference has
// neither (the registry's latest).
func (i Image) Version() string {
	switch {
	case i.Digest == "":
		return i.Tag
	case i.Tag == "":
		return i.Digest
	}
	return i.Tag + "@" + i.Digest
}

// parseImage splits an image reference: "registry:5000/team/app:1.2@sha256:…" has the name
// "registry:5000/team/app", the tag "1.2" and the digest "sha256:…". A colon before the last
// slash is a registry's port, not a tag.
func parseImage(ref string) Image {
	var img Image
	ref, img.Digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref, img.Tag = ref[:i], ref[i+1:]
	}
	img.Name = ref
	return img
}

// podSpecPaths are where workload kinds keep their pod spec: a Pod itself; Deployments,
// StatefulSets, DaemonSets, ReplicaSets and Jobs in their template; CronJobs one level deeper.
var podSpecPaths = [][]string{
	{"spec"},
	{"spec", "template", "spec"},
	{"spec", "jobTemplate", "spec", "template", "spec"},
}

// imagesOf returns the distinct images of objs' containers and init containers, sorted by
// name, then version.
func imagesOf(objs []*unstructured.Unstructured) []Image {
	seen := map[Image]bool{}
	for _, o := range objs {
		for _, path := range podSpecPaths {
			for _, field := range []string{"containers", "initContainers"} {
				containers, _, _ := unstructured.NestedSlice(o.Object, append(slices.Clone(path), field)...)
				for _, c := range containers {
					if ref, _ := c.(map[string]any)["image"].(string); ref != "" {
						seen[parseImage(ref)] = true
					}
				}
			}
		}
	}
	images := make([]Image, 0, len(seen))
	for img := range seen {
		images = append(images, img)
	}
	slices.SortFunc(images, func(a, b Image) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Version(), b.Version()))
	})
	return images
}

// ImageChange is an image whose version differs between a promotion's source and its target:
// what a promotion would change.
type ImageChange struct {
	Name string `json:"name"`
	// Current is the version the target runs, Promoted the source's ("A, B" when the
	// environment runs several versions of the image).
	Current  string `json:"current"`
	Promoted string `json:"promoted"`
}

// pendingImages returns the images that source runs in another version than target, limited to
// only when it is not empty (promotion.images); images target does not run are left out, since
// a promotion moves the pins the target has. Sorted by name.
func pendingImages(source, target []Image, only []string) []ImageChange {
	from, to := versionsByName(source), versionsByName(target)
	var changes []ImageChange
	for name, promoted := range from {
		current, runs := to[name]
		if !runs || current == promoted || len(only) > 0 && !slices.Contains(only, name) && !slices.Contains(only, lastSegment(name)) {
			continue
		}
		changes = append(changes, ImageChange{Name: name, Current: current, Promoted: promoted})
	}
	slices.SortFunc(changes, func(a, b ImageChange) int { return cmp.Compare(a.Name, b.Name) })
	return changes
}

// versionsByName maps each image name to its versions, joined with ", " (images are sorted).
func versionsByName(images []Image) map[string]string {
	out := map[string]string{}
	for _, img := range images {
		if v, ok := out[img.Name]; ok {
			out[img.Name] = v + ", " + img.Version()
		} else {
			out[img.Name] = img.Version()
		}
	}
	return out
}

// lastSegment returns the repository's last path segment ("gceme" of "ghcr.io/team/gceme"),
// which promotion.images may name.
func lastSegment(name string) string {
	return name[strings.LastIndex(name, "/")+1:]
}

// imageBook remembers the images of the last renders a worker made, by revision, so that the
// status page says what an environment runs (its applied revision's images) without rendering
// again. It keeps maxImageRevisions revisions: the applied one, one being rolled out, and a
// few that failed. Safe for concurrent use (workers write, the status page reads).
type imageBook struct {
	mu    gosync.Mutex
	revs  []string // oldest first
	byRev map[string][]Image
}

const maxImageRevisions = 4

// note records the images of objs, a render at revision.
func (b *imageBook) note(revision string, objs []*unstructured.Unstructured) {
	images := imagesOf(objs)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byRev == nil {
		b.byRev = map[string][]Image{}
	}
	if _, ok := b.byRev[revision]; !ok {
		b.revs = append(b.revs, revision)
	}
	b.byRev[revision] = images
	if len(b.revs) > maxImageRevisions {
		delete(b.byRev, b.revs[0])
		b.revs = b.revs[1:]
	}
}

// at returns the images of revision's render, and whether it is known.
func (b *imageBook) at(revision string) ([]Image, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	images, ok := b.byRev[revision]
	return images, ok
}
