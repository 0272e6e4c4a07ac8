# systemd units and the real-systemd tests.  Included by the top-level
# Makefile (include tests/systemd/systemd.mk); uses its BUILD, CC, CPPFLAGS,
# CFLAGS and install.mk's SYSTEMD_UNITS.
#
#   (make install-systemd, the units and their *.d files: install.mk)
#   make check-systemd [SYSTEMD_TESTS="activation reload ..."]
#       boots a real systemd (systemd-nspawn, cached Debian root under
#       /var/cache/uffdd/), installs into it the way a user would, runs
#       tests/systemd/in/t-*.sh.  Root only.
#   make systemd-security
#       the units' `systemd-analyze verify` and exposure score (no root).

BUILD ?= build

SYSTEMD_STAGE := $(BUILD)/systemd-stage
SYSTEMD_TESTBIN := $(BUILD)/tests/systemd
SYSTEMD_LOGS := $(BUILD)/systemd-logs
SYSTEMD_TESTS ?=

.PHONY: check-systemd systemd-security systemd-stage

# The client that faults in a loop while the daemon restarts under it.
$(SYSTEMD_TESTBIN)/fault-loop: tests/systemd/fault_loop.c client/uffd/client.h $(BUILD)/libuffdclient.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libuffdclient.a $(LDFLAGS) -lpthread

# The client of populate and gate regions across a restart, crash or stop.
$(SYSTEMD_TESTBIN)/content-check: tests/systemd/content_check.c client/uffd/client.h $(BUILD)/libuffdclient.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libuffdclient.a $(LDFLAGS) -lpthread

# The client of an image across a restart, crash or stop (t-images.sh).
$(SYSTEMD_TESTBIN)/image-check: tests/systemd/image_check.c client/uffd/client.h $(BUILD)/libuffdclient.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libuffdclient.a $(LDFLAGS) -lpthread

# A client that holds a large (sparse) eager region (t-bounds.sh).
$(SYSTEMD_TESTBIN)/eager-client: tests/systemd/eager_client.c client/uffd/client.h $(BUILD)/libuffdclient.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libuffdclient.a $(LDFLAGS) -lpthread

# What a user would do: install into a staging root, with PREFIX=/usr like a
# distribution package; the tests unpack it inside the container.
systemd-stage: $(BUILD)/uffdd $(BUILD)/uffdctl $(BUILD)/uffd-touch $(BUILD)/libuffdclient.a
	rm -rf $(SYSTEMD_STAGE)
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(SYSTEMD_STAGE)) PREFIX=/usr

check-systemd: systemd-stage $(SYSTEMD_TESTBIN)/fault-loop \
		$(SYSTEMD_TESTBIN)/content-check $(SYSTEMD_TESTBIN)/eager-client \
		$(SYSTEMD_TESTBIN)/image-check
	tests/systemd/run.sh --stage $(SYSTEMD_STAGE) --testbin $(SYSTEMD_TESTBIN) \
		--logdir $(SYSTEMD_LOGS) $(SYSTEMD_TESTS)

systemd-security:
	systemd-analyze verify --man=no $(SYSTEMD_UNITS) 2>&1 | \
		grep -v 'Command /usr/sbin/uffdd is not executable' || true
	systemd-analyze security --offline=true --no-pager systemd/uffdd.service | \
		grep -E '^✗|exposure level'
