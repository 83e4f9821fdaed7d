// Package promote moves image pins between environment overlays (editing kustomization files
// as text at the positions kyaml reports, so comments, order and formatting survive), commits
// and pushes with go-git, and opens or updates the pull request on GitHub or Gitea. It also
// reverts overlays for rollbacks.
package promote
