package main

import (
	"errors"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/internal/demo"
	"github.com/ferry-cd/ferry/internal/localcluster"
)

func newDevDemoCommand() *cobra.Command {
	opts := demo.DefaultOptions()
	exit, _ := strconv.ParseBool(os.Getenv("DEMO_EXIT"))
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Play ferry's story on the embedded local control plane and a local Gitea (make demo)",
		Long: "Start the local control plane with fake nodes and a Gitea holding --example, run the agent,\n" +
			"then promote staging's image to production with a pull request, merge it and follow the\n" +
			"staged rollout. Afterwards everything keeps running until Ctrl-C, or stops at once with\n" +
			"--exit (default from DEMO_EXIT=1). The binaries come from `make controlplane`.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			opts.Ferry, opts.Out, opts.Exit = self, cmd.OutOrStdout(), exit
			err = demo.Run(cmd.Context(), opts)
			if errors.Is(err, localcluster.ErrBinariesMissing) {
				return &usageError{err}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Example, "example", opts.Example, "folder with the config repository's content (ferry.yaml and overlays)")
	f.DurationVar(&opts.Soak, "soak", opts.Soak, "canary soak time used instead of the example's")
	f.BoolVar(&exit, "exit", exit, "stop everything once the story is told (DEMO_EXIT=1)")
	f.DurationVar(&opts.Timeout, "timeout", opts.Timeout, "how long each step may wait for the agent")
	return cmd
}
