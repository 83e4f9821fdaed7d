package environments

import (
	"regexp"
	"slices"
	"strings"
)

// envVarName is a portable environment variable name (POSIX: letters, digits and
// underscores, not starting with a digit).
var envVarName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validateNotifications checks the top-level notifications at path at; their environments
// must exist in p.
func validateNotifications(r *report, ns []Notification, at string, p *Pipeline) {
	names := map[string]string{}
	for i, n := range ns {
		np := index(at, i)
		r.dnsLabel(field(np, "name"), n.Name)
		r.once(names, field(np, "name"), "notification name", n.Name)
		switch n.Type {
		case NotifySlack, NotifyTeams, NotifyWebhook:
		case "":
			r.errorf(field(np, "type"), "is required: %s, %s or %s", NotifySlack, NotifyTeams, NotifyWebhook)
		default:
			r.errorf(field(np, "type"), "must be %s, %s or %s, got %q", NotifySlack, NotifyTeams, NotifyWebhook, n.Type)
		}
		validateURLFrom(r, field(np, "urlFrom"), n.URLFrom)
		validateEvents(r, field(np, "events"), n.Events)
		seen := map[string]string{}
		for j, name := range n.Environments {
			ep := index(field(np, "environments"), j)
			if _, ok := p.Environment(name); !ok {
				r.errorf(ep, "no environment %q in ferry.yaml", name)
				continue
			}
			r.once(seen, ep, "environment", name)
		}
	}
}

// validateURLFrom checks that urlFrom names an environment variable. A URL there is refused
// with the reason: the receiver's URL is a credential and must not be in git.
func validateURLFrom(r *report, at, name string) {
	switch {
	case name == "":
		r.errorf(at, "is required: the name of the agent's environment variable that holds the receiver's URL")
	case strings.Contains(name, "://") || strings.HasPrefix(name, "www.") || strings.Contains(name, "/"):
		// Never quote it: the URL is a secret, and this error is printed.
		r.errorf(at, "looks like a URL; a receiver's URL is a secret and does not belong in git: "+
			"put it in a Secret, pass it to the agent as an environment variable, and give that variable's name here (urlFrom: FERRY_NOTIFY_TEAM_CHAT)")
	case !envVarName.MatchString(name):
		r.errorf(at, "%q is not an environment variable name (letters, digits and _, not starting with a digit)", name)
	}
}

// validateEvents checks that each event is known and listed once.
func validateEvents(r *report, at string, events []NotificationEvent) {
	if events != nil && len(events) == 0 {
		r.errorf(at, "must list at least one event, or be left out for all")
	}
	seen := map[string]string{}
	for i, e := range events {
		ep := index(at, i)
		if !slices.Contains(NotificationEvents, e) {
			r.errorf(ep, "unknown event %q; known events are %s", e, eventList())
			continue
		}
		r.once(seen, ep, "event", string(e))
	}
}

func eventList() string {
	names := make([]string, len(NotificationEvents))
	for i, e := range NotificationEvents {
		names[i] = string(e)
	}
	return strings.Join(names, ", ")
}
