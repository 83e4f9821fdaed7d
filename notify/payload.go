package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The kinds of receiver, as ferry.yaml's notifications[].type names them.
const (
	Slack   = "slack"
	Teams   = "teams"
	Webhook = "webhook"
)

// Payload returns the JSON body that a receiver of kind (Slack, Teams or Webhook) is sent
// for m. It returns an error for an unknown kind.
func Payload(kind string, m Message) ([]byte, error) {
	m = m.shown()
	switch kind {
	case Slack:
		return json.Marshal(slackPayload(m))
	case Teams:
		return json.Marshal(teamsPayload(m))
	case Webhook:
		return json.Marshal(webhookPayload(m))
	}
	return nil, fmt.Errorf("notification type %q: want %s, %s or %s", kind, Slack, Teams, Webhook)
}

// WebhookBody is the generic JSON of a receiver of type webhook, one object per message.
type WebhookBody struct {
	Event    Event  `json:"event"`    // sync-failed, rollout-halted, approval-needed, rolled-out, promotion-proposed or revert-proposed
	Env      string `json:"env"`      // the environment
	Revision string `json:"revision"` // the full commit SHA ("" when a failure came before one was known)
	Stage    string `json:"stage"`    // the rollout stage, "" when none
	Subject  string `json:"subject"`  // the revision's commit subject, "" when unknown
	Title    string `json:"title"`    // a one-line summary, as chat shows it
	Message  string `json:"message"`  // what happened: ferry's message or error
	URL      string `json:"url"`      // the pull request, or the agent's status page; "" when none
	Time     string `json:"time"`     // when it happened, RFC 3339 in UTC
}

func webhookPayload(m Message) WebhookBody {
	return WebhookBody{Event: m.Event, Env: m.Env, Revision: m.Revision, Stage: m.Stage, Subject: m.Subject,
		Title: m.Title(), Message: m.Text, URL: m.URL, Time: m.Time.Format(time.RFC3339)}
}

// facts are the message's details, label and value, in the order chat shows them.
func facts(m Message) [][2]string {
	out := [][2]string{{"Environment", m.Env}, {"Revision", orUnknown(short(m.Revision))}}
	if m.Stage != "" {
		out = append(out, [2]string{"Stage", m.Stage})
	}
	if m.Subject != "" {
		out = append(out, [2]string{"Commit", m.Subject})
	}
	return out
}

// linkLabel names what m.URL points to.
func linkLabel(m Message) string {
	if m.Event == PromotionProposed || m.Event == RevertProposed {
		return "Open the pull request"
	}
	return "Open the status page"
}

// slackPayload is an incoming-webhook message: text is the fallback shown in notifications,
// blocks the message itself (a header, the text, the facts as fields, the link).
func slackPayload(m Message) map[string]any {
	title := m.Title()
	fallback := title
	if m.Text != "" {
		fallback += ": " + m.Text
	}
	blocks := []map[string]any{{"type": "header", "text": map[string]any{"type": "plain_text", "text": clip(title, 150)}}}
	if m.Text != "" {
		blocks = append(blocks, slackSection(m.Text))
	}
	var fields []map[string]any
	for _, f := range facts(m) {
		fields = append(fields, map[string]any{"type": "mrkdwn", "text": "*" + f[0] + "*\n" + slackEscape(f[1])})
	}
	blocks = append(blocks, map[string]any{"type": "section", "fields": fields})
	if m.URL != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{
			"type": "mrkdwn", "text": "<" + slackEscape(m.URL) + "|" + linkLabel(m) + ">"}})
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{
		{"type": "mrkdwn", "text": "ferry · " + string(m.Event) + " · " + m.Time.Format(time.RFC3339)}}})
	return map[string]any{"text": slackEscape(fallback), "blocks": blocks}
}

func slackSection(text string) map[string]any {
	// A section's text holds at most 3000 characters; escaping may have lengthened it.
	return map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": clip(slackEscape(text), 3000)}}
}

// slackEscape escapes the three characters Slack reads as markup (<!channel> would ping
// everyone); Slack asks for exactly these.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace

// teamsPayload is what a Teams Workflows webhook ("When a Teams webhook request is received",
// then "Post card in a chat or channel") takes: a message with one Adaptive Card attachment.
func teamsPayload(m Message) map[string]any {
	color := "Default"
	switch m.Event {
	case SyncFailed, RolloutHalted:
		color = "Attention"
	case RolledOut:
		color = "Good"
	case ApprovalNeeded:
		color = "Warning"
	}
	body := []map[string]any{{"type": "TextBlock", "text": m.Title(), "weight": "Bolder", "size": "Medium", "wrap": true, "color": color}}
	if m.Text != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": m.Text, "wrap": true})
	}
	var fs []map[string]any
	for _, f := range facts(m) {
		fs = append(fs, map[string]any{"title": f[0], "value": f[1]})
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": fs},
		map[string]any{"type": "TextBlock", "text": "ferry · " + string(m.Event) + " · " + m.Time.Format(time.RFC3339), "isSubtle": true, "size": "Small", "wrap": true})
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard", "version": "1.4", "body": body,
	}
	if m.URL != "" {
		card["actions"] = []map[string]any{{"type": "Action.OpenUrl", "title": linkLabel(m), "url": m.URL}}
	}
	return map[string]any{"type": "message", "attachments": []map[string]any{
		{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": nil, "content": card}}}
}
