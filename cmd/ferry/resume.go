package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/sync"
)

func newResumeCommand() *cobra.Command {
	var kube kubeFlags
	cmd := &cobra.Command{
		Use:   "resume ENV",
		Short: "Let the agent sync ENV again after `ferry suspend`, at once (who and when are recorded)",
		Long: "ferry resume clears ENV's suspension in its state ConfigMap and records your Kubernetes user and the time,\n" +
			"with your own credentials. Within seconds the agent syncs ENV: the branch head is applied (through the\n" +
			"rollout's stages, a rollout stopped by the suspension going on where it stopped) and drift is corrected.\n" +
			"It needs update on the state ConfigMaps: the Role " + operatorRole + ".",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := args[0]
			op, err := newOperator(cmd.Context(), &kube)
			if err != nil {
				return fmt.Errorf("resume %s: %w", env, err)
			}
			now := time.Now().UTC()
			var was *sync.Request
			err = op.update(cmd.Context(), "resume", env, func(st *sync.State) error {
				if was = st.Control.Suspended; was == nil {
					return nil
				}
				st.Control.Suspended = nil
				st.Control.Resumed = &sync.Request{By: op.user, At: now}
				return nil
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if was == nil {
				_, err = fmt.Fprintf(out, "%s is not suspended; nothing changed\n", env)
				return err
			}
			_, err = fmt.Fprintf(out, "%s resumed by %s (it was %s)\nThe agent syncs %s within seconds.\n",
				env, op.user, sync.Control{Suspended: was}.DescribeSuspension(now), env)
			return err
		},
	}
	kube.register(cmd)
	cmd.Flags().Lookup("namespace").Usage = "ferry's own namespace, holding the state ConfigMaps"
	return cmd
}
