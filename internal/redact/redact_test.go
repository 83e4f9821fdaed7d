package redact_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferry-cd/ferry/internal/redact"
)

func TestURL(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"https://ci:s3cret@example.com/r.git", "https://ci:***@example.com/r.git"},
		{"https://ghp_token@github.com/acme/deploy", "https://***@github.com/acme/deploy"},
		{"http://user:p@ss@host:8080/run", "http://user:***@host:8080/run"},
		{"ssh://git@example.com/r.git", "ssh://git@example.com/r.git"},
		{"ssh://git:pass@example.com/r.git", "ssh://git:***@example.com/r.git"},
		{"http://smoke/run?token=s3cret&env=prod#top", "http://smoke/run?token=***&env=***#top"},
		{"http://smoke/run?s3cret", "http://smoke/run?***"},
		{"https://REDACTED@ghe.example.com\x7f/", "https://***@ghe.example.com\x7f/"},
		{"https://me:s3cret@github.com/%zz", "https://me:***@github.com/%zz"},
		{"https://example.com/r.git", "https://example.com/r.git"},
		{"git@example.com:r.git", "git@example.com:r.git"},
		{"not a url", "not a url"},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			if got := redact.URL(tc.raw); got != tc.want {
				t.Errorf("URL(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []struct{ name, msg, want string }{
		{"Go's quoted URL", `Post "http://user:pw@smoke:8080/run?token=s3cret": connection refused`, `Post "http://user:***@smoke:8080/run?token=***": connection refused`},
		{"two URLs", "clone https://t0k3n@a.example/r then http://b.example/x?k=v", "clone https://***@a.example/r then http://b.example/x?k=***"},
		{"no URL", "render failed: stringData.password", "render failed: stringData.password"},
		{"a URL without credentials kept as written", "https://example.com/a%20b: 404", "https://example.com/a%20b: 404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redact.Text(tc.msg); got != tc.want {
				t.Errorf("Text = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSetString(t *testing.T) {
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db"},
		"data":       map[string]any{"token": "c2VjcmV0LXRva2Vu"}, // secret-token
		"stringData": map[string]any{"password": []any{"hunter2-\"quoted\""}, "pin": int64(123456), "short": "abc"},
	}}
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "cfg"},
		"data": map[string]any{"color": "orange-and-blue"},
	}}
	set := redact.NewSet("pa55/w?rd", "", "t0k")
	set.AddSecretValues([]*unstructured.Unstructured{secret, cm})
	tests := []struct{ name, msg, want string }{
		{"SSA type error", `.stringData.password: expected string, got &value.valueUnstructured{Value:[]interface {}{"hunter2-\"quoted\""}}`,
			`.stringData.password: expected string, got &value.valueUnstructured{Value:[]interface {}{"***"}}`},
		{"number", `got &value.valueUnstructured{Value:123456}`, `got &value.valueUnstructured{Value:***}`},
		{"data, encoded and decoded", `data c2VjcmV0LXRva2Vu is secret-token`, `data *** is ***`},
		{"JSON-escaped", `{"password":"hunter2-\"quoted\""}`, `{"password":"***"}`},
		{"ConfigMap values and short Secret values kept", `orange-and-blue abc`, `orange-and-blue abc`},
		{"a credential, raw and URL-escaped", "pa55/w?rd and " + url.QueryEscape("pa55/w?rd") + " and " + url.PathEscape("pa55/w?rd"), "*** and *** and ***"},
		{"a short credential given to the process", "token t0k", "token ***"},
		{"and URLs", "https://ci:other@example.com/r", "https://ci:***@example.com/r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := set.String(tc.msg); got != tc.want {
				t.Errorf("String = %q, want %q", got, tc.want)
			}
		})
	}
	var none *redact.Set
	if got := none.String("https://a:b@c/ ok"); got != "https://a:***@c/ ok" {
		t.Errorf("nil Set: %q", got)
	}
}

// TestError pins the rule: unchanged errors keep their chain (errors.As too); flattened ones
// answer errors.Is but not errors.As, and show no secret.
func TestError(t *testing.T) {
	set := redact.NewSet("s3cret")
	plain := fmt.Errorf("fetch: %w", context.DeadlineExceeded)
	if got := set.Error(plain); got != plain {
		t.Errorf("an error without a secret was replaced: %v", got)
	}
	urlErr := &url.Error{Op: "Get", URL: "https://ci:s3cret@example.com/r?token=s3cret", Err: context.DeadlineExceeded}
	err := set.Error(fmt.Errorf("clone: %w", urlErr))
	if want := `clone: Get "https://ci:***@example.com/r?token=***": context deadline exceeded`; err.Error() != want {
		t.Errorf("Error = %q, want %q", err, want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("the flattened error lost errors.Is")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		t.Errorf("errors.As reached the original, whose URL holds the secret: %s", ue.URL)
	}
	if set.Error(nil) != nil || redact.Error(nil) != nil {
		t.Error("nil became an error")
	}
	if got := redact.Error(errors.New("https://t0k3n@host/x")).Error(); got != "https://***@host/x" {
		t.Errorf("redact.Error = %q", got)
	}
}

func secretOf(data, stringData map[string]any) *unstructured.Unstructured {
	o := map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db"}}
	if data != nil {
		o["data"] = data
	}
	if stringData != nil {
		o["stringData"] = stringData
	}
	return &unstructured.Unstructured{Object: o}
}

func TestSecret(t *testing.T) {
	in := secretOf(map[string]any{"a": "YQ=="}, map[string]any{"b": "plain"})
	want := secretOf(map[string]any{"a": "***"}, map[string]any{"b": "***"})
	if diff := cmp.Diff(want.Object, redact.Secret(in).Object); diff != "" {
		t.Errorf("Secret (-want +got):\n%s", diff)
	}
	if in.Object["stringData"].(map[string]any)["b"] != "plain" {
		t.Error("Secret changed its argument")
	}
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "data": map[string]any{"a": "b"}}}
	if redact.Secret(cm) != cm {
		t.Error("a ConfigMap was masked")
	}
}

func TestSecretPair(t *testing.T) {
	tests := []struct {
		name                  string
		before, after         *unstructured.Unstructured
		wantBefore, wantAfter *unstructured.Unstructured
	}{
		{"unchanged",
			secretOf(map[string]any{"a": "YQ=="}, nil), secretOf(map[string]any{"a": "YQ=="}, nil),
			secretOf(map[string]any{"a": "***"}, nil), secretOf(map[string]any{"a": "***"}, nil)},
		{"changed, added, removed",
			secretOf(nil, map[string]any{"same": "1", "pw": "old", "gone": "x"}), secretOf(nil, map[string]any{"same": "1", "pw": "new", "new": "y"}),
			secretOf(nil, map[string]any{"same": "***", "pw": "***", "gone": "*** (removed)"}), secretOf(nil, map[string]any{"same": "***", "pw": "*** (changed)", "new": "*** (added)"})},
		{"moved from stringData to data: no change",
			secretOf(nil, map[string]any{"a": "a"}), secretOf(map[string]any{"a": "YQ=="}, nil),
			secretOf(nil, map[string]any{"a": "***"}), secretOf(map[string]any{"a": "***"}, nil)},
		{"created", nil, secretOf(nil, map[string]any{"a": "a"}), nil, secretOf(nil, map[string]any{"a": "***"})},
		{"deleted", secretOf(nil, map[string]any{"a": "a"}), nil, secretOf(nil, map[string]any{"a": "***"}), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, a := redact.SecretPair(tc.before, tc.after)
			if diff := cmp.Diff(tc.wantBefore, b); diff != "" {
				t.Errorf("before (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantAfter, a); diff != "" {
				t.Errorf("after (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	tests := []struct {
		raw  string
		want []string
	}{
		{"https://ci:s3cret@example.com/r.git", []string{"s3cret"}},
		{"https://ci:s%2Fcret@example.com/r.git", []string{"s%2Fcret", "s/cret"}},
		{"https://t0k3n@example.com/r.git", []string{"t0k3n"}},
		{"ssh://git@example.com/r.git", nil},
		{"https://example.com/r.git", nil},
		{"git@example.com:r.git", nil},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, redact.Credentials(tc.raw)); diff != "" {
			t.Errorf("Credentials(%q) (-want +got):\n%s", tc.raw, diff)
		}
	}
}
