package sync

import (
	"context"
	"fmt"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RefreshHealth reads env's recorded health and, when it is not Healthy, evaluates the objects
// of its inventory again with kstatus (no wait: one read each), so that health follows the
// objects between writes: an environment whose Deployment became Available after its health
// wait timed out turns Healthy at the next sync. All objects current is Healthy; a recorded
// Unknown (or none) takes what the objects say (Progressing, or Degraded when one failed or is
// missing); a recorded Progressing or Degraded stays until all are current. A change is saved
// in the state ConfigMap; changed reports it. The error names the object or the state.
func (s *Syncer) RefreshHealth(ctx context.Context, env string) (health string, changed bool, err error) {
	st, err := s.state.Load(ctx, env)
	if err != nil {
		return Unknown, false, &Error{Phase: PhaseState, Err: err}
	}
	if st.Health == Healthy || len(st.Inventory) == 0 {
		return orUnknown(st.Health), false, nil
	}
	// A recorded Progressing or Degraded changes only to Healthy: the first object that is
	// not Current settles it, so a sync of an environment that stays unhealthy usually reads
	// one object, not all of them.
	settled := st.Health == Progressing || st.Health == Degraded
	now, err := s.inventoryHealth(ctx, st.Inventory, settled)
	if err != nil {
		return orUnknown(st.Health), false, &Error{Phase: PhaseHealth, Err: err}
	}
	if now != Healthy && st.Health != "" && st.Health != Unknown {
		return st.Health, false, nil
	}
	if now == st.Health {
		return now, false, nil
	}
	st.Health = now
	if err := s.state.Save(ctx, st); err != nil {
		return now, false, &Error{Phase: PhaseState, Err: err}
	}
	return now, true, nil
}

func orUnknown(health string) string {
	if health == "" {
		return Unknown
	}
	return health
}

// inventoryHealth computes the health of inv's objects with kstatus: Healthy when all are
// Current, Degraded when one failed or is missing, Progressing otherwise. Kinds that are
// Current as soon as they exist (alwaysCurrent) are not read. With firstOnly, the first object
// that is not Current ends the reads (Degraded or Progressing as that object says).
func (s *Syncer) inventoryHealth(ctx context.Context, inv Inventory, firstOnly bool) (string, error) {
	health := Healthy
	for _, e := range inv {
		if alwaysCurrent[e.GroupVersionKind().GroupKind()] {
			continue
		}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(e.GroupVersionKind())
		err := s.mgr.Client().Get(ctx, client.ObjectKey{Namespace: e.Namespace, Name: e.Name}, live)
		if apierrors.IsNotFound(err) {
			return Degraded, nil
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", e.ObjectID, err)
		}
		res, err := status.Compute(live)
		if err != nil {
			return "", fmt.Errorf("%s: status: %w", e.ObjectID, err)
		}
		switch res.Status {
		case status.CurrentStatus:
		case status.FailedStatus:
			return Degraded, nil
		default:
			if firstOnly {
				return Progressing, nil
			}
			health = Progressing
		}
	}
	return health, nil
}
