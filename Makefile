# backupd — see README.md. `make run` and `make test` are the two commands.
CC      ?= cc
PKGS    := libfcgi json-c libjwt libsodium libcurl libmariadb
# fcgi ships no .pc on Debian 12; it is linked by name below.
PKGS_PC := json-c libjwt libsodium libcurl libmariadb smbclient libssl
BUILD   ?= build
VERSION := $(shell cat VERSION)

# -Werror is for development builds (make all/unit/test in the repository);
# packaging and `make install` builds pass WERROR=0, so that a newer
# compiler's new warning does not break an operator's build.
WERROR  ?= 1
WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter \
           -Wstrict-prototypes -Wmissing-prototypes -Wvla
ifeq ($(WERROR),1)
WARN    += -Werror
endif
# The config file read when neither -c nor $BACKUPD_CONFIG names one, and
# the migrations `backupctl migrate` applies when given no directory (a
# checkout falls back to ./sql when that one does not exist).
PREFIX      ?= /usr/local
CONFIG_PATH ?= /etc/backupd/backupd.conf
SQL_PATH    ?= $(PREFIX)/share/backupd/sql
HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE -fno-strict-overflow \
           -fstack-clash-protection -fcf-protection
# CPPFLAGS, CFLAGS, LDFLAGS and LDLIBS are the user's (dpkg-buildflags
# sets them); the project's own flags are BD_* and always apply.
CFLAGS  ?= -O2 -g
BD_CPPFLAGS := -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Ilib \
           -DBD_VERSION='"$(VERSION)"' -DBD_DEFAULT_CONFIG='"$(CONFIG_PATH)"' -DBD_SQL_DIR='"$(SQL_PATH)"'
BD_CFLAGS = -std=c11 $(WARN) $(HARDEN) \
           $(shell pkg-config --cflags $(PKGS_PC) 2>/dev/null)
BD_LDFLAGS = -pie -Wl,-z,relro,-z,now,-z,noexecstack
LDLIBS  += $(shell pkg-config --libs $(PKGS_PC) 2>/dev/null) -lfcgi -lm -pthread

ifeq ($(SANITIZE),1)
BD_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
BD_LDFLAGS += -fsanitize=address,undefined
HARDEN  :=
endif

LIB_SRC   := $(wildcard lib/*.c lib/probe/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c tests/unit/probe/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BINS      := $(BUILD)/backupd $(BUILD)/backupctl

.PHONY: all run test unit integration clean setup bench style FORCE test-asan
.SECONDARY:
all: $(BINS)

# Objects are rebuilt when the compile flags change (VERSION, CONFIG_PATH,
# WERROR, CFLAGS from dpkg-buildflags ...).
$(BUILD)/.flags: FORCE
	@mkdir -p $(BUILD)
	@echo '$(BD_CPPFLAGS) $(CPPFLAGS) $(BD_CFLAGS) $(CFLAGS)' | cmp -s - $@ || \
		echo '$(BD_CPPFLAGS) $(CPPFLAGS) $(BD_CFLAGS) $(CFLAGS)' >$@

$(BUILD)/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(BD_CPPFLAGS) $(CPPFLAGS) $(BD_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libbackupd.a: $(LIB_OBJ)
	@$(AR) rcs $@ $^

CGI_D_SRC := $(filter-out cgi/backupctl.c cgi/ctl_%.c,$(wildcard cgi/*.c))
$(BUILD)/backupd: $(CGI_D_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libbackupd.a
	@echo "  LD      $@"
	@$(CC) $(BD_CFLAGS) $(CFLAGS) $(BD_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

CTL_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard cgi/backupctl.c cgi/ctl_*.c))
$(BUILD)/backupctl: $(CTL_OBJ) $(BUILD)/libbackupd.a
	@echo "  LD      $@"
	@$(CC) $(BD_CFLAGS) $(CFLAGS) $(BD_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libbackupd.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(BD_CFLAGS) $(CFLAGS) $(BD_LDFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# test_wipe looks at each buffer wipe.o hands to free() (see the test).
$(BUILD)/tests/test_wipe: LDFLAGS += -Wl,--wrap=free

setup:
	@scripts/setup.sh

style:
	@scripts/style.sh

unit: setup $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

integration: setup all
	@scripts/integration.sh

# The unit tests and the whole integration suite against the ASan + UBSan
# build (build-asan): a sanitizer report in the service's log, or a worker
# killed by one, fails the run (scripts/integration.sh's crash check).
ASAN_BUILD   ?= build-asan
ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0:halt_on_error=1:print_summary=1
UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
test-asan: setup
	@$(MAKE) --no-print-directory SANITIZE=1 BUILD=$(ASAN_BUILD) all
	@$(MAKE) --no-print-directory SANITIZE=1 BUILD=$(ASAN_BUILD) unit
	@BACKUPD_BIN_DIR=$(CURDIR)/$(ASAN_BUILD) ASAN_OPTIONS=$(ASAN_OPTIONS) \
	    UBSAN_OPTIONS=$(UBSAN_OPTIONS) scripts/integration.sh

test: setup
	@$(MAKE) --no-print-directory style
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-smoke FUZZ_SECONDS=5
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory test-deploy
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-cluster

# Two backupd hosts on a 3-node Galera cluster it starts itself (README
# "More than one host"); ~30 s.
.PHONY: test-cluster
test-cluster: setup all
	@tests/cluster/cluster.sh

run: setup all
	@scripts/stack.sh run

bench: setup all
	@scripts/bench.sh
	@scripts/bench_neighbour.sh
	@scripts/bench_probe_connections.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Fuzzing (tests/fuzz/): one libFuzzer driver per parser of hostile input,
# each linked with lib/*.c compiled by clang in the same command so the
# library is instrumented too. `make fuzz-smoke` runs each driver for
# FUZZ_SECONDS over its committed seeds; new inputs go to $(BUILD)/fuzz/ so
# the committed corpus only changes by hand; a crash fails the target.
comma        := ,
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 10
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) \
                -O1 -g -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined \
                -Ilib -Itests/fuzz $(shell pkg-config --cflags $(PKGS_PC) 2>/dev/null)

.PHONY: fuzz fuzz-smoke
fuzz: $(FUZZ_BIN)

# The library is compiled once for every driver (instrumented, without
# libFuzzer's main), then each driver links the objects it needs.
FUZZ_OBJ := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o)
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	@$(FUZZ_CC) $(subst -fsanitize=fuzzer$(comma),-fsanitize=,$(FUZZ_CFLAGS)) \
	    -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

# A driver that #includes a lib .c file (to reach its static parsers, as
# the unit tests under tests/unit/probe/ do) is linked without that file.
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_fixtures.h $(FUZZ_OBJ) $(wildcard lib/*.h lib/probe/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(filter-out $(patsubst \
	    lib/%.c,$(BUILD)/fuzz/obj/lib/%.o,$(shell sed -nE \
	    's|^#include "([a-z_/]+\.c)"|lib/\1|p' $<)),$(FUZZ_OBJ)) $(LDLIBS)

fuzz-smoke: fuzz
	@set -e; for f in $(FUZZ_BIN); do \
		n=$${f##*/}; work=$(BUILD)/fuzz/corpus/$$n; mkdir -p $$work; \
		echo "== $$n ($(FUZZ_SECONDS) s)"; \
		if ! $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
		    -artifact_prefix=$(BUILD)/fuzz/$$n- $$work \
		    tests/fuzz/corpus/$$n >$(BUILD)/fuzz/$$n.log 2>&1; then \
			tail -n 60 $(BUILD)/fuzz/$$n.log; \
			echo "fuzz-smoke: $$n failed; reproducer: $(BUILD)/fuzz/$$n-*"; \
			exit 1; \
		fi; \
		grep -h '^Done' $(BUILD)/fuzz/$$n.log | tail -n 1; \
	done

# --- Installation (README "Deploy"). `make install DESTDIR= PREFIX=/usr/local`;
# the Debian package runs it with PREFIX=/usr UNITDIR=/lib/systemd/system.
DESTDIR  ?=
SBINDIR  ?= $(PREFIX)/sbin
DATADIR  ?= $(PREFIX)/share/backupd
MANDIR   ?= $(PREFIX)/share/man
UNITDIR  ?= $(PREFIX)/lib/systemd/system
COMPDIR  ?= $(PREFIX)/share/bash-completion/completions
GEN      := $(BUILD)/gen
UNITS    := backupd.service backupd.socket backupd-healthcheck.service backupd-healthcheck.timer
MANPAGES := $(GEN)/backupd.8 $(GEN)/backupctl.8 $(GEN)/backupd.conf.5

.PHONY: install man gen deb verify-units
# The generated files come from the code: the config keys from lib/cfg.c's
# key table (documented in cgi/ctl_keydoc.c), the commands from backupctl's
# command table.
gen: man $(GEN)/backupd.conf $(GEN)/backupctl.bash units

man: $(MANPAGES)

$(GEN)/backupd.8: man/backupd.8
	@mkdir -p $(GEN)
	cp $< $@

$(GEN)/backupctl.8: man/backupctl.8.in $(BUILD)/backupctl
	@mkdir -p $(GEN)
	{ sed '/^@COMMANDS@$$/,$$d' $<; $(BUILD)/backupctl help --format man; \
	  sed '1,/^@COMMANDS@$$/d' $<; } >$@.tmp && mv $@.tmp $@

$(GEN)/backupd.conf.5: man/backupd.conf.5.in $(BUILD)/backupctl
	@mkdir -p $(GEN)
	{ sed '/^@KEYS@$$/,$$d' $<; $(BUILD)/backupctl -c /dev/null config keys --format man; \
	  sed '1,/^@KEYS@$$/d' $<; } >$@.tmp && mv $@.tmp $@

$(GEN)/backupd.conf: $(BUILD)/backupctl
	@mkdir -p $(GEN)
	$(BUILD)/backupctl -c /dev/null config keys --format conf >$@.tmp && mv $@.tmp $@

$(GEN)/backupctl.bash: $(BUILD)/backupctl
	@mkdir -p $(GEN)
	$(BUILD)/backupctl completion bash >$@.tmp && mv $@.tmp $@

# Units with this install's paths (always regenerated: SBINDIR may change).
.PHONY: units
units:
	@mkdir -p $(GEN)/units
	@for u in $(UNITS); do \
		src=systemd/$$u; [ -f $$src ] || src=$$src.in; \
		sed 's|@SBINDIR@|$(SBINDIR)|g' $$src >$(GEN)/units/$$u; \
	done

install: all gen
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DATADIR)/sql \
		$(DESTDIR)$(DATADIR)/nginx $(DESTDIR)$(DATADIR)/examples \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(COMPDIR)
	install -m 0755 $(BUILD)/backupd $(BUILD)/backupctl $(DESTDIR)$(SBINDIR)/
	install -m 0644 sql/*.sql $(DESTDIR)$(DATADIR)/sql/
	install -m 0644 nginx/backupd-upstream.conf nginx/backupd-location.conf \
		$(DESTDIR)$(DATADIR)/nginx/
	install -m 0644 $(GEN)/backupd.conf $(DESTDIR)$(DATADIR)/examples/
	install -m 0644 $(GEN)/backupd.8 $(GEN)/backupctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(GEN)/backupd.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(addprefix $(GEN)/units/,$(UNITS)) $(DESTDIR)$(UNITDIR)/
	install -m 0644 $(GEN)/backupctl.bash $(DESTDIR)$(COMPDIR)/backupctl

# `systemd-analyze verify` on every unit, with the paths of this build (no
# systemd runs as PID 1 on the test machines: verify needs none).
verify-units: all
	@$(MAKE) --no-print-directory units SBINDIR=$(abspath $(BUILD))
	@scripts/verify-units.sh $(GEN)/units $(addprefix $(GEN)/units/,$(UNITS))

# The Debian package, built from a copy of the tree (tracked and new files)
# so that nothing lands outside it: $(BUILD)/deb/backupd_<version>_<arch>.deb.
deb:
	@scripts/deb.sh $(BUILD)/deb

# Deployment tests (README "Deploy"): the units verify, the Debian package
# installs, serves, upgrades and purges cleanly; the shared-hosting recipes
# pass their flows under a real Apache and fcgiwrap. dpkg and the fixed
# paths (/etc/backupd, /run/backupd) are machine-wide: one run at a time.
.PHONY: test-deploy
test-deploy: setup all
	@$(MAKE) --no-print-directory verify-units
	@flock /tmp/bd-deb.lock tests/deploy/test_deb.sh
	@tests/deploy/test_run.sh
