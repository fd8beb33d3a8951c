# Deux commandes suffisent (voir README.md) : `make run` et `make test`. Les deux sont idempotentes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
OUT    ?= resultats
WEIGHTS ?= impact=0.5,openness=0.3,collective=0.2
# Jupyter, IPython, matplotlib write state into $HOME: keep it inside the checkout.
SANDBOX := HOME=$(CURDIR)/.home TMPDIR=$(CURDIR)/.tmp MPLBACKEND=Agg

.PHONY: setup run test benchmark benchmark-panel benchmark-montecarlo benchmark-review benchmark-pabulib comite sample clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[notebooks,test]"
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/ditp-model allocate --call data/appel_2021.toml \
	  --applications data/candidatures_exemple.csv --reviews data/evaluations_exemple.csv \
	  --weights $(WEIGHTS) --out $(OUT)

test: $(STAMP)
	mkdir -p .home .tmp
	$(SANDBOX) $(BIN)/python -m pytest tests notebooks --nbval \
	  --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider

comite: $(STAMP)
	$(SANDBOX) $(BIN)/voila notebooks/02_seance_comite.ipynb --Voila.ip=127.0.0.1 --port=8866

benchmark-panel: $(STAMP)
	$(SANDBOX) $(BIN)/python benchmarks/bench_panel.py

benchmark-review: $(STAMP)
	$(SANDBOX) $(BIN)/python benchmarks/bench_review_model.py

benchmark-montecarlo: $(STAMP)
	$(SANDBOX) $(BIN)/python benchmarks/bench_montecarlo.py

# Pabulib: start-up, reading, side by side with pabutools (installed by the script in benchmarks/.pabutools-venv).
benchmark-pabulib: $(STAMP)
	mkdir -p .home .tmp
	$(SANDBOX) $(BIN)/python benchmarks/bench_pabulib.py

benchmark: $(STAMP)
	$(SANDBOX) $(BIN)/python benchmarks/run_benchmarks.py

sample:
	$(PYTHON) data/generate_sample.py

clean:
	rm -rf $(VENV) .home .tmp $(OUT)
