package bench

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-cd/ferry/internal/gitserver"
)

// Scenario 8's environments: how many, of how many objects, on which schedule.
const (
	idleEnvs     = 50
	idleObjects  = 10
	idleSchedule = "@every 1m" // ferry.yaml's default
)

// benchIdleEnvironments is scenario 8: the idle cost of many environments. One `ferry agent`
// syncs 50 environments of 10 objects each from one repository, all on the default schedule;
// once every one is applied and healthy, the agent idles for FERRY_BENCH_IDLE_ENVS (2 min by
// default) while the bench counts the git requests its git server receives, the API requests
// the audit log holds from it, and the lines it logs, per minute. The environments share one
// read of the branch head per tick (heads in package agent), where each made its own before:
// 50 ls-remotes a minute, all in the same second.
func benchIdleEnvironments(t *testing.T, st settings, tab *table) {
	id := uniqueName("idle", idleEnvs, 0)
	files := map[string]string{}
	y := "apiVersion: ferry.dev/v1alpha1\nkind: Pipeline\nenvironments:\n"
	var names []string
	for i := range idleEnvs {
		name := fmt.Sprintf("%s-%02d", id, i)
		names = append(names, name)
		y += fmt.Sprintf("  - name: %[1]s\n    path: %[1]s\n    namespace: %[1]s\n    schedule: %[2]q\n", name, idleSchedule)
		for p, content := range environmentFiles(name, name, idleObjects) {
			files[p] = content
		}
	}
	files["ferry.yaml"] = y
	a := startAgentOn(t, id, files)
	for _, name := range names {
		want := func(l logLine) bool { return l.Msg == "sync finished" && l.Env == name && l.Result == "applied" }
		if _, ok := a.logs.wait(want, 15*time.Minute); !ok {
			t.Fatalf("agent %s: %s never applied; its log:\n%s", id, name, a.logs.tail(40))
		}
	}
	t.Logf("%d environments applied %s after the agent started", idleEnvs, time.Since(a.started).Round(time.Second))

	mark, linesBefore := lab.audit.mark(t), a.logs.count()
	a.srv.ResetRequests()
	start := time.Now()
	time.Sleep(st.idleEnvs)
	minutes := time.Since(start).Minutes()
	git := a.srv.Requests()
	// client-go's default user agent: the program's name, then "/" and its version.
	api := lab.audit.since(t, mark, filepath.Base(ferryBinary(t))+"/")
	lines := a.logs.count() - linesBefore
	a.stop()

	gitTotal := 0
	for _, n := range git {
		gitTotal += n
	}
	perMinute := func(n int) string { return fmt.Sprintf("%.1f", float64(n)/minutes) }
	t.Logf("idle %s with %d environments: git %v, API %s (first: %s), %d log lines",
		st.idleEnvs, idleEnvs, git, api, strings.Join(api.Calls, ", "), lines)
	// One read of the head per minute's tick; unshared, it was one per environment.
	const maxGit = 2.0
	tab.add(row{
		Scenario: fmt.Sprintf("8. idle cost: %d environments × %d objects, %s, per minute", idleEnvs, idleObjects, idleSchedule),
		N:        fmt.Sprint(idleEnvs * idleObjects),
		Ferry: fmt.Sprintf("git %s (ls-remote %s), API %s, log lines %s", perMinute(gitTotal), perMinute(git[gitserver.ListRefs]),
			perMinute(api.Total), perMinute(lines)),
		Baseline: "n/a", Ratio: "—",
		Target: fmt.Sprintf("git ≤ %.0f", maxGit), Met: met(float64(gitTotal)/minutes <= maxGit),
		Note: fmt.Sprintf("counted over %s idle after every environment applied; API: %s; git at the server, API in the audit log, lines on stderr; "+
			"before the environments shared their reads of the branch head: one ls-remote per environment and tick (%d a minute, in the same second)",
			st.idleEnvs, api, idleEnvs),
	})
}

// count returns how many lines the agent has logged.
func (l *lineLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}
