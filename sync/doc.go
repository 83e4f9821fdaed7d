// Package sync makes a cluster match a rendered environment: it reads the config repository
// with go-git, server-side-applies objects with fluxcd/pkg/ssa (CRDs and Namespaces first),
// prunes by inventory, waits for health with kstatus and keeps the inventory in the
// environment's state ConfigMap. It returns ChangeSets and leaves logging to its caller.
package sync
