// Package e2e holds ferry's end-to-end tests: they drive the same values cmd/ferry builds
// against the local control plane, a real git server and a real forge.
package e2e
