# Thin wrappers around CMake/Ninja/CTest. `make run` and `make test` work on a fresh Debian 12 machine.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
BUILD := build
ASAN_BUILD := build-asan
TSAN_BUILD := build-tsan
TACHYON := $(BUILD)/bin/tachyon
DEMO_MODEL := assets/tachyon-demo-v4
SERVE_ARGS ?=

.PHONY: all deps configure build build-server run serve test test-asan test-tsan test-fuzz test-slow bench clean

all: build

deps:
	./scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release

# Everything: the binary, the tests and the benchmarks.
build: configure
	ninja -C $(BUILD) -j$(JOBS)

# Only the `tachyon` binary (what serving needs): the tests and benchmarks are built by `make test`.
build-server: configure
	ninja -C $(BUILD) -j$(JOBS) tachyon

# Installs the dependencies, builds the binary, and serves the embedded trained demo model (a 24M-parameter
# DeepSeek-V4) with the OpenAI-compatible API on http://127.0.0.1:8000 (extra flags: SERVE_ARGS=...).
run: build-server
	$(TACHYON) serve --model $(DEMO_MODEL) $(SERVE_ARGS)

# The same as `make run`.
serve: run

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -LE slow
	$(MAKE) test-asan
	$(MAKE) test-fuzz

# A short libFuzzer run of every fuzz target (clang, ASan + UBSan), seeded from the test data and the kept
# corpus in tests/data/fuzz/ (refreshed by `scripts/run-fuzz.sh --update-corpus SECS`).
test-fuzz: deps
	./scripts/run-fuzz.sh 10

# The slow tiers: the `slow` ctest label (fuzz_long runs every fuzz target for five minutes) and the
# ThreadSanitizer tier.
test-slow: build
	cd $(BUILD) && ctest --output-on-failure -L slow
	$(MAKE) test-tsan

# AddressSanitizer + UBSan build (-O1 with line tables: quicker to compile, reports keep file:line); runs
# every test labelled unit or kernels (unit, tokenizer, chat and server unit tests, kernels), and the
# server soak test (64 streaming clients with mid-stream disconnects) against the sanitized server, whose
# exit fails on any leak.
ASAN_TARGETS := unit_tests kernel_tests tokenizer_tests chat_tests server_unit_tests tachyon
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTACHYON_SANITIZE=ON -DTACHYON_BUILD_BENCH=OFF \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
	ninja -C $(ASAN_BUILD) -j$(JOBS) $(ASAN_TARGETS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j$(JOBS) -L 'unit|kernels'
	cd $(ASAN_BUILD) && ctest --output-on-failure -R '^server_soak$$'

# ThreadSanitizer build: the engine tests where requests are submitted, cancelled, preempted and failed
# from other threads, the server unit tests, and the server tests whose clients stream, disconnect and
# overload the server (tests/tsan.supp explains the one suppression). The server tests with deadlines of a
# few seconds (slow clients, shutdown) stay in the release tier: under ThreadSanitizer everything runs
# ten to thirty times slower. Part of `make test-slow`.
TSAN_ENV := TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp"
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTACHYON_TSAN=ON -DTACHYON_BUILD_BENCH=OFF \
	  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
	ninja -C $(TSAN_BUILD) -j$(JOBS) integration_tests server_unit_tests tachyon
	$(TSAN_ENV) $(TSAN_BUILD)/bin/server_unit_tests --gtest_brief=1
	$(TSAN_ENV) $(TSAN_BUILD)/bin/integration_tests --gtest_brief=1 \
	  --gtest_filter='Engine.*:NonFinite.OnlyTheRequestThatHitsNanWeightsFails:SpecDecode.DraftsDoNotDependOnTheBatch'
	cd $(TSAN_BUILD) && $(TSAN_ENV) ctest --output-on-failure -R '^server_(soak|limits|overload)$$'

# Every Google Benchmark binary (bench/*.cc -> build/bin/*_bench).
bench: build
	@found=0; for b in $(BUILD)/bin/*_bench; do \
	  if [ -x "$$b" ] && [ -f "$$b" ]; then found=1; echo "== $$b"; "$$b" || exit 1; fi; \
	done; if [ $$found = 0 ]; then echo "no benchmarks built"; fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) build-fuzz
