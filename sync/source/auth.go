package source

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// transportAuth returns go-git's authentication for ep from a, or nil when the URL carries
// its own credentials or needs none. timeout bounds an SSH dial, which go-git does not bound
// by the call's context; tmpDir is a writable folder for a moment.
func transportAuth(ep *transport.Endpoint, a Auth, timeout time.Duration, tmpDir string) (transport.AuthMethod, error) {
	if ep.Protocol == "ssh" {
		return sshAuth(ep, a, timeout, tmpDir)
	}
	if a.Username == "" && a.Password == "" {
		return nil, nil
	}
	user := a.Username
	if user == "" {
		user = "git"
	}
	return &githttp.BasicAuth{Username: user, Password: a.Password}, nil
}

// sshAuth returns public key authentication with a strict known_hosts check, unless a turns
// host key checking off. The user is the URL's, "git" when it has none.
func sshAuth(ep *transport.Endpoint, a Auth, timeout time.Duration, tmpDir string) (transport.AuthMethod, error) {
	if len(a.SSHPrivateKey) == 0 {
		return nil, errors.New("an ssh URL needs an SSH private key")
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeys(user, a.SSHPrivateKey, a.SSHKeyPassphrase)
	if err != nil {
		return nil, fmt.Errorf("SSH private key: %w", err)
	}
	if a.InsecureIgnoreHostKey {
		keys.HostKeyCallback = ssh.InsecureIgnoreHostKey()
		return &sshKeyAuth{PublicKeys: keys, timeout: timeout}, nil
	}
	keys.HostKeyCallback, keys.HostKeyAlgorithms, err = knownHostsCheck(a.KnownHosts, hostPort(ep), tmpDir)
	if err != nil {
		return nil, err
	}
	return &sshKeyAuth{PublicKeys: keys, timeout: timeout}, nil
}

// hostPort is the address go-git dials for ep, as known_hosts matches it.
func hostPort(ep *transport.Endpoint) string {
	port := ep.Port
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	return net.JoinHostPort(ep.Host, strconv.Itoa(port))
}

// knownHostsCheck returns a callback that accepts only host keys listed in knownHosts, and
// the key types listed for addr. Offering the server only those types matters: otherwise it
// may pick another type and fail a check that its listed key would pass. The parser reads
// files only, so the lines go through a temporary file in tmpDir, removed before this
// returns; the cache folder serves, as /tmp may be read-only in a pod.
func knownHostsCheck(knownHosts []byte, addr, tmpDir string) (ssh.HostKeyCallback, []string, error) {
	if len(bytes.TrimSpace(knownHosts)) == 0 {
		return nil, nil, errors.New("an ssh URL needs known_hosts lines for the server (or host key checking turned off)")
	}
	f, err := os.CreateTemp(tmpDir, "ferry-known-hosts-")
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(knownHosts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, fmt.Errorf("known_hosts: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(f.Name())
	if err != nil {
		// Name the lines as the user knows them, not by the temporary file.
		return nil, nil, fmt.Errorf("known_hosts: %s", strings.ReplaceAll(err.Error(), f.Name(), "known_hosts"))
	}
	return db.HostKeyCallback(), db.HostKeyAlgorithms(addr), nil
}

// sshKeyAuth is go-git's public key authentication with a dial timeout.
type sshKeyAuth struct {
	*gitssh.PublicKeys
	timeout time.Duration
}

// ClientConfig returns the SSH client configuration with the dial timeout set.
func (a *sshKeyAuth) ClientConfig() (*ssh.ClientConfig, error) {
	cfg, err := a.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.Timeout = a.timeout
	return cfg, nil
}
