# rftlib: `make demo` runs the miniature study, `make test` the test suite. Both set up .venv from the lock.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.rftlib-installed
TORCHATTACKS := torchattacks==3.5.1
# Installed with --no-deps: asks for opencv-python (needs libGL); the lock pins opencv-python-headless.
CORRUPTIONS := imagecorruptions-imaug==1.1.5
KERNEL := rftlib

# No test or demo touches the network: hub look-ups fail at once instead of retrying for ~47 s.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export RAY_USAGE_STATS_ENABLED := 0
export RAY_AUTH_MODE := disabled
export MLFLOW_DISABLE_TELEMETRY := true
export PYTHONUNBUFFERED := 1
# Python writes each module's bytecode on first import (uv installs none); where PYTHONDONTWRITEBYTECODE is set,
# every process would compile torch, timm and pandas from source again (~12 s of CPU each: .ci/write_bytecode.py).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: setup demo test test-fast lab ui bench lock clean

setup: $(STAMP)

# The lock, then the two --no-deps pins: with uv when it can be had (same pins, pip's sources), else pip
# (.ci/install_lock.py says how; RFTLIB_INSTALLER=pip forces pip).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python .ci/install_lock.py $(BIN)/python requirements.lock $(TORCHATTACKS) $(CORRUPTIONS)
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (rftlib)" >/dev/null
	$(BIN)/python .ci/write_bytecode.py
	touch $(STAMP)

demo: setup
	$(BIN)/rft sweep params/sweeps/demo.yaml --jobs 2

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

test-fast: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q -m "not slow"

lab: setup
	$(BIN)/jupyter lab notebooks/

# The MLflow UI over outputs/mlflow.db (or $$MLFLOW_TRACKING_URI), on 127.0.0.1:5000: open the address it prints
ui: setup
	$(BIN)/rft ui

bench: setup
	$(BIN)/rft bench

# Re-pin after changing dependencies: resolves pyproject's ranges with the torch pins into requirements.lock.
lock:
	rm -rf /tmp/rftlib-lock && $(PYTHON) -m venv /tmp/rftlib-lock
	/tmp/rftlib-lock/bin/pip install -q torch==2.14.1 torchvision==0.29.1 -e ".[ray,lab,test,autoattack,corruptions,tracking,clip]"
	{ head -2 requirements.lock; /tmp/rftlib-lock/bin/pip freeze --all --exclude-editable | grep -v -E "^(pip|torchattacks|imagecorruptions-imaug)=="; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache
