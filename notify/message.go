package notify

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/ferry-cd/ferry/internal/redact"
)

// Event is what a message is about; the values are those of ferry.yaml's
// notifications[].events.
type Event string

// The events ferry sends.
const (
	SyncFailed        Event = "sync-failed"
	RolloutHalted     Event = "rollout-halted"
	ApprovalNeeded    Event = "approval-needed"
	RolledOut         Event = "rolled-out"
	PromotionProposed Event = "promotion-proposed"
	RevertProposed    Event = "revert-proposed"
)

// Events lists every Event.
var Events = []Event{SyncFailed, RolloutHalted, ApprovalNeeded, RolledOut, PromotionProposed, RevertProposed}

// Message is one notification, built only from what may be shown to anyone in the channel:
// the environment, the revision and its commit subject, the stage, ferry's own message (its
// errors are already free of Secret values and credentials; the payloads mask URL credentials
// once more) and a link.
type Message struct {
	Event    Event
	Env      string
	Revision string // the full commit SHA (or what the agent knows of it)
	Stage    string // "" when the event concerns no stage
	Subject  string // the commit subject of Revision, "" when unknown
	Text     string // what happened, in a sentence or an error message
	URL      string // the pull request, or the agent's status page; "" when none
	Time     time.Time
}

// maxText bounds a message's text, in runes: a chat message is read, not searched, and
// Slack's and Teams' blocks have limits of a few thousand characters.
const maxText = 1500

// Title returns the message's one-line summary, e.g. "Rollout of 3f2a1c9 halted in
// production at stage canary".
func (m Message) Title() string {
	rev := short(m.Revision)
	switch m.Event {
	case SyncFailed:
		return fmt.Sprintf("Sync of %s failed at %s", m.Env, orUnknown(rev))
	case RolloutHalted:
		return fmt.Sprintf("Rollout of %s halted in %s at stage %s", rev, m.Env, m.Stage)
	case ApprovalNeeded:
		return fmt.Sprintf("%s waits for approval in %s at stage %s", rev, m.Env, m.Stage)
	case RolledOut:
		return fmt.Sprintf("%s rolled out to %s", rev, m.Env)
	case PromotionProposed:
		return fmt.Sprintf("Promotion of %s to %s proposed", rev, m.Env)
	case RevertProposed:
		return fmt.Sprintf("Revert of %s in %s proposed", rev, m.Env)
	}
	return fmt.Sprintf("%s: %s at %s", m.Event, m.Env, rev)
}

// shown returns m as the payloads show it: URL credentials masked in its text, subject and
// link, and the text and subject cut to a bounded length.
func (m Message) shown() Message {
	m.Text = clip(redact.Text(m.Text), maxText)
	m.Subject = clip(redact.Text(m.Subject), 200)
	m.URL = redact.URL(m.URL)
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	m.Time = m.Time.UTC().Truncate(time.Second)
	return m
}

// clip cuts s to at most n runes, marking the cut with an ellipsis.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func short(rev string) string {
	if len(rev) == 40 {
		return rev[:7]
	}
	return rev
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown revision"
	}
	return s
}
