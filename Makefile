# The front door. `make run` and `make test` do all the set-up on a fresh Debian 12 machine.
JOBS   ?= $(shell nproc)
CONFIG ?=
CMAKE_COMMON = -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

.PHONY: all deps release debug asan run test test-asan bench bench-pipeline clean
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

run: release
	build/release/firmware/bulkhead run $(if $(CONFIG),--config $(CONFIG))

test: release
	cd build/release && ctest --output-on-failure -j$(JOBS) --repeat until-pass:2

test-asan: asan
	cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j$(JOBS) --repeat until-pass:2

bench: release
	@for b in build/release/tests/bench/*_bench; do echo "== $$b"; $$b --benchmark_min_time=0.2; done

# End-to-end load: 8 connections x 256 in flight against a loopback sink, raw SQLite alongside.
BENCH_ARGS ?=
bench-pipeline: deps build/release/CMakeCache.txt
	BUILD_DIR=$(CURDIR)/build/release JOBS=$(JOBS) tests/bench/run_pipeline_bench.sh $(BENCH_ARGS)

clean:
	rm -rf build
include toolchain/device.mk
