package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/ferry-cd/ferry/sync"
)

func newStatusCommand() *cobra.Command {
	var kube kubeFlags
	var output string
	var history bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print every environment's revision, stage, health, last sync and message from its state ConfigMap",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Bad usage is reported before the cluster is asked anything.
			if output != "" && output != "json" {
				return &usageError{errUnknownOutput(output)}
			}
			cfg, err := kube.config()
			if err != nil {
				return err
			}
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return fmt.Errorf("kubernetes client: %w", err)
			}
			states, err := sync.NewStateStore(client, kube.namespace).List(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				// Always an array, [] when there is nothing, so that scripts need no special case.
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(statusesOf(states, kube.namespace))
			}
			if len(states) == 0 {
				_, err := fmt.Fprintf(out, "no environments synced in namespace %s\n", kube.namespace)
				return err
			}
			now := time.Now()
			if err := writeStatusTable(out, states, kube.namespace, now); err != nil || !history {
				return err
			}
			return writeStatusHistory(out, states, now)
		},
	}
	kube.register(cmd)
	// status only reads: unlike sync, it never creates the namespace.
	cmd.Flags().Lookup("namespace").Usage = "ferry's own namespace, holding the state ConfigMaps"
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json (default: a table)")
	cmd.Flags().BoolVar(&history, "history", false, "after the table, each environment's last syncs (revision, subject, trigger, result, duration); -o json always has them")
	return cmd
}

// envStatus is one environment in `ferry status -o json`. The state ConfigMap holds no Secret
// data, and neither does this.
type envStatus struct {
	Env string `json:"env"`
	// Revision is the last applied revision, in full ("" when never applied).
	Revision          string `json:"revision"`
	AttemptedRevision string `json:"attemptedRevision"`
	Stage             string `json:"stage"`
	Progress          string `json:"progress,omitempty"`
	// Checks are the current (or halted) stage's analysis checks, as last evaluated.
	Checks []sync.CheckState `json:"checks,omitempty"`
	// Approval is a rollout's wait for `ferry approve`, or who approved its stage and when.
	Approval *sync.Approval `json:"approval,omitempty"`
	Health   string         `json:"health"`
	// AppliedAt and AttemptedAt are null when it never happened.
	AppliedAt   *time.Time `json:"appliedAt"`
	AttemptedAt *time.Time `json:"attemptedAt"`
	LastError   string     `json:"lastError"`
	// Objects is the number of objects in the inventory.
	Objects int `json:"objects"`
	// StateError is why the state ConfigMap cannot be read (its inventory is then not
	// counted); Action says how to recover.
	StateError string `json:"stateError,omitempty"`
	// Removed is true when the agent found the environment no longer in ferry.yaml, at revision
	// RemovedAt; Action says what to do.
	Removed   bool   `json:"removed,omitempty"`
	RemovedAt string `json:"removedAt,omitempty"`
	Action    string `json:"action,omitempty"`
	// History is the last syncs that did something, newest first, as the agent recorded them.
	History []sync.SyncRecord `json:"history,omitempty"`
	// Deferred is the new revision a deploy window holds back (null when none waits).
	Deferred *sync.Deferral `json:"deferred,omitempty"`
	// Suspended is the `ferry suspend` in force: by, at, reason (absent when none).
	Suspended *sync.Request `json:"suspended,omitempty"`
}

func statusesOf(states []*sync.State, namespace string) []envStatus {
	out := make([]envStatus, 0, len(states))
	for _, st := range states {
		es := envStatus{
			Env: st.Env, Revision: st.AppliedRevision, AttemptedRevision: st.AttemptedRevision,
			Stage: st.Stage, Progress: progressOf(st, time.Now()), Health: healthOf(st), AppliedAt: timeOrNil(st.AppliedAt),
			AttemptedAt: timeOrNil(st.AttemptedAt), LastError: st.LastError, Objects: len(st.Inventory),
			Removed: st.RemovedAt != "", RemovedAt: st.RemovedAt, Checks: st.Progress.Analysis, History: newestFirst(st.History),
			Approval: sync.ApprovalOf(st), Deferred: st.Deferred, Suspended: st.Control.Suspended,
		}
		if st.Err != nil {
			es.StateError = st.Err.Error()
		}
		es.Action = strings.Join(actionsOf(st, namespace), " ")
		out = append(out, es)
	}
	return out
}

// actionsOf says, as sentences, what to do about a state that cannot be read or whose
// environment left ferry.yaml; nil for any other.
func actionsOf(st *sync.State, namespace string) []string {
	return sync.Advice(namespace, st, st.RemovedAt != "")
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// writeStatusTable writes states as a kubectl-style table, ages relative to now. Below it, a
// note for each state that cannot be read (its error and how to recover) and each environment
// that left ferry.yaml (what to do); namespace is ferry's, where the state ConfigMaps are.
func writeStatusTable(w io.Writer, states []*sync.State, namespace string, now time.Time) error {
	tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
	checks := anyChecks(states) // the CHECKS column only when a stage has analysis checks
	header := "ENV\tREVISION\tSTAGE\tHEALTH\t"
	if checks {
		header += "CHECKS\t"
	}
	fmt.Fprintln(tw, header+"LAST SYNC\tMESSAGE")
	for _, st := range states {
		stage := st.Progress.Describe(st.Stage, now)
		if stage == "" {
			stage = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t", st.Env, shortRevision(st.AppliedRevision), stage, healthOf(st))
		if checks {
			fmt.Fprintf(tw, "%s\t", cmp.Or(st.Progress.DescribeChecks(), "-"))
		}
		fmt.Fprintf(tw, "%s\t%s\n", age(now, st.AttemptedAt), statusMessage(st, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeStatusNotes(w, states, namespace)
}

// writeStatusNotes writes, after a blank line, the note of each state that needs one (see
// writeStatusTable); nothing when none does.
func writeStatusNotes(w io.Writer, states []*sync.State, namespace string) error {
	var b strings.Builder
	for _, st := range states {
		if st.Err != nil {
			fmt.Fprintf(&b, "%s: %s\n", st.Env, oneLine(st.Err.Error()))
		}
		if st.RemovedAt != "" {
			fmt.Fprintf(&b, "%s: not in ferry.yaml at %s, so the agent no longer syncs it.\n", st.Env, shortRevision(st.RemovedAt))
		}
		for _, do := range actionsOf(st, namespace) {
			fmt.Fprintf(&b, "  %s\n", do)
		}
	}
	if b.Len() == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\n%s", b.String())
	return err
}

// shortRevision returns the first 7 characters of a commit SHA, "worktree" as it is, and "-"
// for no revision.
func shortRevision(rev string) string {
	switch {
	case rev == "":
		return "-"
	case rev == "worktree" || len(rev) <= 7:
		return rev
	}
	return rev[:7]
}

func healthOf(st *sync.State) string {
	if st.Health == "" {
		return sync.Unknown
	}
	return st.Health
}

// maxMessage bounds the MESSAGE column, in runes; `ferry status -o json` has the full error.
const maxMessage = 80

// statusMessage says what needs attention: a suspension (who, how long before now, why), the
// last attempt's error (its first line, prefixed with the attempted revision when that is not
// the one applied), the command that lets a rollout waiting for approval go on, a new revision
// that waits for a deploy window (in full: it says until when), or why the environment is not
// healthy; when all is well, who approved the stage of the revision rolling out or applied,
// else "".
func statusMessage(st *sync.State, now time.Time) string {
	var msg string
	switch {
	case st.Err != nil:
		msg = "state ConfigMap unreadable: see below"
	case st.RemovedAt != "":
		msg = "not in ferry.yaml at " + shortRevision(st.RemovedAt) + ": see below"
	case st.Control.Suspended != nil:
		msg = st.Control.DescribeSuspension(now)
	case st.LastError != "":
		msg, _, _ = strings.Cut(st.LastError, "\n")
		if st.AttemptedRevision != "" && st.AttemptedRevision != st.AppliedRevision {
			msg = shortRevision(st.AttemptedRevision) + ": " + msg
		}
	case st.Progress.Waiting():
		msg = "run `ferry approve " + st.Env + "` to let " + shortRevision(st.Progress.Revision) + " go on past " + st.Stage
	case st.Deferred != nil:
		return oneLine("deferred: " + st.Deferred.Describe()) // not cut: it ends in until when
	case st.Progress.Phase == sync.PhaseHalted && st.Progress.HaltReason != "":
		msg = "rollout of " + shortRevision(st.Progress.HaltedRevision) + " halted: " + st.Progress.HaltReason
	case st.AppliedRevision == "":
		msg = "never applied"
	case st.Health == sync.Degraded:
		// The health error itself is only in the agent's log line, not in the state.
		msg = "objects did not become healthy after the last apply; see the sync log"
	case sync.ApprovalOf(st) != nil:
		a := sync.ApprovalOf(st) // not waiting: approved
		msg = a.Stage + " of " + shortRevision(a.Revision) + " approved by " + a.By + " at " + a.At.UTC().Format(time.RFC3339)
	}
	return truncate(oneLine(msg), maxMessage)
}

// oneLine replaces tabs and other control characters, which would break the table, with spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// truncate shortens s to at most n runes, ending in "…" when it was cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// age formats how long ago t was, as kubectl's AGE column does: 5s, 3m, 2h, 4d, 1y, rounded
// down. A zero t is "-" (never). A t up to a second ahead of now is "0s", allowing for clocks
// that differ a little between the agent and this machine; further ahead is "<invalid>".
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < -time.Second:
		return "<invalid>"
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(int(d/time.Second), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	case d < 365*24*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return fmt.Sprintf("%dy", int(d/(365*24*time.Hour)))
}

// anyChecks reports whether a state records analysis checks.
func anyChecks(states []*sync.State) bool {
	for _, st := range states {
		if len(st.Progress.Analysis) > 0 {
			return true
		}
	}
	return false
}

// progressOf describes a rollout in progress or halted ("" otherwise).
func progressOf(st *sync.State, now time.Time) string {
	if st.Progress.Revision == "" && st.Progress.Phase != sync.PhaseHalted {
		return ""
	}
	return st.Progress.Describe(st.Stage, now)
}
