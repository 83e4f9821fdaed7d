package environments

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// CronSchedule returns the environment's Schedule parsed with cron.ParseStandard: a five-field
// crontab spec or a descriptor such as "@every 1m" or "@hourly", optionally prefixed by
// "CRON_TZ=Europe/Berlin ". Without that prefix the agent's local time zone applies. It
// returns an error naming the environment when the spec does not parse, which never happens
// for a Pipeline returned by Parse.
func (e *Environment) CronSchedule() (cron.Schedule, error) {
	s, err := parseSchedule(e.Schedule)
	if err != nil {
		return nil, fmt.Errorf("environment %s: schedule %q: %w", e.Name, e.Schedule, err)
	}
	return s, nil
}

// parseSchedule is cron.ParseStandard with two guards. robfig/cron v3.0.1 panics on a time
// zone prefix that no space follows, and silently turns "@every" intervals under one second,
// negative ones included, into one second. A time zone prefix makes cron load the zone from
// the system's time zone database, the only place this package reads outside its input.
func parseSchedule(spec string) (cron.Schedule, error) {
	body := spec
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		_, rest, ok := strings.Cut(spec, " ")
		if !ok {
			return nil, errors.New("a time zone prefix must be followed by a space and a schedule")
		}
		body = strings.TrimSpace(rest)
	}
	if every, ok := strings.CutPrefix(body, "@every "); ok {
		if d, err := time.ParseDuration(every); err == nil && d < time.Second {
			return nil, fmt.Errorf("@every needs an interval of at least 1s, got %s", d)
		}
	}
	return cron.ParseStandard(spec)
}
