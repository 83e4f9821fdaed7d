package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestParseImage(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		want Image
	}{
		{"nginx", Image{Name: "nginx"}},
		{"nginx:1.27", Image{Name: "nginx", Tag: "1.27"}},
		{"gcr.io/cloud-solutions-images/gceme:1.1.0", Image{Name: "gcr.io/cloud-solutions-images/gceme", Tag: "1.1.0"}},
		{"registry.local:5000/team/app", Image{Name: "registry.local:5000/team/app"}},
		{"registry.local:5000/team/app:v2", Image{Name: "registry.local:5000/team/app", Tag: "v2"}},
		{"ghcr.io/team/app@sha256:abc123", Image{Name: "ghcr.io/team/app", Digest: "sha256:abc123"}},
		{"ghcr.io/team/app:2.0@sha256:abc123", Image{Name: "ghcr.io/team/app", Tag: "2.0", Digest: "sha256:abc123"}},
	} {
		if diff := cmp.Diff(tc.want, parseImage(tc.ref)); diff != "" {
			t.Errorf("parseImage(%q) (-want +got):\n%s", tc.ref, diff)
		}
	}
}

func workload(kind string, podSpecPath []string, images ...string) *unstructured.Unstructured {
	var containers []any
	for _, img := range images {
		containers = append(containers, map[string]any{"name": "c", "image": img})
	}
	o := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": kind}}
	_ = unstructured.SetNestedSlice(o.Object, containers, append(podSpecPath, "containers")...)
	return o
}

func TestImagesOf(t *testing.T) {
	deploy := workload("Deployment", []string{"spec", "template", "spec"}, "gceme:1.1.0", "sidecar:2")
	canary := workload("Deployment", []string{"spec", "template", "spec"}, "gceme:1.2.0")
	_ = unstructured.SetNestedSlice(canary.Object, []any{map[string]any{"name": "init", "image": "busybox@sha256:ff"}},
		"spec", "template", "spec", "initContainers")
	cron := workload("CronJob", []string{"spec", "jobTemplate", "spec", "template", "spec"}, "backup:7")
	pod := workload("Pod", []string{"spec"}, "gceme:1.1.0")
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"image": "not:this"}}}
	got := imagesOf([]*unstructured.Unstructured{deploy, canary, cron, pod, cm})
	want := []Image{
		{Name: "backup", Tag: "7"},
		{Name: "busybox", Digest: "sha256:ff"},
		{Name: "gceme", Tag: "1.1.0"},
		{Name: "gceme", Tag: "1.2.0"},
		{Name: "sidecar", Tag: "2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("imagesOf (-want +got):\n%s", diff)
	}
}

func TestPendingImages(t *testing.T) {
	const gceme = "gcr.io/cloud-solutions-images/gceme"
	staging := []Image{{Name: gceme, Tag: "1.2.0"}, {Name: "redis", Tag: "7"}, {Name: "tools", Tag: "3"}}
	for _, tc := range []struct {
		name           string
		source, target []Image
		only           []string
		want           []ImageChange
	}{
		{"same versions", staging, staging, nil, nil},
		{
			name:   "tags differ",
			source: staging, target: []Image{{Name: gceme, Tag: "1.0.0"}, {Name: "redis", Tag: "6"}},
			want: []ImageChange{{Name: gceme, Current: "1.0.0", Promoted: "1.2.0"}, {Name: "redis", Current: "6", Promoted: "7"}},
		},
		{
			name:   "promotion.images limits, by full or short name",
			source: staging, target: []Image{{Name: gceme, Tag: "1.0.0"}, {Name: "redis", Tag: "6"}}, only: []string{"gceme"},
			want: []ImageChange{{Name: gceme, Current: "1.0.0", Promoted: "1.2.0"}},
		},
		{
			name:   "canary and stable on different versions",
			source: staging, target: []Image{{Name: gceme, Tag: "1.0.0"}, {Name: gceme, Tag: "1.2.0"}},
			want: []ImageChange{{Name: gceme, Current: "1.0.0, 1.2.0", Promoted: "1.2.0"}},
		},
		{
			name:   "digest pinned",
			source: []Image{{Name: "app", Digest: "sha256:b"}}, target: []Image{{Name: "app", Tag: "1", Digest: "sha256:a"}},
			want: []ImageChange{{Name: "app", Current: "1@sha256:a", Promoted: "sha256:b"}},
		},
		{"images the target does not run are left out", []Image{{Name: "new", Tag: "1"}}, []Image{{Name: "old", Tag: "1"}}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, pendingImages(tc.source, tc.target, tc.only)); diff != "" {
				t.Errorf("pendingImages (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImageBookKeepsRecentRevisions(t *testing.T) {
	var b imageBook
	for _, rev := range []string{"r1", "r2", "r3", "r4", "r5"} {
		b.note(rev, []*unstructured.Unstructured{workload("Pod", []string{"spec"}, "app:"+rev)})
	}
	if _, ok := b.at("r1"); ok {
		t.Errorf("r1 still known after %d newer revisions", maxImageRevisions)
	}
	if got, ok := b.at("r5"); !ok || len(got) != 1 || got[0].Tag != "r5" {
		t.Errorf("at(r5) = %v, %v", got, ok)
	}
}
