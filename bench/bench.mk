# bench/bench.mk: `make bench`, included by the top-level Makefile with
# `include bench/bench.mk`.  Uses $(BUILD), $(CC), $(CPPFLAGS) and $(CFLAGS) from there.
#
#   make bench                                  default run (~1-2 min)
#   make bench BENCH_ARGS="--rounds 9 --shmem-size 256M --hugetlb-size 1G"
#   make bench BENCH_ARGS="--modes native,inproc*,uffdd"
#   make bench BENCH_ARGS="--socket /run/uffdd/uffdd.sock"   (running daemon)
#
#   make bench-charts                           the charts again from the data
#
# Results: bench/results/latest.{jsonl,txt}, cdf-<kind>.dat and the charts
# (bench/plot.sh).  Needs root (hugepage reservation, pinning).

# Keep the including Makefile's default goal whatever the include order.
_bench_saved_goal := $(.DEFAULT_GOAL)

BUILD ?= build
BENCH_BIN := $(BUILD)/uffdd-bench
BENCH_SRCS := $(sort $(filter-out bench/restore%.c,$(wildcard bench/*.c)))
BENCH_HDRS := $(wildcard bench/*.h)
BENCH_RESULTS ?= bench/results
BENCH_ARGS ?=
BENCH_CLIENT_LIB ?= $(BUILD)/libuffdclient.a

$(BENCH_BIN): $(BENCH_SRCS) $(BENCH_HDRS) $(BENCH_CLIENT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $(BENCH_SRCS) $(BENCH_CLIENT_LIB) $(LDFLAGS) -lpthread

# gnuplot and jq only draw the charts (bench/plot.sh): the numbers do not
# depend on them.
BENCH_PLOT_PKGS := gnuplot-nox jq
bench-deps:
	@missing=; for p in $(BENCH_PLOT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null || \
	  { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $$missing >/dev/null; } || \
	  echo "bench: $$missing could not be installed: no charts"

bench: $(BENCH_BIN) $(BUILD)/uffdd bench-deps
	$(BENCH_BIN) --uffdd $(BUILD)/uffdd --out $(BENCH_RESULTS) $(BENCH_ARGS)
	@$(MAKE) --no-print-directory bench-charts

# The charts again from the data already in $(BENCH_RESULTS).
bench-charts: bench-deps
	@if command -v gnuplot >/dev/null 2>&1 && command -v jq >/dev/null 2>&1; then \
	  sh bench/plot.sh $(BENCH_RESULTS) || echo "bench: the charts failed"; \
	fi

.PHONY: bench bench-deps bench-charts

# `make bench-restore`: restoring from a memory image (bench/restore*.c, with
# util.c, daemon.c and watchdog.c of the bench above).  ~4 min; results in
# $(BENCH_RESULTS)/restore.{jsonl,txt}; images cached in /var/cache/uffdd/bench.
#   make bench-restore RESTORE_ARGS="--reps 5 --kinds shmem --modes warm,lazy"
RESTORE_BIN := $(BUILD)/uffdd-bench-restore
RESTORE_SRCS := $(sort $(wildcard bench/restore*.c)) bench/util.c bench/daemon.c bench/watchdog.c
RESTORE_ARGS ?=

$(RESTORE_BIN): $(RESTORE_SRCS) bench/restore.h bench/bench.h $(BENCH_CLIENT_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(shell pkg-config --cflags json-c 2>/dev/null) -o $@ $(RESTORE_SRCS) \
		$(BENCH_CLIENT_LIB) $(LDFLAGS) $(shell pkg-config --libs json-c 2>/dev/null) -lpthread

bench-restore: $(RESTORE_BIN) $(BUILD)/uffdd
	@mkdir -p $(BENCH_RESULTS)
	$(RESTORE_BIN) --uffdd $(BUILD)/uffdd --out $(BENCH_RESULTS) $(RESTORE_ARGS)

.PHONY: bench-restore

.DEFAULT_GOAL := $(_bench_saved_goal)
