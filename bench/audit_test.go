package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The API server's audit log counts every client's requests the same way: ferry's, the Flux-style
// baseline's (both in this process) and kubectl's (another process). Only the admin identity
// is audited, and only the RequestReceived stage, so that each request is exactly one line,
// written before the request is served (the log backend's default blocking mode writes
// synchronously). The local control plane's controllers use the admin identity too; the
// clients are told apart by their user agents.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [ResponseStarted, ResponseComplete, Panic]
rules:
- level: Metadata
  users: [ferry-admin]
- level: None
`

// User agents of the clients this package measures; kubectl sends its own ("kubectl/v1.37.2 …").
const (
	agentFerry   = "ferry-bench-ferry"
	agentSSA     = "ferry-bench-ssa"
	agentHarness = "ferry-bench-harness"
	agentKubectl = "kubectl/"
)

// auditFlags writes the audit policy into dir and returns the kube-apiserver flags that log to
// dir/audit.log. The size limit keeps the log from rotating, which would move lines away from
// the offsets auditLog remembers.
func auditFlags(dir string) ([]string, string, error) {
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return nil, "", err
	}
	log := filepath.Join(dir, "audit.log")
	return []string{
		"--audit-policy-file=" + policy,
		"--audit-log-path=" + log,
		"--audit-log-format=json",
		"--audit-log-maxsize=100000",
	}, log, nil
}

// auditLog reads the API server's audit log from a remembered offset.
type auditLog struct{ path string }

// mark returns the log's current end: requests after it are counted by since.
func (a auditLog) mark(tb testing.TB) int64 {
	tb.Helper()
	info, err := os.Stat(a.path)
	if err != nil {
		tb.Fatalf("audit log: %v", err)
	}
	return info.Size()
}

// requests counts API requests by kind of call.
type requests struct {
	Total, Writes, DryRuns, Reads, Watches int
	// Calls lists "VERB URI" of the first few requests, to show where a handful went.
	Calls []string
}

// maxCalls bounds requests.Calls.
const maxCalls = 12

// plus returns the counts of r and o together.
func (r requests) plus(o requests) requests {
	return requests{Total: r.Total + o.Total, Writes: r.Writes + o.Writes, DryRuns: r.DryRuns + o.DryRuns,
		Reads: r.Reads + o.Reads, Watches: r.Watches + o.Watches, Calls: append(slices.Clip(r.Calls), o.Calls...)}
}

func (r requests) String() string {
	return fmt.Sprintf("%d requests (%d writes, %d dry-runs, %d reads, %d watches)", r.Total, r.Writes, r.DryRuns, r.Reads, r.Watches)
}

type auditEvent struct {
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	UserAgent  string `json:"userAgent"`
}

// since counts the requests logged after offset whose user agent starts with agent.
func (a auditLog) since(tb testing.TB, offset int64, agent string) requests {
	tb.Helper()
	f, err := os.Open(a.path)
	if err != nil {
		tb.Fatalf("audit log: %v", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		tb.Fatalf("audit log: %v", err)
	}
	var r requests
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e auditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || !strings.HasPrefix(e.UserAgent, agent) {
			continue
		}
		r.add(e)
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("audit log: %v", err)
	}
	return r
}

func (r *requests) add(e auditEvent) {
	r.Total++
	if len(r.Calls) < maxCalls {
		r.Calls = append(r.Calls, e.Verb+" "+e.RequestURI)
	}
	switch {
	case e.Verb == "watch":
		r.Watches++
	case strings.Contains(e.RequestURI, "dryRun="):
		r.DryRuns++
	case e.Verb == "create" || e.Verb == "update" || e.Verb == "patch" || e.Verb == "delete" || e.Verb == "deletecollection":
		r.Writes++
	default:
		r.Reads++
	}
}
