package sync

import "time"

// Approves reports whether a, the approval in an environment's Control, lets the rollout of
// revision go on past stage: it names both, and it is not stale, the approval that was there
// already when the wait began (see Progress.StaleApproval; zero when there was none).
func Approves(a *Request, revision, stage string, stale time.Time) bool {
	if a == nil || revision == "" || a.Revision != revision || a.Stage != stage {
		return false
	}
	return stale.IsZero() || !a.At.Equal(stale)
}

// Waiting reports whether p is a rollout that waits for approval at its current stage.
func (p Progress) Waiting() bool {
	return p.Revision != "" && p.Phase == PhaseWaiting
}

// Approval is a rollout's approval as status shows it: the wait for `ferry approve` (Command),
// or who approved the stage and when.
type Approval struct {
	Waiting  bool      `json:"waiting"`
	Revision string    `json:"revision"`
	Stage    string    `json:"stage"`
	Command  string    `json:"command,omitempty"`
	Since    time.Time `json:"since,omitzero"`
	By       string    `json:"by,omitempty"`
	At       time.Time `json:"at,omitzero"`
}

// ApprovalOf returns the approval st shows: the wait of a rollout waiting for approval, or the
// last approval a rollout took when it was for the revision rolling out or applied; nil when
// there is neither.
func ApprovalOf(st *State) *Approval {
	p := st.Progress
	if p.Waiting() {
		return &Approval{Waiting: true, Revision: p.Revision, Stage: st.Stage, Since: p.Since, Command: "ferry approve " + st.Env}
	}
	a := p.Approved
	if a == nil || a.Revision != p.Revision && a.Revision != st.AppliedRevision {
		return nil
	}
	return &Approval{Revision: a.Revision, Stage: a.Stage, By: a.By, At: a.At}
}
