package rollout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/redact"
)

// evaluatePrometheus runs c's instant query, placeholders expanded for t, within timeout, and
// judges its one sample against c's bounds. No data, NaN, several series and a failed query
// fail the evaluation with that reason.
func evaluatePrometheus(ctx context.Context, c environments.Check, t Target, timeout time.Duration) CheckResult {
	fail := CheckResult{Check: c.Name, Min: c.Min, Max: c.Max}
	client, err := api.NewClient(api.Config{Address: c.Prometheus.Address})
	if err != nil {
		fail.Reason = "prometheus address: " + redact.Text(err.Error())
		return fail
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	query := environments.Expand(c.Prometheus.Query, t.values(), nil)
	val, _, err := promv1.NewAPI(client).Query(qctx, query, time.Now(), promv1.WithTimeout(timeout))
	switch {
	case err != nil && errors.Is(qctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		fail.Reason = "query timed out after " + timeout.String()
		return fail
	case err != nil:
		fail.Reason = redact.Text(err.Error())
		return fail
	}
	v, reason := oneSample(val)
	if reason != "" {
		fail.Reason = reason
		return fail
	}
	if math.IsNaN(v) {
		fail.Value, fail.Reason = &v, "NaN"
		return fail
	}
	return bounded(c, v)
}

// oneSample returns the value of a result that is one sample (a vector of one, or a scalar),
// or why it is not.
func oneSample(val model.Value) (float64, string) {
	switch v := val.(type) {
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, "no data"
		case 1:
			return float64(v[0].Value), ""
		}
		return 0, fmt.Sprintf("several series (%d): the query must return one sample, e.g. sum(...)", len(v))
	case *model.Scalar:
		return float64(v.Value), ""
	case nil:
		return 0, "no data"
	}
	return 0, fmt.Sprintf("the query returned a %s, not one sample", val.Type())
}
