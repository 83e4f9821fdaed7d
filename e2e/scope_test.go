package e2e

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/ferry-cd/ferry/render"
)

// TestBuiltinScopeMatchesDiscovery checks render's offline table of Kubernetes' own kinds
// against what a real kube-apiserver v1.37 serves: every kind it serves in a built-in group
// must be in the table with the same scope.
func TestBuiltinScopeMatchesDiscovery(t *testing.T) {
	dc, err := discovery.NewDiscoveryClientForConfig(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := dc.ServerPreferredResources()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // subresources
			}
			gk := schema.GroupKind{Group: gv.Group, Kind: r.Kind}
			namespaced, known := render.BuiltinScope.Namespaced(gk)
			switch {
			case !known:
				t.Errorf("%s (served by the API server) is missing from render's built-in scope table", gk)
			case namespaced != r.Namespaced:
				t.Errorf("%s: table says namespaced=%v, the API server says %v", gk, namespaced, r.Namespaced)
			}
			checked++
		}
	}
	if checked < 50 {
		t.Errorf("checked only %d kinds; discovery looks incomplete", checked)
	}
}
