package sync

import (
	"fmt"
	"strings"
)

// Action is what a sync did to one object.
type Action string

// The actions of a ChangeSet.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	Skipped    Action = "skipped"
	// Terminating is a pruned object that a finalizer still holds: deleted, not yet gone.
	Terminating Action = "terminating"
)

// Change is one object's action.
type Change struct {
	Object ObjectID
	Action Action
	// Reason says why, where the action needs one: why an object that left the overlay was
	// kept, what a pruned Namespace or CRD took with it, which finalizer holds a deletion.
	Reason string
}

// ChangeSet lists the action a sync took on each object, in apply order then prune order.
type ChangeSet []Change

// Count returns how many changes have action a.
func (cs ChangeSet) Count(a Action) int {
	n := 0
	for _, c := range cs {
		if c.Action == a {
			n++
		}
	}
	return n
}

// Changed returns the changes other than Unchanged.
func (cs ChangeSet) Changed() ChangeSet {
	var out ChangeSet
	for _, c := range cs {
		if c.Action != Unchanged {
			out = append(out, c)
		}
	}
	return out
}

// String prints one line per change, "Kind ns/name action", followed by ": reason" when the
// change has one.
func (cs ChangeSet) String() string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s %s", c.Object, c.Action)
		if c.Reason != "" {
			fmt.Fprintf(&b, ": %s", c.Reason)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Explained returns the changes that carry a reason.
func (cs ChangeSet) Explained() ChangeSet {
	var out ChangeSet
	for _, c := range cs {
		if c.Reason != "" {
			out = append(out, c)
		}
	}
	return out
}

// Phase names the step of a sync that failed, as logged (DESIGN.md:
// phase=source|render|apply|prune|health|state).
type Phase string

// The phases of a sync. PhaseSource is the repository's: an ls-remote or a fetch that failed,
// or a commit that cannot be read from the cache; sync itself never returns it.
const (
	PhaseSource Phase = "source"
	PhaseRender Phase = "render"
	PhaseApply  Phase = "apply"
	PhasePrune  Phase = "prune"
	PhaseHealth Phase = "health"
	PhaseState  Phase = "state"
)

// Error is a failed sync: the phase and the cause, which names the object where there is one.
type Error struct {
	Phase Phase
	Err   error
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Phase, e.Err) }
func (e *Error) Unwrap() error { return e.Err }
