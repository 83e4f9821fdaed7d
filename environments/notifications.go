package environments

import (
	"slices"

	"go.yaml.in/yaml/v3"
)

// Notification is one receiver of ferry.yaml's top-level notifications: chat or a generic
// webhook told about the events it lists, for the environments it lists.
type Notification struct {
	Name string // DNS label, unique among the notifications
	// Type is the receiver's kind: NotifySlack, NotifyTeams or NotifyWebhook.
	Type string
	// URLFrom names the agent's environment variable that holds the receiver's URL. The URL
	// is a secret (a chat webhook's path is its token), so it never comes from git.
	URLFrom string
	// Events are the events sent; ferry.yaml may leave them out for all of NotificationEvents.
	Events []NotificationEvent
	// Environments narrows the notification to these environments; empty means all.
	Environments []string
	// Position is where the notification is in ferry.yaml, "ferry.yaml:LINE:COL".
	Position string
}

// The values of Notification.Type.
const (
	NotifySlack   = "slack"   // a Slack incoming webhook
	NotifyTeams   = "teams"   // a Microsoft Teams Workflows webhook (an Adaptive Card)
	NotifyWebhook = "webhook" // ferry's generic JSON
)

// NotificationEvent is something the agent tells notifications about.
type NotificationEvent string

// The events of NotificationEvents.
const (
	EventSyncFailed        NotificationEvent = "sync-failed"        // a sync of a revision failed
	EventRolloutHalted     NotificationEvent = "rollout-halted"     // a staged rollout halted at a stage
	EventApprovalNeeded    NotificationEvent = "approval-needed"    // a stage waits for `ferry approve`
	EventRolledOut         NotificationEvent = "rolled-out"         // a revision became healthy in an environment
	EventPromotionProposed NotificationEvent = "promotion-proposed" // the agent opened or updated a promotion pull request
	EventRevertProposed    NotificationEvent = "revert-proposed"    // the agent opened the revert pull request of a halt
)

// NotificationEvents lists every event, the default of Notification.Events.
var NotificationEvents = []NotificationEvent{
	EventSyncFailed, EventRolloutHalted, EventApprovalNeeded,
	EventRolledOut, EventPromotionProposed, EventRevertProposed,
}

// Wants reports whether n is to be told about event in environment env.
func (n Notification) Wants(event NotificationEvent, env string) bool {
	return slices.Contains(n.Events, event) && (len(n.Environments) == 0 || slices.Contains(n.Environments, env))
}

// notifications decodes the top-level notifications; events left out default to all.
func (d decoder) notifications(n *yaml.Node, path string) []Notification {
	var ns []Notification
	d.sequence(n, path, func(_ int, n *yaml.Node, path string) {
		no := Notification{Position: position(n)}
		var events []string
		given := false // events: [] is an error, not the default
		d.mapping(n, path, fields{
			"name":    d.setString(&no.Name),
			"type":    d.setString(&no.Type),
			"urlFrom": d.setString(&no.URLFrom),
			"events": func(n *yaml.Node, path string) {
				given = true
				d.setStrings(&events)(n, path)
			},
			"environments": d.setStrings(&no.Environments),
		})
		no.Events = slices.Clone(NotificationEvents)
		if given {
			no.Events = make([]NotificationEvent, 0, len(events))
		}
		for _, e := range events {
			no.Events = append(no.Events, NotificationEvent(e))
		}
		ns = append(ns, no)
	})
	return ns
}
