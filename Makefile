# The README's two commands are `make demo` and `make test`; everything else is plumbing for them.
UV_VERSION := 0.13.9
VENV := .venv
BOOT := .cache/bootstrap
UV := $(BOOT)/bin/uv

.PHONY: demo test lint venv

$(UV):
	python3 -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

venv: $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --python python3.11 --quiet

demo: venv
	$(VENV)/bin/evm-digest demo

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest
