# Makefile - thin wrapper over CMake for libgpc.
#
#   make / make build   configure and build build/ with everything on (tests,
#                       benchmarks, tools, fuzzer where clang); never installs
#                       packages: if one is missing it prints the apt-get command
#   make run            install missing packages (as root), build, run the main
#                       job ($(RUN_CMD): gpcvm, then gpc-vhost-blk under QEMU)
#   make check          install missing packages, then the whole test suite: plain build + tsan/asan/ubsan builds + fuzz
#   make check-qemu     every QEMU scenario of tests/qemu (issue 14: 1-7 on both
#                       back-ends, minutes each under TCG) in build-qemu/;
#                       opt-in, never part of "check"
#   make bench          install missing packages, build, then run every benchmark suite (build/bench/bench;
#                       BENCH_ARGS=--quick for the short run), results in results/
#   make install        cmake --install build (PREFIX=..., DESTDIR=... honoured)
#   make format         clang-format -i every .c/.h we own
#   make format-check   fail if any file is not formatted
#   make clean          remove every build directory
#
# The real orchestration of "check" lives in tools/check.sh.

MAKEFLAGS    += --no-print-directory

BUILD_DIR    ?= build
BUILD_TYPE   ?= RelWithDebInfo
JOBS         ?= 2
CMAKE        ?= cmake
CMAKE_ARGS   ?=
PREFIX       ?= /usr/local
CLANG_FORMAT ?= clang-format

# The main job, both clients of the library (tools/run.sh): the reference VMM
# for about 10 s, every scenario (RUN_ARGS are its arguments), then
# gpc-vhost-blk serving a Linux guest under QEMU through pc-dimm hot-plug.
RUN_CMD      ?= tools/run.sh $(BUILD_DIR)
RUN_ARGS     ?= --duration 10

BENCH_CMD    ?= $(BUILD_DIR)/bench/bench
BENCH_ARGS   ?=

FORMAT_DIRS  := include src tests bench tools examples fuzz
FORMAT_FILES  = $(shell find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' \) 2>/dev/null | sort)

ALL_BUILD_DIRS := build build-tsan build-asan build-ubsan build-fuzz build-qemu

# A plain CMake configure builds only the library; the Makefile's build is the
# developer's and turns every part on (tools/check.sh does the same).
GPC_PARTS    := -DGPC_BUILD_TESTS=ON -DGPC_BUILD_BENCH=ON -DGPC_BUILD_TOOLS=ON \
		-DGPC_BUILD_EXAMPLES=ON

.PHONY: all build deps deps-check configure run check check-qemu bench install format format-check clean

all: build

# deps installs what is missing (as root; otherwise prints the command and
# fails); deps-check only reports. Only run/check/bench install.
deps:
	@tools/deps.sh

deps-check:
	@tools/deps.sh --check

configure: deps-check
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
		-DGPC_DEBUG=OFF -DGPC_SANITIZE= $(GPC_PARTS) $(CMAKE_ARGS)

build: configure
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

run: deps
	@$(MAKE) build
	$(RUN_CMD) $(RUN_ARGS)

bench: deps
	@$(MAKE) build
	$(BENCH_CMD) $(BENCH_ARGS)

# check.sh runs deps.sh itself and builds every stage.
check:
	@JOBS=$(JOBS) CMAKE_ARGS='$(CMAKE_ARGS)' tools/check.sh

# Its own build folder: GPC_QEMU_FULL registers the long scenarios, which
# must not leak into the default check's build.
check-qemu: deps
	@$(MAKE) build BUILD_DIR=build-qemu CMAKE_ARGS='-DGPC_QEMU_FULL=ON $(CMAKE_ARGS)'
	cd build-qemu && ctest -L qemu --output-on-failure

install: build
	$(CMAKE) --install $(BUILD_DIR) --prefix $(PREFIX)

format:
	@files="$(FORMAT_FILES)"; [ -z "$$files" ] || \
		{ echo "$(CLANG_FORMAT) -i <$$(echo $$files | wc -w) files>"; \
		  $(CLANG_FORMAT) -i $$files; }

format-check:
	@files="$(FORMAT_FILES)"; [ -z "$$files" ] || \
		$(CLANG_FORMAT) --dry-run --Werror $$files

clean:
	rm -rf $(sort $(BUILD_DIR) $(ALL_BUILD_DIRS))
