# uffdd/image/image.mk: images (issue 14) — the stores (uffdd/store), the
# host's image cache (uffdd/image), uffd-image, their tests and benchmark.
# Included by the top-level Makefile, whose UFFDD_DIRS builds uffdd/store
# and uffdd/image into the daemon; uses its BUILD, CC, CPPFLAGS, CFLAGS,
# PKG_LIBS, DEPFLAGS.
#
#   make check         the store and cache unit tests and the image
#                      end-to-end test run against a file: store
#   make check-ceph    starts a single-node Ceph (tests/ceph/cluster.sh),
#                      runs the same tests against rados:, stops it
#   make bench-images  the images benchmark against that Ceph
#
# The rados backend is built when <rados/librados.h> is there (Debian:
# librados-dev; Debian 12 ships no rados.pc for pkg-config): the compiler
# decides (uffdd/store/have_rados.h); librados itself is loaded only when
# a rados: store is opened, so no binary needs it to start.  Without the
# header a rados: URL is refused with a message saying so.

_image_saved_goal := $(.DEFAULT_GOAL)

HAVE_RADOS := $(shell printf '\#include <rados/librados.h>\n' | \
	$(CC) -E -x c - >/dev/null 2>&1 && echo 1)
# librados is loaded at run time (dlopen) when a rados: store is opened.
STORE_LIBS := $(if $(HAVE_RADOS),-ldl)
STORE_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard uffdd/store/*.c))
IMAGE_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard uffdd/image/*.c))
IMAGE_TESTS := $(BUILD)/tests/unit/store $(BUILD)/tests/unit/image_cache \
	$(BUILD)/tests/e2e/images
CEPH_DIR ?= /tmp/uffdd-ceph

# Objects built without librados are rebuilt once it appears (CI runs make
# check before make check-ceph installs it): they depend on a stamp named
# after the answer.
STORE_STAMP := $(BUILD)/obj/uffdd/store/.rados-$(if $(HAVE_RADOS),yes,no)
$(STORE_STAMP):
	@mkdir -p $(dir $@)
	@rm -f $(dir $@).rados-*
	@touch $@
$(STORE_OBJ): $(STORE_STAMP)

# Everything that links the store: the daemon, the unit tests (they link
# the daemon's objects), the operator's tool.
$(BUILD)/uffdd $(UNIT_TESTS) $(BUILD)/uffd-image: PKG_LIBS += $(STORE_LIBS)

$(BUILD)/uffd-image: $(BUILD)/obj/uffdd/store/tool/uffd-image.o $(STORE_OBJ)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(PKG_LIBS) -lpthread

# The image end-to-end test puts images into the store itself.
$(BUILD)/tests/e2e/images: $(STORE_OBJ)
$(BUILD)/tests/e2e/images: PKG_LIBS += $(STORE_LIBS)

# The store test runs uffd-image (order-only: not linked in).
$(BUILD)/tests/unit/store: | $(BUILD)/uffd-image

KERNEL_ABI_TESTS += $(BUILD)/tests/kernel/abi-image

all: $(BUILD)/uffd-image
tests-build: $(BUILD)/tests/kernel/abi-image

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
	UFFD_CEPH_DIR=$(CEPH_DIR) $(RUN_TESTS) $(IMAGE_TESTS); \
	rc=$$?; sh tests/ceph/cluster.sh stop $(CEPH_DIR); exit $$rc

.DEFAULT_GOAL := $(_image_saved_goal)

# make bench-images: the images benchmark against the test Ceph.
#   make bench-images BENCH_IMAGES_ARGS="--size-mib 256 --clients 8"
BENCH_IMAGES := $(BUILD)/uffdd-bench-images
BENCH_IMAGES_ARGS ?=
$(BENCH_IMAGES): bench/images/bench_images.c $(STORE_OBJ) $(BUILD)/libuffdclient.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(STORE_OBJ) \
		$(BUILD)/libuffdclient.a $(LDFLAGS) $(PKG_LIBS) $(STORE_LIBS) -lpthread

.PHONY: bench-images
bench-images: $(BENCH_IMAGES) $(BUILD)/uffdd bench-deps
	sh tests/ceph/cluster.sh start $(CEPH_DIR)
	$(BENCH_IMAGES) --uffdd $(BUILD)/uffdd --out $(BENCH_RESULTS) \
		--store "$$(sh tests/ceph/cluster.sh url $(CEPH_DIR))" \
		$(BENCH_IMAGES_ARGS); rc=$$?; \
		sh tests/ceph/cluster.sh stop $(CEPH_DIR); exit $$rc
	@if command -v gnuplot >/dev/null 2>&1; then \
	  gnuplot -e "dat='$(BENCH_RESULTS)/images.dat'; out='$(BENCH_RESULTS)/images.png'" \
	    bench/images/images.gp && echo "chart: $(BENCH_RESULTS)/images.png"; fi
	@cat $(BENCH_RESULTS)/images.txt
