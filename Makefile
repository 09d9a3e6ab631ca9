# ledgerline — local cloud, tests, packaging. `make help` lists targets.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DEFAULT_GOAL := help

# Dev settings (ports, project, dev-only secrets). Values already set in the environment or on the
# command line win over the file (same rule as shared/config.py).
DEV_ENV ?= emulators/dev.env
$(foreach kv,$(shell grep -E '^[A-Za-z_][A-Za-z0-9_]*=' $(DEV_ENV)),$(eval $(firstword $(subst =, ,$(kv))) ?= $(patsubst $(firstword $(subst =, ,$(kv)))=%,%,$(kv))))
export $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' $(DEV_ENV))

PYTHON   ?= python3
# Python 3.13 for the BigQuery emulator: the pyenv build if present (its shim may not be active).
PY313    ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null) python3.13)
# This machine's global pip config lists local mirrors that are absent for most packages; pip warns
# about each. The filter keeps install output readable (errors still show, pipefail keeps the status).
PIPQ     := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
VENV     := .venv
PY       := $(VENV)/bin/python
# Terraform: the image's terraform binary; plan/deploy take ENV=dev|prod PROJECT_ID=... TF_STATE_BUCKET=...
TF       ?= terraform
ENV      ?=
PROJECT_ID ?=
TF_STATE_BUCKET ?=
TF_ARGS  ?=
# A saved plan: make plan TF_PLAN=x writes it (-out), make deploy TF_PLAN=x applies exactly it (CI).
TF_PLAN  ?=
# Extra pytest arguments for make test, e.g. PYTEST_ARGS=--junitxml=.run/junit/pytest.xml (CI).
PYTEST_ARGS ?=
# A TF_CLI_CONFIG_FILE naming a missing file only makes terraform warn on every call: drop it then.
TFRUN    = $(if $(wildcard $(TF_CLI_CONFIG_FILE)),,env -u TF_CLI_CONFIG_FILE) env -u GOOGLE_CLOUD_PROJECT $(TF)

.PHONY: help prereqs install console console-deps console-lint console-test chromium venv venv-tasks venv-bigquery venv-localstripe venv-checkov venv-tfplugin up down status demo test test-unit test-integration test-slow \
        lint tf-check tf-validate tf-require tf-init plan deploy smoke bootstrap build chaos bench bench-baseline bench-ledger bench-intake bench-e2e bench-recon bench-exports bench-api bench-payouts bench-webhooks openapi schema-lock lock clean

help:
	@echo "make demo            install, start the local cloud, send a realistic webhook scenario, show balances + verify"
	@echo "make test            install, run lint + unit + integration tests on an isolated stack (never the dev one), stop it"
	@echo "make up | down | status   the local cloud (5 emulators incl. storage, the bank sandbox, localstripe, the webhook receiver, 7 functions, the local Cloud Scheduler), logs under .run/logs; status shows each job's last and next run"
	@echo "make build           stage each function's deployable source under build/<name>/ (the api's with the built console)"
	@echo "make console         build the operations console (console/, docs/console.md) into console/dist"
	@echo "make tf-check        offline Terraform checks: fmt, tf-validate, checkov, structural tests (part of make test)"
	@echo "make tf-validate     terraform validate + terraform test (mock_provider) of every root against the offline stand-in provider"
	@echo "make plan|deploy ENV=dev|prod PROJECT_ID=... TF_STATE_BUCKET=...   build + terraform plan / apply (docs/deploy.md)"
	@echo "make bench           benchmarks (bench-baseline: raw emulator ceilings; bench-e2e: webhook -> BigQuery under load; bench-api: API p99; bench-payouts: payouts/s and time to submitted/paid; bench-webhooks: deliveries/s and commit -> first attempt vs raw Cloud Tasks dispatch; bench-recon: 1M-row reconciliation; bench-exports: 200,000-entry statement exports vs the exports function's limits)"
	@echo "make test-slow       the tests that wait out production timings (Pub/Sub dead-letter backoff, the schemathesis fuzz run); part of make chaos"
	@echo "make chaos           fault injection, every scenario on fresh stacks (docs/reliability.md); 6: payouts (PAYOUTS_CHAOS=1000); 7: webhooks out (WEBHOOKS_CHAOS=5000)"
	@echo "make openapi         regenerate docs/openapi.yaml from shared/api"
	@echo "make schema-lock     record an additive BigQuery schema change as released (topology/bigquery.lock.json)"

# ---------------------------------------------------------------------------- installs (stamped)
install: prereqs venv venv-tasks venv-bigquery venv-localstripe

prereqs:
	@$(PYTHON) -m emulators.prereqs --py313 "$(PY313)"

venv: prereqs $(VENV)/.stamp
$(VENV)/.stamp: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt $(PIPQ)
	$(PY) -m pip install -q --no-deps -e . $(PIPQ)
	@touch $@

venv-tasks: .venv-tasks/.stamp
.venv-tasks/.stamp: emulators/requirements-tasks.txt
	@test -x .venv-tasks/bin/python || $(PYTHON) -m venv .venv-tasks
	.venv-tasks/bin/python -m pip install -q -r emulators/requirements-tasks.txt $(PIPQ)
	@touch $@

venv-localstripe: .venv-localstripe/.stamp
.venv-localstripe/.stamp: emulators/requirements-localstripe.txt
	@test -x .venv-localstripe/bin/python || $(PYTHON) -m venv .venv-localstripe
	.venv-localstripe/bin/python -m pip install -q -r emulators/requirements-localstripe.txt $(PIPQ)
	@touch $@

venv-bigquery: .venv-bigquery/.stamp
.venv-bigquery/.stamp: emulators/requirements-bigquery.txt
	@test -x .venv-bigquery/bin/python || "$(PY313)" -m venv .venv-bigquery
	.venv-bigquery/bin/python -m pip install -q -r emulators/requirements-bigquery.txt $(PIPQ)
	@# DuckDB would download these extensions at run time; this machine has no such network, so
	@# install them from the PyPI packages into the HOME the emulator is served with.
	mkdir -p .venv-bigquery/home
	HOME=$(CURDIR)/.venv-bigquery/home .venv-bigquery/bin/python -c "from duckdb_extensions import import_extension; [import_extension(e) for e in ('ducklake','icu','spatial')]"
	@touch $@

# checkov in its own venv: its bc-python-hcl2 would shadow python-hcl2 (`hcl2`), which .venv has.
venv-checkov: .venv-checkov/.stamp
.venv-checkov/.stamp: terraform/requirements-checkov.txt
	@test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install -q -r terraform/requirements-checkov.txt $(PIPQ)
	@touch $@

# The offline stand-in for the google provider (terraform/offline, issue 20): grpcio-tools generates its
# stubs, grpcio + protobuf (constraints.txt's pins) serve it. Its own venv: grpcio-tools needs a newer
# setuptools than .venv has.
venv-tfplugin: .venv-tfplugin/.stamp
.venv-tfplugin/.stamp: terraform/offline/requirements.txt
	@test -x .venv-tfplugin/bin/python || $(PYTHON) -m venv .venv-tfplugin
	.venv-tfplugin/bin/python -m pip install -q -r terraform/offline/requirements.txt $(PIPQ)
	@touch $@

# ---------------------------------------------------------------------------- the operations console
# console/ (docs/console.md): Vite + React + TypeScript. `npm ci` from the committed lock file (stamped, like
# the venvs); the build writes console/dist, which the api function serves under /console/ and `make build`
# puts in the api bundle (no Node at run time). Its end-to-end test drives Debian's chromium (make chromium).
NPM      ?= npm
CONSOLE_SOURCES := $(shell find console/src console/public console/scripts -type f -not -name '*.gen.*' 2>/dev/null) \
                   console/index.html console/vite.config.ts console/tsconfig.json docs/openapi.yaml shared/domain/money.py

console-deps: console/node_modules/.stamp
console/node_modules/.stamp: console/package.json console/package-lock.json
	@command -v node >/dev/null && node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
	  || { echo "error: the console needs Node.js >= 20.19 with npm: apt-get install nodejs npm (or NodeSource's nodejs 20)" >&2; exit 1; }
	cd console && $(NPM) ci --no-audit --no-fund
	@touch $@

console: console/dist/index.html
console/dist/index.html: console/node_modules/.stamp $(CONSOLE_SOURCES)
	cd console && $(NPM) run --silent build

console-lint: console-deps
	cd console && $(NPM) run --silent lint

console-test: console-deps
	cd console && $(NPM) test --silent

# Debian's chromium for the console's end-to-end test (playwright-core drives it: no browser download).
# CHROMIUM: the browser binary the e2e drives (GitHub's ubuntu-24.04 runners: their preinstalled Google
# Chrome, as Ubuntu's chromium package is a snap there; .github/workflows/ci.yml sets it)
CHROMIUM ?= /usr/bin/chromium
export CHROMIUM
chromium:
	@test -x "$(CHROMIUM)" || { \
	  if [ "$(CHROMIUM)" != /usr/bin/chromium ]; then echo "error: CHROMIUM=$(CHROMIUM) is not executable" >&2; exit 1; \
	  elif [ "$$(id -u)" = 0 ]; then echo "installing Debian's chromium (the console's end-to-end test)"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	  else echo "error: /usr/bin/chromium is missing: sudo apt-get install -y chromium" >&2; exit 1; fi; }

# ---------------------------------------------------------------------------- local cloud
up: install console
	$(PY) -m emulators.ctl up

down:
	@test -x $(PY) && $(PY) -m emulators.ctl down || echo "nothing to stop (no .venv)"

status:
	@$(PY) -m emulators.ctl status

demo: up
	$(PY) -m shared.cli demo
	@echo
	@echo "The stack is still up: 'make status' shows it, 'make down' stops it. Logs: .run/logs/"

# ---------------------------------------------------------------------------- quality
lint: venv console-lint
	$(PY) -m ruff check shared functions emulators tests bench scripts terraform/offline
	$(PY) -m ruff format --check shared functions emulators tests bench scripts terraform/offline

test-unit: venv console-test console
	$(PY) -m pytest tests/unit

test-integration: install console chromium
	$(PY) -m emulators.ctl run --fresh -- $(PY) -m pytest tests/integration

# Terraform verified offline (the google provider cannot be downloaded here): formatting; terraform
# validate + terraform test of every root against a stand-in provider that serves the real schema
# (tf-validate: npm @cdktf/provider-google -> schema -> gRPC plugin in a filesystem mirror; terraform/README.md,
# Offline validation); checkov (--skip-download: no network call); the python-hcl2 structural tests.
TF_OFFLINE = TF="$(TF)" .venv-tfplugin/bin/python terraform/offline/check.py

tf-check: venv venv-checkov venv-tfplugin
	@command -v $(TF) >/dev/null || { echo "error: terraform not found (the machine image has 1.11): install it from HashiCorp's apt repository" >&2; exit 1; }
	$(TFRUN) fmt -check -recursive -diff terraform
	$(TF_OFFLINE)
	.venv-checkov/bin/checkov -d terraform --framework terraform --skip-download --compact --quiet
	@# The edge is off by default, so checkov (which resolves count through the stack) skips its SSL
	@# policy and Cloud Armor there: the module again on its own, as if enabled.
	.venv-checkov/bin/checkov -d terraform/modules/edge --framework terraform --skip-download --compact --quiet
	$(PY) -m pytest tests/terraform -q

tf-validate: venv-tfplugin
	$(TF_OFFLINE)

# The suite runs on an isolated stack (ctl run --fresh: ports + 10000, own project id, .run/test); the
# isolation check around it snapshots the dev stack (or a seeded canary in its place) before and after.
test: install lint console-test console chromium tf-check
	$(PY) -m tests.isolation -- $(PY) -m emulators.ctl run --fresh -- $(PY) -m pytest tests --ignore=tests/terraform -m 'not slow' $(PYTEST_ARGS)

# The tests that wait out production timings in real time (marked slow): ~4 min; part of make chaos.
test-slow: install
	$(PY) -m tests.isolation -- $(PY) -m emulators.ctl run --fresh -- $(PY) -m pytest tests/integration -m slow $(PYTEST_ARGS)

bench-baseline: install
	$(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.baseline

bench-ledger: install
	$(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.ledger

bench-intake: install
	$(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.intake

# End to end under load (issue 9): webhook -> posted -> BigQuery, open loop, vs the raw emulator ceilings
# (Pub/Sub push, Datastore transactions, BigQuery streaming) measured first in the same run.
E2E_EVENTS ?= 10000
E2E_RATE   ?= 120
bench-e2e: install
	$(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.e2e --events $(E2E_EVENTS) --rate $(E2E_RATE)

# Customer API: balance read p99 and transfer p99 at a fixed offered load, vs GET /healthz (floor).
bench-api: install
	$(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.api

# Payouts (issue 17): accepted payouts/s through the API, request -> submitted / paid p50 / p99 at fixed
# offered rates (open loop), vs GET /healthz and the raw Datastore transaction rate of the same run.
bench-payouts: install
	$(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.payouts

# Webhooks out (issue 18): deliveries/s and commit -> first delivery attempt p50 / p99 at fixed offered
# rates of API transfers (open loop), vs the raw Cloud Tasks dispatch rate of the same run.
bench-webhooks: install
	$(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.webhooks

# Pure (no emulator): 1M partner x 1M ledger rows; RECON_ROWS=100000 for a CI-sized run.
RECON_ROWS ?= 1000000
bench-recon: venv
	$(PY) -m bench.recon --rows $(RECON_ROWS)

# Statement exports of 200,000 entries per format (CSV, JSON, PDF) against the exports function's memory and
# timeout, as ratios to a json.dumps floor of the same lines (pure: no emulator; docs/api.md "Statement exports").
bench-exports: venv
	$(PY) -m bench.exports

# Fault injection (issue 9, docs/reliability.md): 10,000 webhooks x3 shuffled; ledger SIGKILLs; BigQuery
# down; poison messages + a deleted topic -> dead letters -> replay; emulator restarts on a stack whose
# Datastore keeps its state on disk; 1,000 payouts under bank faults, payments SIGKILLs and a bank outage
# (scenario 6, issue 17); 5,000 customer events to 20 webhook endpoints of 5 tenants, receivers failing
# 30 % at random, one down 60 s, webhooks SIGKILLed twice, then a replay (scenario 7, issue 18; the retry
# schedule compressed 50x locally). Each scenario audited: nothing lost or doubled, nothing paid twice,
# every webhook delivered, signed and in order per key. Five fresh stacks: the in-memory Datastore
# emulator's heap only grows (docs/reliability.md).
CHAOS_EVENTS ?= 10000
PAYOUTS_CHAOS ?= 1000
WEBHOOKS_CHAOS ?= 5000
chaos: install test-slow
	LEDGERLINE_STALE_AFTER_SECONDS=60 $(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.chaos --scenarios 1 --events $(CHAOS_EVENTS)
	LEDGERLINE_STALE_AFTER_SECONDS=60 $(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.chaos --scenarios 5,2,4
	LEDGERLINE_STALE_AFTER_SECONDS=60 LEDGERLINE_DATASTORE_ON_DISK=true $(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.chaos --scenarios 3
	LEDGERLINE_STALE_AFTER_SECONDS=60 $(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.chaos --scenarios 6 --payouts $(PAYOUTS_CHAOS) --quiesce-timeout 1500
	LEDGERLINE_WEBHOOK_RETRY_SCALE=0.02 $(PY) -m emulators.ctl run --fresh -- $(PY) -m bench.chaos --scenarios 7 --webhook-events $(WEBHOOKS_CHAOS) --quiesce-timeout 2400

bench: bench-baseline bench-ledger bench-intake bench-e2e bench-api bench-payouts bench-webhooks bench-recon bench-exports

# ---------------------------------------------------------------------------- packaging, deploy
build: venv console
	$(PY) -m scripts.build

# Refuse to touch a cloud project with a required setting missing.
tf-require:
	@case "$(ENV)" in dev|prod) ;; *) echo "error: ENV must be dev or prod, got '$(ENV)' (make plan ENV=dev PROJECT_ID=<project> TF_STATE_BUCKET=<bucket>)" >&2; exit 2;; esac
	@test -n "$(PROJECT_ID)" || { echo "error: PROJECT_ID is required: the GCP project of $(ENV)" >&2; exit 2; }
	@test -n "$(TF_STATE_BUCKET)" || { echo "error: TF_STATE_BUCKET is required: the GCS bucket holding Terraform state (docs/deploy.md, step 2)" >&2; exit 2; }
	@command -v $(TF) >/dev/null || { echo "error: terraform not found" >&2; exit 2; }

tf-init: tf-require
	$(TFRUN) -chdir=terraform/envs/$(ENV) init -input=false -reconfigure -backend-config="bucket=$(TF_STATE_BUCKET)"

plan: tf-require build tf-init
	$(TFRUN) -chdir=terraform/envs/$(ENV) plan -input=false -var="project_id=$(PROJECT_ID)" $(if $(TF_PLAN),-out=$(abspath $(TF_PLAN))) $(TF_ARGS)

deploy: tf-require build tf-init
	$(TFRUN) -chdir=terraform/envs/$(ENV) apply $(TF_ARGS) $(if $(TF_PLAN),$(abspath $(TF_PLAN)),-var="project_id=$(PROJECT_ID)")
	$(PY) -m scripts.prune_sources --project $(PROJECT_ID)

# docs/openapi.yaml is generated from shared/api (routes + models); tests fail when it is stale.
openapi: venv
	$(PY) -m shared.api.openapi

# Record an additive BigQuery schema change as released (refuses one BigQuery cannot apply in place).
schema-lock: venv
	$(PY) -m scripts.schema_lock

lock: venv
	$(PY) -m pip freeze --exclude-editable | sed '1i # Full transitive pin set for the project venv (.venv); regenerate with `make lock`.' > constraints.txt

clean: down
	rm -rf build .run .pytest_cache .ruff_cache console/dist

# After make deploy: a signed test payment and its refund through the deployed intake, posted, then verify
# (scripts/smoke.py; CI runs it after each apply).
smoke: tf-require venv tf-init
	$(PY) -m scripts.smoke --project $(PROJECT_ID) --webhook-url "$$($(TFRUN) -chdir=terraform/envs/$(ENV) output -raw webhook_url)"

# Once per project, by a human with Owner, before CI can deploy (terraform/envs/bootstrap: the Workload
# Identity pool and provider and the deployer; docs/deploy.md, CI/CD). GITHUB_REPOSITORY=owner/name.
GITHUB_REPOSITORY ?=
bootstrap: tf-require
	@test -n "$(GITHUB_REPOSITORY)" || { echo "error: GITHUB_REPOSITORY=owner/name is required" >&2; exit 2; }
	$(TFRUN) -chdir=terraform/envs/bootstrap init -input=false -reconfigure -backend-config="bucket=$(TF_STATE_BUCKET)" -backend-config="prefix=ledgerline/bootstrap/$(ENV)"
	$(TFRUN) -chdir=terraform/envs/bootstrap apply -var="project_id=$(PROJECT_ID)" -var="env=$(ENV)" -var="github_repository=$(GITHUB_REPOSITORY)" $(TF_ARGS)
