package source_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/sync/source"
)

// newKey returns a fresh ed25519 private key as OpenSSH PEM, encrypted when passphrase is
// set, and its public key.
func newKey(t *testing.T, passphrase string) ([]byte, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), sshPub
}

// sshClientConfig returns a client key and a known_hosts line for example.com, for tests that
// need valid SSH settings but no server.
func sshClientConfig(t *testing.T) (key, knownHostsLine []byte) {
	key, _ = newKey(t, "")
	_, hostKey := newKey(t, "")
	return key, []byte(knownhosts.Line([]string{"example.com"}, hostKey) + "\n")
}

func TestSSH(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, "config", config)
	sshd := srv.StartSSH(t)
	url := sshd.RepoURL("config")
	want := srv.Head(t, "config")

	_, otherHostKey := newKey(t, "")
	otherClientKey, _ := newKey(t, "")
	mismatch := knownhosts.Line([]string{knownhosts.Normalize(sshd.Addr)}, otherHostKey) + "\n"
	unknown := knownhosts.Line([]string{"[127.0.0.1]:1"}, sshd.HostKey) + "\n"
	// Lines for other hosts and key types around the right one must not get in the way.
	withOthers := unknown + string(sshd.KnownHosts) + knownhosts.Line([]string{"example.com"}, otherHostKey) + "\n"

	tests := []struct {
		name    string
		auth    source.Auth
		wantErr string // "" for success
		is      error
	}{
		{"strict known_hosts", source.Auth{SSHPrivateKey: sshd.ClientKey, KnownHosts: sshd.KnownHosts}, "", nil},
		{"known_hosts with other hosts", source.Auth{SSHPrivateKey: sshd.ClientKey, KnownHosts: []byte(withOthers)}, "", nil},
		{"host key checking off", source.Auth{SSHPrivateKey: sshd.ClientKey, InsecureIgnoreHostKey: true}, "", nil},
		{"wrong host key", source.Auth{SSHPrivateKey: sshd.ClientKey, KnownHosts: []byte(mismatch)}, "knownhosts: key mismatch", source.ErrHostKey},
		{"unknown host", source.Auth{SSHPrivateKey: sshd.ClientKey, KnownHosts: []byte(unknown)}, "knownhosts: key is unknown", source.ErrHostKey},
		{"key the server refuses", source.Auth{SSHPrivateKey: otherClientKey, KnownHosts: sshd.KnownHosts}, "unable to authenticate", source.ErrAuthentication},
	}
	for _, tc := range tests {
		for _, c := range calls {
			t.Run(tc.name+"/"+c.name, func(t *testing.T) {
				s, _ := newSource(t, url, func(o *source.Options) { o.Auth = tc.auth })
				got, err := c.run(s, testContext(t))
				if tc.wantErr == "" {
					if err != nil || got != want {
						t.Fatalf("%s = %s, %v; want %s", c.name, got, err, want)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("%s: %v, want an error containing %q", c.name, err, tc.wantErr)
				}
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("%s: %v, want %v", c.name, err, tc.is)
				}
				if !strings.HasPrefix(err.Error(), url+" (branch main): ") {
					t.Errorf("error %q does not start with the URL and branch", err)
				}
			})
		}
	}
}

func TestSSHFetchAndTree(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	srv.NewRepo(t, "config", config)
	sshd := srv.StartSSH(t)
	s, cache := newSource(t, sshd.RepoURL("config"), func(o *source.Options) {
		o.Auth = source.Auth{SSHPrivateKey: sshd.ClientKey, KnownHosts: sshd.KnownHosts}
	})
	if left, _ := filepath.Glob(filepath.Join(cache, "ferry-known-hosts-*")); len(left) > 0 {
		t.Errorf("New left its known_hosts file behind: %v", left)
	}
	first := fetch(t, s)
	second := srv.Commit(t, "config", "staging: 1.1.0", map[string]string{"environments/staging/kustomization.yaml": "newTag: 1.1.0\n"})
	if got := fetch(t, s); got != second {
		t.Fatalf("Fetch after a commit = %s, want %s", got, second)
	}
	if got := readFile(t, s, second, "environments/staging/kustomization.yaml"); got != "newTag: 1.1.0\n" {
		t.Errorf("staging overlay at %s = %q", second, got)
	}
	if got := readFile(t, s, first, "environments/staging/kustomization.yaml"); got != "newTag: 1.0.0\n" {
		t.Errorf("staging overlay at %s = %q", first, got)
	}
}

func TestSSHKeyPassphrase(t *testing.T) {
	const passphrase = "correct horse battery staple"
	key, _ := newKey(t, passphrase)
	_, knownHosts := sshClientConfig(t)
	opts := func(p string) source.Options {
		return source.Options{
			URL:      "git@example.com:org/config.git",
			CacheDir: t.TempDir(),
			Auth:     source.Auth{SSHPrivateKey: key, SSHKeyPassphrase: p, KnownHosts: knownHosts},
		}
	}
	if _, err := source.New(opts(passphrase)); err != nil {
		t.Errorf("New with the key's passphrase: %v", err)
	}
	for _, p := range []string{"", "wrong passphrase"} {
		_, err := source.New(opts(p))
		if err == nil {
			t.Fatalf("New with passphrase %q succeeded, want an error", p)
		}
		assertClean(t, err.Error(), passphrase)
		if p != "" {
			assertClean(t, err.Error(), p)
		}
	}
}
