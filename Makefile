# backupd — see README.md. `make run` and `make test` are the two commands.
CC      ?= cc
PKGS    := libfcgi json-c libjwt libsodium libcurl libmariadb
# fcgi ships no .pc on Debian 12; it is linked by name below.
PKGS_PC := json-c libjwt libsodium libcurl libmariadb
BUILD   ?= build

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter \
           -Wstrict-prototypes -Wmissing-prototypes -Wvla
HARDEN  := -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE -fno-strict-overflow \
           -fstack-clash-protection -fcf-protection
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(WARN) $(HARDEN) \
           -Ilib $(shell pkg-config --cflags $(PKGS_PC) 2>/dev/null)
LDFLAGS += -pie -Wl,-z,relro,-z,now,-z,noexecstack
LDLIBS  += $(shell pkg-config --libs $(PKGS_PC) 2>/dev/null) -lfcgi -lm

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
HARDEN  :=
endif

LIB_SRC   := $(wildcard lib/*.c lib/probe/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  := $(wildcard tests/unit/test_*.c tests/unit/probe/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BINS      := $(BUILD)/backupd $(BUILD)/backupctl

.PHONY: all run test unit integration clean setup bench style
.SECONDARY:
all: $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libbackupd.a: $(LIB_OBJ)
	@$(AR) rcs $@ $^

$(BUILD)/backupd: $(BUILD)/cgi/backupd.o $(BUILD)/cgi/handlers.o $(BUILD)/libbackupd.a
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/backupctl: $(BUILD)/cgi/backupctl.o $(BUILD)/cgi/ctl_db.o $(BUILD)/libbackupd.a
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libbackupd.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

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

test: setup
	@$(MAKE) --no-print-directory style
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-smoke FUZZ_SECONDS=5
	@$(MAKE) --no-print-directory integration

run: setup all
	@scripts/stack.sh run

bench: setup all
	@scripts/bench.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# Fuzzing (tests/fuzz/): one libFuzzer driver per parser of hostile input,
# each linked with lib/*.c compiled by clang in the same command so the
# library is instrumented too. `make fuzz-smoke` runs each driver for
# FUZZ_SECONDS over its committed seeds; new inputs go to $(BUILD)/fuzz/ so
# the committed corpus only changes by hand; a crash fails the target.
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

# A driver that #includes a lib .c file (to reach its static parsers, as
# the unit tests under tests/unit/probe/ do) is linked without that file.
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_fixtures.h $(LIB_SRC) $(wildcard lib/*.h lib/probe/*.h)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(filter-out $(shell sed -nE \
	    's|^#include "([a-z_/]+\.c)"|lib/\1|p' $<),$(LIB_SRC)) $(LDLIBS)

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
