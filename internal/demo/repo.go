package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"code.gitea.io/sdk/gitea"
)

// pushRepo creates the config repository on Gitea from the example folder, with the canary
// soak shortened, and a push webhook to the agent's address (chosen here, before the agent
// starts, so that the hook exists when the first merge lands).
func (s *story) pushRepo(ctx context.Context) error {
	files, err := readTree(s.opts.Example)
	if err != nil {
		return err
	}
	if s.opts.Soak > 0 {
		if files["ferry.yaml"], err = shortenSoak(files["ferry.yaml"], s.opts.Soak.String()); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(s.opts.Example, "ferry.yaml"), err)
		}
		s.say("the example's canary soak (2m) is shortened to %s so that the story fits in minutes", s.opts.Soak)
	}
	if files["ferry.yaml"], err = pointAnalysis(files["ferry.yaml"], s.prometheus.URL); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(s.opts.Example, "ferry.yaml"), err)
	}
	s.say("the canary's error-rate analysis asks the local Prometheus at %s every %s", s.prometheus.URL, analysisInterval)
	if s.repoURL, err = s.gitea.CreateRepo(ctx, repoName, files); err != nil {
		return err
	}
	s.say("pushed %s (%d files) to %s", s.opts.Example, len(files), s.repoURL)
	if s.http, err = freeAddr(); err != nil {
		return err
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	s.env = append(s.env, envWebhookSecret+"="+hex.EncodeToString(secret))
	_, _, err = s.gitea.Client.CreateRepoHook(s.gitea.AdminUser, repoName, gitea.CreateHookOption{
		Type: gitea.HookTypeGitea, Events: []string{"push"}, BranchFilter: "main", Active: true,
		Config: map[string]string{"url": "http://" + s.http + "/hooks/git", "content_type": "json", "secret": hex.EncodeToString(secret)},
	})
	if err != nil {
		return fmt.Errorf("create the push webhook: %w", err)
	}
	s.say("Gitea will POST pushes to the agent's webhook, http://%s/hooks/git (HMAC-signed)", s.http)
	return nil
}

// readTree returns the regular files under dir, keyed by slash-separated relative path.
func readTree(dir string) (map[string]string, error) {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, ok := files["ferry.yaml"]; !ok {
		return nil, fmt.Errorf("%s has no ferry.yaml", dir)
	}
	return files, nil
}

// shortenSoak replaces the one `soak:` value of ferry.yaml, keeping every other byte.
func shortenSoak(ferryYAML, soak string) (string, error) {
	lines := strings.SplitAfter(ferryYAML, "\n")
	found := 0
	for i, line := range lines {
		indent, rest, ok := strings.Cut(line, "soak: ")
		if !ok || strings.TrimSpace(indent) != "" {
			continue
		}
		found++
		end := strings.IndexAny(rest, " #\n")
		if end < 0 {
			end = len(rest)
		}
		lines[i] = indent + "soak: " + soak + rest[end:]
	}
	if found != 1 {
		return "", fmt.Errorf("want exactly one canary stage with a soak: time, found %d", found)
	}
	return strings.Join(lines, ""), nil
}
