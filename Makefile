# agentguard — run `make help` for the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

BIN        := $(CURDIR)/bin
export AGENTGUARD_CACHE ?= $(HOME)/.cache/agentguard

GOLANGCI_LINT_VERSION ?= v2.15.0
OPA_VERSION           ?= v1.22.3
K8S_VERSION           ?= v1.37.2
ETCD_VERSION          ?= v3.6.16
CONTROLLER_GEN_VERSION ?= v0.23.0
HELM_VERSION          ?= v3.22.0
PROMTOOL_VERSION      ?= v0.316.0
COSIGN_VERSION        ?= v2.6.5

VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
PKGS     := ./...
KUBEBUILDER_ASSETS := $(BIN)/k8s
RUN_DIR  := $(BIN)/run

##@ Main

.PHONY: run
run: build ## Run the PDP and the admission webhook on localhost with the default bundle (policies/), signed with a dev key
	$(BIN)/agentguard dev tokens --bundle policies/ --out $(RUN_DIR)/tokens
	$(BIN)/agentguard bundle build policies/ -o $(RUN_DIR)/bundle.tar.gz --dev-key-dir $(AGENTGUARD_CACHE)/dev-keys
	$(BIN)/agentguard serve --pdp --webhook --bundle $(RUN_DIR)/bundle.tar.gz \
	  --bundle-pubkey $(AGENTGUARD_CACHE)/dev-keys/bundle-signing.pub.pem --self-signed --data-dir $(RUN_DIR) \
	  --auth-token-file $(RUN_DIR)/tokens/tokens.yaml --log-format text

.PHONY: test
test: envtest-bins chromium $(BIN)/helm $(BIN)/promtool $(BIN)/cosign ## Run every test (unit, fuzz seeds, envtest against a real kube-apiserver + etcd)
	KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS) go test -count=1 $(PKGS)

##@ Build

.PHONY: build
build: ## Build bin/agentguard
	go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/agentguard ./cmd/agentguard

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: chromium
chromium: ## Install Debian's chromium if missing (the conformance HTML report test renders in it)
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }

.PHONY: envtest-bins
envtest-bins: ## Build kube-apiserver and etcd from source into bin/k8s (cached under ~/.cache/agentguard)
	K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/build-k8s-bins.sh $(BIN)/k8s

.PHONY: chart-test
chart-test: envtest-bins $(BIN)/helm $(BIN)/promtool ## Test the Helm chart: lint, golden renders (UPDATE=1 rewrites them), alert rules (promtool), dry run and install/uninstall on envtest, own guardrails
	$(if $(UPDATE),go test -count=1 -run TestGolden ./test/e2e/chart/ -args -update)
	KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS) go test -count=1 ./test/e2e/chart/ ./internal/certrotator/

.PHONY: generate
generate: ## Generate the api/ deepcopy code and the CRD manifests in config/crd and the chart (controller-gen)
	hack/install-tool.sh $(BIN) controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen $(CONTROLLER_GEN_VERSION)
	$(BIN)/controller-gen object paths=./api/... crd paths=./api/... output:crd:dir=config/crd
	cp config/crd/*.yaml charts/agentguard/crds/

.PHONY: tools
tools: $(BIN)/golangci-lint $(BIN)/opa $(BIN)/helm $(BIN)/promtool $(BIN)/cosign ## Install pinned tools into bin/

$(BIN)/golangci-lint:
	hack/install-tool.sh $(BIN) golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint $(GOLANGCI_LINT_VERSION)

# cosign signs test images in webhook/images' CLI interop test.
.PHONY: cosign
cosign: $(BIN)/cosign ## Install the cosign CLI (interop tests for signed images)
$(BIN)/cosign:
	hack/install-tool.sh $(BIN) cosign github.com/sigstore/cosign/v2/cmd/cosign $(COSIGN_VERSION)

$(BIN)/helm:
	hack/install-tool.sh $(BIN) helm helm.sh/helm/v3/cmd/helm $(HELM_VERSION)

# Prometheus v3's Go module versions are v0.3xx (v0.316.0 is Prometheus 3.16).
$(BIN)/promtool:
	hack/install-tool.sh $(BIN) promtool github.com/prometheus/prometheus/cmd/promtool $(PROMTOOL_VERSION)

$(BIN)/opa:
	hack/install-tool.sh $(BIN) opa github.com/open-policy-agent/opa $(OPA_VERSION)

##@ Quality

.PHONY: lint
lint: $(BIN)/golangci-lint ## Run go vet and golangci-lint (.golangci.yml)
	go vet $(PKGS)
	$(BIN)/golangci-lint run $(PKGS)

.PHONY: fmt
fmt: ## Format the code (gofmt -s)
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 20s)
	@for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for f in $$(grep -h '^func Fuzz' $$t/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo ">> $$t $$f"; go test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-20s} $$t || exit 1; \
	  done; \
	done

.PHONY: catalog
catalog: ## Regenerate conformance/catalog/controls.yaml from ../shared/CONTROLS.md (keeps the check mapping)
	go run ./hack/gencatalog -in ../shared/CONTROLS.md -out conformance/catalog/controls.yaml

.PHONY: bundle-test
bundle-test: ## Validate the default bundle and run its test cases (agentguard bundle test policies/)
	go run ./cmd/agentguard bundle test policies/

##@ Performance

.PHONY: bench
bench: ## Run the Go benchmarks (engine sizes, indexed vs plain; admission)
	go test -run '^$$' -bench . -benchmem $(PKGS)

.PHONY: bench-pdp
bench-pdp: build $(BIN)/opa ## Load-test agentguard's PDP and OPA side by side on the same workload
	go run ./hack/loadgen -agentguard $(BIN)/agentguard -opa $(BIN)/opa

.PHONY: pgo
pgo: build ## Refresh cmd/agentguard/default.pgo, the CPU profile Go optimizes the binary with (profile-guided optimization), from the bench-pdp workload
	go run ./hack/loadgen -agentguard $(BIN)/agentguard -opa "" -requests 400000 -agentguard-profile cmd/agentguard/default.pgo

.PHONY: chaos-pdp
chaos-pdp: build envtest-bins ## Prove the PEP fallback under real faults (PDP killed/paused, apiserver down, bundle 500/tampered, clock skew); fails on any unsafe allow
	KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS) go run ./hack/chaos-pdp -agentguard $(BIN)/agentguard

.PHONY: bench-webhook
bench-webhook: ## Time agentguard's admission evaluation and the same checks in Rego (OPA Go API) side by side
	go run ./hack/benchwebhook

##@ Help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)
