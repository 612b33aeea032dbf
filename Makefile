# Front door of hs_backbone. `make test` and `make demo` create the environment when needed.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hs_backbone-stack
ENV_INPUTS := requirements.txt requirements-dev.txt pyproject.toml tools/setup_env.sh \
	tools/mmcv_build.py

.PHONY: env test lint demo clean

# Always runs the set-up (seconds when nothing changed), so that FORCE_CUDA=1 or a newly
# visible GPU gets the mmcv ops it needs.
env:
	bash tools/setup_env.sh $(VENV)
	touch $(STAMP)

# test and demo rebuild the environment only when the pinned stack changes; the mmcv wheel
# itself is cached outside the repo.
$(STAMP): $(ENV_INPUTS)
	bash tools/setup_env.sh $(VENV)
	touch $@

lint: $(STAMP)
	$(PY) -m ruff check hs_backbone tests tools configs

# -rs: every skipped test is listed with its reason (the CUDA tier says "not run: no CUDA device")
test: lint
	$(PY) -m pytest -q -rs

# The main job: embedded data, train + evaluate detection and segmentation on a CPU.
demo: $(STAMP)
	$(PY) tools/demo.py

clean:
	rm -rf $(VENV) work_dirs .pytest_cache
