# SPDX-License-Identifier: GPL-2.0-or-later
# ztseg — one non-recursive GNU Makefile.
#   make                 build ztsegd, ztsegctl and libztseg.a into build/
#   make check           unit tests, CLI tests (and, as root, kernel tests)
#   make check ASAN=1    the same under AddressSanitizer + UBSan (build-asan/)
#   make fuzz            build and run the libFuzzer harnesses (clang)
#   make install         honours DESTDIR, PREFIX, SYSCONFDIR
#   make deb             the Debian package, into build-deb/ (debian/)
#   V=1                  show the commands

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/ztseg
SYSCONFDIR ?= /etc
DESTDIR ?=

PKG_CONFIG ?= pkg-config
PKGS := libnftnl libmnl yaml-0.1 libsystemd jansson nettle
CHECK_PKGS := check
# Only ztsegctl links libcurl (`ztsegctl feeds fetch`): the privileged daemon never fetches.
CURL_PKGS := libcurl

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	-Wpointer-arith -Wformat=2 -Wno-unused-parameter
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Ilib $(WARNINGS) -MMD -MP \
	$(shell $(PKG_CONFIG) --cflags $(PKGS))
LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS)) -lm -pthread
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(CHECK_PKGS))
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs $(CHECK_PKGS))
CURL_LIBS := $(shell $(PKG_CONFIG) --libs $(CURL_PKGS))

ifeq ($(ASAN),1)
B ?= build-asan
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
B ?= build
SAN :=
endif

ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-7s %s\n' $(1) $(2)
endif

ALL_CFLAGS = $(BASE_CFLAGS) $(SAN) $(CFLAGS)
ALL_LDFLAGS = $(SAN) $(LDFLAGS)

LIB_SRCS := $(sort $(wildcard lib/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
LIBZTSEG := $(B)/libztseg.a

CTL_SRCS := $(sort $(wildcard daemon/ztsegctl*.c))
D_SRCS := $(sort $(wildcard daemon/ztsegd*.c))
PROGS := $(B)/ztsegctl $(if $(D_SRCS),$(B)/ztsegd)

UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)

# Traffic generators for the network-namespace tests (tests/netns/).
NETNS_SRCS := $(sort $(wildcard tests/netns/zt-*.c))
NETNS_BINS := $(NETNS_SRCS:tests/netns/%.c=$(B)/tests/%)

all: $(PROGS) $(LIBZTSEG) $(NETNS_BINS)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(call quiet,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBZTSEG): $(LIB_OBJS)
	$(call quiet,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/ztsegctl: $(CTL_SRCS:%.c=$(B)/%.o) $(LIBZTSEG)
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(CURL_LIBS)

$(B)/ztsegd: $(D_SRCS:%.c=$(B)/%.o) $(LIBZTSEG)
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(call quiet,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itests/unit -c -o $@ $<

$(B)/tests/test-%: $(B)/tests/test-%.o $(LIBZTSEG)
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LIBS)

$(B)/tests/zt-%: tests/netns/zt-%.c
	@mkdir -p $(@D)
	$(call quiet,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

# The rtnetlink watcher of tests/netns/rtnl.sh drives the library itself.
$(B)/tests/zt-rtnl-watch: tests/netns/zt-rtnl-watch.c $(LIBZTSEG)
	@mkdir -p $(@D)
	$(call quiet,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBZTSEG) $(LIBS)

unit: $(UNIT_BINS)

# Unit tests run with CK_FORK=no under sanitizers so that leaks are caught.
check-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do \
		echo "== $$t"; CK_FORK=$(if $(SAN),no,yes) $$t; done

# Every unit test under valgrind (memcheck), also as a leak check with the
# plain build; the "slow" scale cases stay with ASan, valgrind would take minutes.
VALGRIND ?= valgrind
check-valgrind: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do \
		echo "== valgrind $$t"; \
		CK_FORK=no CK_EXCLUDE_TAGS=slow $(VALGRIND) -q --error-exitcode=99 \
			--suppressions=tests/unit/valgrind.supp \
			--leak-check=full --errors-for-leak-kinds=definite,indirect $$t; done

# A CLI test exits 77 when it cannot run here (say, nft needs root): skipped.
check-cli: $(PROGS)
	@set -e; for t in $(sort $(wildcard tests/cli/*.sh)); do \
		echo "== $$t"; rc=0; ZTSEG_BUILD=$(B) bash $$t || rc=$$?; \
		[ $$rc -eq 0 ] || [ $$rc -eq 77 ] || exit $$rc; done

# Rewrite tests/golden/*.nft from the current compiler, on purpose: review the diff.
golden: $(PROGS)
	@ZTSEG_BUILD=$(B) bash tests/cli/golden.sh --update

check: check-unit check-cli

# Kernel tests in network namespaces they make themselves (root only); 77 is a skip.
check-netns: $(PROGS) $(NETNS_BINS)
	@set -e; for t in $(sort $(wildcard tests/netns/*.sh)); do \
		echo "== $$t"; s=$$(date +%s); rc=0; ZTSEG_BUILD=$(B) bash $$t || rc=$$?; \
		echo "== $$t: exit $$rc after $$(($$(date +%s) - s)) s"; \
		[ $$rc -eq 0 ] || [ $$rc -eq 77 ] || exit $$rc; done

# The kernel tests drive the programs from outside; running them once, with the
# plain build, is enough (the sanitizer build covers the same code in-process).
ifeq ($(shell id -u),0)
ifneq ($(ASAN),1)
check: check-netns
endif
endif

.PHONY: check-netns

# Benchmarks (root, about 17 minutes): bench/run.sh and bench/flowlog.sh, results in bench/RESULTS.md.
BENCH_BINS := $(B)/bench/zb-tool $(B)/bench/zb-feedcommit

$(B)/bench/zb-%: bench/zb-%.c
	@mkdir -p $(@D)
	$(call quiet,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBS)

bench: $(PROGS) $(NETNS_BINS) $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) bash bench/run.sh
	@ZTSEG_BUILD=$(B) bash bench/flowlog.sh
	@ZTSEG_BUILD=$(B) bash bench/flood.sh
	@ZTSEG_BUILD=$(B) bash bench/feeds.sh
	@ZTSEG_BUILD=$(B) bash bench/units.sh
	@ZTSEG_BUILD=$(B) bash bench/ctindex.sh
	@ZTSEG_BUILD=$(B) bash bench/anomaly.sh
	@ZTSEG_BUILD=$(B) bash bench/bridge.sh

# Learned baselines (root, about 12 minutes): false positives over 10 minutes of steady traffic, the daemon's CPU.
bench-anomaly: $(PROGS) $(NETNS_BINS)
	@ZTSEG_BUILD=$(B) bash bench/anomaly.sh

# Bridged workloads (root, about 2 minutes): bench/bridge.sh, its section of bench/RESULTS.md.
bench-bridge: $(PROGS) $(NETNS_BINS) $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) bash bench/bridge.sh

# Flood limits alone (root, about a minute): bench/flood.sh, its section of bench/RESULTS.md.
bench-flood: $(PROGS) $(NETNS_BINS) $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) bash bench/flood.sh

# Threat feeds at a million entries (root, several minutes): bench/feeds.sh.
bench-feeds: $(PROGS) $(NETNS_BINS) $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) bash bench/feeds.sh
	@ZTSEG_BUILD=$(B) bash bench/units.sh

# The per-packet cost of a change, against the build in ZB_BASE (bench/compare.sh).
bench-compare: $(PROGS) $(NETNS_BINS) $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) ZB_BASE=$(ZB_BASE) bash bench/compare.sh

# Moves with connections open, with 100,000 unrelated conntrack entries, the connection index
# on and off (root, ~2 min): bench/moves.sh.
bench-moves: $(PROGS) $(NETNS_BINS) $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) bash bench/moves.sh

# Just-in-time grants at scale (root, a few minutes): bench/grants.sh.
bench-grants: $(PROGS) $(NETNS_BINS) $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) bash bench/grants.sh

# The connection log's cost (root, a few minutes): bench/flowlog.sh.
bench-flowlog: $(PROGS) $(NETNS_BINS) $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) bash bench/flowlog.sh

# The connection index's cost on the new-connection rate (root, a few minutes): bench/ctindex.sh.
bench-ctindex: $(PROGS) $(NETNS_BINS) $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) bash bench/ctindex.sh

# Unit zones at scale (root, cgroup2, about 6 minutes: 15 paired rounds): bench/units.sh.
bench-units: $(PROGS) $(NETNS_BINS) $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) bash bench/units.sh

# A full apply against its element floor, and the daemon's RSS with the same policy (root, ~2 minutes at 10,000 segments): bench/floor.sh.
bench-floor: $(PROGS)
	@ZTSEG_BUILD=$(B) bash bench/floor.sh

# What one commit of feed elements costs the kernel (root, a few minutes): bench/feed-commit.sh.
bench-feed-commit: $(BENCH_BINS)
	@ZTSEG_BUILD=$(B) bash bench/feed-commit.sh

.PHONY: bench bench-floor bench-anomaly bench-compare bench-grants bench-moves bench-flood bench-flowlog bench-units bench-feeds bench-feed-commit bench-ctindex bench-bridge

# Fuzzing (clang's libFuzzer); FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-std=gnu11 -D_GNU_SOURCE -Ilib $(shell $(PKG_CONFIG) --cflags $(PKGS))

build-fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(wildcard lib/*.h)
	@mkdir -p $(@D)
	$(call quiet,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(LIB_SRCS) $(LIBS)

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
		mkdir -p build-fuzz/corpus-$$n; \
		echo "== $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
			-print_final_stats=1 build-fuzz/corpus-$$n tests/fuzz/corpus-$$n; \
	done

clean:
	rm -rf build build-asan build-fuzz build-deb

# The Debian package (debian/), built in a copy of this tree (without .git
# and the build directories) so that debian/rules clean touches nothing
# here: build-deb/ztseg_*.deb. Needs the Build-Depends of debian/control.
DEBDIR ?= build-deb
deb:
	$(call quiet,DEB,$(DEBDIR))
	$(Q)rm -rf $(DEBDIR)/src $(DEBDIR)/ztseg_* $(DEBDIR)/ztseg-dbgsym_* && mkdir -p $(DEBDIR)/src
	$(Q)tar -cf - --anchored --exclude=./.git --exclude=./build --exclude='./build-*' \
		--exclude=./$(DEBDIR) . | tar -xf - -C $(DEBDIR)/src
	$(Q)cd $(DEBDIR)/src && dpkg-buildpackage -us -uc -b $(DEBFLAGS)
	@ls $(DEBDIR)/*.deb

.PHONY: deb


.PHONY: check-valgrind
.PHONY: all unit check check-unit check-cli golden fuzz fuzz-build clean

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------------------
# install / uninstall: the programs, the systemd service and its companions,
# man pages, bash completion, the example policy and a first policy.
#
#   make install [DESTDIR=/stage] [PREFIX=/usr] [SYSCONFDIR=/etc] ...
#   make uninstall (the same variables)
#
# The systemd directories are the ones this host's systemd reads (pkg-config),
# falling back to Debian's. Any of them may be set on the command line. The
# unit names /usr/sbin, /usr/bin and /etc: they are rewritten here to the
# paths actually installed to. $(SYSCONFDIR)/ztseg/ztseg.yaml is installed
# only if there is none, and uninstall leaves it (and its directory) alone.
# Without DESTDIR, install also creates the ztseg user and groups and makes
# a running systemd re-read its units; uninstall stops and disables ztsegd
# first (its rules stay in the kernel: fail closed).

pkgvar = $(or $(shell $(PKG_CONFIG) --variable=$(1) $(2) 2>/dev/null),$(3))
UNITDIR ?= $(call pkgvar,systemdsystemunitdir,systemd,/lib/systemd/system)
SYSUSERSDIR ?= $(call pkgvar,sysusersdir,systemd,/usr/lib/sysusers.d)
TMPFILESDIR ?= $(call pkgvar,tmpfilesdir,systemd,/usr/lib/tmpfiles.d)
MODULESLOADDIR ?= $(call pkgvar,modulesloaddir,systemd,/usr/lib/modules-load.d)
COMPLETIONSDIR ?= $(call pkgvar,completionsdir,bash-completion,/usr/share/bash-completion/completions)

INSTALL ?= install
MAN_PAGES := $(sort $(wildcard man/*.[1-9]))
EXAMPLES := $(sort $(wildcard policy/*.yaml))
EXAMPLES_SEG := $(sort $(wildcard policy/segments.d/*.yaml))

# Shipped files that name an installation path, rewritten on the way out.
install_subst = sed -e 's|/usr/sbin/ztsegd|$(SBINDIR)/ztsegd|g' \
	-e 's|/usr/bin/ztsegctl|$(BINDIR)/ztsegctl|g' \
	-e 's|/usr/share/doc/ztseg|$(DOCDIR)|g' \
	-e 's|/etc/ztseg|$(SYSCONFDIR)/ztseg|g'
INSTALL_GEN := $(B)/install/ztsegd.service $(B)/install/ztseg-metrics@.service $(B)/install/ztseg-feeds.service \
	$(B)/install/ztseg.tmpfiles \
	$(B)/install/ztseg.yaml $(B)/install/ztsegctl.completion

# The rewrite depends on the paths: regenerate whenever they change.
$(B)/install/paths: FORCE
	@mkdir -p $(@D)
	@echo '$(SBINDIR) $(BINDIR) $(DOCDIR) $(SYSCONFDIR)' | cmp -s - $@ || \
		echo '$(SBINDIR) $(BINDIR) $(DOCDIR) $(SYSCONFDIR)' >$@

$(B)/install/%: systemd/% $(B)/install/paths
	$(call quiet,GEN,$@)
	$(Q)$(install_subst) $< >$@

$(B)/install/ztseg.yaml: etc/ztseg/ztseg.yaml $(B)/install/paths
	$(call quiet,GEN,$@)
	$(Q)$(install_subst) $< >$@

$(B)/install/ztsegctl.completion: completion/ztsegctl $(B)/install/paths
	$(call quiet,GEN,$@)
	$(Q)$(install_subst) $< >$@

install: $(PROGS) $(INSTALL_GEN)
	$(call quiet,INSTALL,$(or $(DESTDIR),/))
	$(Q)$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(MODULESLOADDIR) $(DESTDIR)$(COMPLETIONSDIR) \
		$(DESTDIR)$(DOCDIR)/examples/segments.d \
		$(sort $(foreach p,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))))
	$(Q)$(INSTALL) -m 0755 $(B)/ztsegctl $(DESTDIR)$(BINDIR)/ztsegctl
	$(Q)$(if $(D_SRCS),$(INSTALL) -d $(DESTDIR)$(SBINDIR) && \
		$(INSTALL) -m 0755 $(B)/ztsegd $(DESTDIR)$(SBINDIR)/ztsegd,:)
	$(Q)$(INSTALL) -m 0644 $(B)/install/ztsegd.service $(DESTDIR)$(UNITDIR)/ztsegd.service
	@# The metrics socket and its service: installed, never enabled here (ztsegctl(8), METRICS).
	$(Q)$(INSTALL) -m 0644 systemd/ztseg-metrics.socket $(DESTDIR)$(UNITDIR)/ztseg-metrics.socket
	$(Q)$(INSTALL) -m 0644 '$(B)/install/ztseg-metrics@.service' '$(DESTDIR)$(UNITDIR)/ztseg-metrics@.service'
	$(Q)$(INSTALL) -m 0644 $(B)/install/ztseg-feeds.service $(DESTDIR)$(UNITDIR)/ztseg-feeds.service
	$(Q)$(INSTALL) -m 0644 systemd/ztseg-feeds.timer $(DESTDIR)$(UNITDIR)/ztseg-feeds.timer
	$(Q)$(INSTALL) -m 0644 systemd/ztseg.sysusers $(DESTDIR)$(SYSUSERSDIR)/ztseg.conf
	$(Q)$(INSTALL) -m 0644 $(B)/install/ztseg.tmpfiles $(DESTDIR)$(TMPFILESDIR)/ztseg.conf
	$(Q)$(INSTALL) -m 0644 systemd/ztseg-modules.conf $(DESTDIR)$(MODULESLOADDIR)/ztseg.conf
	$(Q)$(INSTALL) -m 0644 $(B)/install/ztsegctl.completion $(DESTDIR)$(COMPLETIONSDIR)/ztsegctl
	$(Q)$(foreach p,$(MAN_PAGES),$(INSTALL) -m 0644 $(p) \
		$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p)) &&) :
	$(Q)$(INSTALL) -m 0644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	$(Q)$(INSTALL) -m 0644 $(EXAMPLES_SEG) $(DESTDIR)$(DOCDIR)/examples/segments.d/
	@# The policy directory: created if missing, never re-moded (0750 is fine too).
	$(Q)d='$(DESTDIR)$(SYSCONFDIR)/ztseg'; \
	[ -d "$$d" ] || $(INSTALL) -d -m 0755 "$$d"; \
	[ -d "$$d/segments.d" ] || $(INSTALL) -d -m 0755 "$$d/segments.d"; \
	if [ -e "$$d/ztseg.yaml" ] || [ -L "$$d/ztseg.yaml" ]; then \
		echo "  KEEP    $$d/ztseg.yaml (exists, not overwritten)"; \
	else \
		$(INSTALL) -m 0644 $(B)/install/ztseg.yaml "$$d/ztseg.yaml"; \
	fi
ifeq ($(DESTDIR),)
	$(Q)if command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/ztseg.conf; \
	else \
		echo "  NOTE    no systemd-sysusers: create the user ztseg and the groups ztseg, ztseg-admin"; \
	fi
	$(Q)if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
endif

uninstall:
ifeq ($(DESTDIR),)
	$(Q)if [ -d /run/systemd/system ] && [ -e $(UNITDIR)/ztsegd.service ]; then \
		systemctl stop ztsegd.service ztseg-metrics.socket || :; \
	fi
	$(Q)if command -v systemctl >/dev/null && [ -e $(UNITDIR)/ztsegd.service ]; then \
		systemctl --no-reload disable ztsegd.service ztseg-metrics.socket || :; \
	fi
endif
	$(call quiet,UNINST,$(or $(DESTDIR),/))
	$(Q)rm -f $(DESTDIR)$(BINDIR)/ztsegctl $(DESTDIR)$(SBINDIR)/ztsegd \
		$(DESTDIR)$(UNITDIR)/ztsegd.service $(DESTDIR)$(UNITDIR)/ztseg-metrics.socket \
		'$(DESTDIR)$(UNITDIR)/ztseg-metrics@.service' \
		$(DESTDIR)$(UNITDIR)/ztsegd.service $(DESTDIR)$(UNITDIR)/ztseg-feeds.service \
		$(DESTDIR)$(UNITDIR)/ztseg-feeds.timer \
		$(DESTDIR)$(SYSUSERSDIR)/ztseg.conf $(DESTDIR)$(TMPFILESDIR)/ztseg.conf \
		$(DESTDIR)$(MODULESLOADDIR)/ztseg.conf \
		$(DESTDIR)$(COMPLETIONSDIR)/ztsegctl \
		$(foreach p,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p))) \
		$(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(EXAMPLES))) \
		$(addprefix $(DESTDIR)$(DOCDIR)/examples/segments.d/,$(notdir $(EXAMPLES_SEG)))
	$(Q)for d in $(DESTDIR)$(DOCDIR)/examples/segments.d $(DESTDIR)$(DOCDIR)/examples \
		$(DESTDIR)$(DOCDIR); do \
		[ ! -d "$$d" ] || rmdir "$$d" 2>/dev/null || echo "  KEEP    $$d (not empty)"; \
	done
	@# The policy stays; an empty policy directory goes.
	$(Q)d='$(DESTDIR)$(SYSCONFDIR)/ztseg'; \
	if [ -e "$$d/ztseg.yaml" ] || [ -L "$$d/ztseg.yaml" ]; then \
		echo "  KEEP    $$d (holds a policy)"; \
	else \
		for x in "$$d/segments.d" "$$d"; do \
			[ ! -d "$$x" ] || rmdir "$$x" 2>/dev/null || echo "  KEEP    $$x (not empty)"; \
		done; \
	fi
ifeq ($(DESTDIR),)
	$(Q)if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "  NOTE    the table inet ztseg stays in the kernel until 'nft delete table inet ztseg';"
	@echo "          the user ztseg, the groups ztseg, ztseg-admin and /var/lib/ztseg stay too"
endif

FORCE:

.PHONY: install uninstall FORCE
