# install.mk: where an install puts things, the client library's versions,
# install and uninstall, and the checks that prove them.  Included by the
# top-level Makefile once BUILD is set.
#
#   make install [PREFIX=/usr/local] [DESTDIR=DIR]
#   make uninstall [PREFIX=...] [DESTDIR=DIR]   removes every file install put
#   make check-install     a DESTDIR install then uninstall leaves nothing;
#                          a PREFIX=/usr install after a /usr/local build
#                          gives a uffd-run that finds its library
#   make check-man         mandoc -Tlint on every page; each program's
#                          --help options and commands against its page
#   make check-docs        the README's C example compiles and runs; the
#                          example configuration passes --check-config
#   make check-ctl         uffdctl (summary, JSON, top, metrics parsed by
#                          prometheus_client, exit codes, errors), reload,
#                          --dump-config, log dates, bash completion
#   make deb               the Debian packages, in $(BUILD)/deb
#   make check-deb         lintian, then apt-get install, test under a real
#                          systemd, purge (tests/deb, tests/systemd/in/t-deb.sh)

_install_saved_goal := $(.DEFAULT_GOAL)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
# libuffdpreload.so is loaded by path by uffd-run, never linked against:
# it lives in a directory of its own, not in the linker's libdir.
PKGLIBDIR ?= $(LIBDIR)/uffdd
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/uffdd
# bash-completion looks in every $XDG_DATA_DIRS/bash-completion/completions.
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
SYSCONFDIR ?= /etc
DESTDIR ?=

# systemd 252 and its udev look under /usr/local/lib as well as /usr/lib
# (`systemd-analyze unit-paths`; sysusers.d, tmpfiles.d, sysctl.d and
# udev/rules.d are searched in /etc, /run, /usr/local/lib and /usr/lib), so a
# /usr/local install stays out of the package manager's directories and is
# still found.  The distribution's directories (pkg-config's answers:
# /lib/systemd/system and /lib/udev on Debian 12) are for PREFIX=/usr.  Any
# other PREFIX is found by nothing: see README.md, "Running it as a service".
ifeq ($(PREFIX),/usr)
SYSTEMD_UNITDIR ?= $(or $(shell pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null),/lib/systemd/system)
SYSUSERS_DIR ?= $(or $(shell pkg-config --variable=sysusersdir systemd 2>/dev/null),/usr/lib/sysusers.d)
TMPFILES_DIR ?= $(or $(shell pkg-config --variable=tmpfilesdir systemd 2>/dev/null),/usr/lib/tmpfiles.d)
SYSCTL_DIR ?= $(or $(shell pkg-config --variable=sysctldir systemd 2>/dev/null),/usr/lib/sysctl.d)
UDEV_RULES_DIR ?= $(or $(shell pkg-config --variable=udevdir udev 2>/dev/null),/lib/udev)/rules.d
else
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERS_DIR ?= $(PREFIX)/lib/sysusers.d
TMPFILES_DIR ?= $(PREFIX)/lib/tmpfiles.d
SYSCTL_DIR ?= $(PREFIX)/lib/sysctl.d
UDEV_RULES_DIR ?= $(PREFIX)/lib/udev/rules.d
endif

# The client library's version is the header's UFFD_CLIENT_VERSION.  The
# soname follows the major number; each minor that adds symbols adds a node
# UFFDCLIENT_MAJOR.MINOR to client/libuffdclient.map (check-install checks
# that the newest node is this version's).
LIB_VERSION := $(shell sed -n 's/^.define UFFD_CLIENT_VERSION[ \t]*"\(.*\)"/\1/p' client/uffd/client.h)
ifeq ($(LIB_VERSION),)
$(error no UFFD_CLIENT_VERSION "X.Y.Z" in client/uffd/client.h)
endif
LIB_MAJOR := $(word 1,$(subst ., ,$(LIB_VERSION)))
LIB_SONAME := libuffdclient.so.$(LIB_MAJOR)
LIB_REALNAME := libuffdclient.so.$(LIB_VERSION)

# uffd-run has the preload library's directory compiled in: this stamp
# changes with PKGLIBDIR, so that `make install PREFIX=/usr` after a build
# for /usr/local rebuilds uffd-run instead of installing a stale one.
PKGLIBDIR_STAMP := $(BUILD)/pkglibdir.stamp
$(PKGLIBDIR_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(PKGLIBDIR)' | cmp -s - $@ || echo '$(PKGLIBDIR)' >$@

.PHONY: FORCE
FORCE:

# Man pages (docs/man, mdoc(7), checked by mandoc -Tlint: check-man).  A
# section 3 page describes a group of functions: every other name in its
# NAME section gets a .so link to it.
MAN_PAGES := $(wildcard docs/man/*.[1-8])
MAN3_LINKS := $(shell awk 'FNR == 1 { p = FILENAME; sub(/.*\//, "", p); sub(/\.3$$/, "", p) } \
	/^\.Sh / { name = ($$2 == "NAME") } \
	name && $$1 == ".Nm" && $$2 != p { print $$2 ":" p }' $(wildcard docs/man/*.3))

# The README's library example as a file: check-docs compiles it, install
# ships it, the Debian test builds it against the installed package.
EXAMPLE_C := $(BUILD)/uffd-example.c
$(EXAMPLE_C): README.md tools/readme-example.sh
	@mkdir -p $(@D)
	sh tools/readme-example.sh README.md >$@

# What install puts, relative to DESTDIR; uninstall removes exactly these.
INSTALLED_FILES = $(SBINDIR)/uffdd \
	$(BINDIR)/uffdctl $(BINDIR)/uffd-touch $(BINDIR)/uffd-run \
	$(BASHCOMPDIR)/uffdctl \
	$(PKGLIBDIR)/libuffdpreload.so \
	$(LIBDIR)/libuffdclient.a $(LIBDIR)/$(LIB_REALNAME) $(LIBDIR)/$(LIB_SONAME) \
	$(LIBDIR)/libuffdclient.so $(INCLUDEDIR)/uffd/client.h \
	$(PKGCONFIGDIR)/libuffdclient.pc \
	$(addprefix $(SYSTEMD_UNITDIR)/,$(notdir $(SYSTEMD_UNITS))) \
	$(SYSUSERS_DIR)/uffdd.conf $(TMPFILES_DIR)/uffdd.conf \
	$(SYSCTL_DIR)/60-uffdd.conf $(UDEV_RULES_DIR)/60-uffdd.rules \
	$(foreach p,$(MAN_PAGES),$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p))) \
	$(foreach l,$(MAN3_LINKS),$(MANDIR)/man3/$(word 1,$(subst :, ,$(l))).3) \
	$(DOCDIR)/examples/uffdd.json $(DOCDIR)/examples/uffd-example.c \
	$(addprefix $(DOCDIR)/,$(notdir $(DOC_FILES))) $(DOCDIR)/README.systemd.md
# Directories that only uffdd puts things in: uninstall removes them when
# they are empty.
INSTALLED_DIRS = $(INCLUDEDIR)/uffd $(PKGLIBDIR) $(DOCDIR)/examples $(DOCDIR)

SYSTEMD_UNITS := systemd/uffdd.service systemd/uffdd.socket systemd/uffdd-control.socket \
	systemd/uffdd-metrics.service systemd/uffdd-metrics.timer

.PHONY: programs install install-programs install-lib install-preload \
	install-systemd install-man install-doc uninstall

# What install needs built (not the tests).
programs: $(BUILD)/uffdd $(BUILD)/uffdctl $(BUILD)/uffd-touch \
	  $(BUILD)/libuffdclient.a $(BUILD)/$(LIB_REALNAME) $(BUILD)/$(LIB_SONAME) \
	  $(BUILD)/libuffdclient.so preload

install: install-programs install-lib install-preload install-systemd \
	 install-man install-doc

install-programs: programs
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(BUILD)/uffdd $(DESTDIR)$(SBINDIR)/uffdd
	install -m 0755 $(BUILD)/uffdctl $(BUILD)/uffd-touch $(DESTDIR)$(BINDIR)/
	install -m 0644 uffdd/ctl/uffdctl.bash $(DESTDIR)$(BASHCOMPDIR)/uffdctl

install-lib: programs
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/uffd $(DESTDIR)$(PKGCONFIGDIR)
	install -m 0644 $(BUILD)/libuffdclient.a $(DESTDIR)$(LIBDIR)/
	install -m 0644 $(BUILD)/$(LIB_REALNAME) $(DESTDIR)$(LIBDIR)/
	ln -sf $(LIB_REALNAME) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libuffdclient.so
	install -m 0644 client/uffd/client.h $(DESTDIR)$(INCLUDEDIR)/uffd/client.h
	# Made here, not at build time, so that it names this PREFIX.
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(LIB_VERSION)|' \
	    client/libuffdclient.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/libuffdclient.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/libuffdclient.pc

install-preload: programs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGLIBDIR)
	install -m 0755 $(UFFD_RUN) $(DESTDIR)$(BINDIR)/uffd-run
	install -m 0644 $(PRELOAD_SO) $(DESTDIR)$(PKGLIBDIR)/libuffdpreload.so

# The units name /usr/sbin/uffdd and /usr/bin/uffdctl; installed
# elsewhere, they follow SBINDIR and BINDIR.
install-systemd:
	install -d $(DESTDIR)$(SYSTEMD_UNITDIR) $(DESTDIR)$(SYSUSERS_DIR) \
		$(DESTDIR)$(TMPFILES_DIR) $(DESTDIR)$(SYSCTL_DIR) $(DESTDIR)$(UDEV_RULES_DIR)
	for u in $(SYSTEMD_UNITS); do \
		sed -e 's|/usr/sbin/uffdd|$(SBINDIR)/uffdd|g' \
		    -e 's|/usr/bin/uffdctl|$(BINDIR)/uffdctl|g' $$u >$(DESTDIR)$(SYSTEMD_UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(SYSTEMD_UNITDIR)/$${u##*/} || exit 1; \
	done
	install -m 0644 systemd/uffdd.sysusers.conf $(DESTDIR)$(SYSUSERS_DIR)/uffdd.conf
	install -m 0644 systemd/uffdd.tmpfiles.conf $(DESTDIR)$(TMPFILES_DIR)/uffdd.conf
	install -m 0644 systemd/60-uffdd.sysctl.conf $(DESTDIR)$(SYSCTL_DIR)/60-uffdd.conf
	install -m 0644 systemd/60-uffdd.rules $(DESTDIR)$(UDEV_RULES_DIR)/60-uffdd.rules

install-man:
	for p in $(MAN_PAGES); do \
		d=$(DESTDIR)$(MANDIR)/man$${p##*.}; \
		install -d $$d && install -m 0644 $$p $$d/ || exit 1; \
	done
	for l in $(MAN3_LINKS); do \
		echo ".so man3/$${l#*:}.3" >$(DESTDIR)$(MANDIR)/man3/$${l%%:*}.3 || exit 1; \
	done

# The documents, beside the man pages (which point to policies.md).
DOC_FILES := README.md SECURITY.md CHANGELOG.md docs/policies.md docs/uffd-run.md

install-doc: $(EXAMPLE_C)
	install -d $(DESTDIR)$(DOCDIR)/examples
	install -m 0644 docs/examples/uffdd.json $(EXAMPLE_C) $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 $(DOC_FILES) $(DESTDIR)$(DOCDIR)/
	install -m 0644 systemd/README.md $(DESTDIR)$(DOCDIR)/README.systemd.md

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED_FILES))
	for d in $(addprefix $(DESTDIR),$(INSTALLED_DIRS)); do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d; \
	done

# Checks ----------------------------------------------------------------------
.PHONY: check-install check-man check-docs check-ctl

check-install: programs
	SANITIZE=$(SANITIZE) sh tests/install/check-install.sh $(BUILD)

check-man: programs
	@sh tools/deps.sh mandoc
	sh tests/install/check-man.sh $(BUILD)

check-docs: programs $(EXAMPLE_C)
	SANITIZE=$(SANITIZE) sh tests/install/check-docs.sh $(BUILD) $(EXAMPLE_C)

# Debian packages (debian/), built in a copy of the tree under $(DEB_OUT);
# check-deb: lintian, then install, use and purge them under a real systemd.
DEB_OUT := $(BUILD)/deb
.PHONY: deb check-deb
deb:
	bash tests/deb/build.sh $(DEB_OUT)

check-deb: deb
	bash tests/deb/check.sh $(DEB_OUT)

# uffdctl and the daemon's administrative side (tests/ctl/check-ctl.sh).
check-ctl: programs $(BUILD)/tests/systemd/fault-loop
	sh tests/ctl/check-ctl.sh $(BUILD)

# Part of `make check` (before the test binaries; each stops it on failure).
check: check-install check-man check-docs check-ctl

.DEFAULT_GOAL := $(_install_saved_goal)
