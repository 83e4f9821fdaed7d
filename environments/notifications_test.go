package environments

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseNotifications(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []Notification
	}{
		{"none", "", nil},
		{"every event by default", "notifications:\n- {name: chat, type: slack, urlFrom: FERRY_NOTIFY_CHAT}\n",
			[]Notification{{Name: "chat", Type: NotifySlack, URLFrom: "FERRY_NOTIFY_CHAT", Events: NotificationEvents, Position: "ferry.yaml:11:3"}}},
		{"events and environments", "notifications:\n- name: ops\n  type: webhook\n  urlFrom: OPS_HOOK\n  events: [rollout-halted, revert-proposed]\n  environments: [b]\n" +
			"- {name: teams, type: teams, urlFrom: T}\n",
			[]Notification{
				{Name: "ops", Type: NotifyWebhook, URLFrom: "OPS_HOOK", Events: []NotificationEvent{EventRolloutHalted, EventRevertProposed}, Environments: []string{"b"}, Position: "ferry.yaml:11:3"},
				{Name: "teams", Type: NotifyTeams, URLFrom: "T", Events: NotificationEvents, Position: "ferry.yaml:16:3"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(pipeline(envA+envB) + tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.Notifications); diff != "" {
				t.Errorf("Notifications (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotificationWants(t *testing.T) {
	n := Notification{Events: []NotificationEvent{EventRolloutHalted}, Environments: []string{"production"}}
	all := Notification{Events: NotificationEvents}
	for _, tc := range []struct {
		n     Notification
		event NotificationEvent
		env   string
		want  bool
	}{
		{n, EventRolloutHalted, "production", true},
		{n, EventRolloutHalted, "staging", false},
		{n, EventSyncFailed, "production", false},
		{all, EventRevertProposed, "anything", true},
	} {
		if got := tc.n.Wants(tc.event, tc.env); got != tc.want {
			t.Errorf("%+v.Wants(%s, %s) = %v, want %v", tc.n, tc.event, tc.env, got, tc.want)
		}
	}
}

func TestParseNotificationErrors(t *testing.T) {
	const secretURL = "https://hooks.slack.com/services/T000/B000/s3cr3tT0k3n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown field", "notifications:\n- {name: a, type: slack, urlFrom: A, url: x}\n",
			[]string{`ferry.yaml:8:38: notifications[0].url: unknown field; known fields are environments, events, name, type, urlFrom`}},
		{"required fields", "notifications:\n- {events: [sync-failed]}\n",
			[]string{
				`ferry.yaml:8:3: notifications[0].name: is required`,
				`ferry.yaml:8:3: notifications[0].type: is required: slack, teams or webhook`,
				`ferry.yaml:8:3: notifications[0].urlFrom: is required: the name of the agent's environment variable that holds the receiver's URL`,
			}},
		{"bad values", "notifications:\n- {name: Chat, type: email, urlFrom: 9LIVES, events: [sync-failed, deployed, sync-failed], environments: [a, prod, a]}\n",
			[]string{
				`ferry.yaml:8:10: notifications[0].name: "Chat" is not a DNS label`,
				`ferry.yaml:8:22: notifications[0].type: must be slack, teams or webhook, got "email"`,
				`ferry.yaml:8:38: notifications[0].urlFrom: "9LIVES" is not an environment variable name`,
				`ferry.yaml:8:68: notifications[0].events[1]: unknown event "deployed"; known events are sync-failed, rollout-halted, approval-needed, rolled-out, promotion-proposed, revert-proposed`,
				`ferry.yaml:8:78: notifications[0].events[2]: duplicate event "sync-failed"; first at line 8`,
				`ferry.yaml:8:110: notifications[0].environments[1]: no environment "prod" in ferry.yaml`,
				`ferry.yaml:8:116: notifications[0].environments[2]: duplicate environment "a"; first at line 8`,
			}},
		{"no events", "notifications:\n- {name: a, type: slack, urlFrom: A, events: []}\n",
			[]string{`ferry.yaml:8:46: notifications[0].events: must list at least one event, or be left out for all`}},
		{"duplicate name", "notifications:\n- {name: a, type: slack, urlFrom: A}\n- {name: a, type: teams, urlFrom: B}\n",
			[]string{`ferry.yaml:9:10: notifications[1].name: duplicate notification name "a"; first at line 8`}},
		{"a URL in git", "notifications:\n- {name: a, type: slack, urlFrom: \"" + secretURL + "\"}\n",
			[]string{`ferry.yaml:8:35: notifications[0].urlFrom: looks like a URL; a receiver's URL is a secret and does not belong in git`}},
		{"not a list", "notifications: {name: a}\n", []string{`ferry.yaml:7:16: notifications: must be a list, got a mapping`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(pipeline(envA) + tt.yaml))
			if err == nil {
				t.Fatal("Parse: got no error")
			}
			if strings.Contains(err.Error(), "s3cr3tT0k3n") {
				t.Errorf("the error quotes the receiver's URL: %v", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Parse: got %d errors, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("Parse error %d:\n got: %s\nwant: %s…", i, lines[i], w)
				}
			}
		})
	}
}
