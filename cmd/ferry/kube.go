package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeFlags are kubectl-style cluster flags: --kubeconfig, --context and --namespace for
// ferry's own namespace, and the client-side rate limit.
type kubeFlags struct {
	kubeconfig, context, namespace string
	qps                            float32
	burst                          int
}

func (f *kubeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config, or in-cluster)")
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context to use")
	cmd.Flags().StringVar(&f.namespace, "namespace", "ferry-system", "ferry's own namespace, holding the state ConfigMaps (created when missing)")
	cmd.Flags().Float32Var(&f.qps, "kube-api-qps", -1, "client-side limit of API requests per second; -1 leaves throttling to the API server's priority and fairness")
	cmd.Flags().IntVar(&f.burst, "kube-api-burst", 300, "requests allowed at once above --kube-api-qps (only with a positive --kube-api-qps)")
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
	if err := f.limit(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// limit sets cfg's client-side rate limit from the flags. By default there is none: ferry
// bounds its requests in flight itself (16 at a time per sync) and the API server's priority
// and fairness queues the rest, as SIG API Machinery advises and controller-runtime does.
// client-go's own default (5 per second, bursts of 10) would make a first sync of 1000
// objects wait minutes; kubectl's (50, 300) about 15 seconds.
func (f *kubeFlags) limit(cfg *rest.Config) error {
	switch {
	case f.qps < 0:
		cfg.QPS, cfg.Burst = -1, 0
	case f.qps == 0:
		return errors.New("--kube-api-qps 0 would stop every request: give a positive limit, or -1 for none")
	case f.burst < 1:
		return fmt.Errorf("--kube-api-burst %d: must be at least 1 with a positive --kube-api-qps", f.burst)
	default:
		cfg.QPS, cfg.Burst = f.qps, f.burst
	}
	return nil
}
