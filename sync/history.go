package sync

import (
	"context"
)

// RecordAttempt records rec, one sync attempt that did something (applied, failed, halted,
// deferred), in env's history, and, for a failed attempt (cause not nil), the failure as
// RecordFailure records it, in the same write. An attempt that repeats the last record (same
// revision, result, stage and message: an agent retrying a failure with backoff) adds no
// record, so that retries do not flush the history; nothing is written when nothing changed.
// An empty rec.Revision (the branch head could not be read) is the last attempted revision.
func (s *Syncer) RecordAttempt(ctx context.Context, env string, rec SyncRecord, cause error) error {
	st, err := s.state.Load(ctx, env)
	if err != nil {
		return err
	}
	if rec.Revision == "" {
		rec.Revision = st.AttemptedRevision
	}
	changed := false
	if cause != nil {
		changed = markFailed(st, rec.Revision, cause)
	}
	if !repeats(st.History, rec) {
		st.AddHistory(rec)
		changed = true
	}
	if !changed {
		return nil
	}
	return s.state.Save(ctx, st)
}

// repeats reports whether rec says what the last record of history says.
func repeats(history []SyncRecord, rec SyncRecord) bool {
	if len(history) == 0 {
		return false
	}
	last := history[len(history)-1]
	return last.Revision == rec.Revision && last.Result == rec.Result && last.Stage == rec.Stage && last.Message == rec.Message
}
