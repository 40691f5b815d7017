# The README's two commands are `make demo` and `make test`; everything else is plumbing for them.
UV_VERSION := 0.13.9
VENV := .venv
BOOT := .cache/bootstrap
UV := $(BOOT)/bin/uv

.PHONY: demo test lint venv s3server

$(UV):
	python3 -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

venv: $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen --python python3.11 --quiet

demo: venv
	$(VENV)/bin/evm-digest demo

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy

# SeaweedFS (the real S3 server of the `seaweedfs` lane) is built from its Go module when Go is present,
# once per pin (.cache/s3server). No Go, or the module proxy unreachable: the lane skips, saying why.
s3server:
	@status=0; scripts/build-s3server || status=$$?; \
	case $$status in \
	  0) ;; \
	  2|3) echo "make: SeaweedFS not built (build-s3server exit $$status, above): the seaweedfs test lane will skip" ;; \
	  *) exit $$status ;; \
	esac

test: lint s3server
	$(VENV)/bin/pytest
