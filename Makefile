# Two commands do all set-up on a fresh machine (Python 3.11, Node 20, pip and npm):
#   make plan   - the offline plan of the prod stack, with the policy gate
#   make test   - every test: lint, Python suite, Workers on the local runtime, the status page in Chromium
# uv is pinned and installed into .tools/; Python deps come from uv.lock, npm deps from package-lock.json.

UV_VERSION := 0.13.8
UV := .tools/bin/uv
STACK ?= prod

.PHONY: setup plan test lint test-python test-workers bench bench-backup drill catalogue snapshot chromium mutate mutate-workers

# The status page is tested in a real browser: Debian's headless Chromium (playwright-core drives it).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --locked --quiet --compile-bytecode
	touch $@

workers/node_modules/.package-lock.json: workers/package.json workers/package-lock.json
	cd workers && npm ci --no-audit --no-fund --loglevel=error

setup: .venv/.synced

snapshot: .venv/.synced
	$(UV) run parsify-infra snapshot --stack $(STACK)

plan: .venv/.synced
	$(UV) run parsify-infra plan --stack $(STACK)

lint: .venv/.synced
	$(UV) run ruff check .
	$(UV) run mypy
	cd policies && ../$(UV) run mypy parsify_policies __main__.py

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

chromium: $(CHROMIUM)

test-workers: workers/node_modules/.package-lock.json $(CHROMIUM)
	cd workers && npm test

test-python: .venv/.synced
	$(UV) run pytest

test: lint test-workers test-python

bench: .venv/.synced
	$(UV) run python bench/plan_bench.py

bench-backup: .venv/.synced workers/node_modules/.package-lock.json
	$(UV) run python bench/backup_bench.py

drill: .venv/.synced workers/node_modules/.package-lock.json
	$(UV) run parsify-infra drill

catalogue: .venv/.synced
	$(UV) run parsify-infra policies

# Mutation testing (on demand, not part of `make test`): mutmut from the lock's `mutation` group, results in
# mutation/results.md. ONLY="src/parsify_infra/secrets.py ..." scopes a run; SAMPLE=3 checks only the mutants whose
# number ends in 3 (a systematic tenth, an estimate); MUTANTS="name ..." re-checks those (e.g. after new tests);
# RESUME=1 goes on with a stopped run in .mutation/ on the current code and tests; RENDER=1 only rewrites
# mutation/results.md from mutation/status.json (after editing mutation/equivalent.toml). The workers' packages are
# installed too: the restore and drill tests run the backup Worker on workerd.
mutate: .venv/.synced workers/node_modules/.package-lock.json
	$(UV) run --locked --group mutation python mutation/run.py $(if $(ONLY),--only $(ONLY)) $(if $(SAMPLE),--sample $(SAMPLE)) $(if $(MUTANTS),--mutants $(MUTANTS)) $(if $(RESUME),--resume) $(if $(RENDER),--render-only)

# Mutation testing of the backup Worker's safety logic (on demand, not part of `make test`): Stryker, pinned in
# workers/package-lock.json; scope, wiring and timeouts in workers/stryker.config.mjs. The score, survivors and
# reviewed equivalents go to mutation/results-workers.md; the step fails under 90 % of non-equivalent mutants killed.
mutate-workers: workers/node_modules/.package-lock.json
	cd workers && npx stryker run stryker.config.mjs
	node mutation/results-workers.mjs
