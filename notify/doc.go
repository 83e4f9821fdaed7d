// Package notify tells chat and webhooks what the agent did: it builds the payloads of Slack
// incoming webhooks, Microsoft Teams Workflows (an Adaptive Card) and ferry's generic JSON, and
// delivers them in the background, each receiver on its own worker.
//
// Delivery never blocks the caller: [Notifier.Notify] puts a message on a bounded queue, or
// drops it when the queue is full; workers post it with a timeout per request and retry a
// receiver that is down or answers 5xx, a bounded number of times. A message is sent at most
// once per (receiver, event, environment, revision): a sync that fails every minute at one
// revision is one message. Like every library package of ferry it never logs: each outcome
// goes to the Report function its owner gives, which logs and counts it.
//
// A receiver's URL is a credential (a Slack or Teams webhook's path is its token): it never
// appears in a Result, an error or a payload.
package notify
