# SPDX-License-Identifier: GPL-2.0-or-later
# ztseg — one non-recursive GNU Makefile.
#   make                 build ztsegd, ztsegctl and libztseg.a into build/
#   make check           unit tests, CLI tests (and, as root, kernel tests)
#   make check ASAN=1    the same under AddressSanitizer + UBSan (build-asan/)
#   make fuzz            build and run the libFuzzer harnesses (clang)
#   make install         honours DESTDIR, PREFIX, SYSCONFDIR
#   V=1                  show the commands

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/ztseg
SYSCONFDIR ?= /etc
DESTDIR ?=

PKG_CONFIG ?= pkg-config
PKGS := libnftnl libmnl yaml-0.1 libsystemd
CHECK_PKGS := check

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	-Wpointer-arith -Wformat=2 -Wno-unused-parameter
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -Ilib $(WARNINGS) -MMD -MP \
	$(shell $(PKG_CONFIG) --cflags $(PKGS))
LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS))
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(CHECK_PKGS))
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs $(CHECK_PKGS))

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

all: $(PROGS) $(LIBZTSEG)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(call quiet,CC,$<)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIBZTSEG): $(LIB_OBJS)
	$(call quiet,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(B)/ztsegctl: $(CTL_SRCS:%.c=$(B)/%.o) $(LIBZTSEG)
	$(call quiet,LINK,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

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

unit: $(UNIT_BINS)

# Unit tests run with CK_FORK=no under sanitizers so that leaks are caught.
check-unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do \
		echo "== $$t"; CK_FORK=$(if $(SAN),no,yes) $$t; done

check-cli: $(PROGS)
	@set -e; for t in $(sort $(wildcard tests/cli/*.sh)); do \
		echo "== $$t"; ZTSEG_BUILD=$(B) bash $$t; done

check: check-unit check-cli

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
	rm -rf build build-asan build-fuzz

.PHONY: all unit check check-unit check-cli fuzz fuzz-build clean

-include $(shell find $(B) -name '*.d' 2>/dev/null)
