package main

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferry-cd/ferry/sync"
)

// TestApproval checks which states `ferry approve` approves, and what it says when it refuses.
func TestApproval(t *testing.T) {
	const rev = "3f2a1c9d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"
	now := time.Date(2026, 11, 30, 1, 2, 3, 0, time.UTC)
	waiting := sync.State{Env: "production", Stage: "canary", AppliedRevision: "1111111111111111111111111111111111111111",
		Progress: sync.Progress{Revision: rev, StageCount: 2, Phase: sync.PhaseWaiting, Since: now.Add(-time.Minute)}}
	soaking := waiting
	soaking.Progress.Phase, soaking.Progress.Soak = sync.PhaseSoaking, 2*time.Minute
	halted := sync.State{Env: "production", Stage: "canary", AppliedRevision: "1111111111111111111111111111111111111111",
		Progress: sync.Progress{HaltedRevision: rev, Phase: sync.PhaseHalted, HaltReason: "Deployment production/gceme-frontend-canary: not ready"}}
	idle := sync.State{Env: "production", AppliedRevision: rev, AttemptedRevision: rev}
	approved := &sync.Request{By: "alice", At: now, Revision: rev, Stage: "canary"}
	tests := []struct {
		name     string
		st       sync.State
		revision string
		want     *sync.Request
		err      string
	}{
		{"waiting", waiting, "", approved, ""},
		{"the full revision", waiting, rev, approved, ""},
		{"a 7-character prefix", waiting, "3f2a1c9", approved, ""},
		{"a prefix in capitals", waiting, "3F2A1C9D", approved, ""},
		{"another revision", waiting, "abcdef0", nil,
			"environment production waits for approval of 3f2a1c9 at stage canary, not of abcdef0: nothing approved"},
		{"a prefix too short", waiting, "3f2a1c", nil,
			"environment production waits for approval of 3f2a1c9 at stage canary, not of 3f2a1c: nothing approved"},
		{"soaking", soaking, "", nil,
			"environment production is not waiting for approval: it is rolling out 3f2a1c9 (canary 1/2 soaking 1m0s of 2m0s)"},
		{"halted", halted, "", nil,
			"environment production is not waiting for approval: the rollout of 3f2a1c9 halted at stage canary (Deployment production/gceme-frontend-canary: not ready)"},
		{"no rollout", idle, "", nil, "environment production is not waiting for approval: it runs 3f2a1c9, with no rollout in progress"},
		{"no state", sync.State{Env: "prod"}, "", nil,
			"environment prod is not waiting for approval: no sync of it is recorded in namespace ferry-system (check the environment's name and --namespace)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := approval(&tt.st, "ferry-system", tt.revision, "alice", now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("approval (-want +got)\n%s", diff)
			}
			if msg := errString(err); msg != tt.err {
				t.Errorf("error\n got %q\nwant %q", msg, tt.err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestForbiddenSaysWhatToGrant checks the message of a 403 from the API server.
func TestForbiddenSaysWhatToGrant(t *testing.T) {
	api := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "ferry-production",
		errors.New(`User "bob" cannot update resource "configmaps" in API group "" in the namespace "ferry-system"`))
	if got, want := forbidden(api, "ferry-system"), `forbidden: User "bob" cannot update configmaps in namespace ferry-system`; got != want {
		t.Errorf("forbidden(403) = %q, want %q", got, want)
	}
}
