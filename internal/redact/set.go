package redact

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// MinSecretValue is the length of the shortest Secret value [Set.AddSecretValues] hides in
// messages: shorter ones ("a", "1") would turn every message into asterisks and protect
// nothing. Credentials given with [Set.Add] are hidden whatever their length.
const MinSecretValue = 4

// Set holds the secret strings no message may contain, each in every form a message may quote
// it in. The zero value and nil are empty sets; a Set is not safe for concurrent Adds.
type Set struct {
	forms []string // longest first, so that a secret containing another is replaced whole
}

// NewSet returns a Set holding secrets (empty strings are ignored).
func NewSet(secrets ...string) *Set {
	s := &Set{}
	s.Add(secrets...)
	return s
}

// Add adds secrets — passwords, tokens, passphrases — as written and as escaped in a URL, a Go
// string and a JSON string. Empty strings are ignored.
func (s *Set) Add(secrets ...string) {
	for _, v := range secrets {
		s.add(v, 1)
	}
}

// AddSecretValues adds the values of the Secrets among objs (data decoded from base64 too),
// those of at least [MinSecretValue] characters.
func (s *Set) AddSecretValues(objs []*unstructured.Unstructured) {
	for _, o := range objs {
		if !IsSecret(o) {
			continue
		}
		for _, field := range secretFields {
			values, _, _ := unstructured.NestedFieldNoCopy(o.Object, field)
			walkScalars(values, func(v string) {
				s.add(v, MinSecretValue)
				if decoded, err := base64.StdEncoding.DecodeString(v); err == nil && field == "data" {
					s.add(string(decoded), MinSecretValue)
				}
			})
		}
	}
}

func (s *Set) add(v string, minLen int) {
	for _, form := range []string{v, url.PathEscape(v), url.QueryEscape(v), unquoted(strconv.Quote(v)), unquoted(jsonString(v))} {
		if len(form) >= minLen && !slices.Contains(s.forms, form) {
			s.forms = append(s.forms, form)
		}
	}
	slices.SortStableFunc(s.forms, func(a, b string) int { return len(b) - len(a) })
}

// String returns msg with the credentials of every URL in it and every secret of s masked.
func (s *Set) String(msg string) string {
	msg = Text(msg)
	if s == nil {
		return msg
	}
	for _, form := range s.forms {
		msg = strings.ReplaceAll(msg, form, Mask)
	}
	return msg
}

// Error applies the package's rule to err: nil stays nil; err is returned as it is when its text
// holds no secret; otherwise it is flattened into an error whose text is scrubbed by
// [Set.String] and which answers errors.Is, not errors.As, for err's chain.
func (s *Set) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	scrubbed := s.String(msg)
	if scrubbed == msg {
		return err
	}
	return &flattened{msg: scrubbed, orig: err}
}

// Error is [Set.Error] with no known secret: it masks the credentials of URLs in err's text.
func Error(err error) error { return (*Set)(nil).Error(err) }

// flattened is an error whose text had secrets removed. It has no Unwrap, so that errors.As
// cannot hand the original (and its secret) to a caller; Is keeps errors.Is working.
type flattened struct {
	msg  string
	orig error
}

func (e *flattened) Error() string { return e.msg }

// Is reports whether the original chain holds target.
func (e *flattened) Is(target error) bool { return errors.Is(e.orig, target) }

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
