# The front door. `make run` and `make test` do all the set-up on a fresh Debian 12 machine.
JOBS   ?= $(shell nproc)
CONFIG ?=
CMAKE_COMMON = -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

.PHONY: all deps release debug asan run run-binary test test-asan bench bench-pipeline clean
.PHONY: test-fuzz test-valgrind soak
all: release

deps:
	@toolchain/deps.sh

build/release/CMakeCache.txt:
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release $(CMAKE_COMMON) >/dev/null
build/debug/CMakeCache.txt:
	cmake -S . -B build/debug -DCMAKE_BUILD_TYPE=Debug $(CMAKE_COMMON) >/dev/null
build/asan/CMakeCache.txt:
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DBH_SANITIZE=ON -DBH_BENCH=OFF $(CMAKE_COMMON) >/dev/null

release: deps build/release/CMakeCache.txt
	cmake --build build/release -j$(JOBS)
debug: deps build/debug/CMakeCache.txt
	cmake --build build/debug -j$(JOBS)
asan: deps build/asan/CMakeCache.txt
	cmake --build build/asan -j$(JOBS)

# `make run`: bulkhead alone, built in a tree of its own (build/run) without the test hooks, the
# tests and the benchmarks; build/release keeps the hooks the tests need (ccache shares the
# unchanged objects). `run-binary` builds it and checks that no test hook is compiled in: the hooks'
# environment variables are not even named inside (as for the packages, toolchain/check-package.sh).
RUN_CMAKE = -DCMAKE_BUILD_TYPE=Release -DBH_TEST_HOOKS=OFF -DBH_TESTS=OFF -DBH_BENCH=OFF
build/run/CMakeCache.txt:
	cmake -S . -B build/run $(RUN_CMAKE) $(CMAKE_COMMON) >/dev/null
run-binary: deps build/run/CMakeCache.txt
	cmake --build build/run -j$(JOBS) --target bulkhead
	@if grep -qaE 'BH_TEST_(WATCHDOG|FAULTS)' build/run/firmware/bulkhead; then \
	  echo "build/run/firmware/bulkhead has test hooks compiled in" >&2; exit 1; fi
	@echo "build/run/firmware/bulkhead: no test hooks"
run: run-binary
	build/run/firmware/bulkhead run $(if $(CONFIG),--config $(CONFIG))

test: release
	cd build/release && ctest --output-on-failure -j$(JOBS)

test-asan: asan
	cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS)

bench: release
	@for b in build/release/tests/bench/*_bench; do echo "== $$b"; $$b --benchmark_min_time=0.2; done

# End-to-end load: 8 connections x 256 in flight against a loopback sink, raw SQLite alongside.
BENCH_ARGS ?=
bench-pipeline: deps build/release/CMakeCache.txt
	BUILD_DIR=$(CURDIR)/build/release JOBS=$(JOBS) tests/bench/run_pipeline_bench.sh $(BENCH_ARGS)

# libFuzzer targets (tests/fuzz/*_fuzz.cpp) built with clang + ASan + UBSan in their own tree, each
# run FUZZ_SECONDS on a scratch copy of its seed corpus; any crash fails. FUZZ_TARGETS="a b" picks.
# FUZZ_OPT=-O0 (when build/fuzz is configured): a third less to compile, slower runs (CI).
FUZZ_SECONDS ?= 20
build/fuzz/CMakeCache.txt:
	CC=clang CXX=clang++ cmake -S tests/fuzz -B build/fuzz $(if $(FUZZ_OPT),-DBH_FUZZ_OPT=$(FUZZ_OPT)) $(CMAKE_COMMON) >/dev/null
test-fuzz:
	@toolchain/deps.sh clang libclang-rt-14-dev
	@$(MAKE) --no-print-directory build/fuzz/CMakeCache.txt
	cmake --build build/fuzz -j$(JOBS) --target fuzz_targets
	tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS)

# The integration tests with every `bulkhead` they start under valgrind memcheck (Debug build, no
# sanitizers): any memcheck error or definitely-lost byte fails the child and so the test.
# VALGRIND_FILTER: a gtest filter (default: all but 4 tests that measure valgrind's own cost, see
# tests/valgrind.sh).
VALGRIND_FILTER ?=
test-valgrind:
	@toolchain/deps.sh valgrind
	@[ -f build/valgrind/CMakeCache.txt ] || cmake -S . -B build/valgrind -DCMAKE_BUILD_TYPE=Debug -DBH_BENCH=OFF $(CMAKE_COMMON) >/dev/null
	cmake --build build/valgrind -j$(JOBS) --target bulkhead integration_tests
	tests/valgrind.sh build/valgrind $(if $(VALGRIND_FILTER),'$(VALGRIND_FILTER)')

# Soak: release bulkhead under mixed load with sink flaps, connection floods and a restart for
# MINUTES; writes build/soak/{soak.csv,soak.png,summary.txt}; fails on RSS growth, FDs over the
# ceiling or a lost acked event.
MINUTES ?= 10
soak: release
	@toolchain/deps.sh gnuplot-nox
	/usr/bin/python3 tests/soak/soak.py --bulkhead build/release/firmware/bulkhead --minutes $(MINUTES) --out build/soak

clean:
	rm -rf build
include toolchain/device.mk
