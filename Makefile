# A fresh machine needs only Python 3.11 and pip: every target makes its own .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test serve check clean lint k8s-check

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/routecar demo

test: $(STAMP)
	$(BIN)/python -m pytest

serve: $(STAMP)
	$(BIN)/routecar serve -c sidecar.yaml

check: $(STAMP)
	$(BIN)/routecar check -c sidecar.yaml

clean:
	rm -rf $(VENV) .ci-tools build src/*.egg-info

k8s-check:
	bash .ci/k8s-checks
