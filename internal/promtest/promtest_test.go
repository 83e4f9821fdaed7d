package promtest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// TestScrapedTrafficIsQueryable checks the harness end to end: a rate set on the traffic
// server shows in a real Prometheus' instant query.
func TestScrapedTrafficIsQueryable(t *testing.T) {
	p := Start(t)
	p.Traffic.SetRate("prod", "canary", "500", 20)
	p.Traffic.SetRate("prod", "canary", "200", 80)
	client, err := api.NewClient(api.Config{Address: p.URL})
	if err != nil {
		t.Fatal(err)
	}
	q := promv1.NewAPI(client)
	query := `sum(rate(http_requests_total{namespace="prod",track="canary",code=~"5.."}[5s])) / sum(rate(http_requests_total{namespace="prod",track="canary"}[5s]))`
	deadline := time.Now().Add(time.Minute)
	for {
		v, _, err := q.Query(context.Background(), query, time.Now())
		if vec, ok := v.(model.Vector); err == nil && ok && len(vec) == 1 {
			if got := float64(vec[0].Value); got > 0.15 && got < 0.25 {
				t.Logf("error ratio %.3f", got)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %s: last answer %v, %v; want one sample near 0.2", query, v, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
