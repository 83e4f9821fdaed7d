package agent

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

func TestTimelineOf(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	stages := []environments.Stage{{Name: "canary", Approval: environments.ApprovalManual}, {Name: "half"}, {Name: "all"}}
	value := 0.012
	checks := []sync.CheckState{{Name: "error-rate", Result: "pass", Value: &value}}
	for _, tc := range []struct {
		name   string
		stages []environments.Stage
		stage  string
		p      sync.Progress
		want   []StageStatus
	}{
		{name: "no rollout", stages: stages, p: sync.Progress{}},
		{
			name: "soaking with checks", stages: stages, stage: "half",
			p: sync.Progress{Revision: "r", StageIndex: 1, StageCount: 3, Phase: sync.PhaseSoaking, Since: now.Add(-70 * time.Second), Soak: 2 * time.Minute, Analysis: checks},
			want: []StageStatus{
				{Name: "canary", State: "done", Approval: true},
				{Name: "half", State: "soaking", Soak: "1m10s of 2m0s", Checks: "error-rate=0.012 pass"},
				{Name: "all", State: "pending"},
			},
		},
		{
			name: "halted", stages: stages, stage: "canary",
			p: sync.Progress{HaltedRevision: "r", StageIndex: 0, StageCount: 3, Phase: sync.PhaseHalted, HaltReason: "Deployment/web not ready"},
			want: []StageStatus{
				{Name: "canary", State: "halted", Reason: "Deployment/web not ready", Command: "ferry retry production", Approval: true},
				{Name: "half", State: "pending"},
				{Name: "all", State: "pending"},
			},
		},
		{
			name: "waiting for approval: any phase the rollout records", stages: stages, stage: "canary",
			p: sync.Progress{Revision: "r", StageIndex: 0, StageCount: 3, Phase: "waiting for approval"},
			want: []StageStatus{
				{Name: "canary", State: "waiting for approval", Command: "ferry approve production", Approval: true},
				{Name: "half", State: "pending"},
				{Name: "all", State: "pending"},
			},
		},
		{
			name: "stages unknown (a follower): the current one only", stage: "half",
			p:    sync.Progress{Revision: "r", StageIndex: 1, StageCount: 3, Phase: sync.PhaseApplying},
			want: []StageStatus{{Name: "half", State: "applying"}},
		},
		{
			name: "soak over while the last check runs", stages: stages, stage: "half",
			p:    sync.Progress{Revision: "r", StageIndex: 1, StageCount: 3, Phase: sync.PhaseSoaking, Since: now.Add(-3 * time.Minute), Soak: 2 * time.Minute},
			want: []StageStatus{{Name: "canary", State: "done", Approval: true}, {Name: "half", State: "soaking", Soak: "2m0s of 2m0s"}, {Name: "all", State: "pending"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := timelineOf("production", tc.stages, tc.stage, tc.p, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("timelineOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistoryEntriesNewestFirst(t *testing.T) {
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	rev := "3f2a1c9e0b4d5f60718293a4b5c6d7e8f9012345"
	history := []sync.SyncRecord{
		{Revision: rev, Result: "applied", Duration: 1420 * time.Millisecond, At: now.Add(-time.Hour)},
		{Revision: "", Result: "failed", Message: "source: unreachable", At: now.Add(-5 * time.Second)},
	}
	want := []SyncEntry{
		{SyncRecord: history[1], Short: "", Age: "5s"},
		{SyncRecord: history[0], Short: "3f2a1c9", Age: "1h0m0s", Took: "1.42s"},
	}
	if diff := cmp.Diff(want, historyEntries(history, now)); diff != "" {
		t.Errorf("historyEntries (-want +got):\n%s", diff)
	}
}

func TestAttemptOf(t *testing.T) {
	rep := &sync.Report{Revision: "abc", Duration: time.Second}
	got := attemptOf(TriggerWebhook, "all", rep, errors.New("health: Deployment/web: not ready\nmore"))
	want := sync.SyncRecord{Revision: "abc", Trigger: "webhook", Stage: "all", Result: "failed", Duration: time.Second, Message: "health: Deployment/web: not ready"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attemptOf (-want +got):\n%s", diff)
	}
}
