# tools/arm64.mk: `make check-arm64`, a cheap portability check.  Included
# by the top-level Makefile; uses its CPPFLAGS, WARN and BUILD.
#
# Every C file of the project is compiled (-c, nothing linked or run) for
# arm64 with Debian's cross compiler, installed here when missing.  The
# libraries' headers are the build machine's: libevent, json-c and
# libsystemd ship the same headers on every 64-bit Linux architecture, and
# linking is not checked, so their arm64 packages are not needed.

ARM64_CC ?= aarch64-linux-gnu-gcc
ARM64_DIR := $(BUILD)/arm64
# kernel/qemu/ is the x86 test guest of check-kernel (port I/O to QEMU).
ARM64_SRC = $(filter-out kernel/patches/% kernel/qemu/%,$(shell git ls-files '*.c'))
ARM64_OBJ = $(patsubst %.c,$(ARM64_DIR)/%.o,$(ARM64_SRC))
# Only the libraries' own header folders, after the cross compiler's:
# the build machine's libc headers must not be seen.
ARM64_INC := $(ARM64_DIR)/include

.PHONY: check-arm64 arm64-deps

arm64-deps:
	@sh tools/deps.sh gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	@mkdir -p $(ARM64_INC)
	@for d in event2 json-c systemd; do \
		[ -e $(ARM64_INC)/$$d ] || ln -s /usr/include/$$d $(ARM64_INC)/$$d; \
	done

$(ARM64_DIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(ARM64_CC) -std=gnu11 -O2 $(WARN) -Werror -fno-strict-aliasing $(CPPFLAGS) \
		-DUFFD_PRELOAD_LIBDIR=\"/usr/lib\" -idirafter $(ARM64_INC) \
		-idirafter $(ARM64_INC)/json-c -c $< -o $@

check-arm64: arm64-deps
	$(MAKE) -k --no-print-directory $(ARM64_OBJ)
	@echo "check-arm64: $(words $(ARM64_OBJ)) files compile for arm64"
