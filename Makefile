# Web4AI Orchestrator. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CACHE      ?= $(HOME)/.cache/web4ai
PYTHON     ?= python3
DEPS_HASH  := $(shell cat pyproject.toml constraints.txt 2>/dev/null | sha256sum | cut -c1-12)
VENV       ?= $(CACHE)/venv-$(DEPS_HASH)
PY         := $(VENV)/bin/python
BIN        := $(CACHE)/bin
RUN_ENV    := PYTHONPATH=$(CURDIR) WEB4AI_TOOLS_DIR=$(CACHE) PATH=$(BIN):$$PATH
PYTEST_ARGS ?=
# make test runs its files on 3 workers (pytest-xdist; a file stays on one worker, in
# order, with its fixtures): the suite mostly waits on real processes. XDIST= runs serially.
XDIST      ?= -n 3 --dist loadfile

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# one builder at a time (clones and worktrees share the cache): the others wait, then find it ready
$(VENV)/.ready: pyproject.toml constraints.txt
	@mkdir -p $(CACHE)
	@flock $(CACHE)/.venv.lock bash -euc 'test -f $@ && exit 0; \
	  echo "[make] creating $(VENV)"; \
	  $(PYTHON) -m venv $(VENV); \
	  $(PY) -m pip install -q --upgrade pip; \
	  $(PY) hack/requirements.py dev > $(VENV)/requirements.txt; \
	  $(PY) -m pip install -q -r $(VENV)/requirements.txt -c constraints.txt; \
	  touch $@'

.PHONY: venv
venv: $(VENV)/.ready ## Create the Python environment (cached outside the repo)

.PHONY: tools
tools: ## Build etcd, kube-apiserver, kube-scheduler, kubectl, helm, promtool (cached outside the repo)
	WEB4AI_TOOLS_DIR=$(CACHE) hack/build-tools.sh >/dev/null

.PHONY: lint
lint: venv ## ruff, mypy and import-linter
	$(VENV)/bin/ruff check web4ai devtools tests hack bench
	$(VENV)/bin/ruff format --check web4ai devtools tests hack bench
	$(RUN_ENV) $(VENV)/bin/mypy
	$(RUN_ENV) $(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Dockerfile

.PHONY: fmt
fmt: venv ## Format the code with ruff
	$(VENV)/bin/ruff format web4ai devtools tests hack bench
	$(VENV)/bin/ruff check --fix web4ai devtools tests hack bench

.PHONY: test-unit
test-unit: venv ## Unit tests only (no cluster)
	$(RUN_ENV) $(PY) -m pytest tests/unit $(PYTEST_ARGS)

.PHONY: browser
browser: ## Install Debian's chromium for the browser tests (apt, when root)
	hack/install-browser.sh

.PHONY: test
test: tools venv lint browser ## Everything: lint, unit, integration, browser (real control plane); checks no process leaks
	run_id=$$$$-$$RANDOM; \
	WEB4AI_RUN_ID=$$run_id $(RUN_ENV) $(PY) -m pytest $(XDIST) $(PYTEST_ARGS); rc=$$?; \
	hack/check-leaks.sh $$run_id || rc=1; exit $$rc

.PHONY: run
run: tools venv ## Run the product locally on a real control plane (Ctrl-C stops everything)
	$(RUN_ENV) $(PY) -m devtools.localcluster.stack --crds crds $(RUN_ARGS)

.PHONY: bench
bench: tools venv ## All three benchmarks (scheduler, api, e2e): bench/results.json, bench/results.md, README's table
	$(RUN_ENV) $(PY) -m bench.report run $(BENCH_ARGS)

.PHONY: bench-check
bench-check: venv ## Fail when README's performance table and bench/results.json disagree
	$(RUN_ENV) $(PY) -m bench.report check

.PHONY: bench-scheduler
bench-scheduler: tools venv ## Benchmark: our scheduler vs kube-scheduler (1000 tasks onto 50 and 500 nodes)
	$(RUN_ENV) $(PY) -m bench.scheduler $(BENCH_ARGS)

.PHONY: bench-api
bench-api: tools venv ## Benchmark: API reads, heartbeats vs raw Lease writes, RSS, WebSocket fan-out
	$(RUN_ENV) $(PY) -m bench.api $(BENCH_ARGS)

.PHONY: bench-dashboard
bench-dashboard: tools venv browser ## Benchmark: dashboard first render, bytes, main-thread time per WebSocket update (1000 nodes, 10000 tasks)
	$(RUN_ENV) $(PY) -m bench.dashboard $(BENCH_ARGS)

.PHONY: bench-e2e
bench-e2e: tools venv ## Benchmark: tasks/s REST submit -> completed with 3 and 20 nodes
	$(RUN_ENV) $(PY) -m bench.e2e $(BENCH_ARGS)

.PHONY: bench-routing
bench-routing: tools venv ## Benchmark: model-aware routing + CHWBL vs the five algorithms (20 simulated AI nodes, 3000 tasks); README's table
	$(RUN_ENV) $(PY) -m bench.report run --only routing --routing-args "$(BENCH_ARGS)"

.PHONY: bench-operator-start
bench-operator-start: tools venv ## Benchmark: operator cold start and standby failover to first binding (1000 nodes, 10000 tasks)
	$(RUN_ENV) $(PY) -m bench.operator_start $(BENCH_ARGS)

.PHONY: bench-scale
bench-scale: tools venv ## Benchmark: 20,000 unschedulable tasks (operator idle CPU, writes, drain); 2,000 simulated nodes (--nodes, --sim-procs) heartbeating, alone (--quiet s) then with a task stream (--task-rate, --workers, --window s): CPU per heartbeat and per task of every process, p99, bind p50, false offline; --phases retained: 100,000 retained tasks (RSS and per task, /tasks and /status p99, cold start, failover)
	$(RUN_ENV) $(PY) -m bench.scale $(BENCH_ARGS)

.PHONY: chaos
chaos: tools venv ## Chaos run: 2 operators, 2 APIs, 5 nodes, 3000 tasks; kills and an API server restart
	$(RUN_ENV) $(PY) -m bench.chaos $(CHAOS_ARGS)

.PHONY: manifests
manifests: tools venv ## Regenerate helm/web4ai/crds, manifests/, web4ai/core/defaults.py and values.schema.json's config from crds/ and the chart
	WEB4AI_TOOLS_DIR=$(CACHE) hack/manifests.sh
	$(PY) hack/generate_defaults.py > web4ai/core/defaults.py
	$(PY) hack/generate_defaults.py --values-schema helm/web4ai/values.schema.json

.PHONY: helm-lint
helm-lint: tools ## helm lint the chart
	$(BIN)/helm lint helm/web4ai

.PHONY: helm-test
helm-test: tools venv ## Chart tests: lint, schema, server-side dry runs, upgrade, RBAC (real API server)
	$(RUN_ENV) $(PY) -m pytest tests/integration/test_install.py $(PYTEST_ARGS)

IMAGE ?= web4ai/orchestrator:0.1.0
.PHONY: image
image: ## Build the container image with a Docker engine (without one: make cluster-image)
	docker build -t $(IMAGE) .

# A local cluster that runs pods, and the image built here (no Docker, no registry).
LOCAL_IMAGE ?= web4ai/orchestrator:dev
.PHONY: cluster-deps
cluster-deps: ## Debian's containerd, runc, CNI plugins, debootstrap, buildah, skopeo (apt, when root)
	hack/install-cluster-deps.sh

.PHONY: cluster-tools
cluster-tools: cluster-deps ## The control plane, kubelet, kube-controller-manager, the pause program (cached like tools; no promtool)
	WEB4AI_TOOLS_DIR=$(CACHE) hack/build-tools.sh etcd kube-apiserver kubectl kube-scheduler helm \
	  kube-controller-manager kubelet pause >/dev/null

.PHONY: cluster-image
cluster-image: cluster-tools ## Build the Dockerfile here: buildah on a debootstrap'd Debian base (cached)
	WEB4AI_TOOLS_DIR=$(CACHE) WEB4AI_IMAGE=$(LOCAL_IMAGE) hack/build-image.sh

.PHONY: cluster
cluster: cluster-image venv ## A local cluster that runs pods (CLUSTER_ARGS="--nodes 2"); Ctrl-C stops it
	$(RUN_ENV) $(PY) -m devtools.localcluster.cluster $(CLUSTER_ARGS)

.PHONY: cluster-test
cluster-test: cluster-image venv ## helm install the built image on a local cluster; end-to-end checks (tests/cluster)
	run_id=$$$$-$$RANDOM; \
	WEB4AI_RUN_ID=$$run_id WEB4AI_IMAGE=$(LOCAL_IMAGE) $(RUN_ENV) $(PY) -m pytest tests/cluster $(PYTEST_ARGS); rc=$$?; \
	hack/check-leaks.sh $$run_id || rc=1; exit $$rc

KIND_CLUSTER ?= web4ai
.PHONY: kind-up
kind-up: ## Create a kind cluster (needs Docker; untested here)
	kind create cluster --name $(KIND_CLUSTER)

.PHONY: kind-deploy
kind-deploy: image tools ## Load the image into kind and helm install the chart (needs Docker; untested here)
	kind load docker-image $(IMAGE) --name $(KIND_CLUSTER)
	$(BIN)/helm upgrade --install web4ai helm/web4ai --namespace web4ai --create-namespace \
		--set image.tag=$(lastword $(subst :, ,$(IMAGE))) --wait

.PHONY: kind-e2e
kind-e2e: image tools venv ## The cluster-test module (tests/cluster) against kind (needs Docker; untested here)
	kind load docker-image $(IMAGE) --name $(KIND_CLUSTER)
	WEB4AI_USE_EXISTING_CLUSTER=1 WEB4AI_IMAGE=$(IMAGE) KUBECONFIG=$${KUBECONFIG:-$$HOME/.kube/config} \
		$(RUN_ENV) $(PY) -m pytest tests/cluster $(PYTEST_ARGS)

.PHONY: clean
clean: ## Remove caches inside the repo (the binary and venv cache stays in $(CACHE))
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: clean-cache
clean-cache: ## Remove the binary and venv cache (next run rebuilds it)
	rm -rf $(CACHE)
