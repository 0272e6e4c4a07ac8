# Kernel side: the 5.10 backport of userfaultfd minor faults, its test
# kernel under QEMU, and the ABI tests that run on any kernel.
# Included by the top-level Makefile; see kernel/README.md.
#
#   make check-abi      build the ABI tests and run them on the running kernel
#   make kernel         build 5.10 + kernel/patches/5.10 (cached in /var/cache/uffdd/kernel)
#   make check-kernel   build patched and unpatched 5.10, boot both under QEMU, run
#                       the ABI tests and the uffdd end-to-end test in the guest

KERNEL_ABI_TESTS := $(BUILD)/tests/kernel/abi-minor $(BUILD)/tests/kernel/abi-register
# No json-c here: the guest of check-kernel has only libc and libpthread.
KT_OBJ := $(BUILD)/obj/tests/kernel/kt.o $(TEST_REPORT)

$(BUILD)/tests/kernel/abi-%: $(BUILD)/obj/tests/kernel/abi_%.o $(KT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -lpthread

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
