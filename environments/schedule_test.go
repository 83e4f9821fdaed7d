package environments

import (
	"testing"
	"time"
)

func TestCronSchedule(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		spec string
		want time.Time // the first run after start
	}{
		{"@every 1m", start.Add(time.Minute)},
		{"@every 90s", start.Add(90 * time.Second)},
		{"CRON_TZ=UTC */15 * * * *", time.Date(2026, 1, 2, 3, 15, 0, 0, time.UTC)},
		{"TZ=UTC @hourly", time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			e := &Environment{Name: "staging", Schedule: tt.spec}
			s, err := e.CronSchedule()
			if err != nil {
				t.Fatalf("CronSchedule: %v", err)
			}
			if got := s.Next(start); !got.Equal(tt.want) {
				t.Errorf("Next(%s) = %s, want %s", start, got, tt.want)
			}
		})
	}
}

func TestCronScheduleErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"", `environment staging: schedule "": empty spec string`},
		{"@every 0s", `environment staging: schedule "@every 0s": @every needs an interval of at least 1s, got 0s`},
		{"@every -1m", `environment staging: schedule "@every -1m": @every needs an interval of at least 1s, got -1m0s`},
		{"CRON_TZ=UTC", `environment staging: schedule "CRON_TZ=UTC": a time zone prefix must be followed by a space and a schedule`},
		{"TZ=Nowhere/Else @hourly", `environment staging: schedule "TZ=Nowhere/Else @hourly": provided bad location Nowhere/Else: unknown time zone Nowhere/Else`},
		{"61 * * * *", `environment staging: schedule "61 * * * *": end of range (61) above maximum (59): 61`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			e := &Environment{Name: "staging", Schedule: tt.spec}
			_, err := e.CronSchedule()
			if err == nil || err.Error() != tt.want {
				t.Errorf("CronSchedule:\n got: %v\nwant: %s", err, tt.want)
			}
		})
	}
}
