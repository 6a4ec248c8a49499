# Set-up on a fresh machine with only Python 3.11+ and make:
#   make run    install everything (first time: ~6-8 min quiet, llama.cpp compiles) and start the app
#   make test   install everything and run the whole test suite
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow test-soak install bench bench-quick screenshot train-image-model eval-image-model train-lora dist icon clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Without an NVIDIA GPU take the CPU build of torch first: a plain requirement pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml $(PY)
	@if ! command -v nvidia-smi >/dev/null 2>&1; then $(PIP) install --quiet "torch==2.13.0"; fi
	# llama.cpp compiles here (first time only): just the libraries chatapp loads, with progress shown.
	$(PY) tools/build_llama.py
	$(PIP) install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: install
	@echo "Tip: '$(VENV)/bin/chatapp install-desktop' adds chatapp to your application menu (uninstall-desktop removes it)."
	HF_HUB_OFFLINE=1 $(VENV)/bin/chatapp

test: install
	HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

# The SDXL-sized single-file checkpoint (~7 GB on disk, built once in ~/.cache/chatapp-test; minutes).
test-slow: install
	HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m slow

# The soak: 500 chat turns and 50 pictures in one session, memory flat (a few minutes; CI runs it too).
test-soak: install
	HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m soak

bench: install
	HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(PY) -m bench

bench-quick: install
	HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(PY) -m bench --quick

screenshot: install
	HF_HUB_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(PY) tools/screenshot.py docs/screenshot.png

# IMAGE_MODEL=emoji: the everyday-objects model of issue 26 (checkpoints and folder in tools/.work/emoji/;
# each run continues where the last stopped, niced, progress in tools/.work/emoji/progress.log; its eval judges the
# shipped resources/models/tiny-things). IMAGE_MODEL=shapes: tiny-shapes, the first embedded model.
IMAGE_MODEL ?= emoji
EVAL_shapes := tools/eval_image_model.py
EVAL_emoji  := tools/eval_emoji_model.py --grid tools/.work/emoji/eval_grid.png --json tools/.work/emoji/eval.json
train-image-model: install
	nice -n 10 $(PY) tools/train_image_model.py --model $(IMAGE_MODEL) $(TRAIN_ARGS)

eval-image-model: install
	mkdir -p tools/.work/emoji
	HF_HUB_OFFLINE=1 $(PY) $(EVAL_$(IMAGE_MODEL))

train-lora: install
	$(PY) tools/train_lora.py && $(PY) tools/eval_lora.py

# A folder that starts without Python (PyInstaller): dist/chatapp/, both embedded models and the icon
# inside; `dist/chatapp/chatapp install-desktop` adds it to the menu. CPU-heavy, so niced; not in `make test`.
dist: install
	$(PIP) install --quiet "pyinstaller>=6.10,<7"
	nice -n 19 $(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller packaging/chatapp.spec
	$(PY) tools/check_dist.py dist/chatapp   # starts it with no Python around: times, a reply, a picture, the menu entry

# The icon's PNGs from resources/icons/chatapp.svg (committed; run after editing the SVG).
icon: install
	QT_QPA_PLATFORM=offscreen $(PY) tools/render_icon.py

clean:
	rm -rf $(VENV) build dist *.egg-info
