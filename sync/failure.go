package sync

import (
	"context"
	"time"
)

// RecordFailure records in env's state that revision could not even be applied (ferry.yaml,
// fetch or render failed), so that `ferry status` and the status page show the error the log
// shows. The inventory and the applied revision are left as they are. Nothing is written when
// the state already says the same, so an agent retrying with backoff does not write on every
// attempt. A failed sync never leaves the health Healthy (see FailedHealth). An empty revision
// (the branch head could not be read) keeps the last attempted one.
func (s *Syncer) RecordFailure(ctx context.Context, env, revision string, cause error) error {
	st, err := s.state.Load(ctx, env)
	if err != nil {
		return err
	}
	if revision == "" {
		revision = st.AttemptedRevision
	}
	if !markFailed(st, revision, cause) {
		return nil
	}
	return s.state.Save(ctx, st)
}

// markFailed records in st that revision failed with cause, and reports whether st changed.
func markFailed(st *State, revision string, cause error) bool {
	health := FailedHealth(st.Health)
	if st.AttemptedRevision == revision && st.LastError == cause.Error() && st.Health == health {
		return false
	}
	st.AttemptedRevision, st.AttemptedAt, st.LastError, st.Health = revision, time.Now(), cause.Error(), health
	return true
}

// FailedHealth returns the health to record after a failed sync of an environment whose
// recorded health was health: Degraded stays Degraded, anything else becomes Unknown (what runs
// may not be what git wants, and ferry did not get to check), until a sync succeeds.
func FailedHealth(health string) string {
	if health == Degraded {
		return Degraded
	}
	return Unknown
}
