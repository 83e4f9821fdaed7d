// Package localgitea runs a real Gitea server on loopback: a git host over smart HTTP with an
// API for repositories, pull requests, commit statuses and webhooks. The gitea binary is built
// by internal/controlplane/tools/build.sh (`make controlplane`) into the same cache folder as
// the local control plane. Tests use it through internal/giteatest; `ferry dev demo` uses it
// directly. It is a development environment, never part of an installed ferry.
package localgitea

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"code.gitea.io/sdk/gitea"

	"github.com/ferry-cd/ferry/internal/procgroup"
)

// Version is the Gitea release build.sh builds (its gitea_version, without the v).
const Version = "1.26.0"

// controlplaneVersion keys the cache folder build.sh writes to: its k8s_version, the same as
// localcluster.KubernetesVersion. It is repeated here so that this package does not link the
// Kubernetes client.
const controlplaneVersion = "v1.37.2"

// AdminUser is the site administrator every Gitea has; CreateRepo makes repositories under it.
const AdminUser = "ferry-admin"

// Timeouts, generous for a loaded 2-core machine: a start normally takes a few seconds.
const (
	commandTimeout = 90 * time.Second // gitea migrate, gitea admin user create
	readyTimeout   = 90 * time.Second // gitea web until /api/healthz answers
	stopGrace      = 5 * time.Second  // SIGTERM to SIGKILL
	requestTimeout = 60 * time.Second // one API request
)

// Server is a running Gitea server on 127.0.0.1.
type Server struct {
	// URL is the server's root, http://127.0.0.1:PORT, without a trailing slash.
	URL string
	// AdminUser and AdminPassword are the site administrator's credentials (basic auth, git
	// over HTTP); Token is an access token of that user with all scopes.
	AdminUser, AdminPassword, Token string
	// Client is an SDK client authenticated with Token.
	Client *gitea.Client
	// Dir is the server's work folder (app.ini, database, repositories); LogDir holds
	// gitea-migrate.log, gitea-admin.log and gitea-web.log. Stop removes both.
	Dir, LogDir string
	// StartTime is how long Start took from `gitea migrate` to a healthy server with a token.
	StartTime time.Duration

	web     *procgroup.Process
	secrets [3]string // SECRET_KEY, INTERNAL_TOKEN, oauth2 JWT_SECRET
}

// BinDir returns the folder build.sh writes the gitea binary to:
// $XDG_CACHE_HOME/ferry/controlplane/v1.37.2/bin (or the same under ~/.cache).
func BinDir() string {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = filepath.Join(os.TempDir(), "ferry-cache")
	}
	return filepath.Join(cache, "ferry", "controlplane", controlplaneVersion, "bin")
}

// Start runs a fresh Gitea (sqlite database, no SSH, no mail, no Actions, offline) in a
// temporary folder, with the administrator AdminUser and an access token. The SDK client's
// requests are bound to ctx. logf, when not nil, receives one line about the start. Stop the
// server with Stop; on error nothing is left running.
func Start(ctx context.Context, logf func(format string, args ...any)) (_ *Server, err error) {
	bin := filepath.Join(BinDir(), "gitea")
	static := filepath.Join(BinDir(), "gitea-static")
	if info, err := os.Stat(bin); err != nil || info.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%s is not built; run make controlplane", bin)
	}
	if _, err := os.Stat(filepath.Join(static, "options", "locale")); err != nil {
		return nil, fmt.Errorf("%s has no options/locale; run make controlplane", static)
	}

	started := time.Now()
	dir, err := os.MkdirTemp("", "ferry-gitea-")
	if err != nil {
		return nil, err
	}
	g := &Server{Dir: dir, LogDir: filepath.Join(dir, "log"), AdminUser: AdminUser, AdminPassword: randomHex(16)}
	jwt := make([]byte, 32)
	_, _ = rand.Read(jwt)
	g.secrets = [3]string{randomHex(16), randomHex(32), base64.RawURLEncoding.EncodeToString(jwt)}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (logs: %s)", err, g.KeepLogs())
			_ = g.Stop()
		}
	}()
	if err := os.MkdirAll(g.LogDir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "app.ini")
	if err := g.setUp(ctx, bin, conf); err != nil {
		return nil, err
	}
	setUp := time.Now()
	if err := g.startWeb(ctx, bin, conf, static, logf); err != nil {
		return nil, err
	}
	healthy := time.Now()
	if err := g.createToken(ctx); err != nil {
		return nil, err
	}
	g.StartTime = time.Since(started)
	if logf != nil {
		logf("Gitea %s at %s ready in %s (migrate and admin user %s, web %s, token %s); logs in %s",
			Version, g.URL, g.StartTime.Round(time.Millisecond), setUp.Sub(started).Round(time.Millisecond),
			healthy.Sub(setUp).Round(time.Millisecond), time.Since(healthy).Round(time.Millisecond), g.LogDir)
	}
	return g, nil
}

// command returns a gitea command with the server's configuration and work folder.
func (g *Server) command(bin, conf string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append(args, "--config", conf, "--work-path", g.Dir)...)
	cmd.Dir = g.Dir
	cmd.Env = environ(g.Dir)
	return cmd
}

// setUp writes the configuration on a free port, creates the database and the administrator.
func (g *Server) setUp(ctx context.Context, bin, conf string) error {
	if _, err := g.configure(conf, filepath.Join(BinDir(), "gitea-static")); err != nil {
		return err
	}
	if err := procgroup.Run(ctx, "gitea-migrate", g.command(bin, conf, "migrate"), g.LogDir, commandTimeout); err != nil {
		return err
	}
	return procgroup.Run(ctx, "gitea-admin", g.command(bin, conf, "admin", "user", "create", "--admin",
		"--username", g.AdminUser, "--password", g.AdminPassword, "--email", g.AdminUser+"@example.com",
		"--must-change-password=false"), g.LogDir, commandTimeout)
}

// startWeb starts `gitea web` and waits until it is healthy. The port was free a moment ago;
// another process may take it before Gitea binds it (Gitea cannot be handed a listening socket:
// with LISTEN_FDS set it takes itself for a graceful restart and sends SIGTERM to its parent).
// It retries on a new port when that happens.
func (g *Server) startWeb(ctx context.Context, bin, conf, static string, logf func(string, ...any)) error {
	for attempt := 1; ; attempt++ {
		var err error
		g.web, err = procgroup.Start("gitea-web", g.command(bin, conf, "web"), g.LogDir)
		if err != nil {
			return err
		}
		err = g.waitHealthy(ctx)
		if err == nil {
			return nil
		}
		if attempt == 3 || !g.web.Exited() || !strings.Contains(procgroup.LogTail(g.web.LogPath, 30), "address already in use") {
			return err
		}
		if logf != nil {
			logf("Gitea's port was taken; retrying on another")
		}
		g.web.Stop(0)
		if _, err := g.configure(conf, static); err != nil {
			return err
		}
	}
}

// configure picks a free loopback port, sets URL to it and writes the configuration to conf.
func (g *Server) configure(conf, static string) (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	g.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	return port, os.WriteFile(conf, []byte(appIni(g.Dir, static, port, g.secrets)), 0o600)
}

// appIni is the server's configuration. Everything that is not needed is off, so that the
// server starts quickly; every secret is set, so that Gitea never rewrites the file.
func appIni(dir, static string, port int, secrets [3]string) string {
	root := ""
	if os.Geteuid() == 0 {
		// Gitea refuses to run as root without this.
		root = "I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true\n"
	}
	return root + fmt.Sprintf(`APP_NAME = ferry local Gitea
RUN_MODE = prod
WORK_PATH = %[1]s

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = %[3]d
DOMAIN = 127.0.0.1
ROOT_URL = http://127.0.0.1:%[3]d/
LOCAL_ROOT_URL = http://127.0.0.1:%[3]d/
APP_DATA_PATH = %[1]s/data
STATIC_ROOT_PATH = %[2]s
OFFLINE_MODE = true
DISABLE_SSH = true
START_SSH_SERVER = false
LFS_START_SERVER = false
ENABLE_PPROF = false
GRACEFUL_HAMMER_TIME = 3s

[database]
DB_TYPE = sqlite3
PATH = %[1]s/data/gitea.db
LOG_SQL = false

[repository]
ROOT = %[1]s/repos
DEFAULT_BRANCH = main

[repository.signing]
SIGNING_KEY = none

[security]
INSTALL_LOCK = true
SECRET_KEY = %[4]s
INTERNAL_TOKEN = %[5]s
; Cheap password hashing: git over HTTP checks the password on every request.
PASSWORD_HASH_ALGO = pbkdf2$1000$16

[oauth2]
ENABLED = false
JWT_SECRET = %[6]s

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
ENABLE_NOTIFY_MAIL = false
NO_REPLY_ADDRESS = noreply.example.com

[mailer]
ENABLED = false

[webhook]
ALLOWED_HOST_LIST = loopback
DELIVER_TIMEOUT = 10

[actions]
ENABLED = false

[packages]
ENABLED = false

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[queue]
TYPE = channel

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[proxy]
PROXY_ENABLED = false

[cron.update_checker]
ENABLED = false

[log]
MODE = console
LEVEL = info
ROOT_PATH = %[1]s/log
`, dir, static, port, secrets[0], secrets[1], secrets[2])
}

// environ is the environment of every gitea process: the caller's, less anything that would
// steer Gitea or the git commands it runs, with HOME in the work folder.
func environ(dir string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		// LISTEN_FDS would make Gitea kill its parent (see Start), NOTIFY_SOCKET talk to systemd.
		if strings.HasPrefix(name, "GIT_") || strings.HasPrefix(name, "GITEA_") || name == "HOME" ||
			strings.HasPrefix(name, "LISTEN_") || name == "NOTIFY_SOCKET" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1")
}

// waitHealthy polls /api/healthz until it answers 200, the server exits, or readyTimeout passes.
func (g *Server) waitHealthy(ctx context.Context) error {
	return g.web.WaitHTTP(ctx, g.URL+"/api/healthz", "healthy", readyTimeout)
}

// createToken creates an access token with all scopes through the API with basic auth, and the
// SDK client that uses it.
func (g *Server) createToken(ctx context.Context) error {
	hc := &http.Client{Timeout: requestTimeout}
	basic, err := gitea.NewClient(g.URL, gitea.SetBasicAuth(g.AdminUser, g.AdminPassword),
		gitea.SetHTTPClient(hc), gitea.SetContext(ctx))
	if err != nil {
		return fmt.Errorf("gitea client: %w", err)
	}
	tok, _, err := basic.CreateAccessToken(gitea.CreateAccessTokenOption{
		Name: "ferry-test", Scopes: []gitea.AccessTokenScope{gitea.AccessTokenScopeAll},
	})
	if err != nil {
		return fmt.Errorf("create access token: %w", err)
	}
	g.Token = tok.Token
	// The client's context is the caller's: requests end with it.
	g.Client, err = gitea.NewClient(g.URL, gitea.SetToken(g.Token), gitea.SetHTTPClient(hc), gitea.SetContext(ctx))
	if err != nil {
		return fmt.Errorf("gitea client: %w", err)
	}
	return nil
}

// Stop ends the server's process group and removes its work folder, logs included.
func (g *Server) Stop() error {
	if g.web != nil {
		g.web.Stop(stopGrace)
	}
	return os.RemoveAll(g.Dir)
}

// KeepLogs copies the logs out of the work folder, which Stop removes, and returns where they
// are (or where they were, with the reason they could not be copied).
func (g *Server) KeepLogs() string {
	dst, err := os.MkdirTemp("", "ferry-gitea-logs-")
	if err == nil {
		err = os.CopyFS(dst, os.DirFS(g.LogDir))
	}
	if err != nil {
		return fmt.Sprintf("%s, not kept: %v", g.LogDir, err)
	}
	return dst
}

// AuthURL returns cloneURL with the administrator's credentials embedded, for git clients.
func (g *Server) AuthURL(cloneURL string) string {
	u, err := url.Parse(cloneURL)
	if err != nil {
		panic(fmt.Sprintf("localgitea: AuthURL(%q): %v", cloneURL, err))
	}
	u.User = url.UserPassword(g.AdminUser, g.AdminPassword)
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("localgitea: no randomness")) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
