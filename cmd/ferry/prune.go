package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/sync"
)

func newPruneCommand() *cobra.Command {
	var kube kubeFlags
	var confirm bool
	cmd := &cobra.Command{
		Use:   "prune ENV [--confirm]",
		Short: "Delete what ferry applied for ENV, an environment no longer synced, and its state (a dry run without --confirm)",
		Long: "Removing an environment from ferry.yaml stops syncing it and prunes nothing. `ferry prune ENV` lists the\n" +
			"objects of ENV's inventory (its state ConfigMap) that would be deleted: those still labelled\n" +
			"app.kubernetes.io/managed-by=ferry and ferry.dev/environment=ENV and not annotated ferry.dev/prune: disabled.\n" +
			"With --confirm it deletes them, then the state ConfigMap. Remove ENV from ferry.yaml first: an agent\n" +
			"still syncing it would create everything again.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := args[0]
			cfg, err := kube.config()
			if err != nil {
				return err
			}
			s, err := sync.New(cfg, sync.Options{Namespace: kube.namespace})
			if err != nil {
				return err
			}
			cs, err := s.PruneEnvironment(cmd.Context(), env, !confirm)
			out := cmd.OutOrStdout()
			deleted, kept := "deleted", "kept"
			if !confirm {
				deleted, kept = "would be deleted", "would be kept"
			}
			for _, c := range cs {
				action := deleted
				if c.Action == sync.Skipped {
					action = kept
				}
				if c.Reason != "" {
					action += ": " + c.Reason
				}
				fmt.Fprintf(out, "%s %s\n", c.Object, action)
			}
			if err != nil {
				return err
			}
			state := kube.namespace + "/" + sync.StateConfigMapName(env)
			if !confirm {
				fmt.Fprintf(out, "dry run: would delete %d of the %d objects of environment %s (keeping %d), then the state ConfigMap %s; run again with --confirm to delete them\n",
					cs.Count(sync.Pruned), len(cs), env, cs.Count(sync.Skipped), state)
				return nil
			}
			fmt.Fprintf(out, "deleted %d of the %d objects of environment %s (kept %d) and the state ConfigMap %s\n",
				cs.Count(sync.Pruned), len(cs), env, cs.Count(sync.Skipped), state)
			return nil
		},
	}
	kube.register(cmd)
	cmd.Flags().Lookup("namespace").Usage = "ferry's own namespace, holding the state ConfigMaps"
	cmd.Flags().BoolVar(&confirm, "confirm", false, "delete (without it, only print what would be deleted)")
	return cmd
}
