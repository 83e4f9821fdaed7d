// Package environments owns ferry.yaml: it parses the pipeline strictly (unknown fields are
// errors naming ferry.yaml:LINE:COL), applies defaults in one place and validates environments,
// their promotion graph and their rollout stages. It is pure code with no I/O beyond the bytes
// it is given.
package environments
