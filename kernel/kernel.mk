# Kernel side: the 5.10 backport of userfaultfd minor faults, its test
# kernel under QEMU, and the ABI tests that run on any kernel.
# Included by the top-level Makefile; see kernel/README.md.
#
#   make check-abi      build the ABI tests and run them on the running kernel
#   make kernel         build 5.10 + kernel/patches/5.10 (cached in /var/cache/uffdd/kernel)
#   make check-kernel   build patched and unpatched 5.10, boot both under QEMU, run
#                       the ABI tests and the uffdd end-to-end test in the guest

KERNEL_ABI_TESTS := $(BUILD)/tests/kernel/abi-minor $(BUILD)/tests/kernel/abi-register
KT_DEPS := tests/kernel/kt.c tests/kernel/kt.h kernel/uffd_uapi.h

$(BUILD)/tests/kernel/abi-minor: tests/kernel/abi_minor.c $(KT_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/kernel -o $@ $< tests/kernel/kt.c $(LDFLAGS) -lpthread

$(BUILD)/tests/kernel/abi-register: tests/kernel/abi_register.c $(KT_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/kernel -o $@ $< tests/kernel/kt.c $(LDFLAGS) -lpthread

# `make all` (and so `make check`) builds them; check.sh runs them.
tests-build: $(KERNEL_ABI_TESTS)

.PHONY: check-abi kernel kernel-unpatched check-kernel
check-abi: $(KERNEL_ABI_TESTS)
	sh tools/check.sh $(BUILD) $(KERNEL_ABI_TESTS)

kernel:
	bash kernel/qemu/build.sh patched

kernel-unpatched:
	bash kernel/qemu/build.sh unpatched

# The guest runs the ABI tests and the core binaries, with their libraries.
check-kernel: $(KERNEL_ABI_TESTS) $(BUILD)/uffdd $(BUILD)/uffdctl $(BUILD)/uffd-touch
	bash kernel/qemu/check.sh $(BUILD)
