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
			// A dry run first, also with --confirm: a prune that refuses (a Namespace or CRD holds
			// objects that are not env's) deletes nothing, and must not print "deleted".
			cs, err := s.PruneEnvironment(cmd.Context(), env, true)
			done := false
			if err == nil && confirm {
				cs, err = s.PruneEnvironment(cmd.Context(), env, false)
				done = true
			}
			out := cmd.OutOrStdout()
			for _, c := range cs {
				fmt.Fprintln(out, pruneLine(c, done))
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
				cs.Count(sync.Pruned)+cs.Count(sync.Terminating), len(cs), env, cs.Count(sync.Skipped), state)
			return nil
		},
	}
	kube.register(cmd)
	cmd.Flags().Lookup("namespace").Usage = "ferry's own namespace, holding the state ConfigMaps"
	cmd.Flags().BoolVar(&confirm, "confirm", false, "delete (without it, only print what would be deleted)")
	return cmd
}

// pruneLine is the line `ferry prune` prints for c: "Kind ns/name deleted", "… kept (why)", or
// for a Namespace or CRD what its deletion takes with it; done says whether c was carried out
// (--confirm) or is only planned.
func pruneLine(c sync.Change, done bool) string {
	deleted, kept := "would be deleted", "would be kept"
	if done {
		deleted, kept = "deleted", "kept"
	}
	switch {
	case c.Action == sync.Skipped && c.Reason != "":
		return fmt.Sprintf("%s %s (%s)", c.Object, kept, c.Reason)
	case c.Action == sync.Skipped:
		return fmt.Sprintf("%s %s", c.Object, kept)
	case c.Action == sync.Terminating:
		return fmt.Sprintf("%s %s", c.Object, c.Reason) // "deleted, held by finalizers …"
	case c.Reason != "" && (c.Object.Kind == "Namespace" || c.Object.Kind == "CustomResourceDefinition"):
		return c.Reason // "Namespace x would be deleted with 3 objects, …"
	case c.Reason != "":
		return fmt.Sprintf("%s %s: %s", c.Object, deleted, c.Reason)
	}
	return fmt.Sprintf("%s %s", c.Object, deleted)
}
