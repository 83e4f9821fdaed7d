package agent

import (
	"testing"
	"time"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/sync"
)

func TestDecide(t *testing.T) {
	friday5pm := time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC) // a Friday
	monday := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	denyWeekend := environments.Window{Kind: environments.Deny, Start: "0 17 * * FRI", Duration: 64 * time.Hour}
	workHours := environments.Window{Kind: environments.Allow, Start: "0 9 * * MON-THU", Duration: 8 * time.Hour}
	names := map[windowDecision]string{proceed: "proceed", deferred: "deferred", overridden: "overridden"}
	for _, tc := range []struct {
		name            string
		windows         []environments.Window
		now             time.Time
		target, current string
		reason          string
		want            windowDecision
	}{
		{"no windows", nil, friday5pm, "new", "old", "", proceed},
		{"deny window open", []environments.Window{denyWeekend}, friday5pm.Add(time.Hour), "new", "old", "", deferred},
		{"deny window open, the applied revision", []environments.Window{denyWeekend}, friday5pm.Add(time.Hour), "old", "old", "", proceed},
		{"deny window open, Ferry-Override", []environments.Window{denyWeekend}, friday5pm.Add(time.Hour), "new", "old", "hotfix", overridden},
		{"deny window open, nothing applied yet", []environments.Window{denyWeekend}, friday5pm.Add(time.Hour), "new", "", "", deferred},
		{"before the deny window", []environments.Window{denyWeekend}, friday5pm.Add(-time.Second), "new", "old", "", proceed},
		{"the deny window's end", []environments.Window{denyWeekend}, friday5pm.Add(64 * time.Hour), "new", "old", "", proceed},
		{"inside the allow window", []environments.Window{workHours}, monday.Add(10 * time.Hour), "new", "old", "", proceed},
		{"outside every allow window", []environments.Window{workHours}, monday.Add(18 * time.Hour), "new", "old", "", deferred},
		{"outside every allow window, on a Friday", []environments.Window{workHours}, friday5pm.Add(-8 * time.Hour), "new", "old", "", deferred},
		{"outside every allow window, Ferry-Override", []environments.Window{workHours}, monday.Add(18 * time.Hour), "new", "old", "hotfix", overridden},
		{"outside every allow window, the applied revision", []environments.Window{workHours}, monday.Add(18 * time.Hour), "old", "old", "", proceed},
		{"deny inside allow", []environments.Window{workHours, {Kind: environments.Deny, Start: "0 12 * * *", Duration: time.Hour}},
			monday.Add(12*time.Hour + 30*time.Minute), "new", "old", "", deferred},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(environments.CheckWindows(tc.windows, tc.now), tc.target, tc.current, tc.reason)
			if got != tc.want {
				t.Errorf("decide = %s, want %s", names[got], names[tc.want])
			}
		})
	}
}

func TestAtRevision(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   sync.State
		want string
	}{
		{"nothing applied", sync.State{}, ""},
		{"applied", sync.State{AppliedRevision: "a"}, "a"},
		{"a rollout in progress", sync.State{AppliedRevision: "a", Progress: sync.Progress{Revision: "b", Phase: sync.PhaseSoaking}}, "b"},
		{"a rollout halted", sync.State{AppliedRevision: "a", Progress: sync.Progress{HaltedRevision: "b", Phase: sync.PhaseHalted}}, "b"},
		{"an old halt, rolled out since", sync.State{AppliedRevision: "c", Progress: sync.Progress{HaltedRevision: "b"}}, "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := atRevision(&tc.st); got != tc.want {
				t.Errorf("atRevision = %q, want %q", got, tc.want)
			}
		})
	}
}
