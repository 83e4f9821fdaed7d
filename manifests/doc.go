// Package manifests holds the kustomize base that installs the ferry agent in a cluster
// (kubectl apply -k manifests/) and exposes it embedded for tests and the CLI.
package manifests
