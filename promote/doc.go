// Package promote moves image tags between environment overlays (keeping comments and order),
// reverts commits for rollbacks, and opens or updates the pull request on GitHub or Gitea.
package promote
