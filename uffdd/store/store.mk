# uffdd/store/store.mk: the image stores (file:, rados:), uffd-image, and
# their tests.  Included by the top-level Makefile; uses its $(BUILD),
# $(CC), $(CFLAGS), $(PKG_CFLAGS), $(PKG_LIBS), $(DEPFLAGS).
#
#   make check         runs build/tests/test_store against a file: store
#   make check-ceph    starts a single-node Ceph (tests/ceph/cluster.sh),
#                      runs the same tests against rados:, stops it
#
# The rados backend is built only when <rados/librados.h> is there
# (Debian: librados-dev; Debian 12 ships no rados.pc for pkg-config);
# without it a rados: URL is refused with a message saying so.

_store_saved_goal := $(.DEFAULT_GOAL)

HAVE_RADOS := $(shell printf '\#include <rados/librados.h>\n' | \
	$(CC) -E -x c - >/dev/null 2>&1 && echo 1)
STORE_SRC := $(filter-out uffdd/store/uffd-image.c,$(wildcard uffdd/store/*.c))
ifeq ($(HAVE_RADOS),1)
STORE_CFLAGS := -DUFFDD_HAVE_RADOS
STORE_LIBS := -lrados
else
STORE_SRC := $(filter-out uffdd/store/store_rados.c,$(STORE_SRC))
STORE_CFLAGS :=
STORE_LIBS :=
endif
STORE_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(STORE_SRC))
# Objects built without librados are rebuilt once it appears (CI runs
# make check before make check-ceph installs it): they depend on a stamp
# named after the answer.
STORE_STAMP := $(BUILD)/obj/uffdd/store/.rados-$(if $(HAVE_RADOS),yes,no)
$(STORE_STAMP):
	@mkdir -p $(dir $@)
	@rm -f $(dir $@).rados-*
	@touch $@
$(STORE_OBJ) $(BUILD)/obj/uffdd/store/uffd-image.o: $(STORE_STAMP)
STORE_TESTS := $(BUILD)/tests/test_store
CEPH_DIR ?= /tmp/uffdd-ceph

# More specific than the Makefile's %.o rule: the store's own flags.
$(BUILD)/obj/uffdd/store/%.o: uffdd/store/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(STORE_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/uffd-image: $(BUILD)/obj/uffdd/store/uffd-image.o $(STORE_OBJ)
	$(CC) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) $(STORE_LIBS) -lpthread

$(BUILD)/tests/test_store: tests/store/test_store.c $(STORE_OBJ) $(TEST_HARNESS) \
		$(BUILD)/uffd-image
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(STORE_CFLAGS) $(DEPFLAGS) -Iuffdd/store -Itests \
		-o $@ $< $(STORE_OBJ) $(TEST_HARNESS) $(LDFLAGS) $(PKG_LIBS) \
		$(STORE_LIBS) -lpthread

# What the image cache needs from the kernel (tests/kernel, any kernel).
$(BUILD)/tests/kernel/abi-image: tests/kernel/abi_image.c $(KT_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/kernel -o $@ $< tests/kernel/kt.c $(LDFLAGS) -lpthread
KERNEL_ABI_TESTS += $(BUILD)/tests/kernel/abi-image

# The image cache (uffdd/image): built here until the daemon links it.
IMAGE_SRC := $(wildcard uffdd/image/*.c)
IMAGE_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(IMAGE_SRC))
IMAGE_CORE_OBJ := $(BUILD)/obj/uffdd/log.o $(BUILD)/obj/uffdd/histo.o
$(BUILD)/obj/uffdd/image/%.o: uffdd/image/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Iuffdd/store -Iuffdd $(DEPFLAGS) -c $< -o $@

$(BUILD)/tests/test_image_cache: tests/image/test_cache.c $(IMAGE_OBJ) $(STORE_OBJ) \
		$(IMAGE_CORE_OBJ) $(TEST_HARNESS) $(BUILD)/uffd-image
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(DEPFLAGS) -Iuffdd/store -Iuffdd/image -Iuffdd -Itests \
		-o $@ $< $(IMAGE_OBJ) $(STORE_OBJ) $(IMAGE_CORE_OBJ) $(TEST_HARNESS) \
		$(LDFLAGS) $(PKG_LIBS) $(STORE_LIBS) -lpthread
STORE_TESTS += $(BUILD)/tests/test_image_cache

all: $(BUILD)/uffd-image
tests-build: $(STORE_TESTS) $(BUILD)/tests/kernel/abi-image
UNIT_TESTS += $(STORE_TESTS)

.PHONY: check-ceph ceph-start ceph-stop
ceph-start:
	sh tests/ceph/cluster.sh start $(CEPH_DIR)
ceph-stop:
	sh tests/ceph/cluster.sh stop $(CEPH_DIR)

# The cluster is stopped whatever the tests say; their status is kept.
check-ceph: deps
	sh tests/ceph/cluster.sh start $(CEPH_DIR)
	$(MAKE) all || { sh tests/ceph/cluster.sh stop $(CEPH_DIR); exit 1; }
	UFFD_TEST_STORE="$$(sh tests/ceph/cluster.sh url $(CEPH_DIR))" \
	UFFD_CEPH_DIR=$(CEPH_DIR) sh tools/check.sh $(BUILD) $(STORE_TESTS); \
	rc=$$?; sh tests/ceph/cluster.sh stop $(CEPH_DIR); exit $$rc

-include $(wildcard $(BUILD)/tests/*.d)
.DEFAULT_GOAL := $(_store_saved_goal)
