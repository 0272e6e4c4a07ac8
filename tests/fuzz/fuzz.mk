# tests/fuzz/fuzz.mk: fuzzing, static analysis, the e2e tests under
# valgrind and the long soak (issue 7; SECURITY.md).  Included by the
# top-level Makefile, which defines BUILD, VERSION, PKG_CFLAGS, PKG_LIBS,
# UFFDD_SRC, CTL_SRC, E2E_TESTS.
#
#   make fuzz          each libFuzzer target for FUZZ_SECONDS (default 60)
#   make fuzz-short    each for 20 s (CI)
#   make fuzz-seeds    regenerate tests/fuzz/corpus/proto from the structs
#   make lint          cppcheck and clang-tidy, warnings are errors
#   make check-valgrind  the e2e tests with uffdd under valgrind
#   make soak          10,000 client cycles, fds and RSS printed

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SHORT_SECONDS ?= 20
FUZZ_DIR := $(BUILD)/fuzz
# The grown corpus outlives the work tree, so that runs build on each other.
FUZZ_CACHE ?= /var/cache/uffdd/fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	    -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -D_GNU_SOURCE \
	       -DUFFDD_VERSION=\"$(VERSION)\" -Ikernel -Iproto -Iclient -Iuffdd \
	       $(FUZZ_SAN)
FUZZ_CORE_SRC := $(filter-out uffdd/core/main.c,$(UFFDD_SRC)) \
		 proto/proto.c proto/fdcheck.c kernel/probe.c
FUZZ_CORE_OBJ := $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_CORE_SRC))
FUZZERS := $(FUZZ_DIR)/fuzz_proto $(FUZZ_DIR)/fuzz_config

.PHONY: fuzz fuzz-short fuzz-build fuzz-deps fuzz-seeds lint lint-deps \
	check-valgrind soak

fuzz-deps:
	@for p in clang libclang-rt-14-dev; do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/fuzz_proto: tests/fuzz/fuzz_proto.c $(FUZZ_DIR)/obj/proto/proto.o
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $^

$(FUZZ_DIR)/fuzz_config: tests/fuzz/fuzz_config.c $(FUZZ_CORE_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -fsanitize=fuzzer -o $@ $^ \
		$(PKG_LIBS) -lpthread

fuzz-build: fuzz-deps
	$(MAKE) $(FUZZERS)

# fuzz-run SECONDS: every target, one summary line each.
define fuzz-run
	sh tests/fuzz/run.sh $(FUZZ_DIR)/fuzz_proto $(1) $(FUZZ_CACHE)/corpus-proto \
		tests/fuzz/corpus/proto -max_len=1024
	sh tests/fuzz/run.sh $(FUZZ_DIR)/fuzz_config $(1) $(FUZZ_CACHE)/corpus-config \
		tests/fuzz/corpus/config -max_len=4096 -dict=tests/fuzz/config.dict
endef

fuzz: fuzz-build
	$(call fuzz-run,$(FUZZ_SECONDS))

fuzz-short: fuzz-build
	$(call fuzz-run,$(FUZZ_SHORT_SECONDS))

fuzz-seeds:
	@mkdir -p $(FUZZ_DIR) tests/fuzz/corpus/proto
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $(FUZZ_DIR)/gen_seeds tests/fuzz/gen_seeds.c
	$(FUZZ_DIR)/gen_seeds tests/fuzz/corpus/proto

# Static analysis ---------------------------------------------------------
LINT_SRC := $(sort $(wildcard proto/*.c client/*.c client/tools/*.c) \
	    $(UFFDD_SRC) $(CTL_SRC) kernel/probe.c)
LINT_INC := -D_GNU_SOURCE -DUFFDD_VERSION=\"$(VERSION)\" -Ikernel -Iproto \
	    -Iclient -Iuffdd
# Real-bug checks: the clang static analyzer and bugprone-*.  Left out,
# with why: the analyzer's valist.Uninitialized (a false positive on every
# va_start with glibc's va_list in clang 14) and insecureAPI (memcpy and
# friends are fine with explicit sizes); bugprone checks that flag this
# code base's idioms rather than bugs: (fd, fd)/(offset, length) parameter
# pairs, !strcmp(), sizeof(*p) on pointer arrays, ms * 1000 into tv_usec,
# NUL-padded fixed fields filled by memcpy after memset, narrowing
# conversions to protocol field widths, repeated switch branches.
TIDY_CHECKS := -*,clang-analyzer-*,-clang-analyzer-security.insecureAPI.*,\
-clang-analyzer-valist.Uninitialized,bugprone-*,\
-bugprone-easily-swappable-parameters,-bugprone-narrowing-conversions,\
-bugprone-reserved-identifier,-bugprone-assignment-in-if-condition,\
-bugprone-suspicious-string-compare,-bugprone-sizeof-expression,\
-bugprone-implicit-widening-of-multiplication-result,\
-bugprone-not-null-terminated-result,-bugprone-branch-clone,\
-bugprone-misplaced-widening-cast,misc-redundant-expression

lint-deps:
	@for p in cppcheck clang-tidy; do \
		dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi

lint: lint-deps
	cppcheck --quiet --error-exitcode=1 --inline-suppr --std=c11 \
		--enable=warning,portability,performance \
		--suppress=missingIncludeSystem \
		--include=/usr/include/$(shell $(CC) -print-multiarch)/sys/queue.h \
		$(LINT_INC) -I/usr/include/json-c $(LINT_SRC)
	clang-tidy --quiet --warnings-as-errors='*' --checks='$(TIDY_CHECKS)' \
		$(LINT_SRC) -- -std=gnu11 $(LINT_INC) $(PKG_CFLAGS)
	@echo "lint: cppcheck and clang-tidy clean"

# valgrind ----------------------------------------------------------------
VALGRIND := valgrind --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--track-fds=no -q

check-valgrind: all
	@dpkg -s valgrind >/dev/null 2>&1 || \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends valgrind)
	UFFDD_TEST_WRAPPER="$(VALGRIND)" UFFDD_SOAK_CYCLES=200 \
		sh tools/check.sh $(BUILD) $(E2E_TESTS)

# The long soak (`make check` runs the same test with 1,000 cycles).
soak: all
	UFFDD_SOAK_CYCLES=$${UFFDD_SOAK_CYCLES:-10000} \
		UFFDD_SOAK_CLIENTS=$${UFFDD_SOAK_CLIENTS:-8} \
		sh tools/check.sh $(BUILD) $(BUILD)/tests/e2e/soak
