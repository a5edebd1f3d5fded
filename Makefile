# Makefile: builds guardlet and guardletctl, runs the test suites plain, under ASan+UBSan and under valgrind.
#
#   make                 build build/guardlet and build/guardletctl
#   make deps            install every build and test dependency from Debian's archive (idempotent, as root)
#   make check           unit suites (Check) and integration tests against the real daemon
#   make check-asan      the same suites with everything built under ASan+UBSan (build/asan/)
#   make check-valgrind  the same suites under valgrind --error-exitcode=66 --leak-check=full
#   make check-all       the three above and format-check: what CI runs
#   make format          clang-format the tree; make format-check fails on any difference
#   make bench           benchmarks (not tests): prints tables; then bench-e2e (peers, in the VM)
#   make e2e / bench-e2e the scenario suite and the peers bench in a Debian 12 VM (tests/e2e/e2e.mk)
#   make man / install / deb / check-package   man pages, installation, the Debian package
#                        and its tests (packaging/packaging.mk)

BUILDDIR ?= build
CC ?= cc
PKG_CONFIG ?= pkg-config
# Warnings are errors unless WERROR=0 (packagers with newer compilers may need that).
WERROR ?= 1
SAN ?= 0

PKGS := libsystemd inih jansson yaml-0.1 libcurl libmicrohttpd
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wvla -Wnull-dereference -Wundef
ifeq ($(WERROR),1)
WARN += -Werror
endif
OPT := -O2
ifeq ($(SAN),1)
OPT := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
CPPFLAGS += -Iinclude -D_GNU_SOURCE
CFLAGS ?=
override CFLAGS := -std=c17 -g $(OPT) $(WARN) $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS ?=
ifeq ($(SAN),1)
override LDFLAGS += -fsanitize=address,undefined
endif
LDLIBS += $(PKG_LIBS) -lev -lm

LIB_SRCS := $(sort $(wildcard src/common/*.c src/sense/*.c src/decide/*.c src/act/*.c src/kube/*.c src/daemon/*.c))
LIB_SRCS := $(filter-out src/daemon/main.c,$(LIB_SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILDDIR)/%.o)
CTL_SRCS := $(sort $(wildcard src/ctl/*.c))
CTL_OBJS := $(CTL_SRCS:%.c=$(BUILDDIR)/%.o)
TEST_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/unit/%.c=$(BUILDDIR)/tests/%)
TEST_HELPER_SRCS := $(filter-out $(TEST_SRCS),$(wildcard tests/unit/*.c))
TEST_HELPER_OBJS := $(TEST_HELPER_SRCS:%.c=$(BUILDDIR)/%.o)

PYTHON ?= python3

# Objects of test programs are kept between runs.
.SECONDARY:

.PHONY: all deps check check-unit check-integration check-asan check-valgrind check-all \
	format format-check bench fuzz clean

all: $(BUILDDIR)/guardlet $(BUILDDIR)/guardletctl

$(BUILDDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILDDIR)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILDDIR)/libguardlet.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILDDIR)/guardlet: $(BUILDDIR)/src/daemon/main.o $(BUILDDIR)/libguardlet.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILDDIR)/guardletctl: $(CTL_OBJS) $(BUILDDIR)/libguardlet.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILDDIR)/tests/%: $(BUILDDIR)/tests/unit/%.o $(TEST_HELPER_OBJS) $(BUILDDIR)/libguardlet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

deps:
	./scripts/install-deps.sh
	@command -v npm >/dev/null 2>&1 && npm ci --prefix tests/k8s --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null 2>&1 || echo "deps: warning: npm ci --prefix tests/k8s failed (npm missing or registry unreachable): manifest schema checks will skip"

# The runner prints one closing line "tests: N passed, N failed, N skipped" and exits non-zero on
# any failure. GUARDLET_TEST_WRAPPER runs every unit binary and daemon under a tool (valgrind).
check: all $(TEST_BINS)
	$(PYTHON) tests/run.py --builddir $(BUILDDIR) $(TEST_BINS)

check-unit: all $(TEST_BINS)
	$(PYTHON) tests/run.py --builddir $(BUILDDIR) --unit-only $(TEST_BINS)

check-integration: all
	$(PYTHON) tests/run.py --builddir $(BUILDDIR) --integration-only

check-asan:
	$(MAKE) BUILDDIR=build/asan SAN=1 check

# CK_FORK=no keeps each suite in one process so valgrind sees every test (libnl does the same).
check-valgrind: all $(TEST_BINS)
	CK_FORK=no $(PYTHON) tests/run.py --builddir $(BUILDDIR) --valgrind $(TEST_BINS)

check-all: format-check check check-asan check-valgrind check-package

# man, install, deb, check-package
include packaging/packaging.mk
# e2e, bench-e2e
include tests/e2e/e2e.mk

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

$(BUILDDIR)/bench/bench_scan: $(BUILDDIR)/tests/bench/bench_scan.o $(BUILDDIR)/tests/unit/cgfixture.o $(BUILDDIR)/libguardlet.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILDDIR)/tests/bench/%.o: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -MMD -MP -c -o $@ $<

# libFuzzer targets (clang only); their corpora are replayed as ordinary tests by `make check`.
#   make fuzz && build/fuzz/fuzz_kubeconfig -max_total_time=60 tests/fuzz/corpus/kubeconfig
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILDDIR)/fuzz/%)
$(BUILDDIR)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	clang -std=c17 -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) $(PKG_CFLAGS) -o $@ $< $(LIB_SRCS) $(PKG_LIBS) -lev -lm

fuzz: $(FUZZ_BINS)

# Benchmarks, never tests: numbers for the README, compared as ratios within one run.
bench: all $(BUILDDIR)/bench/bench_scan
	$(PYTHON) tests/bench/run.py --builddir $(BUILDDIR)
	$(MAKE) --no-print-directory bench-e2e

clean:
	rm -rf build

# Not under deb/: the package build's own tree (and its guardlet.conf.d directory) lives there.
-include $(shell find $(BUILDDIR) -path $(BUILDDIR)/deb -prune -o -name '*.d' -type f -print 2>/dev/null)
