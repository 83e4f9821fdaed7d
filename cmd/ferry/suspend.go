package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/sync"
)

func newSuspendCommand() *cobra.Command {
	var kube kubeFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "suspend ENV [--reason TEXT]",
		Short: "Stop the agent from syncing ENV and correcting its drift until `ferry resume ENV` (who, when and why are recorded)",
		Long: "ferry suspend writes the suspension (your Kubernetes user, the time, --reason) into ENV's state ConfigMap\n" +
			"with your own credentials. Within seconds the agent stops syncing ENV: no new revision is applied, no\n" +
			"drift is corrected, and a rollout in progress stops where it is (it goes on after `ferry resume`). The\n" +
			"suspension survives agent restarts. It needs update on the state ConfigMaps: the Role " + operatorRole + ".",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := args[0]
			op, err := newOperator(cmd.Context(), &kube)
			if err != nil {
				return fmt.Errorf("suspend %s: %w", env, err)
			}
			now := time.Now().UTC()
			var already *sync.Request
			err = op.update(cmd.Context(), "suspend", env, func(st *sync.State) error {
				if already = st.Control.Suspended; already != nil {
					return nil // the first suspension stays: who and why
				}
				st.Control.Suspended = &sync.Request{By: op.user, At: now, Reason: reason}
				return nil
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if already != nil {
				_, err = fmt.Fprintf(out, "%s is already %s; nothing changed\n", env, sync.Control{Suspended: already}.DescribeSuspension(now))
				return err
			}
			line := env + " suspended by " + op.user
			if reason != "" {
				line += ": " + reason
			}
			_, err = fmt.Fprintf(out, "%s\nThe agent stops syncing %s and correcting its drift within seconds; a rollout in progress stops where it is.\nResume with: ferry resume %s\n",
				line, env, env)
			return err
		},
	}
	kube.register(cmd)
	cmd.Flags().Lookup("namespace").Usage = "ferry's own namespace, holding the state ConfigMaps"
	cmd.Flags().StringVar(&reason, "reason", "", "why, shown by ferry status, the status page and the agent's log (e.g. \"incident 42\")")
	return cmd
}
