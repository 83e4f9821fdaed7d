package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/sync"
)

func newRetryCommand() *cobra.Command {
	var kube kubeFlags
	cmd := &cobra.Command{
		Use:   "retry ENV",
		Short: "Roll out again, from its first stage, the revision whose rollout halted in ENV, without a new commit",
		Long: "A halted revision is not rolled out again until the branch moves. Once the cause of the halt is gone\n" +
			"(a flaky check, a dependency outside git that was missing), ferry retry asks the agent to roll the halted\n" +
			"revision out again from its first stage, once; a second halt holds the environment again. Your Kubernetes\n" +
			"user and the time are recorded in ENV's state ConfigMap, written with your own credentials (the Role\n" +
			operatorRole + "). It fails when no rollout of ENV is halted.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := args[0]
			op, err := newOperator(cmd.Context(), &kube)
			if err != nil {
				return fmt.Errorf("retry %s: %w", env, err)
			}
			var halted sync.State
			err = op.update(cmd.Context(), "retry", env, func(st *sync.State) error {
				p := st.Progress
				if p.Phase != sync.PhaseHalted || p.HaltedRevision == "" {
					return fmt.Errorf("nothing to retry: no rollout of %s is halted (%s)", env, describeNotHalted(st))
				}
				st.Control.Retry = &sync.Request{By: op.user, At: time.Now().UTC(), Revision: p.HaltedRevision, Stage: st.Stage}
				halted = *st
				return nil
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "retry of %s in %s requested by %s (its rollout halted at stage %s: %s)\n",
				shortRevision(halted.Progress.HaltedRevision), env, op.user, halted.Stage, oneLine(halted.Progress.HaltReason))
			if halted.Control.Suspended != nil {
				_, err = fmt.Fprintf(out, "%s is %s: the agent retries once you run ferry resume %s.\n", env, halted.Control.DescribeSuspension(time.Now()), env)
				return err
			}
			_, err = fmt.Fprintf(out, "The agent rolls it out again from its first stage within seconds (trigger=retry).\n")
			return err
		},
	}
	kube.register(cmd)
	cmd.Flags().Lookup("namespace").Usage = "ferry's own namespace, holding the state ConfigMaps"
	return cmd
}

// describeNotHalted says where an environment whose rollout is not halted is.
func describeNotHalted(st *sync.State) string {
	switch {
	case st.Progress.Revision != "":
		return "the rollout of " + shortRevision(st.Progress.Revision) + " is " + st.Progress.Describe(st.Stage, time.Now())
	case st.AppliedRevision == "":
		return "nothing applied yet"
	}
	return "it is at " + shortRevision(st.AppliedRevision) + ", " + healthOf(st)
}
