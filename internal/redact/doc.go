// Package redact is the one place that keeps secrets out of what ferry shows: messages, errors,
// logs, Events, pull request bodies, the status page and printed objects.
//
// It hides three kinds of secret, each shown as [Mask] ("***"):
//   - credentials in URLs: the password, or the lone user name of an http(s) URL (often a
//     token), and every query value (a webhook's or Prometheus' URL may carry a token): [URL],
//     and [Text] for every URL inside a message;
//   - known secret strings, the passwords and tokens given to the process and the values of
//     the Secrets being applied, in every form a message may quote them: [Set];
//   - the values of Secret objects, keeping their keys, and in a diff saying which changed
//     without showing how: [Secret], [SecretPair].
//
// # Errors: wrap or flatten
//
// One rule, applied by [Set.Error]: an error whose text holds no secret is returned as it is,
// and callers wrap it with %w as usual. An error whose text holds one is flattened: it is
// replaced by a new error whose text is the scrubbed text. The flattened error still answers
// errors.Is for the original chain (sentinels such as context.DeadlineExceeded keep working),
// but errors.As cannot reach the original errors, whose fields (a *url.Error's URL, an API
// status' message) may hold the secret. Code that needs a typed error from a flattened one
// classifies it into a sentinel before flattening, as sync/source does.
package redact
