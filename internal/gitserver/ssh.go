package gitserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// handshakeTimeout bounds an SSH client's handshake with the server.
const handshakeTimeout = 10 * time.Second

// SSHServer serves the repositories of a Server over SSH on 127.0.0.1. It accepts one client
// key, for the user "git", and runs git-upload-pack or git-receive-pack for each session.
type SSHServer struct {
	// Addr is the server's address, 127.0.0.1:PORT.
	Addr string
	// KnownHosts is a known_hosts line that trusts this server's host key at Addr.
	KnownHosts []byte
	// ClientKey is the PEM (OpenSSH format, no passphrase) private key the server accepts.
	ClientKey []byte
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey

	srv     *Server
	gitPath string
	config  *ssh.ServerConfig
	ctx     context.Context // cancelled on cleanup: ends every git process
	wg      sync.WaitGroup
}

// StartSSH starts an SSHServer for the repositories of s with fresh ed25519 host and client
// keys. The server is closed by t.Cleanup, which waits for its sessions to end. It fails the
// test on error.
func (s *Server) StartSSH(t testing.TB) *SSHServer {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	_, host := newKey(t)
	clientKey, client := newKey(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("gitserver: %v", err)
	}
	// The server lives as long as the test: t.Context() ends just before the cleanups run.
	ctx, cancel := context.WithCancel(t.Context())
	ss := &SSHServer{
		Addr:      ln.Addr().String(),
		ClientKey: clientKey,
		HostKey:   host.PublicKey(),
		srv:       s,
		gitPath:   gitPath,
		ctx:       ctx,
	}
	ss.KnownHosts = []byte(knownhosts.Line([]string{knownhosts.Normalize(ss.Addr)}, host.PublicKey()) + "\n")
	ss.config = serverConfig(host, client.PublicKey())
	ss.wg.Add(1)
	go ss.serve(ln)
	t.Cleanup(func() {
		cancel()
		_ = ln.Close()
		ss.wg.Wait()
	})
	return ss
}

// RepoURL returns the ssh:// clone URL of repository name (NAME.git) for the user "git".
func (ss *SSHServer) RepoURL(name string) string {
	return "ssh://git@" + ss.Addr + "/" + name + ".git"
}

// newKey returns a fresh ed25519 key as an OpenSSH PEM private key and as a signer.
func newKey(t testing.TB) ([]byte, ssh.Signer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), signer
}

// serverConfig accepts the user "git" with the client key only.
func serverConfig(host ssh.Signer, client ssh.PublicKey) *ssh.ServerConfig {
	want := client.Marshal()
	cfg := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if meta.User() == "git" && bytes.Equal(key.Marshal(), want) {
				return &ssh.Permissions{}, nil
			}
			return nil, errors.New("gitserver: key not accepted")
		},
	}
	cfg.AddHostKey(host)
	return cfg
}

func (ss *SSHServer) serve(ln net.Listener) {
	defer ss.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			return // closed on cleanup
		}
		ss.wg.Add(1)
		go ss.handleConn(conn)
	}
}

func (ss *SSHServer) handleConn(conn net.Conn) {
	defer ss.wg.Done()
	defer conn.Close()
	stop := context.AfterFunc(ss.ctx, func() { conn.Close() })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	sconn, chans, reqs, err := ssh.NewServerConn(conn, ss.config)
	if err != nil {
		return // a client that fails the handshake (a test of a wrong key) just goes away
	}
	defer sconn.Close()
	_ = conn.SetDeadline(time.Now().Add(requestTimeout))
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			return
		}
		ss.wg.Add(1)
		go ss.handleSession(ch, chReqs)
	}
}

// handleSession answers requests until an exec, runs the git command it names, and reports
// its exit status.
func (ss *SSHServer) handleSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ss.wg.Done()
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(req.Type == "env", nil) // go-git may send GIT_PROTOCOL; ignored
			continue
		}
		cmd, err := ss.command(req.Payload)
		if err != nil {
			_ = req.Reply(false, nil)
			fmt.Fprintf(ch.Stderr(), "gitserver: %v\n", err)
			return
		}
		_ = req.Reply(true, nil)
		status := run(cmd, ch)
		_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
		return
	}
}

// command parses an exec payload such as "git-upload-pack '/name.git'" into a git command
// that serves that repository.
func (ss *SSHServer) command(payload []byte) (*exec.Cmd, error) {
	var msg struct{ Command string }
	if err := ssh.Unmarshal(payload, &msg); err != nil {
		return nil, err
	}
	service, arg, _ := strings.Cut(msg.Command, " ")
	if service != "git-upload-pack" && service != "git-receive-pack" {
		return nil, fmt.Errorf("command %q not allowed", msg.Command)
	}
	repo := path.Clean("/" + strings.Trim(arg, "'"))
	dir := filepath.Join(ss.srv.root, filepath.FromSlash(repo))
	cmd := exec.CommandContext(ss.ctx, ss.gitPath, strings.TrimPrefix(service, "git-"), dir)
	cmd.Dir = ss.srv.root
	cmd.Env = gitEnv(ss.srv.root)
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// run runs cmd with the session as its stdin, stdout and stderr and returns its exit status.
func run(cmd *exec.Cmd, ch ssh.Channel) uint32 {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 1
	}
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(ch.Stderr(), "gitserver: %v\n", err)
		return 1
	}
	// Copied by hand rather than through cmd.Stdin: the channel's reader only ends when the
	// client closes it, and Wait would wait for that after git has exited.
	go func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	if err := cmd.Wait(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() > 0 {
			return uint32(exit.ExitCode())
		}
		return 1
	}
	return 0
}
