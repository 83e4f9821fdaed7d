// Package bench holds ferry's end-to-end benchmarks: each scenario runs ferry and the tool a
// user would use instead (kubectl apply --server-side, Flux-style fluxcd/pkg/ssa, kustomize)
// side by side on one local control plane and prints one table of medians and ratios. They
// run only with FERRY_BENCH=1 (`make bench`); `go test ./...` skips them in milliseconds.
package bench
