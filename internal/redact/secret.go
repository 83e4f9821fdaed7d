package redact

import (
	"encoding/base64"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Marks shown instead of a Secret's value in a diff ([SecretPair]).
const (
	Changed = Mask + " (changed)"
	Added   = Mask + " (added)"
	Removed = Mask + " (removed)"
)

// secretFields are the fields of a Secret that hold values.
var secretFields = []string{"data", "stringData"}

// IsSecret reports whether o is a core Secret.
func IsSecret(o *unstructured.Unstructured) bool {
	return o != nil && o.GetKind() == "Secret" && o.GroupVersionKind().Group == ""
}

// Secret returns a copy of o with every value of data and stringData shown as [Mask], keys kept;
// o itself when it is not a Secret.
func Secret(o *unstructured.Unstructured) *unstructured.Unstructured {
	if !IsSecret(o) {
		return o
	}
	o = o.DeepCopy()
	for _, field := range secretFields {
		if values, ok := o.Object[field].(map[string]any); ok {
			for k := range values {
				values[k] = Mask
			}
		}
	}
	return o
}

// SecretPair masks two versions of one Secret for a diff: a key whose value is the same on both
// sides shows [Mask] on both; a changed one shows [Mask] before and [Changed] after; a key only
// after shows [Added], one only before [Removed]. Values are compared as the API server stores
// them (stringData over base64-decoded data), so moving a value between data and stringData is
// no change. Either side may be nil (a created or deleted Secret); objects that are not Secrets
// are returned as they are.
func SecretPair(before, after *unstructured.Unstructured) (*unstructured.Unstructured, *unstructured.Unstructured) {
	if !IsSecret(before) && !IsSecret(after) {
		return before, after
	}
	old, cur := values(before), values(after)
	mark := func(o *unstructured.Unstructured, mine, theirs map[string]string, missing string, differs string) *unstructured.Unstructured {
		if o == nil {
			return nil
		}
		o = o.DeepCopy()
		for _, field := range secretFields {
			fieldValues, ok := o.Object[field].(map[string]any)
			if !ok {
				continue
			}
			for k := range fieldValues {
				theirValue, has := theirs[k]
				switch {
				case theirs != nil && !has:
					fieldValues[k] = missing
				case theirs != nil && theirValue != mine[k]:
					fieldValues[k] = differs
				default:
					fieldValues[k] = Mask
				}
			}
		}
		return o
	}
	return mark(before, old, cur, Removed, Mask), mark(after, cur, old, Added, Changed)
}

// values returns the values of a Secret's keys as the API server stores them: stringData wins
// over data, data is base64-decoded (kept as written when it does not decode). Nil for nil.
func values(o *unstructured.Unstructured) map[string]string {
	if o == nil {
		return nil
	}
	out := map[string]string{}
	if data, ok := o.Object["data"].(map[string]any); ok {
		for k, v := range data {
			s := fmt.Sprint(v)
			if decoded, err := base64.StdEncoding.DecodeString(s); err == nil {
				s = string(decoded)
			}
			out[k] = s
		}
	}
	if data, ok := o.Object["stringData"].(map[string]any); ok {
		for k, v := range data {
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}
