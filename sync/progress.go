package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Progress is a staged rollout's place, kept in the state ConfigMap so that a restarted agent
// resumes at the same stage without applying the finished ones again.
type Progress struct {
	// Revision is the revision being rolled out ("" when no rollout is in progress).
	Revision string `json:"revision,omitempty"`
	// StageIndex is the 0-based index of Stage among StageCount stages.
	StageIndex int `json:"stageIndex"`
	StageCount int `json:"stageCount,omitempty"`
	// Phase is applying, soaking, waiting for approval or halted.
	Phase string `json:"phase,omitempty"`
	// Since is when the phase began.
	Since time.Time `json:"since,omitzero"`
	// Soak is the current stage's soak duration.
	Soak time.Duration `json:"soak,omitempty"`
	// HaltedRevision is the last revision whose rollout halted, with why; it is not retried
	// until the branch moves. RevertProposed records that its revert PR was opened.
	HaltedRevision string `json:"haltedRevision,omitempty"`
	HaltReason     string `json:"haltReason,omitempty"`
	RevertProposed bool   `json:"revertProposed,omitempty"`
	// HaltedBeforeApply records that the halted rollout applied nothing (a stage selected no
	// object, or every object): holding the environment leaves no object to it.
	HaltedBeforeApply bool `json:"haltedBeforeApply,omitempty"`
	// RetriedAt is the time of the `ferry retry` request (Control.Retry.At) the agent last
	// honoured: each request rolls the halted revision out again once, so that a second halt
	// of it is not retried in a loop.
	RetriedAt time.Time `json:"retriedAt,omitzero"`
	// Analysis is the state of the analysis checks of the stage at StageIndex (kept after a
	// halt, so that status shows what the checks saw); nil when that stage has none.
	Analysis []CheckState `json:"analysis,omitempty"`
	// Approved is the last approval a rollout took (who, when, which revision and stage),
	// kept for status after the rollout went on; the agent records it here because it never
	// changes Control.
	Approved *Request `json:"approved,omitempty"`
	// StaleApproval is when the approval found in Control as this wait for approval began was
	// given, if it named this revision and stage already: it was for an earlier rollout of
	// the same revision (a retry, a pin moved back), and does not approve this one.
	StaleApproval time.Time `json:"staleApproval,omitzero"`
}

// CheckState is what one analysis check of a stage has seen so far, so that a restarted agent
// resumes the analysis where it was and `ferry status` shows each check's last value.
type CheckState struct {
	Name string `json:"name"`
	// Evaluations counts this stage's evaluations of the check; Failures the consecutive
	// failed ones up to the last; Passed says whether one passed.
	Evaluations int  `json:"evaluations,omitempty"`
	Failures    int  `json:"failures,omitempty"`
	Passed      bool `json:"passed,omitempty"`
	// Result is the last evaluation's: pass or fail. Value is its value (a Prometheus check
	// with a sample), Message why it failed.
	Result  string    `json:"result,omitempty"`
	Value   *float64  `json:"value,omitempty"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

// Rollout phases.
const (
	PhaseApplying = "applying"
	PhaseSoaking  = "soaking"
	PhaseHalted   = "halted"
	// PhaseWaiting is a stage with approval: manual that soaked and waits for `ferry approve`.
	PhaseWaiting = "waiting for approval"
)

// Describe renders progress as `ferry status` shows it, e.g. "canary 1/2 soaking 1m10s of 2m".
func (p Progress) Describe(stage string, now time.Time) string {
	if p.Revision == "" && p.Phase != PhaseHalted {
		return stage
	}
	s := fmt.Sprintf("%s %d/%d %s", stage, p.StageIndex+1, p.StageCount, p.Phase)
	if p.Phase == PhaseSoaking && !p.Since.IsZero() {
		s += fmt.Sprintf(" %s of %s", now.Sub(p.Since).Round(time.Second), p.Soak)
	}
	return s
}

// DescribeChecks renders the analysis checks' last evaluations as status shows them, e.g.
// "error-rate=0.012 pass, smoke fail: webhook answered 500"; "" when there are none.
func (p Progress) DescribeChecks() string {
	parts := make([]string, 0, len(p.Analysis))
	for _, c := range p.Analysis {
		parts = append(parts, c.Describe())
	}
	return strings.Join(parts, ", ")
}

// Describe renders one check's last evaluation: "NAME=VALUE RESULT", the reason of a failure
// after a colon, "NAME pending" before the first evaluation.
func (c CheckState) Describe() string {
	if c.Result == "" {
		return c.Name + " pending"
	}
	s := c.Name
	if c.Value != nil {
		s += "=" + strconv.FormatFloat(*c.Value, 'g', 4, 64)
	}
	s += " " + c.Result
	if c.Result != "pass" && c.Message != "" {
		s += ": " + c.Message
	}
	return s
}

func encodeProgress(p Progress) string {
	if reflect.ValueOf(p).IsZero() {
		return ""
	}
	data, _ := json.Marshal(p)
	return string(data)
}

func decodeProgress(s string) Progress {
	var p Progress
	if s != "" {
		_ = json.Unmarshal([]byte(s), &p) // an unreadable progress restarts the rollout
	}
	return p
}

// SaveProgress loads env's state, lets update change its stage and progress, and saves it.
func (s *Syncer) SaveProgress(ctx context.Context, env string, update func(*State)) error {
	st, err := s.state.Load(ctx, env)
	if err != nil {
		return err
	}
	update(st)
	return s.state.Save(ctx, st)
}
