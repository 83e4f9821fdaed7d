package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/sync"
)

// operatorRole is the Role that lets a user run the operators' commands (suspend, resume,
// retry, approve), and where it is defined.
const operatorRole = "ferry-operator (manifests/base/operator-role.yaml)"

// operator runs an operators' command (suspend, resume, retry, approve): it writes the
// controls of an environment's state ConfigMap with the caller's own credentials, so that RBAC
// decides who may, and records who the caller is.
type operator struct {
	store     *sync.StateStore
	namespace string
	user      string // the caller, from a SelfSubjectReview
}

// newOperator connects with kube's credentials and asks who the caller is.
func newOperator(ctx context.Context, kube *kubeFlags) (*operator, error) {
	cfg, err := kube.config()
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	user, err := whoami(ctx, client)
	if err != nil {
		return nil, err
	}
	return &operator{store: sync.NewStateStore(client, kube.namespace), namespace: kube.namespace, user: user}, nil
}

// update lets change modify env's state and saves it (sync.StateStore.Update: tried again when
// the agent saved in between). env must have a state ConfigMap: a name the agent never synced
// (a typo) is refused rather than created. Errors start with "COMMAND ENV: "; a refusal by RBAC
// says who lacks which right and which Role grants it.
func (o *operator) update(ctx context.Context, command, env string, change func(*sync.State) error) error {
	err := o.store.Update(ctx, env, func(st *sync.State) error {
		if !st.Stored() {
			return fmt.Errorf("no state ConfigMap %s in namespace %s: the agent has not synced an environment %s (see ferry status)",
				sync.StateConfigMapName(env), o.namespace, env)
		}
		return change(st)
	})
	if err == nil {
		return nil
	}
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%s %s: %s: grant the Role %s", command, env, forbidden(err, o.namespace), operatorRole)
	}
	return fmt.Errorf("%s %s: %w", command, env, err)
}

// forbiddenMessage is the API server's refusal: `User "bob" cannot update resource
// "configmaps" in API group "" in the namespace "ferry-system"`.
var forbiddenMessage = regexp.MustCompile(`User "([^"]*)" cannot (\S+) resource "([^"]*)"`)

// forbidden says in short who may not do what in namespace, from the API server's Forbidden
// error err: `forbidden: User "bob" cannot update configmaps in namespace ferry-system`.
func forbidden(err error, namespace string) string {
	var status apierrors.APIStatus
	msg := err.Error()
	if errors.As(err, &status) {
		msg = status.Status().Message
	}
	m := forbiddenMessage.FindStringSubmatch(msg)
	if m == nil {
		return "forbidden: " + msg
	}
	return fmt.Sprintf("forbidden: User %q cannot %s %s in namespace %s", m[1], m[2], m[3], namespace)
}
