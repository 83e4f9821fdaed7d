package demo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-cd/ferry/internal/localprom"
)

// exampleAddress is the Prometheus examples/gceme's canary analysis asks; the story points it
// at the local Prometheus instead.
const exampleAddress = "http://prometheus.monitoring:9090"

// analysisInterval replaces the example's 30s analysis interval, so that the shortened canary
// soak still holds a few evaluations.
const analysisInterval = 5 * time.Second

// startPrometheus starts the traffic player and a Prometheus scraping it. kwok's pods serve
// nothing, so the player stands in for gceme's request counters: production's canary and
// stable pods answer 40 requests a second each, one in a hundred failing.
func (s *story) startPrometheus(ctx context.Context) error {
	s.say("starting Prometheus %s; a traffic player serves gceme's request counters, since kwok's pods serve nothing", localprom.Version)
	tr, err := localprom.StartTraffic()
	if err != nil {
		return err
	}
	s.traffic = tr
	for _, track := range []string{"canary", "stable"} {
		tr.SetRate("production", track, "200", 39.6)
		tr.SetRate("production", track, "500", 0.4)
	}
	opts := localprom.DefaultOptions()
	opts.Targets = []string{tr.Addr}
	srv, err := localprom.Start(ctx, opts)
	if err != nil {
		return err
	}
	s.prometheus = srv
	s.say("Prometheus ready at %s in %s, scraping http_requests_total{namespace,track,code} every second",
		srv.URL, srv.StartTime.Round(100*time.Millisecond))
	return nil
}

// pointAnalysis points the example's analysis at the local Prometheus and evaluates it every
// analysisInterval, keeping every other byte of ferryYAML.
func pointAnalysis(ferryYAML, address string) (string, error) {
	if strings.Count(ferryYAML, "address: "+exampleAddress) != 1 || strings.Count(ferryYAML, "interval: 30s") != 1 {
		return "", fmt.Errorf("want exactly one analysis with address %s and interval 30s", exampleAddress)
	}
	y := strings.Replace(ferryYAML, "address: "+exampleAddress, "address: "+address, 1)
	return strings.Replace(y, "interval: 30s", "interval: "+analysisInterval.String(), 1), nil
}

// narrateAnalysis waits for the canary's first passing error-rate evaluation of revision and
// says what the check saw.
func (s *story) narrateAnalysis(ctx context.Context, revision string) error {
	r, err := s.waitRecord(ctx, map[string]string{"msg": "analysis", "env": "production", "stage": "canary",
		"revision": revision, "check": "error-rate", "result": "pass"})
	if err != nil {
		return err
	}
	s.say("Prometheus says %.1f%% of the canary's requests fail (max 5%%): the check passes, every %s while the canary soaks",
		100*r.num("value"), analysisInterval)
	return nil
}
