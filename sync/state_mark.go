package sync

import (
	"context"
	"encoding/json"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferry-cd/ferry/render"
)

// RemovedAnnotation on a state ConfigMap holds the revision at which the agent found the
// environment no longer in ferry.yaml. The agent sets it when an environment leaves ferry.yaml
// and removes it when the environment comes back, so that `ferry status`, which has no
// repository, can tell a removed (or renamed) environment from one still synced. Save writes
// the whole ConfigMap, so any state saved for the environment drops the mark as well.
const RemovedAnnotation = "ferry.dev/removed-at"

// MarkRemoved records on env's state ConfigMap that env is not in ferry.yaml at revision. A
// missing ConfigMap is not an error: there is nothing to mark. The error names the ConfigMap.
func (s *StateStore) MarkRemoved(ctx context.Context, env, revision string) error {
	return s.annotate(ctx, env, &revision)
}

// ClearRemoved removes the mark MarkRemoved set, for an environment back in ferry.yaml. A
// missing ConfigMap is not an error. The error names the ConfigMap.
func (s *StateStore) ClearRemoved(ctx context.Context, env string) error {
	return s.annotate(ctx, env, nil)
}

// annotate sets RemovedAnnotation to *value, or removes it when value is nil, with a merge
// patch that leaves every other field as it is (and works on a ConfigMap that no longer
// decodes).
func (s *StateStore) annotate(ctx context.Context, env string, value *string) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]*string{RemovedAnnotation: value}}})
	if err != nil {
		return err
	}
	name := StateConfigMapName(env)
	_, err = s.client.CoreV1().ConfigMaps(s.namespace).Patch(ctx, name, types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("state ConfigMap %s/%s: mark removed: %w", s.namespace, name, err)
	}
	return nil
}

// removedAt returns the revision at which env was marked removed ("" when it is not), and
// whether env has a state ConfigMap at all. It reads only the ConfigMap's metadata, so a state
// that no longer decodes still answers.
func (s *StateStore) removedAt(ctx context.Context, env string) (revision string, found bool, err error) {
	name := StateConfigMapName(env)
	cm, err := s.client.CoreV1().ConfigMaps(s.namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("state ConfigMap %s/%s: %w", s.namespace, name, err)
	}
	return cm.Annotations[RemovedAnnotation], true, nil
}

// StateRecovery says, as a sentence, how to recover from a state ConfigMap of env in namespace
// that cannot be decoded (State.Err): delete it, which is safe because the next sync rebuilds
// the inventory from the cluster.
func StateRecovery(namespace, env string) string {
	return fmt.Sprintf("Delete it with `kubectl -n %s delete configmap %s`: that is safe, because at its next sync "+
		"ferry rebuilds the inventory from the cluster's objects labelled %s=%s.",
		namespace, StateConfigMapName(env), render.EnvironmentLabel, env)
}

// RemovedAdvice says, as a sentence, what to do about env, which has a state ConfigMap but left
// ferry.yaml.
func RemovedAdvice(env string) string {
	return fmt.Sprintf("Its objects stay in the cluster, no longer synced: run `ferry prune %[1]s` to list what ferry applied for it "+
		"(with --confirm, delete that and its state), or, if it was renamed, first relabel the objects the new environment "+
		"should take over (kubectl label … %[2]s=NEW --overwrite).", env, render.EnvironmentLabel)
}

// Advice says, as sentences, what to do about st: for a state that cannot be decoded
// (st.Err), how to recover; for an environment that left ferry.yaml (removed), how to delete
// or hand over its objects; for both, how to do that without the inventory. It returns nil
// for any other state. namespace is ferry's, where the state ConfigMaps are.
func Advice(namespace string, st *State, removed bool) []string {
	switch {
	case st.Err != nil && removed:
		return []string{fmt.Sprintf("Its objects stay in the cluster, no longer synced, and `ferry prune %[1]s` cannot read its inventory: "+
			"delete them by label (kubectl delete … -l %[2]s=%[1]s,%[3]s=%[4]s) or relabel those a new environment should take over, "+
			"then delete the state with `kubectl -n %[5]s delete configmap %[6]s`.",
			st.Env, render.EnvironmentLabel, render.ManagedByLabel, render.ManagedByValue, namespace, StateConfigMapName(st.Env))}
	case st.Err != nil:
		return []string{StateRecovery(namespace, st.Env)}
	case removed:
		return []string{RemovedAdvice(st.Env)}
	}
	return nil
}
