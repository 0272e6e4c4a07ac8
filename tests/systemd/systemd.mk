# systemd units and the real-systemd tests.  Included by the top-level
# Makefile (include tests/systemd/systemd.mk); uses its BUILD, CC, CPPFLAGS, CFLAGS,
# PREFIX and DESTDIR.
#
#   make install-systemd [DESTDIR=...] [PREFIX=...]
#       units, sysusers.d, tmpfiles.d, udev rule and sysctl.d snippet, where
#       `pkg-config systemd` / `pkg-config udev` say they go.
#   make check-systemd [SYSTEMD_TESTS="activation reload ..."]
#       boots a real systemd (systemd-nspawn, cached Debian root under
#       /var/cache/uffdd/), installs into it the way a user would, runs
#       tests/systemd/in/t-*.sh.  Root only.
#   make systemd-security
#       the units' `systemd-analyze verify` and exposure score (no root).

BUILD ?= build
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin

# Fallbacks are Debian's; pkg-config answers on any systemd distribution.
SYSTEMD_UNITDIR ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
SYSUSERS_DIR ?= $(or $(shell pkg-config --variable=sysusersdir systemd 2>/dev/null),/usr/lib/sysusers.d)
TMPFILES_DIR ?= $(or $(shell pkg-config --variable=tmpfilesdir systemd 2>/dev/null),/usr/lib/tmpfiles.d)
SYSCTL_DIR ?= $(or $(shell pkg-config --variable=sysctldir systemd 2>/dev/null),/usr/lib/sysctl.d)
UDEV_RULES_DIR ?= $(or $(shell pkg-config --variable=udevdir udev 2>/dev/null),/usr/lib/udev)/rules.d

SYSTEMD_UNITS := systemd/uffdd.service systemd/uffdd.socket systemd/uffdd-control.socket
SYSTEMD_STAGE := $(BUILD)/systemd-stage
SYSTEMD_TESTBIN := $(BUILD)/tests/systemd
SYSTEMD_LOGS := $(BUILD)/systemd-logs
SYSTEMD_TESTS ?=

.PHONY: install-systemd check-systemd systemd-security systemd-stage

# The units name /usr/sbin/uffdd; installed elsewhere, they follow SBINDIR.
install-systemd:
	install -d $(DESTDIR)$(SYSTEMD_UNITDIR) $(DESTDIR)$(SYSUSERS_DIR) \
		$(DESTDIR)$(TMPFILES_DIR) $(DESTDIR)$(SYSCTL_DIR) $(DESTDIR)$(UDEV_RULES_DIR)
	for u in $(SYSTEMD_UNITS); do \
		sed 's|/usr/sbin/uffdd|$(SBINDIR)/uffdd|g' $$u >$(DESTDIR)$(SYSTEMD_UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(SYSTEMD_UNITDIR)/$${u##*/} || exit 1; \
	done
	install -m 0644 systemd/uffdd.sysusers.conf $(DESTDIR)$(SYSUSERS_DIR)/uffdd.conf
	install -m 0644 systemd/uffdd.tmpfiles.conf $(DESTDIR)$(TMPFILES_DIR)/uffdd.conf
	install -m 0644 systemd/60-uffdd.sysctl.conf $(DESTDIR)$(SYSCTL_DIR)/60-uffdd.conf
	install -m 0644 systemd/60-uffdd.rules $(DESTDIR)$(UDEV_RULES_DIR)/60-uffdd.rules

# The client that faults in a loop while the daemon restarts under it.
$(SYSTEMD_TESTBIN)/fault-loop: tests/systemd/fault_loop.c client/uffd/client.h $(BUILD)/libuffdclient.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libuffdclient.a $(LDFLAGS) -lpthread

# The client of populate and gate regions across a restart, crash or stop.
$(SYSTEMD_TESTBIN)/content-check: tests/systemd/content_check.c client/uffd/client.h $(BUILD)/libuffdclient.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(BUILD)/libuffdclient.a $(LDFLAGS) -lpthread

# What a user would do: install into a staging root, with PREFIX=/usr like a
# distribution package; the tests unpack it inside the container.
systemd-stage: $(BUILD)/uffdd $(BUILD)/uffdctl $(BUILD)/uffd-touch $(BUILD)/libuffdclient.a
	rm -rf $(SYSTEMD_STAGE)
	$(MAKE) --no-print-directory install install-systemd DESTDIR=$(abspath $(SYSTEMD_STAGE)) PREFIX=/usr

check-systemd: systemd-stage $(SYSTEMD_TESTBIN)/fault-loop $(SYSTEMD_TESTBIN)/content-check
	tests/systemd/run.sh --stage $(SYSTEMD_STAGE) --testbin $(SYSTEMD_TESTBIN) \
		--logdir $(SYSTEMD_LOGS) $(SYSTEMD_TESTS)

systemd-security:
	systemd-analyze verify --man=no $(SYSTEMD_UNITS) 2>&1 | \
		grep -v 'Command /usr/sbin/uffdd is not executable' || true
	systemd-analyze security --offline=true --no-pager systemd/uffdd.service | \
		grep -E '^✗|exposure level'
