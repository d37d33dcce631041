# skiff — two entry points: `make demo` and `make test`. Both are idempotent and
# install what they need on a fresh Debian 12 machine (run as root).

SHELL := /bin/bash
PYTHON := /usr/bin/python3
VENV := .venv
STAMP := $(VENV)/.installed
APT_PACKAGES := python3 python3-venv python3-dev gcc make busybox-static runc crun \
	libseccomp2 iproute2 util-linux procps nftables etcd-server etcd-client openssl \
	docker-registry podman skopeo apache2-utils

.PHONY: all apt setup demo test lint typecheck unit bench bench-apiserver bench-images bench-build bench-scheduler schema proto clean

all: test

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: apt $(STAMP)

demo: setup
	$(VENV)/bin/skiff demo

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(VENV)/bin/pytest -q

test: lint typecheck unit

bench: setup
	$(VENV)/bin/python benchmarks/runtime_start.py

bench-apiserver: setup
	$(VENV)/bin/python benchmarks/apiserver.py

# skiff build against podman build (needs podman; it is given private state and a containers.conf)
bench-build: setup
	$(VENV)/bin/python benchmarks/build.py

bench-scheduler: setup
	$(VENV)/bin/python benchmarks/scheduler.py

# Regenerate the API server's data files (tests/api/test_schema_data.py checks they are current).
schema: setup
	$(VENV)/bin/python tools/gen_kube_schema.py

proto: setup
	$(VENV)/bin/python tools/gen_proto_tables.py

bench-images: setup
	$(VENV)/bin/python benchmarks/images.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
