package demo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestShortenSoakKeepsEveryOtherByte(t *testing.T) {
	files, err := readTree(filepath.Join("..", "..", "examples", "gceme"))
	if err != nil {
		t.Fatal(err)
	}
	in := files["ferry.yaml"]
	out, err := shortenSoak(in, "15s")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(in, "soak: 2m\n", "soak: 15s\n", 1); out != want {
		t.Errorf("shortenSoak changed more than the soak:\n%s", out)
	}
	for _, bad := range []string{"environments: []\n", "a:\n  soak: 1m\nb:\n  soak: 2m\n"} {
		if _, err := shortenSoak(bad, "15s"); err == nil {
			t.Errorf("shortenSoak(%q) = nil error, want one", bad)
		}
	}
	if got, _ := shortenSoak("    soak: 2m # two minutes\n", "5s"); got != "    soak: 5s # two minutes\n" {
		t.Errorf("comment lost: %q", got)
	}
}

func TestReadTreeNeedsFerryYAML(t *testing.T) {
	if _, err := readTree(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no ferry.yaml") {
		t.Errorf("readTree(empty) = %v, want an error naming ferry.yaml", err)
	}
}

// TestAgentLogFollowsAGrowingFile writes JSON lines (one in two parts, one not JSON) to a file
// while the log follows it, and waits for a line that comes last.
func TestAgentLogFollowsAGrowingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.log")
	var narrated []string
	l := tailAgentLog(path, func(r record) { narrated = append(narrated, r.str("msg")) })
	defer l.close()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, chunk := range []string{`{"msg":"leading"}` + "\n", `{"msg":"sync fin`, `ished","env":"staging"}` + "\n", "not json\n", `{"msg":"sync finished","env":"production"}` + "\n"} {
		if _, err := f.WriteString(chunk); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond) // let the follower see each part on its own
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	r, err := l.waitFor(ctx, map[string]string{"msg": "sync finished", "env": "production"})
	if err != nil {
		t.Fatal(err)
	}
	if r.str("env") != "production" {
		t.Errorf("waitFor returned %v", r)
	}
	if got := strings.Join(narrated, ","); got != "leading,sync finished,sync finished" {
		t.Errorf("narrated %s", got)
	}
}

func TestPointAnalysisKeepsEveryOtherByte(t *testing.T) {
	files, err := readTree(filepath.Join("..", "..", "examples", "gceme"))
	if err != nil {
		t.Fatal(err)
	}
	in := files["ferry.yaml"]
	out, err := pointAnalysis(in, "http://127.0.0.1:9999")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(strings.Replace(in, "address: http://prometheus.monitoring:9090", "address: http://127.0.0.1:9999", 1),
		"interval: 30s", "interval: 5s", 1)
	if out != want {
		t.Errorf("pointAnalysis changed more than the address and interval:\n%s", out)
	}
	if _, err := pointAnalysis("environments: []\n", "http://x"); err == nil {
		t.Error("pointAnalysis of a ferry.yaml without analysis: nil error, want one")
	}
}
