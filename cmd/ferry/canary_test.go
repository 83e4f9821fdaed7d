package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"code.gitea.io/sdk/gitea"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/ferry-cd/ferry/agent"
	"github.com/ferry-cd/ferry/internal/giteatest"
	"github.com/ferry-cd/ferry/internal/gitserver"
	"github.com/ferry-cd/ferry/internal/sopstest"
	"github.com/ferry-cd/ferry/internal/testutil"
)

// capture is everything one source of output produced, with what proves it is not empty of
// the story: a string it must contain (usually a Secret's name).
type capture struct {
	source, text, mustContain string
}

// TestNoSecretLeaks plants canary values — Secret data in both overlays (one changed by a
// commit, one shown in a promotion's diff, one in a Secret the API server refuses), values that
// exist only inside sops-encrypted files (a Secret manifest and a secretGenerator dotenv file,
// checked decrypted in the cluster, one changed for `ferry diff`) and the age key, the git
// password the agent fetches with, a wrong git password, and the Gitea token — then drives
// ferry through syncs, failed syncs, `ferry diff`, `ferry render`, `ferry status -o json`, `ferry validate`,
// `ferry promote` on a real Gitea, the status page, /api/status, /metrics, Events, the state
// ConfigMaps and a fetch with bad credentials. Every byte captured is searched for every
// canary, raw, URL-escaped and base64-encoded (at each alignment): there must be no hit.
func TestNoSecretLeaks(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	id := strings.ToLower(rand.String(8))
	canary := map[string]string{
		"secret":         "canary-secret-value-" + id,
		"changed secret": "canary-changed-value-" + id,
		"refused secret": "canary-refused-value-" + id,
		"refused json":   "canary-refused-json-" + id,
		"diff secret":    "canary-diff-value-" + id,
		"git password":   "canary-git-password-" + id,
		"wrong password": "canary-wrong-password-" + id,
		"literal":        "canary-literal-value-" + id,
		"notify token":   "canary-notify-token-" + id,
	}

	files := testutil.ReadTree(t, "../../examples/gceme")
	files["ferry.yaml"] = testutil.StripAnalysis(files["ferry.yaml"]) // no Prometheus here
	edit := func(path, old, new string) {
		t.Helper()
		if !strings.Contains(files[path], old) {
			t.Fatalf("%s lacks %q", path, old)
		}
		files[path] = strings.Replace(files[path], old, new, 1)
	}
	edit("ferry.yaml", `schedule: "@every 1m"`, `schedule: "@every 1s"`)
	edit("ferry.yaml", "    pin: \"\"", "    schedule: \"@every 1s\"\n    pin: \"\"")
	edit("ferry.yaml", "soak: 2m", "soak: 1s")
	// Every notification, of every type, to a local receiver whose URL holds a token.
	files["ferry.yaml"] += "notifications:\n  - {name: slack, type: slack, urlFrom: CANARY_SLACK}\n" +
		"  - {name: teams, type: teams, urlFrom: CANARY_TEAMS}\n  - {name: hook, type: webhook, urlFrom: CANARY_HOOK}\n"
	inbox := startInbox(t)
	const stagingKust, productionKust = "environments/staging/kustomization.yaml", "environments/production/kustomization.yaml"
	files["environments/staging/secret.yaml"] = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: canary-db\nstringData:\n  password: " + canary["secret"] + "\n"
	edit(stagingKust, "resources:\n", "resources:\n- secret.yaml\n")
	// production's Secret is named after the tag it runs (release-1.0.0), so that a promotion
	// replaces it and the pull request's diff shows it whole.
	files["environments/production/release.yaml"] = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: canary-release-unset\nstringData:\n  password: " + canary["secret"] + "\n"
	edit(productionKust, "resources:\n", "resources:\n- release.yaml\n")
	files[productionKust] += "replacements:\n- source: {kind: Deployment, name: gceme-frontend, fieldPath: spec.template.spec.containers.0.image, options: {delimiter: ':', index: 1}}\n" +
		"  targets:\n  - select: {kind: Secret, name: canary-release-unset}\n    fieldPaths: [metadata.name]\n    options: {delimiter: '-', index: 2}\n"

	// staging decrypts a sops-encrypted Secret and generator file whose values are nowhere else.
	age := sopsCanaries(t, files, canary, id)
	edit("ferry.yaml", "    namespace: staging", "    decryption: {provider: sops, recipients: ["+age.Recipient+"]}\n    namespace: staging")
	edit(stagingKust, "resources:\n", "resources:\n- sops-secret.yaml\n")
	files[stagingKust] += "secretGenerator:\n- name: canary-sops-generated\n  envs:\n  - sops.env\n"

	srv := gitserver.Start(t, gitserver.Options{Username: "ci", Password: canary["git password"]})
	srv.NewRepo(t, "config", files)
	g := giteatest.Start(t)
	giteaURL := g.CreateRepo(t, "config", files)
	canary["gitea token"] = g.Token
	canary["gitea password"] = g.AdminPassword

	var captured []capture
	add := func(source, text, mustContain string) {
		captured = append(captured, capture{source, text, mustContain})
	}

	// The agent: syncs both environments, one Secret value changes, then two Secrets the API
	// server refuses.
	logs := &testutil.LogBuffer{}
	opts := canaryAgentOptions(t, srv.RepoURL("config"), "ci", canary["git password"], "ferry-system", logs)
	opts.LookupEnv = func(name string) (string, bool) {
		return inbox.URL + "/" + strings.ToLower(name) + "/" + canary["notify token"], strings.HasPrefix(name, "CANARY_")
	}
	httpAddr := opts.HTTPAddr
	runAgent(t, c.Config, opts)
	for _, env := range []string{"staging", "production"} {
		logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": env, "result": "applied"}, 3*time.Minute)
	}
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	assertSecretData(t, ctx, kube, "staging", "canary-sops", "password", canary["sops secret"])
	assertSecretDataPrefix(t, ctx, kube, "staging", "canary-sops-generated-", "TOKEN", canary["sops env"])
	files["environments/staging/secret.yaml"] = strings.Replace(files["environments/staging/secret.yaml"], canary["secret"], canary["changed secret"], 1)
	changed := srv.Commit(t, "config", "staging: rotate the password", map[string]string{"environments/staging/secret.yaml": files["environments/staging/secret.yaml"]})
	logs.WaitLine(t, map[string]any{"msg": "sync finished", "env": "staging", "revision": changed[:7], "result": "applied", "configured": 1.0}, 2*time.Minute)

	badField := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: canary-refused\nstringData:\n  password: [" + canary["refused secret"] + "]\n"
	refused := srv.Commit(t, "config", "staging: a Secret with a list for a value", map[string]string{
		"environments/staging/refused.yaml": badField,
		stagingKust:                         strings.Replace(files[stagingKust], "resources:\n", "resources:\n- refused.yaml\n", 1),
	})
	line := logs.WaitLine(t, map[string]any{"msg": "sync failed", "env": "staging", "revision": refused[:7]}, 2*time.Minute)
	t.Logf("refused Secret field: %v", line["error"])
	// The CLI against the same head: `ferry diff` from the URL with the password in it.
	authURL := "http://ci:" + url.QueryEscape(canary["git password"]) + "@" + strings.TrimPrefix(srv.URL, "http://") + "/config.git"
	res := runFerry(t, ctx, "diff", "staging", "--repo", authURL, "--kubeconfig", c.KubeconfigPath)
	add("ferry diff of the refused Secret (exit "+itoa(res.code)+")", res.stdout+res.stderr, "canary-refused")

	badJSON := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: canary-refused-json\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{\"auths\": " + canary["refused json"] + "}'\n"
	refusedJSON := srv.Commit(t, "config", "staging: a pull secret that is not JSON", map[string]string{"environments/staging/refused.yaml": badJSON})
	line = logs.WaitLine(t, map[string]any{"msg": "sync failed", "env": "staging", "revision": refusedJSON[:7]}, 2*time.Minute)
	t.Logf("refused pull secret: %v", line["error"])
	// A render that fails on a sops file encrypted for a key the agent does not have.
	otherKey := sopstest.NewIdentity(t)
	canary["other age key"] = otherKey.Secret
	foreign := srv.Commit(t, "config", "staging: a Secret encrypted for another key", map[string]string{
		"environments/staging/sops-secret.yaml": sopsSecret(t, otherKey, canary["sops secret"]),
		stagingKust:                             files[stagingKust],
	}, "environments/staging/refused.yaml")
	line = logs.WaitLine(t, map[string]any{"msg": "sync failed", "env": "staging", "revision": foreign[:7], "phase": "render"}, 2*time.Minute)
	t.Logf("sops file for another key: %v", line["error"])
	// A render that fails on a secretGenerator literal typed with ":" for "=".
	literal := srv.Commit(t, "config", "staging: a generated Secret", map[string]string{
		stagingKust:                             strings.Replace(files[stagingKust], "secretGenerator:\n", "secretGenerator:\n- name: canary-generated\n  literals:\n  - password:"+canary["literal"]+"\n", 1),
		"environments/staging/sops-secret.yaml": files["environments/staging/sops-secret.yaml"],
	})
	line = logs.WaitLine(t, map[string]any{"msg": "sync failed", "env": "staging", "revision": literal[:7], "phase": "render"}, 2*time.Minute)
	t.Logf("secretGenerator literal: %v", line["error"])
	time.Sleep(2 * time.Second) // a retry or two, and their Events

	// `ferry diff` of a work tree whose Secret changed against what the agent applied.
	dir := t.TempDir()
	for p, content := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	editFile(t, filepath.Join(dir, "environments/staging/secret.yaml"), canary["changed secret"], canary["diff secret"])
	if err := os.WriteFile(filepath.Join(dir, "environments/staging/sops-secret.yaml"), []byte(sopsSecret(t, age, canary["sops diff"])), 0o644); err != nil {
		t.Fatal(err)
	}
	res = runFerry(t, ctx, "diff", "staging", "--repo", dir, "--kubeconfig", c.KubeconfigPath)
	// Both the plain and the sops-encrypted Secret changed a value.
	if res.code != 0 || strings.Count(res.stdout, "*** (changed)") != 2 || !strings.Contains(res.stdout, "canary-sops") {
		t.Errorf("ferry diff of a changed Secret: exit %d, want a masked change:\n%s%s", res.code, res.stdout, res.stderr)
	}
	add("ferry diff of a changed Secret", res.stdout+res.stderr, "canary-db")
	res = runFerry(t, ctx, "render", "staging", "--repo", dir)
	if res.code != 0 || !strings.Contains(res.stderr, secretsMaskedNote) {
		t.Errorf("ferry render: exit %d, want the masked note on stderr:\n%s", res.code, res.stderr)
	}
	add("ferry render", res.stdout+res.stderr, "canary-db")
	res = runFerry(t, ctx, "status", "-o", "json", "--kubeconfig", c.KubeconfigPath)
	// The state records the last failure, the render's, whose message held the literal.
	add("ferry status -o json", res.stdout+res.stderr, "invalid literal source")
	res = runFerry(t, ctx, "status", "--kubeconfig", c.KubeconfigPath)
	add("ferry status", res.stdout+res.stderr, "staging")
	res = runFerry(t, ctx, "validate", "--repo", authURL)
	add("ferry validate from the URL", res.stdout+res.stderr, "ok production")

	add("status page", httpBody(t, "http://"+httpAddr+"/"), "<html")
	add("/api/status", httpBody(t, "http://"+httpAddr+"/api/status"), "invalid literal source")
	add("/metrics", httpBody(t, "http://"+httpAddr+"/metrics"), "ferry_sync_total")

	for _, ns := range []string{"ferry-system", "staging", "production"} {
		events, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(events)
		mustContain := "Scheduled"
		if ns == "ferry-system" {
			mustContain = "canary-refused"
		}
		add("Events in "+ns, string(data), mustContain)
	}
	for _, env := range []string{"staging", "production"} {
		cm, err := kube.CoreV1().ConfigMaps("ferry-system").Get(ctx, "ferry-"+env, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(cm)
		add("state ConfigMap ferry-"+env, string(data), map[string]string{"staging": "invalid literal source", "production": "canary-release"}[env])
	}

	// A fetch with a wrong password: an agent of its own, and the CLI from a URL.
	wrongLogs := &testutil.LogBuffer{}
	wrong := canaryAgentOptions(t, srv.RepoURL("config"), "ci", canary["wrong password"], "ferry-wrong-"+id, wrongLogs)
	runAgent(t, c.Config, wrong)
	wrongLogs.WaitLine(t, map[string]any{"msg": "sync failed"}, time.Minute)
	add("agent log with a wrong password", wrongLogs.String(), "authentication failed")
	wrongURL := strings.Replace(authURL, url.QueryEscape(canary["git password"]), url.QueryEscape(canary["wrong password"]), 1)
	res = runFerry(t, ctx, "validate", "--repo", wrongURL)
	add("ferry validate with a wrong password (exit "+itoa(res.code)+")", res.stdout+res.stderr, ":***@")

	// `ferry promote` on Gitea: production's Secret changes with the image.
	cmd := ferryCommand(ctx, "promote", "--from", "staging", "--to", "production", "--repo", giteaURL, "--forge", "gitea", "--kubeconfig", c.KubeconfigPath)
	cmd.Env = append(cmd.Env, "FERRY_FORGE_TOKEN="+g.Token)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("ferry promote: %v\n%s", err, out.String())
	}
	add("ferry promote output", out.String(), "gceme 1.0.0 → 1.1.0")
	prs, _, err := g.Client.ListRepoPullRequests(g.AdminUser, "config", gitea.ListPullRequestsOptions{State: gitea.StateOpen})
	if err != nil || len(prs) != 1 {
		t.Fatalf("open pull requests: %d, %v; want the promotion", len(prs), err)
	}
	add("promotion pull request body", prs[0].Title+"\n"+prs[0].Body, "canary-release-1.1.0")

	add("agent log", logs.String(), "invalid literal source")
	add("notification bodies", inbox.text(), "canary-refused")

	forms := canaryForms(canary)
	hits, total := 0, 0
	for _, cp := range captured {
		total += len(cp.text)
		if !strings.Contains(cp.text, cp.mustContain) {
			t.Errorf("%s: captured %d bytes without %q: the search would prove nothing:\n%s", cp.source, len(cp.text), cp.mustContain, cp.text)
		}
		leaked := map[string]bool{}
		for form, name := range forms {
			if strings.Contains(cp.text, form) && !leaked[name] {
				leaked[name] = true
				hits++
				t.Errorf("%s holds the %s canary (as %q):\n%s", cp.source, name, form, cp.text)
			}
		}
	}
	t.Logf("searched %d sources, %d KiB, for %d forms of %d canaries: %d hits", len(captured), total>>10, len(forms), len(canary), hits)
}

// canaryForms returns each canary as it might leak — raw, URL-escaped, and base64-encoded
// (standard and URL alphabets, with and without padding) at each of the three alignments it
// can have inside a longer encoded value — mapped to the canary's name.
func canaryForms(canaries map[string]string) map[string]string {
	forms := map[string]string{}
	for name, v := range canaries {
		forms[v] = name
		forms[url.QueryEscape(v)] = name
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
			forms[enc.EncodeToString([]byte(v))] = name
			for pad := range 3 {
				// Behind pad bytes (mod 3) the canary's encoding is exact from the first group of
				// four characters holding only its bytes to its last complete group.
				s := enc.EncodeToString(append(make([]byte, pad), v...))
				start := 0
				if pad > 0 {
					start = 4
				}
				inner := s[start : start+(len(v)-(3-pad)%3)/3*4]
				if len(inner) >= 16 {
					forms[inner] = name
				}
			}
		}
	}
	return forms
}

// canaryAgentOptions returns agent Options syncing every environment of repo as user with
// password, in namespace, logging JSON into logs, serving HTTP on a free loopback port.
func canaryAgentOptions(t *testing.T, repo, user, password, namespace string, logs io.Writer) agent.Options {
	t.Helper()
	opts := agent.DefaultOptions()
	opts.Source.URL, opts.Source.CacheDir = repo, t.TempDir()
	opts.Source.Auth.Username, opts.Source.Auth.Password = user, password
	opts.Namespace, opts.LeaderElection = namespace, false
	opts.WebhookSecret = []byte("canary-webhook-secret")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.HTTPAddr = l.Addr().String()
	l.Close()
	opts.MetricsAddr = opts.HTTPAddr
	opts.Sync.PollInterval, opts.Sync.HealthTimeout = 500*time.Millisecond, 2*time.Minute
	opts.MinBackoff, opts.MaxBackoff = 500*time.Millisecond, 2*time.Second
	opts.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	return opts
}

// runAgent runs an agent until the test ends.
func runAgent(t *testing.T, cfg *rest.Config, opts agent.Options) {
	t.Helper()
	a, err := agent.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("agent: %v", err)
		}
	})
}

func httpBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func itoa(i int) string { return strconv.Itoa(i) }

// inbox is a local receiver of the agent's notifications that keeps every body it is sent.
type inbox struct {
	*httptest.Server
	mu     gosync.Mutex
	bodies []string
}

func startInbox(t *testing.T) *inbox {
	t.Helper()
	ib := &inbox{}
	ib.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ib.mu.Lock()
		ib.bodies = append(ib.bodies, string(body))
		ib.mu.Unlock()
	}))
	t.Cleanup(ib.Close)
	return ib
}

// text returns every body received, one per line.
func (ib *inbox) text() string {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return strings.Join(ib.bodies, "\n")
}
