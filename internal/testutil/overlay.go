package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteGeneratedOverlay writes base/ under repo with n resources (ConfigMaps, Services,
// Deployments, ServiceAccounts), one file each, and env/, an overlay adding a label and an
// image tag on top of it: the render benchmarks' input.
func WriteGeneratedOverlay(tb testing.TB, repo string, n int) {
	tb.Helper()
	base := filepath.Join(repo, "base")
	mustDo(tb, os.MkdirAll(base, 0o755))
	mustDo(tb, os.MkdirAll(filepath.Join(repo, "env"), 0o755))
	var resources strings.Builder
	resources.WriteString("resources:\n")
	for i := range n {
		name := fmt.Sprintf("r%05d.yaml", i)
		mustDo(tb, os.WriteFile(filepath.Join(base, name), []byte(generatedResource(i)), 0o644))
		resources.WriteString("- " + name + "\n")
	}
	mustDo(tb, os.WriteFile(filepath.Join(base, "kustomization.yaml"), []byte(resources.String()), 0o644))
	overlay := "resources:\n- ../base\nlabels:\n- pairs:\n    team: bench\nimages:\n- name: app\n  newTag: \"2.0\"\n"
	mustDo(tb, os.WriteFile(filepath.Join(repo, "env", "kustomization.yaml"), []byte(overlay), 0o644))
}

func generatedResource(i int) string {
	switch i % 4 {
	case 0:
		return fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\ndata:\n  key: value-%d\n", i, i)
	case 1:
		return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\nspec:\n  selector:\n    app: app-%d\n  ports:\n  - port: 80\n", i, i)
	case 2:
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-%d
spec:
  replicas: 0
  selector:
    matchLabels:
      app: app-%d
  template:
    metadata:
      labels:
        app: app-%d
    spec:
      containers:
      - name: app
        image: app:1.0
`, i, i, i)
	default:
		return fmt.Sprintf("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-%d\n", i)
	}
}

func mustDo(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
