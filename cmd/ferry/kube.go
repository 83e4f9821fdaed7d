package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeFlags are kubectl-style cluster flags: --kubeconfig, --context and --namespace for
// ferry's own namespace.
type kubeFlags struct {
	kubeconfig, context, namespace string
}

func (f *kubeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config, or in-cluster)")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context to use")
	cmd.Flags().StringVar(&f.namespace, "namespace", "ferry-system", "ferry's own namespace, holding the state ConfigMaps (created when missing)")
}

// config returns the REST config the flags select.
func (f *kubeFlags) config() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f.kubeconfig != "" {
		rules.ExplicitPath = f.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: f.context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	if cfg.QPS == 0 {
		// client-go's default of 5 requests per second (burst 10) makes a sync of a few dozen
		// objects, each dry-run then applied, take many seconds of client-side throttling.
		cfg.QPS, cfg.Burst = defaultQPS, defaultBurst
	}
	return cfg, nil
}

// The client-side rate limit of ferry's API requests when the kubeconfig sets none, as
// kustomize-controller's defaults (its --kube-api-qps and --kube-api-burst).
const (
	defaultQPS   = 50
	defaultBurst = 300
)
