// Package manifests holds the kustomize base that installs the ferry agent in a cluster
// (kubectl apply -k manifests/), and its namespace-restricted overlay, and exposes them
// embedded for tests and the CLI: Render and RenderNamespaced build them in-process, Install
// server-side applies the result.
package manifests
