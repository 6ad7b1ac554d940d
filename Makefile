# One-command set-up: `make run` builds the default workflow, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHOWDOWN := envs/showdown
CORES ?= all

.PHONY: setup run lint test test-fast bench clean

setup: $(VENV)/.installed $(SHOWDOWN)/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

# The optional wandb logger: the tests need it (offline mode), `make run` does not.
$(VENV)/.wandb-installed: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test,wandb]'
	touch $@

$(SHOWDOWN)/node_modules/.installed: $(SHOWDOWN)/package.json $(SHOWDOWN)/package-lock.json
	cd $(SHOWDOWN) && npm ci --omit=optional --no-audit --no-fund
	touch $@

run: setup
	$(BIN)/snakemake --cores $(CORES)
	@$(MAKE) --no-print-directory results/report.html
	@$(BIN)/pokepsro criteria results/analysis/success.json

# The HTML report of every plot, rebuilt only when the analysis changed.
results/report.html: results/analysis/success.json
	$(BIN)/snakemake --report $@

# The workflow's rules (snakemake --lint) and unused code (vulture, see [tool.vulture] in pyproject.toml).
lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/vulture

# The SLURM test spends most of its 11 minutes waiting for the executor plugin's status polls (one CPU-light
# process), so it runs beside the rest of the suite; its output follows the suite's, and either failing fails.
SLURM_TEST := tests/test_slurm_cluster.py
test: lint $(VENV)/.wandb-installed
	@mkdir -p logs
	$(BIN)/python -m pytest $(SLURM_TEST) -p no:cacheprovider >logs/test_slurm_cluster.log 2>&1 & slurm=$$!; \
	$(BIN)/python -m pytest tests --ignore=$(SLURM_TEST); suite=$$?; \
	wait $$slurm; cluster=$$?; \
	echo "=== $(SLURM_TEST) (ran beside the suite; logs/test_slurm_cluster.log)"; cat logs/test_slurm_cluster.log; \
	exit $$(( suite || cluster ))

test-fast: setup $(VENV)/.wandb-installed
	$(BIN)/python -m pytest tests -m "not slow"

bench: setup
	$(BIN)/python benchmarks/battle_throughput.py

clean:
	rm -rf results logs .snakemake
