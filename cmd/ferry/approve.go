package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferry-cd/ferry/sync"
)

func newApproveCommand() *cobra.Command {
	var kube kubeFlags
	var revision string
	cmd := &cobra.Command{
		Use:   "approve ENV [--revision REV]",
		Short: "Let a rollout waiting at a stage with approval: manual go on (who and when are recorded)",
		Long: "A stage with `approval: manual` waits, after its soak and analysis, for `ferry approve ENV`. The\n" +
			"approval names you (the Kubernetes user, from a SelfSubjectReview), the revision and the stage, and\n" +
			"goes into ENV's state ConfigMap with your own credentials: RBAC decides who may approve (get and\n" +
			"update of ConfigMaps in ferry's namespace). With --revision, the approval is refused unless that\n" +
			"revision (a full SHA or a prefix of at least 7 characters) is the one waiting.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := newOperator(cmd.Context(), &kube)
			if err != nil {
				return err
			}
			a, err := op.approve(cmd.Context(), args[0], revision)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "approved %s %s of %s as %s; the agent goes on within seconds\n",
				args[0], a.Stage, shortRevision(a.Revision), a.By)
			return err
		},
	}
	kube.register(cmd)
	cmd.Flags().Lookup("namespace").Usage = "ferry's own namespace, holding the state ConfigMaps"
	cmd.Flags().StringVar(&revision, "revision", "", "approve only if this revision (full SHA, or a prefix of at least 7 characters) is the one waiting")
	return cmd
}

// approve writes the caller's approval of the rollout of env that waits for one, and returns
// it. It refuses when env does not wait for approval, or waits with another revision than
// revision (when given); the state is read again at the write, since it may have moved on.
func (o *operator) approve(ctx context.Context, env, revision string) (*sync.Request, error) {
	var a *sync.Request
	err := o.update(ctx, "approve", env, func(st *sync.State) error {
		req, err := approval(st, o.namespace, revision, o.user, time.Now())
		if err != nil {
			return err
		}
		st.Control.Approval, a = req, req
		return nil
	})
	return a, err
}

// approval returns the approval by of the rollout st waits with, at now; an error that says
// what the environment is doing when it does not wait for approval, or what waits when revision
// (a full SHA or a prefix of at least 7 characters) is given and is not that.
func approval(st *sync.State, namespace, revision, by string, now time.Time) (*sync.Request, error) {
	p := st.Progress
	if !p.Waiting() {
		return nil, fmt.Errorf("environment %s is not waiting for approval: %s", st.Env, doing(st, namespace, now))
	}
	if revision != "" && !sameRevision(p.Revision, revision) {
		return nil, fmt.Errorf("environment %s waits for approval of %s at stage %s, not of %s: nothing approved",
			st.Env, shortRevision(p.Revision), st.Stage, revision)
	}
	return &sync.Request{By: by, At: now.UTC(), Revision: p.Revision, Stage: st.Stage}, nil
}

// sameRevision reports whether given names waiting: equal, or a prefix of at least 7
// characters (git's short SHA; one revision waits, so any such prefix of it is unique).
func sameRevision(waiting, given string) bool {
	given = strings.ToLower(given)
	return given == waiting || len(given) >= 7 && strings.HasPrefix(waiting, given)
}

// doing says what an environment that does not wait for approval is doing, from its state.
func doing(st *sync.State, namespace string, now time.Time) string {
	p := st.Progress
	switch {
	case st.AttemptedRevision == "" && st.AppliedRevision == "" && p.Revision == "":
		return fmt.Sprintf("no sync of it is recorded in namespace %s (check the environment's name and --namespace)", namespace)
	case p.Phase == sync.PhaseHalted:
		return fmt.Sprintf("the rollout of %s halted at stage %s (%s)", shortRevision(p.HaltedRevision), st.Stage, p.HaltReason)
	case p.Revision != "":
		return fmt.Sprintf("it is rolling out %s (%s)", shortRevision(p.Revision), p.Describe(st.Stage, now))
	}
	return fmt.Sprintf("it runs %s, with no rollout in progress", shortRevision(st.AppliedRevision))
}
