package sync

import "time"

// Describe renders d as `ferry status` and the status page show it, e.g. `abc1234 waits for
// deny "0 17 * * FRI" for 64h0m0s until 2026-12-01T08:00:00Z`.
func (d *Deferral) Describe() string {
	rev := d.Revision
	if len(rev) > 7 {
		rev = rev[:7]
	}
	return rev + " waits for " + d.Window + " until " + d.Until.UTC().Format(time.RFC3339)
}
