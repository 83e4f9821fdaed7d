package sync

import (
	"errors"
	"testing"
	"time"
)

// TestRecordAttempt records a failure twice (an agent retrying with backoff): one history
// record, one write, and the failure in the state; then an applied sync, in the history too.
func TestRecordAttempt(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	store := f.syncer.State()
	fail := errors.New("render: environments/x: no such file")
	rec := SyncRecord{Revision: "r2", Trigger: "schedule", Result: "failed", Message: fail.Error(), At: time.Now()}
	if err := f.syncer.RecordAttempt(ctx, f.env.Name, rec, fail); err != nil {
		t.Fatal(err)
	}
	st, err := store.Load(ctx, f.env.Name)
	if err != nil {
		t.Fatal(err)
	}
	writes := f.counter.Writes()
	if err := f.syncer.RecordAttempt(ctx, f.env.Name, rec, fail); err != nil {
		t.Fatal(err)
	}
	if n := f.counter.Writes() - writes; n != 0 {
		t.Errorf("the repeated failure wrote %d times, want 0", n)
	}
	if len(st.History) != 1 || st.LastError != fail.Error() || st.AttemptedRevision != "r2" || st.Health != Unknown {
		t.Errorf("after a failure: history %+v, lastError %q, attempted %q, health %q", st.History, st.LastError, st.AttemptedRevision, st.Health)
	}
	applied := SyncRecord{Revision: "r3", Trigger: "webhook", Result: "applied", Duration: time.Second, At: time.Now()}
	if err := f.syncer.RecordAttempt(ctx, f.env.Name, applied, nil); err != nil {
		t.Fatal(err)
	}
	st, err = store.Load(ctx, f.env.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.History) != 2 || st.History[1].Revision != "r3" || st.History[1].Result != "applied" || st.LastError != fail.Error() {
		t.Errorf("after an applied sync: history %+v, lastError %q; want both records, the failure left as it is", st.History, st.LastError)
	}
}
