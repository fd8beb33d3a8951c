# Deux commandes suffisent (voir README.md) : `make run` et `make test`. Les deux sont idempotentes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= resultats
WEIGHTS ?= impact=0.5,openness=0.3,collective=0.2
# Exact versions of every package installed (pip-tools, see `make lock`); the manifest records its SHA-256.
LOCK   := requirements.lock
# nbval: explicit kernel and time limits (seconds) instead of nbval's defaults.
NBVAL_KERNEL          ?= python3
NBVAL_CELL_TIMEOUT    ?= 600
NBVAL_STARTUP_TIMEOUT ?= 120
# Voilà: a kernel per page load; cull those idle for CULL_IDLE seconds (checked every CULL_INTERVAL seconds).
CULL_IDLE     ?= 120
CULL_INTERVAL ?= 30
# Jupyter, IPython, matplotlib write state into $HOME: keep it inside the checkout.
SANDBOX := HOME=$(CURDIR)/.home TMPDIR=$(CURDIR)/.tmp MPLBACKEND=Agg

.PHONY: setup lock run test benchmark benchmark-panel benchmark-montecarlo benchmark-review benchmark-merit benchmark-pabulib comite lab sample clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Rewrite the lock from pyproject.toml (dependencies + extras notebooks and test) in a throwaway venv.
lock:
	rm -rf .tmp/lock-venv && mkdir -p .tmp && $(PYTHON) -m venv .tmp/lock-venv
	.tmp/lock-venv/bin/python -m pip install --quiet pip-tools
	.tmp/lock-venv/bin/pip-compile --quiet --strip-extras --extra notebooks --extra test --index-url=https://pypi.org/simple \
	  --no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml
	rm -rf .tmp/lock-venv

run: $(STAMP)
	$(BIN)/ditp-model allocate --call data/appel_2021.toml \
	  --applications data/candidatures_exemple.csv --reviews data/evaluations_exemple.csv \
	  --weights $(WEIGHTS) --provisoire --out $(OUT)

test: $(STAMP)
	mkdir -p .home .tmp
	$(SANDBOX) $(BIN)/python -m pytest tests notebooks --nbval \
	  --nbval-sanitize-with notebooks/nbval_sanitize.cfg --nbval-kernel-name $(NBVAL_KERNEL) \
	  --nbval-cell-timeout $(NBVAL_CELL_TIMEOUT) --nbval-kernel-startup-timeout $(NBVAL_STARTUP_TIMEOUT) -p no:cacheprovider

# The same as `ditp-model comite` (Voilà on 127.0.0.1:8866, idle kernels culled), which works without make (Windows).
comite: $(STAMP)
	$(SANDBOX) $(BIN)/ditp-model comite --cull-idle $(CULL_IDLE) --cull-interval $(CULL_INTERVAL)

# JupyterLab on the notebooks folder (`ditp-model lab`).
lab: $(STAMP)
	$(SANDBOX) $(BIN)/ditp-model lab

benchmark-panel: $(STAMP)
	$(SANDBOX) $(BIN)/python benchmarks/bench_panel.py

benchmark-review: $(STAMP)
	$(SANDBOX) $(BIN)/python benchmarks/bench_review_model.py

benchmark-montecarlo: $(STAMP)
	$(SANDBOX) $(BIN)/python benchmarks/bench_montecarlo.py

# Pabulib: start-up, reading, side by side with pabutools (installed by the script in benchmarks/.pabutools-venv).
benchmark-merit: $(STAMP)
	mkdir -p .home .tmp
	$(SANDBOX) $(BIN)/python benchmarks/bench_merit.py

benchmark-pabulib: $(STAMP)
	mkdir -p .home .tmp
	$(SANDBOX) $(BIN)/python benchmarks/bench_pabulib.py

benchmark: $(STAMP)
	$(SANDBOX) $(BIN)/python benchmarks/run_benchmarks.py

sample:
	$(PYTHON) data/generate_sample.py

clean:
	rm -rf $(VENV) .home .tmp $(OUT)
