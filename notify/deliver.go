package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ferry-cd/ferry/internal/redact"
)

var (
	errQueueFull = errors.New("the notification queue is full")
	errStopped   = errors.New("the agent stopped before the message was sent")
)

// CheckURL returns an error unless raw is an absolute http(s) URL with a host. The error never
// quotes raw, which is a secret.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an http(s) URL")
	}
	return nil
}

// deliver posts d until the receiver takes it, refuses it, or Options.Attempts posts failed,
// and reports the outcome.
func (n *Notifier) deliver(ctx context.Context, d delivery) {
	body, err := Payload(d.to.Type, d.msg)
	if err == nil {
		err = CheckURL(d.to.URL)
	}
	if err != nil {
		n.report(d, Failed, 0, err)
		return
	}
	wait := n.opts.MinBackoff
	for attempt := 1; ; attempt++ {
		retry, err := n.post(ctx, d.to.URL, body)
		switch {
		case err == nil:
			n.report(d, Sent, attempt, nil)
			return
		case ctx.Err() != nil:
			n.report(d, Dropped, attempt, errStopped)
			return
		case !retry || attempt == n.opts.Attempts:
			n.report(d, Failed, attempt, fmt.Errorf("attempt %d of %d: %w", attempt, n.opts.Attempts, err))
			return
		}
		select {
		case <-ctx.Done():
			n.report(d, Dropped, attempt, errStopped)
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, n.opts.MaxBackoff)
	}
}

// post sends body to rawURL once, within Options.Timeout. It returns nil on a 2xx answer, and
// otherwise an error that never holds the URL, and whether trying again may help: after a
// connection error, a timeout, a 408, a 429 or a 5xx answer.
func (n *Notifier) post(ctx context.Context, rawURL string, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, n.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("the receiver's URL does not make a request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ferry")
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		return true, transportError(ctx, err, n.opts.Timeout)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("the receiver answered %s%s", resp.Status, answer(snippet, rawURL))
	code := resp.StatusCode
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500, err
}

// transportError describes a failed post without the URL that *url.Error quotes.
func transportError(ctx context.Context, err error, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s", timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errors.New(redact.Text(err.Error()))
}

// answer returns the start of a refusal's body, which often says why (Slack's
// "invalid_payload", "no_service"), on one line, with the URL and its parts masked in case the
// receiver echoes them.
func answer(body []byte, rawURL string) string {
	text := strings.Join(strings.Fields(string(body)), " ")
	if text == "" {
		return ""
	}
	set := redact.NewSet(rawURL)
	if u, err := url.Parse(rawURL); err == nil {
		set.Add(u.Host + u.Path)
		for _, part := range strings.Split(u.Path+"/"+u.RawQuery, "/") {
			if len(part) >= 8 {
				set.Add(part)
			}
		}
	}
	return ": " + clip(set.String(text), 120)
}
