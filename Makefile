# uffdd: userfaultfd minor-fault page service.  See README.md.
VERSION := 0.3.0

CC ?= cc
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD ?= build-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SANFLAGS :=
endif

# Installation directories, the library's versions, install/uninstall.
include install.mk

PKGS := libevent json-c libsystemd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

# The user's CFLAGS (make CFLAGS=-O1), CPPFLAGS and LDFLAGS come first and
# are kept; the project's own flags are always added.  -Werror only where
# asked for (CI sets WERROR=1): a newer compiler's new warning must not
# break a user's build.
CFLAGS ?= -O2 -g
WERROR ?= 0
WARN := -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes
ifeq ($(WERROR),1)
WARN += -Werror
endif
INCLUDES := -Ikernel -Iproto -Iclient -Iuffdd -Itests/lib
override CFLAGS += -std=gnu11 $(WARN) -fno-strict-aliasing $(SANFLAGS)
override CPPFLAGS += -D_GNU_SOURCE -DUFFDD_VERSION=\"$(VERSION)\" $(INCLUDES)
override LDFLAGS += $(SANFLAGS)
DEPFLAGS = -MMD -MP

# Sources -------------------------------------------------------------------
PROTO_SRC := proto/proto.c proto/fdcheck.c
KERNEL_SRC := kernel/probe.c
CLIENT_SRC := client/client.c client/client_fork.c client/spec.c client/takeover.c client/takeover_serve.c \
	      client/image.c
UFFDD_DIRS := uffdd/core uffdd/policy uffdd/control uffdd/config uffdd/image uffdd/store
UFFDD_SRC := $(foreach d,$(UFFDD_DIRS),$(wildcard $(d)/*.c))
CTL_SRC := $(wildcard uffdd/ctl/*.c) uffdd/control/caps_json.c client/spec.c \
	   proto/fdcheck.c proto/proto.c

LIB_OBJ := $(patsubst %.c,$(BUILD)/lib/%.o,$(CLIENT_SRC) $(PROTO_SRC) $(KERNEL_SRC))
D_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(UFFDD_SRC) $(PROTO_SRC) $(KERNEL_SRC))
UFFDD_CORE_OBJ := $(filter-out $(BUILD)/obj/uffdd/core/main.o,$(D_OBJ))
CTL_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(CTL_SRC) $(KERNEL_SRC))

BINS := $(BUILD)/uffdd $(BUILD)/uffdctl $(BUILD)/uffd-touch
LIBS_OUT := $(BUILD)/libuffdclient.a $(BUILD)/$(LIB_REALNAME) $(BUILD)/$(LIB_SONAME) \
	    $(BUILD)/libuffdclient.so

.PHONY: all clean deps check check-unit check-e2e demo \
	format format-check lint tests-build
all: $(BINS) $(LIBS_OUT) tests-build

# The version is compiled in (-DUFFDD_VERSION): objects are rebuilt when it
# changes, not only when a source does.
VERSION_STAMP := $(BUILD)/.version
$(shell mkdir -p $(BUILD) && [ "$$(cat $(VERSION_STAMP) 2>/dev/null)" = "$(VERSION)" ] || \
	echo "$(VERSION)" > $(VERSION_STAMP))

$(BUILD)/obj/%.o: %.c $(VERSION_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(DEPFLAGS) -c $< -o $@

# The library: position independent, only the public API exported.
$(BUILD)/lib/%.o: %.c $(VERSION_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden $(DEPFLAGS) -c $< -o $@

$(BUILD)/libuffdclient.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/$(LIB_REALNAME): $(LIB_OBJ) client/libuffdclient.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(LIB_SONAME) \
		-Wl,--version-script=client/libuffdclient.map \
		-Wl,-z,defs -o $@ $(LIB_OBJ) $(LDFLAGS) -lpthread

$(BUILD)/$(LIB_SONAME): $(BUILD)/$(LIB_REALNAME)
	ln -sf $(LIB_REALNAME) $@

$(BUILD)/libuffdclient.so: $(BUILD)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $@

$(BUILD)/uffdd: $(D_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lpthread

$(BUILD)/uffdctl: $(CTL_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(shell pkg-config --libs json-c 2>/dev/null)

$(BUILD)/uffd-touch: $(BUILD)/obj/client/tools/uffd-touch.o $(BUILD)/libuffdclient.a
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libuffdclient.a $(LDFLAGS) -lpthread

# Tests ---------------------------------------------------------------------
# Every test source is compiled like the rest (-MMD: a header change
# rebuilds the tests that include it), then linked: unit tests with the
# daemon's objects, end-to-end tests with the client library, all with the
# one reporting core (tests/lib/report.c).
TEST_REPORT := $(BUILD)/obj/tests/lib/report.o
TEST_HARNESS := $(TEST_REPORT) $(BUILD)/obj/tests/lib/harness.o
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/*.c))
E2E_TESTS := $(patsubst tests/e2e/%.c,$(BUILD)/tests/e2e/%,$(wildcard tests/e2e/*.c))

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(TEST_HARNESS) $(UFFDD_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lpthread

$(BUILD)/tests/e2e/%: $(BUILD)/obj/tests/e2e/%.o $(TEST_HARNESS) $(BUILD)/libuffdclient.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lpthread

tests-build: $(UNIT_TESTS) $(E2E_TESTS)

deps:
	@sh tools/deps.sh

# The preload test LD_PRELOADs an mmap interposer into its subject, which
# the ASan runtime refuses (it must come first and intercepts mmap itself):
# the sanitizer run leaves it out; the plain run and CI's check-preload-real
# cover it.
ifeq ($(SANITIZE),1)
CHECK_PRELOAD :=
else
CHECK_PRELOAD = $(PRELOAD_TEST)
endif

RUN_TESTS = UFFDD_SANITIZED=$(SANITIZE) ASAN_OPTIONS=handle_sigbus=0:detect_leaks=1 \
	sh tools/check.sh $(BUILD)

check: deps
	$(MAKE) all $(CHECK_PRELOAD)
	$(RUN_TESTS) $(UNIT_TESTS) $(E2E_TESTS) $(KERNEL_ABI_TESTS) $(CHECK_PRELOAD)

check-unit: deps
	$(MAKE) $(UNIT_TESTS)
	$(RUN_TESTS) $(UNIT_TESTS)

check-e2e: deps
	$(MAKE) all
	$(RUN_TESTS) $(E2E_TESTS)

demo: deps
	$(MAKE) all
	sh tools/demo.sh $(BUILD)

# Formatting: .clang-format, over every tracked C file.
FORMAT_SRC = $(shell git ls-files '*.c' '*.h')

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@command -v clang-format >/dev/null 2>&1 || sh tools/deps.sh clang-format
	clang-format --dry-run -Werror $(FORMAT_SRC)
	@echo "format-check: every C file is as clang-format leaves it"

clean:
	rm -rf build build-asan

include kernel/kernel.mk
include client/preload/preload.mk
include tests/fuzz/fuzz.mk
include bench/bench.mk
include tests/systemd/systemd.mk
include tools/arm64.mk
include uffdd/image/image.mk
-include $(shell find $(BUILD)/obj $(BUILD)/lib -name '*.d' -type f 2>/dev/null)
