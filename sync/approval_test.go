package sync

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestApproves(t *testing.T) {
	const rev, other = "3f2a1c9d00000000000000000000000000000000", "abcdef0000000000000000000000000000000000"
	at := time.Date(2026, 11, 30, 1, 2, 3, 4000, time.UTC)
	later := at.Add(time.Minute)
	tests := []struct {
		name  string
		a     *Request
		stale time.Time
		want  bool
	}{
		{"no approval", nil, time.Time{}, false},
		{"this revision and stage", &Request{By: "alice", At: at, Revision: rev, Stage: "canary"}, time.Time{}, true},
		{"another revision", &Request{By: "alice", At: at, Revision: other, Stage: "canary"}, time.Time{}, false},
		{"a prefix is not the revision", &Request{By: "alice", At: at, Revision: rev[:7], Stage: "canary"}, time.Time{}, false},
		{"another stage", &Request{By: "alice", At: at, Revision: rev, Stage: "all"}, time.Time{}, false},
		{"the stale approval of an earlier rollout", &Request{By: "alice", At: at, Revision: rev, Stage: "canary"}, at, false},
		{"a new approval after a stale one", &Request{By: "bob", At: later, Revision: rev, Stage: "canary"}, at, true},
		{"the stale time decoded again", &Request{By: "alice", At: at.Local(), Revision: rev, Stage: "canary"}, at, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Approves(tt.a, rev, "canary", tt.stale); got != tt.want {
				t.Errorf("Approves = %v, want %v", got, tt.want)
			}
		})
	}
	if Approves(&Request{Stage: "canary"}, "", "canary", time.Time{}) {
		t.Errorf("an approval without a revision approves a rollout without one")
	}
}

func TestDescribeWaiting(t *testing.T) {
	p := Progress{Revision: "3f2a1c9", StageIndex: 0, StageCount: 2, Phase: PhaseWaiting, Since: time.Now(), Soak: time.Minute}
	if got, want := p.Describe("canary", time.Now()), "canary 1/2 waiting for approval"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
}

func TestApprovalOf(t *testing.T) {
	const rev, old = "3f2a1c9d00000000000000000000000000000000", "abcdef0000000000000000000000000000000000"
	since := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	at := since.Add(time.Minute)
	approved := &Request{By: "alice", At: at, Revision: rev, Stage: "canary"}
	tests := []struct {
		name string
		st   State
		want *Approval
	}{
		{"no rollout", State{Env: "production", AppliedRevision: old}, nil},
		{"soaking", State{Env: "production", Stage: "canary", Progress: Progress{Revision: rev, Phase: PhaseSoaking}}, nil},
		{"waiting", State{Env: "production", Stage: "canary", Progress: Progress{Revision: rev, Phase: PhaseWaiting, Since: since}},
			&Approval{Waiting: true, Revision: rev, Stage: "canary", Since: since, Command: "ferry approve production"}},
		{"approved, rolling out the next stage", State{Env: "production", Stage: "all", AppliedRevision: old,
			Progress: Progress{Revision: rev, StageIndex: 1, Phase: PhaseApplying, Approved: approved}},
			&Approval{Revision: rev, Stage: "canary", By: "alice", At: at}},
		{"approved and applied", State{Env: "production", AppliedRevision: rev, Progress: Progress{Approved: approved}},
			&Approval{Revision: rev, Stage: "canary", By: "alice", At: at}},
		{"an approval of an older rollout", State{Env: "production", AppliedRevision: old,
			Progress: Progress{Revision: "1111111111111111111111111111111111111111", Phase: PhaseSoaking, Approved: approved}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ApprovalOf(&tt.st)); diff != "" {
				t.Errorf("ApprovalOf (-want +got)\n%s", diff)
			}
		})
	}
}
