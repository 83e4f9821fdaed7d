package gitserver_test

import (
	"strings"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/ferry-cd/ferry/internal/gitserver"
)

// TestStopAndRestart takes the server down (clients get "connection refused") and brings it
// back on the same URL with the same repositories.
func TestStopAndRestart(t *testing.T) {
	srv := gitserver.Start(t, gitserver.Options{})
	url := srv.NewRepo(t, "config", map[string]string{"a.txt": "a"})
	lsRemote := func() error {
		r := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{url}})
		_, err := r.ListContext(testContext(t), &git.ListOptions{})
		return err
	}
	if err := lsRemote(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if err := lsRemote(); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("ls-remote of a stopped server: %v, want connection refused", err)
	}
	srv.Restart(t)
	if err := lsRemote(); err != nil {
		t.Fatalf("ls-remote after Restart: %v", err)
	}
	if got := srv.RepoURL("config"); got != url {
		t.Errorf("URL changed from %s to %s", url, got)
	}
}
