// Package source is the git source of the sync engine and the agent: it asks a remote for a
// branch's commit (ls-remote), fetches new objects into a persistent bare cache repository
// with go-git, and shows a fetched commit's tree as a read-only fs.FS. It owns the network
// side of reading the config repository — authentication (HTTPS basic auth or an SSH key
// with strict known_hosts), timeouts, and keeping credentials out of every error — and never
// runs a `git` binary.
package source
