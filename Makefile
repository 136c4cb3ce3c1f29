# medviewer: `make run` opens the app on the bundled sample study, `make test` runs every check.
# Both set up everything first: a virtual environment in .venv with the pinned dependencies
# and, when run as root on Debian, the system libraries Qt needs.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.medviewer-installed

.PHONY: run test setup system lint bench fuzz sample lesion-sample train-model eval-model screenshots clean package

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -m pip install --quiet -e '.[dev]' 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import medviewer, PySide6, pyqtgraph, torch, torchvision, pydicom, SimpleITK, pytorch_grad_cam"
	@touch $@

system:
	@bash packaging/install-debian-deps.sh

run: setup system
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(BIN)/medviewer gui $(ARGS); \
	else \
		echo "No display found: starting medviewer on a virtual X display (xvfb-run)."; \
		xvfb-run -a -s "-screen 0 1280x900x24" $(BIN)/medviewer gui $(ARGS); \
	fi

lint: setup
	$(BIN)/ruff check medviewer tests benchmarks resources models docs
	$(BIN)/lint-imports

test: setup system lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

# Every benchmark; each writes benchmarks/results/<name>.json (numbers quoted in the README).
bench: setup
	$(BIN)/python benchmarks/load_series.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/viewer_frames.py
	$(BIN)/python benchmarks/inference.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/labeling.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python benchmarks/gui_responsiveness.py
	$(BIN)/python benchmarks/finetune.py
	$(BIN)/python benchmarks/soak.py
	$(BIN)/python benchmarks/triage.py
	$(BIN)/python benchmarks/dicom_net.py

# Long coverage-guided fuzzing of scan + load (atheris); corpus and findings in benchmarks/data/fuzz.
FUZZ_ARGS ?= -runs=100000
fuzz: setup
	mkdir -p benchmarks/data/fuzz/corpus benchmarks/data/fuzz/findings
	$(BIN)/python tests/fuzz/fuzz_dicom.py --seeds benchmarks/data/fuzz/corpus
	nice $(BIN)/python tests/fuzz/fuzz_dicom.py benchmarks/data/fuzz/corpus -timeout=10 \
		-rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix=benchmarks/data/fuzz/findings/ \
		$(FUZZ_ARGS)

sample: setup
	$(BIN)/python resources/sample/build_sample.py

# The demonstration study with synthetic lesions (from the sample study; seeded).
lesion-sample: setup
	$(BIN)/python resources/sample/build_lesion_sample.py

# Retrain the bundled model 2.0.0 from scratch (~57 min on 2 CPU cores, training and evaluation;
# CUDA when present); rewrites models/headct-lesions/2.0.0 (1.0.0 is never touched).
train-model: setup
	$(BIN)/python models/train_bundled.py train

# Re-measure the committed bundled model on its test sets; rewrites metrics.json and the card.
eval-model: setup
	$(BIN)/python models/train_bundled.py evaluate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info

# The one-folder bundle dist/medviewer (PyInstaller; packaging/README.md). Slow (tens of minutes
# on 2 cores) and large (a few GB with the CUDA torch build): never part of `make test`.
PACKAGE_STAMP := $(VENV)/.medviewer-package-installed
$(PACKAGE_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,package]' 2>&1 | grep -v "is ignored" || true
	$(BIN)/pyinstaller --version
	@touch $@

package: $(PACKAGE_STAMP)
	nice $(BIN)/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller packaging/medviewer.spec
	cp packaging/install-linux.sh dist/medviewer/
	cp -r packaging/linux dist/medviewer/linux
	nice bash packaging/verify-bundle.sh dist/medviewer
	@du -sh dist/medviewer; du -sh dist/medviewer/_internal/* | sort -h | tail -n 8

screenshots: setup system
	xvfb-run -a -s "-screen 0 1280x900x24" $(BIN)/python docs/screenshots/capture.py docs/screenshots
