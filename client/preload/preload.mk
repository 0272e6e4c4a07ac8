# client/preload/preload.mk: uffd-run and libuffdpreload.so.  Included by the
# top-level Makefile (include client/preload/preload.mk); uses its BUILD, CC,
# CFLAGS, LDFLAGS, install.mk's PKGLIBDIR and the $(BUILD)/lib/%.o and
# $(BUILD)/obj/%.o pattern rules.
#
#   make preload            $(BUILD)/libuffdpreload.so and $(BUILD)/uffd-run
#   make check-preload      the preload test program under a private uffdd,
#                           then real programs (PostgreSQL + pgbench, ...)
#   make check-preload PRELOAD_REAL=0     skip the real programs
#   make bench-preload      forking-server throughput with and without
#                           uffd-run (PRELOAD_BENCH_ARGS="--rounds 7 ...")
#   (make install-preload: install.mk)
#
# Needs root for check/bench (hugepages, a daemon that grants the device).

_preload_saved_goal := $(.DEFAULT_GOAL)

BUILD ?= build
PRELOAD_SRC := client/preload/preload.c client/preload/regions.c \
	       client/preload/board.c \
	       client/preload/fork.c client/preload/aslog.c client/client_fork.c \
	       proto/proto.c kernel/probe.c
PRELOAD_OBJ := $(patsubst %.c,$(BUILD)/lib/%.o,$(PRELOAD_SRC))
PRELOAD_SO := $(BUILD)/libuffdpreload.so
UFFD_RUN := $(BUILD)/uffd-run
PRELOAD_TEST := $(BUILD)/tests/preload/preload_test
FORKSERVE := $(BUILD)/tests/preload/forkserve
PRELOAD_REAL ?= 1
PRELOAD_BENCH_ARGS ?=

# The library exports only the interposers (default visibility in
# preload.c); the client code it is built from stays hidden inside.
$(PRELOAD_SO): $(PRELOAD_OBJ)
	$(CC) -shared -Wl,-soname,libuffdpreload.so -Wl,-z,defs -o $@ \
		$(PRELOAD_OBJ) $(LDFLAGS)

# install.mk's PKGLIBDIR, and its stamp: uffd-run is rebuilt when it changes.
$(BUILD)/obj/client/preload/uffd-run.o: override CPPFLAGS += -DUFFD_PRELOAD_LIBDIR=\"$(PKGLIBDIR)\"
$(BUILD)/obj/client/preload/uffd-run.o: $(PKGLIBDIR_STAMP)

$(UFFD_RUN): $(BUILD)/obj/client/preload/uffd-run.o $(BUILD)/libuffdclient.a
	$(CC) -o $@ $< $(BUILD)/libuffdclient.a $(LDFLAGS) -lpthread

# The test program links the harness (it is its own driver and, run under
# uffd-run, its own subject).
$(PRELOAD_TEST): $(BUILD)/obj/tests/preload/preload_test.o $(TEST_HARNESS) $(BUILD)/libuffdclient.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lpthread

# A fork-per-request server over a shared table (bench.sh, real.sh).
$(FORKSERVE): $(BUILD)/obj/tests/preload/forkserve.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -lpthread

.PHONY: preload check-preload check-preload-prog check-preload-real \
	bench-preload
preload: $(PRELOAD_SO) $(UFFD_RUN)
all: preload

# Reserves the hugepages it needs and gives back only what it took.
check-preload-prog: preload $(BUILD)/uffdd $(PRELOAD_TEST)
	@st=$$(mktemp /tmp/uffdd-hugepages.XXXXXX); \
	sh tools/hugepages.sh reserve 64 $$st >/dev/null || exit 1; \
	UFFDD_BUILD=$(BUILD) $(PRELOAD_TEST); rc=$$?; \
	sh tools/hugepages.sh restore $$st; rm -f $$st; exit $$rc

check-preload-real: preload $(BUILD)/uffdd $(PRELOAD_TEST) $(FORKSERVE)
	sh tests/preload/real.sh $(BUILD)

check-preload: check-preload-prog
	@if [ "$(PRELOAD_REAL)" = 1 ]; then $(MAKE) --no-print-directory check-preload-real; fi

bench-preload: preload $(BUILD)/uffdd $(PRELOAD_TEST) $(FORKSERVE)
	sh tests/preload/bench.sh $(BUILD) $(PRELOAD_BENCH_ARGS)

.DEFAULT_GOAL := $(_preload_saved_goal)
