# Two entry points for a newcomer: `make audit` (set up + main job) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
# Offline weights folder (layout of ../shared/models); empty means "download into the cache".
SERAUDIT_MODELS_DIR ?= $(if $(wildcard $(SHARED)/models),$(abspath $(SHARED)/models),)
# The corpus: ../shared's full-length RAVDESS clips (what `fetch-corpus ravdess` downloads) when they exist, else its
# 2.4-s copy (kept for quick tests); empty means "fetch RAVDESS speech (208 MB) into the cache".
DATA ?= $(or $(if $(wildcard $(SHARED)/data/ravdess-full),$(SHARED)/data/ravdess-full,),$(if $(wildcard $(SHARED)/data/ravdess),$(SHARED)/data/ravdess,))
RUN ?= runs/ravdess
# Backbones that may fall back to seeded random weights when no pretrained ones are found (e.g. vggish).
ALLOW_UNTRAINED ?=
export SERAUDIT_MODELS_DIR

.PHONY: setup system-packages test audit clean

$(BIN)/seraudit: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup: $(BIN)/seraudit

# espeak-ng, sox, chromium, chromium-driver: installed when missing (as root), else named with the command.
system-packages:
	bash tests/install-system-packages.sh

test: setup system-packages
	$(BIN)/python -m pytest -q

audit: setup
	data="$(DATA)"; \
	if [ -z "$$data" ]; then data=$$($(BIN)/seraudit fetch-corpus ravdess) || exit 1; fi; \
	$(BIN)/seraudit audit-all --corpus ravdess --data "$$data" --out $(RUN) --allow-untrained "$(ALLOW_UNTRAINED)"

clean:
	rm -rf $(VENV) build *.egg-info
