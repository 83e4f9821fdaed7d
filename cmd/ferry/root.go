package main

import (
	"github.com/spf13/cobra"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "ferry",
		Short:         "ferry is a GitOps sync agent for kustomize overlays, with promotion as pull requests",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Flag parsing errors are bad usage (exit 2).
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(newVersionCommand(), newValidateCommand(), newRenderCommand(), newDiffCommand(), newSyncCommand(), newStatusCommand(), newPruneCommand(), newApproveCommand(), newSuspendCommand(), newResumeCommand(), newRetryCommand(), newAgentCommand(), newPromoteCommand(), newRollbackCommand(), newImageCommand(), newDevCommand())
	return root
}
