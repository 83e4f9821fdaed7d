# ferry's developer targets. `make demo` and `make test` are the two documented set-up commands.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X github.com/ferry-cd/ferry/internal/buildinfo.Version=$(VERSION) \
           -X github.com/ferry-cd/ferry/internal/buildinfo.Commit=$(COMMIT)
# go test's own timeout for the whole suite; the control-plane tests are the slow part.
TEST_TIMEOUT ?= 30m

.PHONY: build test demo lint controlplane dev-up bench fuzz image kustomize-test kustomize-patch

## build: build bin/ferry static (CGO_ENABLED=0), as `make image` does (which also strips the symbol
## tables, -s -w, and leaves out VCS stamping); static also leaves out the
## dynamic symbol export that kustomize's Go-plugin loader (package plugin) would force on a cgo
## build: half the size, half the resident memory
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ferry ./cmd/ferry

## image: build the agent's OCI image without a container engine into bin/ferry-image.tar (a
## `docker save` tarball tagged ghcr.io/ferry-cd/ferry:VERSION): the static binary, passwd and
## group (user 65532) and the CA certificates of this machine, on an empty base. Every timestamp
## is SOURCE_DATE_EPOCH (default: the commit's time), so the same source gives the same digest.
## Prints the tag, the digest and the size.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
image:
	$(GO) run ./internal/imagebuild/cmd/ferry-image -o bin/ferry-image.tar \
	  -version '$(VERSION)' -commit '$(COMMIT)' -source-date-epoch '$(SOURCE_DATE_EPOCH)'

## test: build the control plane (cached) and run every test against it. The end-to-end tests
## (e2e: Gitea, Prometheus, agents and a cluster with workloads) run last and alone: their
## rollouts wait on fake pods' readiness, which the other packages' clusters starve on two cores.
test: controlplane kustomize-test
	$(GO) test -count=1 -artifacts -timeout $(TEST_TIMEOUT) $$($(GO) list ./... | grep -v '/e2e$$')
	$(GO) test -count=1 -artifacts -timeout $(TEST_TIMEOUT) ./e2e/

## kustomize-test: kustomize api's own test suite (krusty's end-to-end cases included) on ferry's
## patched copy in third_party/kustomize-api, from its own go.mod; the skipped tests and why are
## in third_party/kustomize-api.skip. Also checks that the patch stays under 1000 changed lines.
kustomize-test: kustomize-patch
	GO=$(GO) third_party/kustomize-test.sh

## kustomize-patch: print ferry's patch to kustomize api, file by file, against v0.21.2 as released
kustomize-patch:
	GO=$(GO) third_party/kustomize-patch-size.sh

## demo: play ferry's story (promotion PR, staged rollout) on the local control plane and a local
## Gitea; keeps running until Ctrl-C, or stops once told with DEMO_EXIT=1
demo: controlplane build
	bin/ferry dev demo

## lint: gofmt check and go vet
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' ':!third_party/kustomize-api' 2>/dev/null || find . -name '*.go' -not -path './third_party/kustomize-api/*')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## controlplane: build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok and gitea
## from the Go module proxy into ~/.cache/ferry/controlplane (skips what is built)
controlplane:
	internal/controlplane/tools/build.sh

## dev-up: run the local control plane with workloads until Ctrl-C
dev-up: controlplane build
	bin/ferry dev up --workloads

## bench: ferry against kubectl, Flux-style ssa and kustomize on one local control plane; prints
## one table and writes it to _artifacts/bench.md (about 35 min; not part of make test)
bench: controlplane build
	FERRY_BENCH=1 FERRY_BIN=$(CURDIR)/bin/ferry $(GO) test -count=1 -v -run '^TestBench$$' -timeout 90m ./bench/

## fuzz: run each fuzz target for FUZZTIME (default 60s), one after another: go test fuzzes one
## target per invocation. Failing inputs land in the package's testdata/fuzz/TARGET/.
FUZZTIME ?= 60s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./environments/
	$(GO) test -run '^$$' -fuzz '^FuzzRender$$' -fuzztime $(FUZZTIME) ./render/
	$(GO) test -run '^$$' -fuzz '^FuzzRenderSOPS$$' -fuzztime $(FUZZTIME) ./render/
	$(GO) test -run '^$$' -fuzz '^FuzzWebhook$$' -fuzztime $(FUZZTIME) ./agent/
	$(GO) test -run '^$$' -fuzz '^FuzzGitLabWebhook$$' -fuzztime $(FUZZTIME) ./agent/
	$(GO) test -run '^$$' -fuzz '^FuzzSetImages$$' -fuzztime $(FUZZTIME) ./promote/
