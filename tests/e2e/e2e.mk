# e2e.mk: the end-to-end suite in a Debian 12 VM (included by the Makefile; see tests/e2e/run.py).
#
#   make e2e         build the .deb (make deb), boot the cached VM image under QEMU, install the package,
#                    run the scenarios; one PASS/FAIL line each. Skips (exit 0, with the reason) where the
#                    machine cannot run it: no qemu-system-x86_64 or mmdebstrap, not root, or no image cached
#                    and the Debian archive unreachable. The image is built once into $(E2E_CACHE).
#   make bench-e2e   the peers bench in the same VM: guardlet against earlyoom and systemd-oomd
#   E2E_ARGS=...     extra run.py options, e.g. E2E_ARGS="--only 1,7"

E2E_CACHE ?= /var/cache/guardlet-e2e
E2E_ARGS ?=
E2E_RUN = GUARDLET_E2E_CACHE=$(E2E_CACHE) $(PYTHON) tests/e2e/run.py --out $(BUILDDIR)/e2e \
	--deb "$$(ls -t $(BUILDDIR)/deb/guardlet_*.deb | head -n1)"

.PHONY: e2e bench-e2e

# One shell per target so that a skip (exit 77 from the check) ends the target with 0.
e2e:
	@if GUARDLET_E2E_CACHE=$(E2E_CACHE) tests/e2e/build-image.sh --check; then \
		$(MAKE) --no-print-directory deb && $(E2E_RUN) $(E2E_ARGS); \
	else rc=$$?; [ $$rc -eq 77 ] || exit $$rc; fi

bench-e2e:
	@if GUARDLET_E2E_CACHE=$(E2E_CACHE) tests/e2e/build-image.sh --check; then \
		$(MAKE) --no-print-directory deb && $(E2E_RUN) --bench-only $(E2E_ARGS); \
	else rc=$$?; [ $$rc -eq 77 ] || exit $$rc; fi
