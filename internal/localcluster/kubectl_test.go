package localcluster

import (
	"context"
	"os/exec"
	"path/filepath"
)

// runKubectl runs the kubectl built with the control plane against kubeconfig.
func runKubectl(ctx context.Context, kubeconfig string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(DefaultBinDir(), "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
