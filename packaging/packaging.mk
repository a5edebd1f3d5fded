# packaging.mk: man pages, installation and the Debian package (included by the Makefile).
#
#   make man             render docs/man/*.scd (scdoc) into $(BUILDDIR)/man/manN/
#   make install         install into $(DESTDIR)$(PREFIX) (default /usr/local) and /etc
#   make deb             $(BUILDDIR)/deb/guardlet_VERSION_ARCH.deb from the working tree
#   make check-package   build the package twice, lint it, install, upgrade and purge it in a
#                        scratch root (tests/package/)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
# guardlet's default config path is /etc/guardlet/guardlet.conf whatever the prefix.
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
CATALOGDIR ?= $(PREFIX)/lib/systemd/catalog
SCDOC ?= scdoc

MAN_SRCS := $(sort $(wildcard docs/man/*.scd))
MAN_PAGES := $(foreach s,$(MAN_SRCS:docs/man/%.scd=%),$(BUILDDIR)/man/man$(subst .,,$(suffix $(s)))/$(s))

VERSION := $(shell sed -n 's/^\#define GL_VERSION "\(.*\)"$$/\1/p' include/guardlet/version.h)
DEB_VERSION ?= $(VERSION)
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null)
# Exactly what `make deb` leaves (others, such as the e2e VM, install this file).
DEB_FILE := $(BUILDDIR)/deb/guardlet_$(DEB_VERSION)_$(DEB_ARCH).deb

.PHONY: man install deb check-package

man: $(MAN_PAGES)

# scdoc marks paragraphs where none is needed; tidy.awk drops those so mandoc -Tlint is quiet.
define man_rule
$(BUILDDIR)/man/man$(subst .,,$(suffix $(1)))/$(1): docs/man/$(1).scd docs/man/tidy.awk
	@mkdir -p $$(dir $$@)
	$(SCDOC) < $$< | awk -f docs/man/tidy.awk > $$@.tmp && mv $$@.tmp $$@
endef
$(foreach s,$(MAN_SRCS:docs/man/%.scd=%),$(eval $(call man_rule,$(s))))

# The unit names /usr/sbin/guardlet; another SBINDIR is written into the installed copy. An
# existing configuration file is never overwritten.
install: all man
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CATALOGDIR) \
		$(DESTDIR)$(SYSCONFDIR)/guardlet/guardlet.conf.d
	install -m 0755 $(BUILDDIR)/guardlet $(DESTDIR)$(SBINDIR)/guardlet
	install -m 0755 $(BUILDDIR)/guardletctl $(DESTDIR)$(BINDIR)/guardletctl
	for p in $(MAN_PAGES); do \
		d=$(DESTDIR)$(MANDIR)/$$(basename $$(dirname $$p)); \
		install -d $$d && install -m 0644 $$p $$d/ || exit 1; \
	done
	sed 's|^ExecStart=/usr/sbin/guardlet|ExecStart=$(SBINDIR)/guardlet|' systemd/guardlet.service \
		> $(DESTDIR)$(UNITDIR)/guardlet.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/guardlet.service
	install -m 0644 systemd/guardlet.catalog $(DESTDIR)$(CATALOGDIR)/guardlet.catalog
	test -e $(DESTDIR)$(SYSCONFDIR)/guardlet/guardlet.conf || \
		install -m 0644 packaging/guardlet.conf $(DESTDIR)$(SYSCONFDIR)/guardlet/guardlet.conf

deb:
	packaging/build-deb.sh $(BUILDDIR) $(DEB_VERSION)
	test -f $(DEB_FILE)

# Slow (two package builds): run once in check-all, not again under ASan and valgrind.
check-package: all man
	GUARDLET_BUILDDIR=$(abspath $(BUILDDIR)) $(PYTHON) -m unittest discover -s tests/package -p 'test_*.py' -v
