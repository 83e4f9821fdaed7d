// Package render turns one environment's kustomize overlay, read from a read-only view of the
// repository at one revision, into the exact objects ferry applies: confined to the repository,
// labelled with ferry's ownership labels, sorted in apply order and hashed. It never imports sync.
package render
