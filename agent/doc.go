// Package agent is the in-cluster daemon: it schedules syncs per environment, answers the git
// webhook, runs staged rollouts gated on health, elects a leader and reports status in logs,
// metrics, Events and the state ConfigMaps.
package agent
