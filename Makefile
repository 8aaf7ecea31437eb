# One-word commands. The first use creates .venv and installs everything (CPU or CUDA torch wheel).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test demo bench clean

$(STAMP): pyproject.toml requirements/torch.txt requirements/audiocraft.txt requirements/audiocraft-needs.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements/torch.txt
	$(BIN)/pip install -q --no-deps -r requirements/audiocraft.txt
	$(BIN)/pip install -q -r requirements/torch.txt -r requirements/audiocraft-needs.txt
	$(BIN)/pip install -q -r requirements/torch.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/python main.py

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/agx generate "a dog barks then a bell rings" --duration 5 --seed 1 --out demo_take
	$(BIN)/agx explain demo_take

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_engine.py

clean:
	rm -rf $(VENV) demo_take

# Train the bundled model (resources/bundled/) from scratch, seeded: about 70 min on 2 Intel Xeon cores, about 90 on 2 AMD EPYC
# cores (model card: wall time per stage; the same CPU and thread count give the same bytes).
.PHONY: train-bundled
train-bundled: $(STAMP)
	$(BIN)/python training/train_bundled.py all
	$(BIN)/python -m training.card_assets

# Ray for `agx batch --ray` / `agx evaluate --ray` (the optional extra agx-desktop[ray]); then
# `make bench-batch` compares in-process, 2 pool workers and 2 Ray workers (benchmarks/results/batch.md):
# one part per backend (a part already measured is kept; delete benchmarks/results/batch_parts/ to redo).
.PHONY: ray bench-batch
ray: $(STAMP)
	$(BIN)/pip install -e '.[ray]' --no-deps
	$(BIN)/pip install 'ray>=2.9'

bench-batch: $(STAMP)
	for backend in inproc pool ray; do $(BIN)/python benchmarks/bench_batch.py part $$backend || exit 1; done
	$(BIN)/python benchmarks/bench_batch.py report
