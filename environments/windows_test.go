package environments

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestCheckWindows(t *testing.T) {
	friday5pm := time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC) // a Friday
	denyWeekend := Window{Kind: Deny, Start: "0 17 * * FRI", Duration: 64 * time.Hour}
	workHours := Window{Kind: Allow, Start: "0 9 * * MON-THU", Duration: 8 * time.Hour}
	holiday := Window{Kind: Deny, Start: "0 0 24 12 *", Duration: 72 * time.Hour}
	tests := []struct {
		name    string
		windows []Window
		now     time.Time
		want    Verdict
	}{
		{"no windows", nil, friday5pm, Verdict{Permitted: true}},
		{"just before a deny window", []Window{denyWeekend}, friday5pm.Add(-time.Second), Verdict{Permitted: true}},
		{"a deny window opens", []Window{denyWeekend}, friday5pm, Verdict{Window: denyWeekend, Until: friday5pm.Add(64 * time.Hour)}},
		{"inside a deny window", []Window{denyWeekend}, friday5pm.Add(30 * time.Hour), Verdict{Window: denyWeekend, Until: friday5pm.Add(64 * time.Hour)}},
		{"a deny window's end is open again", []Window{denyWeekend}, friday5pm.Add(64 * time.Hour), Verdict{Permitted: true}},
		{"inside an allow window", []Window{workHours}, time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), Verdict{Permitted: true}},
		{"outside every allow window: until the next opens", []Window{workHours}, time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC),
			Verdict{Window: workHours, Until: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}},
		{"deny wins over allow", []Window{workHours, holiday}, time.Date(2026, 12, 24, 10, 0, 0, 0, time.UTC),
			Verdict{Window: holiday, Until: time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC)}},
		{"of two open deny windows, the later end", []Window{holiday, {Kind: Deny, Start: "0 0 * * *", Duration: 2 * time.Hour}},
			time.Date(2026, 12, 24, 1, 0, 0, 0, time.UTC), Verdict{Window: holiday, Until: time.Date(2026, 12, 27, 0, 0, 0, 0, time.UTC)}},
		{"overlapping openings of one window: the last start counts", []Window{{Kind: Deny, Start: "* * * * *", Duration: 90 * time.Second}},
			time.Date(2026, 12, 24, 1, 1, 10, 0, time.UTC), Verdict{Window: Window{Kind: Deny, Start: "* * * * *", Duration: 90 * time.Second},
				Until: time.Date(2026, 12, 24, 1, 2, 30, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckWindows(tt.windows, tt.now)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(Window{})); diff != "" {
				t.Errorf("CheckWindows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWindowsOf(t *testing.T) {
	p, err := Parse([]byte(pipeline(envA+envB+"  windows:\n  - {allow: '0 9 * * MON-THU', duration: 8h}\n") +
		"windows:\n- {deny: '0 17 * * FRI', duration: 64h}\n- {deny: '0 0 24 12 *', duration: 72h, environments: [a]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := func(env string) []string {
		var s []string
		for _, w := range p.WindowsOf(env) {
			s = append(s, w.String()+" at "+w.Position)
		}
		return s
	}
	if diff := cmp.Diff([]string{`deny "0 17 * * FRI" for 64h0m0s at ferry.yaml:13:3`, `deny "0 0 24 12 *" for 72h0m0s at ferry.yaml:14:3`}, got("a")); diff != "" {
		t.Errorf("WindowsOf(a) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`deny "0 17 * * FRI" for 64h0m0s at ferry.yaml:13:3`, `allow "0 9 * * MON-THU" for 8h0m0s at ferry.yaml:11:5`}, got("b")); diff != "" {
		t.Errorf("WindowsOf(b) (-want +got):\n%s", diff)
	}
}
