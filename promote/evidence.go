package promote

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Evidence says where a promotion reads the source environment's health and applied revision.
type Evidence string

// The values of Evidence; "" means EvidenceAuto.
const (
	// EvidenceAuto reads the cluster when the source is synced there (Options.SourceFunc finds
	// its state), else the forge.
	EvidenceAuto Evidence = "auto"
	// EvidenceCluster reads the source's state ConfigMap through Options.SourceFunc.
	EvidenceCluster Evidence = "cluster"
	// EvidenceForge reads the commit statuses ferry/<source> the source's agent sets.
	EvidenceForge Evidence = "forge"
)

// ParseEvidence returns the Evidence named s; anything but auto, cluster and forge is an error.
func ParseEvidence(s string) (Evidence, error) {
	switch e := Evidence(s); e {
	case EvidenceAuto, EvidenceCluster, EvidenceForge:
		return e, nil
	}
	return "", fmt.Errorf("unknown evidence %q (want auto, cluster or forge)", s)
}

// ErrNotSynced is wrapped by a SourceFunc when the cluster holds no state of the environment
// (no state ConfigMap ferry-<env>): the environment is synced elsewhere, if anywhere.
var ErrNotSynced = errors.New("not synced in this cluster")

// Where the evidence came from, as SourceHealth.From says it.
const (
	FromCluster = "the state ConfigMap in the cluster"
	FromForge   = "the forge's commit statuses"
)

// maxEvidenceDepth bounds how many commits of the branch are searched, newest first, for the
// source's commit status: an agent marks every revision it syncs, so its revision is near the
// head unless the source has not synced for a long time.
const maxEvidenceDepth = 100

// sourceEvidence returns the source environment's state as opts ask for it. In auto mode the
// cluster answers when it has the source's state, and the forge otherwise.
func sourceEvidence(ctx context.Context, repo *Repo, forge Forge, env string, opts Options) (*SourceHealth, error) {
	if opts.Source != nil {
		return opts.Source, nil
	}
	mode := opts.Evidence
	if mode == "" {
		mode = EvidenceAuto
	}
	if mode != EvidenceForge && opts.SourceFunc != nil {
		src, err := opts.SourceFunc(ctx, env)
		if err == nil {
			src.From = FromCluster
			return src, nil
		}
		if mode == EvidenceCluster || !errors.Is(err, ErrNotSynced) {
			return nil, fmt.Errorf("evidence of %s from the cluster: %w", env, err)
		}
	}
	if mode == EvidenceCluster {
		return nil, fmt.Errorf("evidence of %s from the cluster: no cluster access was given (--kubeconfig, --context)", env)
	}
	return forgeEvidence(ctx, repo, forge, env)
}

// forgeEvidence walks the tracked branch from its head along first parents and returns the
// state of the newest commit that carries the status ferry/<env>: the revision env's agent
// synced last. success is Healthy; pending and failure keep the agent's description.
func forgeEvidence(ctx context.Context, repo *Repo, forge Forge, env string) (*SourceHealth, error) {
	want := "ferry/" + env
	c, err := repo.r.CommitObject(repo.base)
	if err != nil {
		return nil, repo.fail("head", err)
	}
	for range maxEvidenceDepth {
		statuses, err := forge.CommitStatuses(ctx, c.Hash.String())
		if err != nil {
			return nil, fmt.Errorf("evidence of %s from the forge: %w", env, err)
		}
		for _, st := range statuses {
			if st.Context == want {
				return &SourceHealth{Env: env, Revision: c.Hash.String(), Health: healthOfStatus(st), From: FromForge, Detail: st.Description}, nil
			}
		}
		if c.NumParents() == 0 {
			break
		}
		if c, err = c.Parent(0); err != nil {
			return nil, repo.fail("parent of "+c.Hash.String()[:7], err)
		}
	}
	return nil, fmt.Errorf("evidence of %s from the forge: %w: no commit among the last %d of %s has a %s status; is %s's agent running with a forge?",
		env, errNoStatus, maxEvidenceDepth, repo.Branch, want, env)
}

// healthOfStatus maps a commit status ferry set to a health: success is Healthy (the agent
// sets it only then), pending and running (a rollout under way) are Progressing, anything else
// Degraded.
func healthOfStatus(st Status) string {
	switch strings.ToLower(st.State) {
	case "success":
		return "Healthy"
	case "pending", "running":
		return "Progressing"
	default:
		return "Degraded"
	}
}

// isCommit reports whether sha names a commit of the clone (the tracked branch's history).
func (r *Repo) isCommit(sha string) bool {
	_, err := r.r.CommitObject(plumbing.NewHash(sha))
	return err == nil
}

// errNoStatus is wrapped when no commit of the branch carries the source's status.
var errNoStatus = errors.New("no commit status of the source")

// forgeUnanswered reports an evidence error that means only that the forge had nothing to
// say: no forge, or no status of the source.
func forgeUnanswered(err error) bool {
	return errors.Is(err, ErrNoForge) || errors.Is(err, errNoStatus)
}
