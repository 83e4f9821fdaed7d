package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/redact"
)

// webhookClient posts webhook checks; each request is bounded by its check's Timeout.
var webhookClient = &http.Client{}

// webhookBody is what a webhook check posts, as JSON.
type webhookBody struct {
	Target
	Check string `json:"check"`
}

// evaluateWebhook posts t and c's name as JSON to c's URL (placeholders expanded for t) and
// passes on a 2xx answer within c's Timeout. The reason of a failure shows the URL's
// credentials and query values, which may carry a token, as "***".
func evaluateWebhook(ctx context.Context, c environments.Check, t Target) CheckResult {
	res := CheckResult{Check: c.Name}
	body, err := json.Marshal(webhookBody{Target: t, Check: c.Name})
	if err != nil {
		res.Reason = err.Error()
		return res
	}
	wctx, cancel := context.WithTimeout(ctx, c.Webhook.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(wctx, http.MethodPost, expandURL(c.Webhook.URL, t), bytes.NewReader(body))
	if err != nil {
		res.Reason = "webhook URL: " + redact.Text(err.Error())
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := webhookClient.Do(req)
	if err == nil {
		// Read what the webhook answers (a little of it), so that the connection is reused
		// and a webhook that answers slowly still counts against the timeout.
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	switch {
	case err != nil && errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		res.Reason = "timed out after " + c.Webhook.Timeout.String()
	case err != nil:
		res.Reason = redact.Text(err.Error())
	case resp.StatusCode/100 != 2:
		res.Reason = fmt.Sprintf("webhook answered %d", resp.StatusCode)
	default:
		res.Pass = true
	}
	return res
}

// expandURL expands raw's placeholders for t: escaped as a path segment before the query, as a
// query value in it.
func expandURL(raw string, t Target) string {
	path, query, found := strings.Cut(raw, "?")
	out := environments.Expand(path, t.values(), url.PathEscape)
	if found {
		out += "?" + environments.Expand(query, t.values(), url.QueryEscape)
	}
	return out
}
