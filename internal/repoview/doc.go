// Package repoview opens a read-only view of a config repository at one revision for the CLI:
// a local work tree, a commit of a local repository, or a commit of a remote repository cloned
// with go-git. Views of commits read the git object store directly, without a checkout.
package repoview
