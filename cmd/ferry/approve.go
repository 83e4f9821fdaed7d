package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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
			cfg, err := kube.config()
			if err != nil {
				return err
			}
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return fmt.Errorf("kubernetes client: %w", err)
			}
			a, err := approve(cmd.Context(), client, kube.namespace, args[0], revision)
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
// revision (when given). A 403 of the API server is an error that says which permission lacks.
func approve(ctx context.Context, client kubernetes.Interface, namespace, env, revision string) (*sync.Request, error) {
	by, err := whoAmI(ctx, client)
	if err != nil {
		return nil, err
	}
	store := sync.NewStateStore(client, namespace)
	// A read first, so that a refusal (or a 403 on get) is told before any write is tried.
	st, err := store.Load(ctx, env)
	if err != nil {
		return nil, forbidden(err, "get", namespace, env)
	}
	if _, err := approval(st, namespace, revision, by, time.Now()); err != nil {
		return nil, err
	}
	var a *sync.Request
	err = store.Update(ctx, env, func(st *sync.State) error {
		req, err := approval(st, namespace, revision, by, time.Now()) // again: the state may have moved on
		if err != nil {
			return err
		}
		st.Control.Approval, a = req, req
		return nil
	})
	return a, forbidden(err, "update", namespace, env)
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

// whoAmI returns the caller's Kubernetes user name, as the API server authenticated it.
func whoAmI(ctx context.Context, client kubernetes.Interface) (string, error) {
	r, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("who am I: SelfSubjectReview (authentication.k8s.io/v1, Kubernetes 1.28 or later): %w", err)
	}
	if r.Status.UserInfo.Username == "" {
		return "", errors.New("who am I: the API server's SelfSubjectReview names no user")
	}
	return r.Status.UserInfo.Username, nil
}

// forbidden turns a 403 from the API server into an error that names the verb and the
// ConfigMap the caller may not touch, and the Role to ask for; any other error is returned as
// it is.
func forbidden(err error, verb, namespace, env string) error {
	if !apierrors.IsForbidden(err) {
		return err
	}
	return fmt.Errorf("forbidden: you may not %s the state ConfigMap %s/%s (the API server answered 403). "+
		"Ask for a Role that allows get and update on configmaps in namespace %s, bound to you "+
		"(manifests/ has one for operators); the API server said: %w",
		verb, namespace, sync.StateConfigMapName(env), namespace, err)
}
