# newsbot — the two quick-start commands:
#   make run    set up .venv (first time) and run the bot on the bundled sample feeds
#   make test   set up .venv (first time) and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test poll bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/newsbot run

poll: $(STAMP)
	$(BIN)/newsbot poll --once --all

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q

BENCHES = bench_poll bench_parse bench_match bench_summarize bench_cluster bench_pipeline bench_delivery \
          bench_telegram bench_slack

bench: $(STAMP)   # every benchmark in turn, default sizes (docs/benchmarks.md); several minutes
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python bench/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) data .pytest_cache
