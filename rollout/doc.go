// Package rollout runs an environment's staged rollout (DESIGN.md's rollout.stages): stage k
// applies the objects the selectors of stages 1..k match, waits until they are healthy and
// soaks; the last stage applies everything and prunes. Progress is saved in the state
// ConfigMap, so that a restarted agent (or the CLI) resumes where it was.
//
// The package never logs: what a rollout does is reported to an Observer, which the agent
// turns into log lines, metrics, Events, commit statuses and revert pull requests, and the CLI
// into log lines. The agent and `ferry sync` drive the same Rollout.
package rollout
