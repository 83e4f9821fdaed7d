package agent

// Trigger is what started a sync, logged as trigger= on each of its lines (DESIGN.md).
type Trigger string

// The triggers of a sync.
const (
	// TriggerStartup is the first sync of each environment after the agent started, or after
	// it became the leader again, and the attempts to read ferry.yaml before it.
	TriggerStartup Trigger = "startup"
	// TriggerSchedule is a tick of the environment's schedule.
	TriggerSchedule Trigger = "schedule"
	// TriggerWebhook is a push webhook for the agent's branch.
	TriggerWebhook Trigger = "webhook"
	// TriggerDrift is an object of the environment changed by another writer.
	TriggerDrift Trigger = "drift"
	// TriggerRetry is the retry, with backoff, after a failed sync, and `ferry retry`: the
	// rollout of a halted revision started again.
	TriggerRetry Trigger = "retry"
	// TriggerResume is `ferry resume`: the first sync of a suspended environment, at once.
	TriggerResume Trigger = "resume"
	// TriggerApproval is an approval of a stage that waits for one (issue 17); nothing sends
	// it yet.
	TriggerApproval Trigger = "approval"
	// TriggerCLI is `ferry sync`, run by hand: the CLI logs the agent's lines with it.
	TriggerCLI Trigger = "cli"
)
