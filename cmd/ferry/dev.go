package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/internal/localcluster"
)

func newDevCommand() *cobra.Command {
	dev := &cobra.Command{Use: "dev", Short: "Local development helpers"}
	dev.AddCommand(newDevUpCommand(), newDevDemoCommand())
	return dev
}

func newDevUpCommand() *cobra.Command {
	opts := localcluster.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the embedded local control plane and run until interrupted",
		Long: "Start etcd and kube-apiserver on loopback (with --workloads also the controller manager,\n" +
			"scheduler and kwok fake nodes), print `kubeconfig: PATH` once the API server is ready,\n" +
			"and stop everything on SIGINT or SIGTERM. The binaries come from `make controlplane`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			start := time.Now()
			cluster, err := localcluster.Start(ctx, opts)
			if errors.Is(err, localcluster.ErrBinariesMissing) {
				return &usageError{err}
			}
			if err != nil {
				return err
			}
			defer cluster.Stop()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "control plane ready in %s (logs: %s)\n", time.Since(start).Round(time.Millisecond), cluster.LogDir())
			fmt.Fprintf(out, "kubeconfig: %s\n", cluster.KubeconfigPath)
			<-ctx.Done()
			fmt.Fprintln(out, "stopping control plane")
			return cluster.Stop()
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Workloads, "workloads", false, "also run kube-controller-manager, kube-scheduler and kwok fake nodes")
	f.IntVar(&opts.Nodes, "nodes", opts.Nodes, "number of fake nodes with --workloads")
	f.StringVar(&opts.Dir, "dir", "", "working folder to keep (default: a temporary folder removed on exit)")
	f.StringVar(&opts.BinDir, "bin-dir", localcluster.DefaultBinDir(), "folder with the control-plane binaries")
	return cmd
}
