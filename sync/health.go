package sync

import (
	"context"
	"time"

	"github.com/fluxcd/cli-utils/pkg/object"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// health waits with kstatus until the applied objects are current, bounded by
// timeout and cancelled with ctx (a newer revision pre-empts the wait). It
// records the result in the state ConfigMap and returns Healthy, or Progressing with no error
// when the wait was cancelled, or an *Error in the health phase naming what is not ready.
func (s *Syncer) health(ctx context.Context, st *State, applied []*unstructured.Unstructured, timeout time.Duration) (string, error) {
	if timeout <= 0 || len(applied) == 0 {
		return st.Health, nil
	}
	if !needsHealthWait(applied) {
		return Healthy, nil // Apply recorded it
	}
	set := make(object.ObjMetadataSet, 0, len(applied))
	for _, o := range applied {
		if !alwaysCurrent[o.GroupVersionKind().GroupKind()] {
			set = append(set, object.UnstructuredToObjMetadata(o))
		}
	}
	err := s.mgr.WaitForSetWithContext(ctx, set, ssa.WaitOptions{
		Interval: s.opts.PollInterval, Timeout: timeout, FailFast: true,
	})
	health := Healthy
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return Progressing, nil // pre-empted: the next sync decides
	default:
		health = Degraded
		err = &Error{Phase: PhaseHealth, Err: err}
	}
	if st.Health == health {
		return health, err // recorded already (a change to a healthy environment stayed healthy)
	}
	st.Health = health
	if saveErr := s.state.Save(ctx, st); saveErr != nil && err == nil {
		err = &Error{Phase: PhaseState, Err: saveErr}
	}
	return health, err
}

// needsHealthWait reports whether any of objs is of a kind with a status to wait for.
func needsHealthWait(objs []*unstructured.Unstructured) bool {
	for _, o := range objs {
		if !alwaysCurrent[o.GroupVersionKind().GroupKind()] {
			return true
		}
	}
	return false
}

// alwaysCurrent are kinds kstatus reports Current as soon as they exist (they have no status
// to wait for): polling them would only cost requests.
var alwaysCurrent = map[schema.GroupKind]bool{
	{Kind: "ConfigMap"}: true, {Kind: "Secret"}: true, {Kind: "ServiceAccount"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}: true, {Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}: true, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: true,
}
