package sync

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestRedactSecretValues(t *testing.T) {
	secret := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db"},
		"data":       map[string]any{"token": "c2VjcmV0LXRva2Vu"}, // secret-token
		"stringData": map[string]any{"password": []any{"hunter2-\"quoted\""}, "pin": int64(123456), "short": "abc"},
	}}
	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "cfg"},
		"data": map[string]any{"color": "orange-and-blue"},
	}}
	cause := errors.New("boom")
	tests := []struct {
		name, msg, want string
	}{
		{"SSA type error", `.stringData.password: expected string, got &value.valueUnstructured{Value:[]interface {}{"hunter2-\"quoted\""}}`,
			`.stringData.password: expected string, got &value.valueUnstructured{Value:[]interface {}{"***"}}`},
		{"number", `.stringData.pin: expected string, got &value.valueUnstructured{Value:123456}`, `.stringData.pin: expected string, got &value.valueUnstructured{Value:***}`},
		{"data, encoded and decoded", `data c2VjcmV0LXRva2Vu is secret-token`, `data *** is ***`},
		{"ConfigMap values and short values kept", `orange-and-blue abc`, `orange-and-blue abc`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := redactSecretValues(errors.Join(errors.New(tc.msg), cause), []*unstructured.Unstructured{secret, cm})
			if got := err.Error(); got != tc.want+"\nboom" {
				t.Errorf("message = %q, want %q", got, tc.want+"\nboom")
			}
			if !errors.Is(err, cause) {
				t.Errorf("the redacted error lost its chain")
			}
		})
	}
	if redactSecretValues(nil, nil) != nil {
		t.Error("nil error redacted into an error")
	}
}
