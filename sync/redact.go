package sync

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// minRedacted is the shortest Secret value redacted from errors: shorter ones ("a", "1") would
// turn every message into asterisks and protect nothing.
const minRedacted = 4

// redactSecretValues returns err unchanged unless its message holds a value of one of the
// Secrets among objs — the API server quotes a refused value in some errors, such as a
// server-side apply type error ("expected string, got &value.valueUnstructured{…}") — and
// otherwise an error with the same chain whose message shows each such value as "***".
func redactSecretValues(err error, objs []*unstructured.Unstructured) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	redacted := msg
	for _, v := range secretValues(objs) {
		redacted = strings.ReplaceAll(redacted, v, secretMask)
	}
	if redacted == msg {
		return err
	}
	return &redactedError{msg: redacted, err: err}
}

// secretValues lists the values of the Secrets among objs as they may appear in a message:
// as written, base64-decoded (data), Go-quoted and JSON-escaped; longest first.
func secretValues(objs []*unstructured.Unstructured) []string {
	var out []string
	add := func(v string) {
		for _, form := range []string{v, unquoted(strconv.Quote(v)), unquoted(jsonString(v))} {
			if len(form) >= minRedacted {
				out = append(out, form)
			}
		}
	}
	for _, o := range objs {
		if o.GetKind() != "Secret" || o.GroupVersionKind().Group != "" {
			continue
		}
		for _, field := range []string{"data", "stringData"} {
			values, _, _ := unstructured.NestedFieldNoCopy(o.Object, field)
			walkScalars(values, func(v string) {
				add(v)
				if decoded, err := base64.StdEncoding.DecodeString(v); err == nil && field == "data" {
					add(string(decoded))
				}
			})
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

// walkScalars calls fn with every scalar below v, as text.
func walkScalars(v any, fn func(string)) {
	switch v := v.(type) {
	case nil:
	case map[string]any:
		for _, e := range v {
			walkScalars(e, fn)
		}
	case []any:
		for _, e := range v {
			walkScalars(e, fn)
		}
	case string:
		fn(v)
	default:
		fn(fmt.Sprint(v))
	}
}

func jsonString(v string) string {
	data, _ := json.Marshal(v)
	return string(data)
}

// unquoted removes the quotes around a quoted string, keeping its escapes.
func unquoted(q string) string { return q[1 : len(q)-1] }

// redactedError is an error whose message had Secret values removed; errors.Is and errors.As
// still see the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
