package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ferry-cd/ferry/environments"
	"github.com/ferry-cd/ferry/internal/giteatest"
	"github.com/ferry-cd/ferry/internal/localcluster"
	"github.com/ferry-cd/ferry/notify"
	"github.com/ferry-cd/ferry/promote"
	"github.com/ferry-cd/ferry/sync"
)

// inbox is a local HTTP receiver of notifications: it keeps every body it takes, with when it
// took it. hang makes it hold each request open until the client gives up or the test ends.
type inbox struct {
	*httptest.Server
	hang bool

	mu       gosync.Mutex
	got      []received
	inFlight int // requests held open now (hang)
	held     int // requests held open in all
}

type received struct {
	at   time.Time
	body string
	msg  notify.WebhookBody // when the body is the generic JSON
}

func newInbox(t *testing.T, hang bool) *inbox {
	t.Helper()
	ib := &inbox{hang: hang}
	release := make(chan struct{})
	ib.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		at := time.Now()
		if ib.hang {
			ib.mu.Lock()
			ib.inFlight++
			ib.held++
			ib.mu.Unlock()
			select {
			case <-r.Context().Done():
			case <-release:
			}
			ib.mu.Lock()
			ib.inFlight--
			ib.mu.Unlock()
			return
		}
		rc := received{at: at, body: string(body)}
		_ = json.Unmarshal(body, &rc.msg)
		ib.mu.Lock()
		ib.got = append(ib.got, rc)
		ib.mu.Unlock()
	}))
	t.Cleanup(func() { close(release); ib.Close() })
	return ib
}

// messages returns the generic-JSON messages taken for event (all when "").
func (ib *inbox) messages(event notify.Event) []received {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	var out []received
	for _, rc := range ib.got {
		if event == "" || rc.msg.Event == event {
			out = append(out, rc)
		}
	}
	return out
}

func (ib *inbox) bodies() []string {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	var out []string
	for _, rc := range ib.got {
		out = append(out, rc.body)
	}
	return out
}

func (ib *inbox) holding() (now, all int) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return ib.inFlight, ib.held
}

// wait waits for a message of event about revision and returns it.
func (ib *inbox) wait(t *testing.T, event notify.Event, revision string, logs *logBuffer) received {
	t.Helper()
	var found received
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		for _, rc := range ib.messages(event) {
			if rc.msg.Revision == revision {
				found = rc
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s message about %s; messages: %v\nagent log:\n%s", event, revision[:7], ib.bodies(), logs.String())
	}
	return found
}

// notificationsYAML sends every event of staging to ops (generic JSON) and to hang (which
// never answers), halts to chat (Slack) and roll-outs to teams; missing names a variable that
// is not set.
const notificationsYAML = `notifications:
  - name: ops
    type: webhook
    urlFrom: FERRY_TEST_OPS
    environments: [staging]
  - {name: hang, type: webhook, urlFrom: FERRY_TEST_HANG}
  - {name: chat, type: slack, urlFrom: FERRY_TEST_CHAT, events: [rollout-halted]}
  - {name: teams, type: teams, urlFrom: FERRY_TEST_TEAMS, events: [rolled-out]}
  - {name: missing, type: slack, urlFrom: FERRY_TEST_MISSING}
`

// TestNotifications drives a staged staging through a roll-out, a halted canary, a render that
// fails at every retry and a stage that waits for approval (then approved: the rollout's last
// stage is a roll-out too), with receivers on local HTTP
// servers: each event arrives once, with what a reader needs (stage, reason, subject, link),
// in the format of its receiver; a receiver that never answers holds up neither the syncs nor
// the other receivers; a notification whose variable is not set is skipped with one ERROR line
// per revision of ferry.yaml.
func TestNotifications(t *testing.T) {
	f := newFixture(t, "@every 1s")
	f.files["ferry.yaml"] += notificationsYAML
	f.stageStaging()
	ops, hang, chat, teams := newInbox(t, false), newInbox(t, true), newInbox(t, false), newInbox(t, false)
	env := map[string]string{"FERRY_TEST_OPS": ops.URL + "/hooks/ops-token-0123456789", "FERRY_TEST_HANG": hang.URL,
		"FERRY_TEST_CHAT": chat.URL + "/services/T0/B0/chat-token-0123456789", "FERRY_TEST_TEAMS": teams.URL + "/workflows/teams-token"}
	logs := &logBuffer{}
	opts := f.options(logs)
	opts.LookupEnv = func(name string) (string, bool) { v, ok := env[name]; return v, ok }
	opts.StatusURL = "https://ferry.example.com/"
	opts.Notify.Attempts, opts.Notify.Timeout = 1, 5*time.Minute // hang holds each request for the whole test
	f.start(opts)

	first := f.srv.Head(t, "config")
	rolled := ops.wait(t, notify.RolledOut, first, logs)
	if rolled.msg.Env != "staging" || rolled.msg.Subject != "staging: a canary stage" || rolled.msg.URL != opts.StatusURL {
		t.Errorf("rolled-out: %+v, want staging's, with the commit subject and the status page", rolled.msg)
	}
	teams.waitBody(t, "rolled out to staging", logs)

	bad := f.commitFailingRelease("1.3.0")
	haltLine := logs.waitLine(t, "rollout halted", map[string]any{"env": "staging", "revision": bad[:7], "stage": "canary"}, 3*time.Minute)
	halt := ops.wait(t, notify.RolloutHalted, bad, logs)
	if halt.msg.Stage != "canary" || !strings.Contains(halt.msg.Message, haltLine["reason"].(string)) || !strings.Contains(halt.msg.Subject, "never becomes ready") {
		t.Errorf("rollout-halted: %+v, want stage canary, the reason %q and the subject", halt.msg, haltLine["reason"])
	}
	if at, err := time.Parse(time.RFC3339Nano, haltLine["time"].(string)); err == nil {
		t.Logf("halt logged → receiver got the message: %s", halt.at.Sub(at).Round(time.Millisecond))
	}
	chat.waitBody(t, "halted in staging at stage canary", logs)

	broken := f.srv.Commit(t, "config", "staging: a resource that is not there", map[string]string{
		stagingKust: strings.Replace(f.files[stagingKust], "resources:\n", "resources:\n- missing.yaml\n", 1)})
	failed := ops.wait(t, notify.SyncFailed, broken, logs)
	if !strings.Contains(failed.msg.Message, "missing.yaml") {
		t.Errorf("sync-failed: %+v, want the render's error", failed.msg)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return len(logs.lines("sync failed")) >= 5, nil
	})
	if err != nil {
		t.Fatalf("fewer than 5 failed syncs; log:\n%s", logs.String())
	}

	// A stage that waits for approval, in a commit that also fixes the render.
	f.files["ferry.yaml"] = strings.Replace(f.files["ferry.yaml"], "          soak: 2s\n", "          soak: 2s\n          approval: manual\n", 1)
	fixed := f.srv.Commit(t, "config", "staging: gceme 1.4.0, approved by hand", map[string]string{
		"ferry.yaml": f.files["ferry.yaml"], stagingKust: strings.Replace(f.files[stagingKust], `newTag: "1.1.0"`, `newTag: "1.4.0"`, 1)})
	approval := ops.wait(t, notify.ApprovalNeeded, fixed, logs)
	if approval.msg.Stage != "canary" || !strings.Contains(approval.msg.Message, "ferry approve staging") {
		t.Errorf("approval-needed: %+v, want stage canary and the command", approval.msg)
	}
	// Approved as `ferry approve staging` does: the last stage finishes the rollout.
	err = sync.NewStateStore(f.kube, f.ns).Update(t.Context(), "staging", func(st *sync.State) error {
		st.Control.Approval = &sync.Request{By: "notify-test", At: time.Now().UTC(), Revision: st.Progress.Revision, Stage: st.Stage}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if done := ops.wait(t, notify.RolledOut, fixed, logs); done.msg.Stage != "all" || done.msg.Subject != "staging: gceme 1.4.0, approved by hand" {
		t.Errorf("rolled-out after the stages: %+v, want stage all and the subject", done.msg)
	}

	t.Run("each event once", func(t *testing.T) {
		count := map[string]int{}
		for _, rc := range ops.messages("") {
			count[string(rc.msg.Event)+"@"+short(rc.msg.Revision)]++
		}
		for key, n := range count {
			if n != 1 {
				t.Errorf("%s: %d messages, want one", key, n)
			}
		}
		if n := count[string(notify.SyncFailed)+"@"+broken[:7]]; n != 1 {
			t.Errorf("%d sync-failed messages for %d failed syncs of %s, want one", n, len(logs.lines("sync failed")), broken[:7])
		}
		metrics := httpGet(t, "http://"+opts.MetricsAddr+"/metrics")
		if m := regexp.MustCompile(`ferry_notifications_total\{name="ops",result="deduplicated"\} (\d+)`).FindStringSubmatch(metrics); m == nil || m[1] == "0" {
			t.Errorf("no deduplicated ops messages counted:\n%s", grepLines(metrics, "ferry_notifications_total"))
		}
		if !strings.Contains(metrics, `ferry_notifications_total{name="ops",result="sent"} `+strconv.Itoa(len(ops.messages("")))) {
			t.Errorf("sent ops messages not counted (%d taken):\n%s", len(ops.messages("")), grepLines(metrics, "ferry_notifications_total"))
		}
	})

	t.Run("a hanging receiver holds nothing up", func(t *testing.T) {
		// hang took a request for the first roll-out and holds it still: everything since —
		// the halt, the failed syncs, the new rollout — happened while it hung.
		now, all := hang.holding()
		if now == 0 || all == 0 {
			t.Errorf("the hanging receiver holds %d requests (%d in all), want the first one still open", now, all)
		}
		if n := len(chat.bodies()); n != 1 {
			t.Errorf("chat got %d messages, want the halt only", n)
		}
	})

	t.Run("a missing variable is logged once per revision", func(t *testing.T) {
		lines := logs.lines("notification skipped: the agent's environment variable named by urlFrom is not set")
		revs := map[any]int{}
		for _, l := range lines {
			if l["notification"] != "missing" || l["urlFrom"] != "FERRY_TEST_MISSING" || l["level"] != "ERROR" {
				t.Errorf("skip line %v, want notification=missing urlFrom=FERRY_TEST_MISSING at ERROR", l)
			}
			revs[l["revision"]]++
		}
		for rev, n := range revs {
			if n != 1 {
				t.Errorf("%d skip lines for revision %v, want one", n, rev)
			}
		}
		if len(lines) == 0 {
			t.Error("no line says the notification was skipped")
		}
	})

	t.Run("no receiver URL in the log", func(t *testing.T) {
		for _, secret := range []string{"ops-token", "chat-token", "teams-token", hang.URL} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("the agent log holds a receiver's URL (%s)", secret)
			}
		}
	})
}

// waitBody waits for a body holding s.
func (ib *inbox) waitBody(t *testing.T, s string, logs *logBuffer) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		for _, b := range ib.bodies() {
			if strings.Contains(b, s) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no message holding %q; got %v\nagent log:\n%s", s, ib.bodies(), logs.String())
	}
}

// TestNotificationsOfPullRequests runs the agent against a real Gitea as its forge: the
// automatic promotion of staging's release into production is one promotion-proposed message,
// and a production canary that never becomes ready, with onFailure: revert, is one
// revert-proposed message; each links its pull request.
func TestNotificationsOfPullRequests(t *testing.T) {
	g := giteatest.Start(t)
	id := strings.ToLower(rand.String(5))
	files := exampleFiles(t)
	y := files["ferry.yaml"]
	for _, r := range [][2]string{
		{"namespace: staging ", "namespace: staging-" + id + " "}, {"namespace: production\n", "namespace: production-" + id + "\n"},
		{`schedule: "@every 1m"`, `schedule: "@every 1s"`}, {"    pin: \"\"", "    schedule: \"@every 1s\"\n    pin: \"\""},
		{"auto: false", "auto: true"}, {"after: 10m", "after: 0s"}, {"soak: 2m", "soak: 1s"},
		{"onFailure: halt", "onFailure: revert"}, {"timeout: 5m", "timeout: 20s"},
	} {
		if !strings.Contains(y, r[0]) {
			t.Fatalf("ferry.yaml lacks %q", r[0])
		}
		y = strings.Replace(y, r[0], r[1], 1)
	}
	files["ferry.yaml"] = y + "notifications:\n  - {name: prs, type: webhook, urlFrom: PRS, events: [promotion-proposed, revert-proposed]}\n"
	repoURL := g.CreateRepo(t, "config", files)
	forge, err := promote.NewGitea(t.Context(), g.URL, g.AdminUser, "config", g.Token)
	if err != nil {
		t.Fatal(err)
	}
	prs := newInbox(t, false)
	logs := &logBuffer{}
	opts := DefaultOptions()
	opts.Source.URL, opts.Source.CacheDir = repoURL, t.TempDir()
	opts.Source.Auth.Username, opts.Source.Auth.Password = g.AdminUser, g.Token
	opts.Namespace, opts.LeaderElection, opts.Forge = "ferry-prs-"+id, false, forge
	opts.HTTPAddr, opts.MetricsAddr = "", ""
	opts.Sync.PollInterval, opts.Sync.HealthTimeout = 500*time.Millisecond, time.Minute
	opts.MinBackoff, opts.MaxBackoff = 500*time.Millisecond, 2*time.Second
	opts.Logger = logs.logger()
	opts.LookupEnv = func(name string) (string, bool) { return prs.URL + "/hook", name == "PRS" }
	(&fixture{t: t}).start(opts)

	proposed := logs.waitLine(t, "promotion proposed", map[string]any{"to": "production"}, 4*time.Minute)
	promotion := prs.waitEvent(t, notify.PromotionProposed, logs)
	if promotion.msg.Env != "production" || promotion.msg.URL != proposed["url"] || short(promotion.msg.Revision) != proposed["revision"] {
		t.Errorf("promotion-proposed: %+v, want production's, with the pull request %v of staging's revision %v", promotion.msg, proposed["url"], proposed["revision"])
	}

	repo, err := promote.Clone(t.Context(), repoURL, "main", g.AdminUser, g.Token)
	if err != nil {
		t.Fatal(err)
	}
	file := "environments/production/kustomization.yaml"
	data, err := repo.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := string(data) + "patches:\n- target:\n    kind: Deployment\n  patch: |-\n    - op: add\n      path: /spec/template/metadata/labels/" +
		localcluster.FailingPodLabel + "\n      value: \"true\"\n"
	if err := repo.WriteFile(file, []byte(bad)); err != nil {
		t.Fatal(err)
	}
	badRev, err := repo.Commit("release(production): pods that never become ready")
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Push(t.Context(), "main", false); err != nil {
		t.Fatal(err)
	}
	reverted := logs.waitLine(t, "revert proposed", map[string]any{"env": "production"}, 4*time.Minute)
	revert := prs.waitEvent(t, notify.RevertProposed, logs)
	if revert.msg.Env != "production" || revert.msg.URL != reverted["url"] || revert.msg.Revision != badRev || revert.msg.Subject != "release(production): pods that never become ready" {
		t.Errorf("revert-proposed: %+v, want production's at %s, with the pull request %v", revert.msg, badRev[:7], reverted["url"])
	}
	time.Sleep(3 * time.Second) // more syncs of the halted revision
	if n := len(prs.messages(notify.RevertProposed)); n != 1 {
		t.Errorf("%d revert-proposed messages, want one: %v", n, prs.bodies())
	}
	// Each new revision of staging updates the promotion's pull request: one message each.
	seen := map[string]bool{}
	for _, rc := range prs.messages(notify.PromotionProposed) {
		if seen[rc.msg.Revision] {
			t.Errorf("two promotion-proposed messages for %s: %v", short(rc.msg.Revision), prs.bodies())
		}
		seen[rc.msg.Revision] = true
	}
}

// waitEvent waits for a message of event and returns the first.
func (ib *inbox) waitEvent(t *testing.T, event notify.Event, logs *logBuffer) received {
	t.Helper()
	var found received
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		if m := ib.messages(event); len(m) > 0 {
			found = m[0]
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s message; got %v\nagent log:\n%s", event, ib.bodies(), logs.String())
	}
	return found
}

// TestReceiversOf: a notification is skipped, with an ERROR naming it and its variable but not
// the value, when the variable is unset, empty or holds no http(s) URL.
func TestReceiversOf(t *testing.T) {
	p, err := environments.Parse([]byte("apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n- {name: a, path: a, namespace: a}\n" +
		"notifications:\n- {name: good, type: slack, urlFrom: GOOD}\n- {name: unset, type: slack, urlFrom: UNSET}\n" +
		"- {name: empty, type: teams, urlFrom: EMPTY}\n- {name: nourl, type: webhook, urlFrom: NOURL}\n"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GOOD": "https://hooks.example.com/services/good-token", "EMPTY": "", "NOURL": "hooks.example.com/nourl-token"}
	logs := &logBuffer{}
	a := &Agent{opts: Options{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }}, log: logs.logger()}
	got := a.receiversOf(p, "0123456789012345678901234567890123456789")
	if len(got) != 1 || got[0].to != (notify.Receiver{Name: "good", Type: notify.Slack, URL: env["GOOD"]}) {
		t.Errorf("receivers %+v, want only good", got)
	}
	want := map[string]string{"unset": "is not set", "empty": "is not set", "nourl": "does not hold an http(s) URL"}
	for _, l := range logs.lines("") {
		name, _ := l["notification"].(string)
		if !strings.Contains(l["msg"].(string), want[name]) || l["level"] != "ERROR" || l["revision"] != "0123456" {
			t.Errorf("line %v, want an ERROR saying the variable %s", l, want[name])
		}
		delete(want, name)
	}
	if len(want) > 0 {
		t.Errorf("no line for %v", want)
	}
	if strings.Contains(logs.String(), "token") {
		t.Errorf("the log holds a variable's value:\n%s", logs.String())
	}
}
