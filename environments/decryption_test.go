package environments

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A real age public key, and one of the same length with a broken checksum.
const (
	ageRecipient    = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	ageRecipientBad = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8q"
)

func TestParseDecryption(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    *Decryption
		secrets SecretsPolicy
	}{
		{"none", envA, nil, SecretsAny},
		{"provider", envA + "  decryption:\n    provider: sops\n", &Decryption{Provider: DecryptionSOPS}, SecretsAny},
		{"provider by default", envA + "  decryption: {}\n", &Decryption{Provider: DecryptionSOPS}, SecretsAny},
		{"recipients and policy", envA + "  decryption:\n    provider: sops\n    recipients: [" + ageRecipient + "]\n  secrets: encrypted-only\n",
			&Decryption{Provider: DecryptionSOPS, Recipients: []string{ageRecipient}}, SecretsEncryptedOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(pipeline(tt.yaml)))
			if err != nil {
				t.Fatal(err)
			}
			e := p.Environments[0]
			if diff := cmp.Diff(tt.want, e.Decryption); diff != "" {
				t.Errorf("Decryption (-want +got):\n%s", diff)
			}
			if e.Secrets != tt.secrets {
				t.Errorf("Secrets = %q, want %q", e.Secrets, tt.secrets)
			}
		})
	}
}

func TestParseDecryptionErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown provider", envA + "  decryption:\n    provider: vault\n",
			[]string{`ferry.yaml:8:15: environments[0].decryption.provider: must be sops, got "vault"`}},
		{"bad recipient", envA + "  decryption:\n    recipients:\n      - " + ageRecipientBad + "\n      - AGE-SECRET-KEY-1XYZ\n",
			[]string{
				`ferry.yaml:9:9: environments[0].decryption.recipients[0]: "` + ageRecipientBad + `" is not an age recipient (a public key like age1…)`,
				`ferry.yaml:10:9: environments[0].decryption.recipients[1]: "AGE-SECRET-KEY-1XYZ" is not an age recipient (a public key like age1…)`,
			}},
		{"duplicate recipient", envA + "  decryption:\n    recipients: [" + ageRecipient + ", " + ageRecipient + "]\n",
			[]string{`ferry.yaml:8:82: environments[0].decryption.recipients[1]: duplicate recipient "` + ageRecipient + `"; first at line 8`}},
		{"unknown policy", envA + "  secrets: plain\n",
			[]string{`ferry.yaml:7:12: environments[0].secrets: must be encrypted-only or left out, got "plain"`}},
		{"unknown decryption field", envA + "  decryption:\n    keys: []\n",
			[]string{`ferry.yaml:8:5: environments[0].decryption.keys: unknown field; known fields are provider, recipients`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(pipeline(tt.yaml)))
			if err == nil {
				t.Fatal("Parse: got no error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Parse errors (-want +got):\n%s", diff)
			}
		})
	}
}
