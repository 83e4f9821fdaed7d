package promote

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSetPin(t *testing.T) {
	const (
		old = "1111111111111111111111111111111111111111"
		sha = "2222222222222222222222222222222222222222"
	)
	head := "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n  - name: staging\n    path: s\n    namespace: s\n    pin: " + old + "  # staging's own\n  - name: production\n    path: p\n    namespace: p\n"
	tests := []struct {
		name, pinLine, want, wantErr string
	}{
		{"plain", "    pin: " + old + " # frozen\n", "    pin: " + sha + " # frozen\n", ""},
		{"double quoted empty", `    pin: ""` + "\n", `    pin: "` + sha + `"` + "\n", ""},
		{"single quoted", "    pin: '" + old + "'\n", "    pin: '" + sha + "'\n", ""},
		{"no pin", "", "", "environment production has no pin:"},
		{"block scalar", "    pin: |\n      " + old + "\n", "", "must be a plain or quoted scalar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := head + tt.pinLine + "    promotion: {from: staging, mode: revision}\n"
			got, err := SetPin([]byte(in), "production", sha)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SetPin: %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := head + tt.want + "    promotion: {from: staging, mode: revision}\n"
			if diff := cmp.Diff(want, string(got)); diff != "" {
				t.Errorf("SetPin (-want +got):\n%s", diff)
			}
		})
	}
}
