# avpn build.  Every cmd/<tool>/*.c becomes bin/<tool>, every common/*.c
# goes into libavpn.a, every t/unit/*.c becomes one unit-test binary and
# every t/tools/*.c one test helper program and every t/fuzz/*.c one
# libFuzzer target.  New files need no Makefile edit.
#
# BUILD sets the output directory, so several builds (normal, sanitizer,
# fuzz) can live side by side:  make BUILD=build-asan SANITIZE=1

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/vendor-completions
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=
BUILD ?= build

PKGS := libsodium libbsd-overlay libb2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS := $(shell pkg-config --libs $(PKGS))

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Wformat=2 -Wmissing-prototypes \
	-Wstrict-prototypes -Wvla -Wshadow -Wpointer-arith -Wcast-qual \
	-Wno-unused-parameter
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif
ifeq ($(CI),true)
WARNINGS += -Werror
endif
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARNINGS) -Icommon $(PKG_CFLAGS) \
	$(CFLAGS) -MMD -MP
ALL_LDLIBS := $(PKG_LIBS) $(LDLIBS)

ifneq ($(V),1)
Q := @
quiet = @printf '  %-7s %s\n' $(1) $(2);
endif

TOOLS := $(notdir $(wildcard cmd/*))
PROGRAMS := $(addprefix $(BUILD)/bin/,$(TOOLS))
COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libavpn.a
UNIT_SRC := $(wildcard t/unit/*.c)
UNIT_BIN := $(UNIT_SRC:t/unit/%.c=$(BUILD)/unit/%)
TOOL_SRC := $(wildcard t/tools/*.c)
TEST_TOOLS := $(TOOL_SRC:t/tools/%.c=$(BUILD)/tools/%)
FUZZ_SRC := $(wildcard t/fuzz/*.c)
FUZZ_BIN := $(FUZZ_SRC:t/fuzz/%.c=$(BUILD)/fuzz/%)
MANPAGES := $(wildcard man/*.[1-8])

all: $(PROGRAMS)

$(BUILD)/%.o: %.c
	$(call quiet,CC,$<)mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(COMMON_OBJ)
	$(call quiet,AR,$@)rm -f $@
	$(Q)$(AR) rcs $@ $^

# One rule per tool, so each binary depends on its own objects only.
define tool_rule
$(BUILD)/bin/$(1): $$(patsubst %.c,$(BUILD)/%.o,$$(wildcard cmd/$(1)/*.c)) $$(LIB)
	$$(call quiet,LD,$$@)mkdir -p $$(dir $$@)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(ALL_LDLIBS)
endef
$(foreach tool,$(TOOLS),$(eval $(call tool_rule,$(tool))))

$(BUILD)/unit/%: $(BUILD)/t/unit/%.o $(LIB)
	$(call quiet,LD,$@)mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

# Test-only programs (packet forgers, benchmark clients) under t/tools/.
$(BUILD)/tools/%: $(BUILD)/t/tools/%.o $(LIB)
	$(call quiet,LD,$@)mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(ALL_LDLIBS)

unit: $(UNIT_BIN) $(TEST_TOOLS)

# libFuzzer targets need clang.  Each target defines LLVMFuzzerTestOneInput.
FUZZ_CC ?= clang
FUZZ_FLAGS := -fsanitize=fuzzer,address,undefined -g -O1
fuzz: $(FUZZ_BIN)
$(BUILD)/fuzz/%: t/fuzz/%.c $(COMMON_SRC) $(wildcard common/*.h)
	$(call quiet,FUZZ,$@)mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -Icommon $(PKG_CFLAGS) \
		$(FUZZ_FLAGS) -o $@ $< $(COMMON_SRC) $(PKG_LIBS)

# FUZZ_SECONDS bounds each target's run in 'make check'.
FUZZ_SECONDS ?= 10
# Each target counts as one test in $(BUILD)/fuzz/results.
fuzz-run: fuzz
	$(Q)passed=0; failed=0; for f in $(FUZZ_BIN); do \
		name=$$(basename $$f); corpus=t/fuzz/corpus/$$name; \
		mkdir -p $(BUILD)/fuzz/work-$$name; \
		if $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
			$(BUILD)/fuzz/work-$$name \
			$$( [ -d $$corpus ] && echo $$corpus ) \
			>$(BUILD)/fuzz/$$name.log 2>&1; then \
			echo "ok - fuzz $$name for $(FUZZ_SECONDS) s"; \
			passed=$$((passed + 1)); \
		else \
			echo "not ok - fuzz $$name"; \
			tail -n 40 $(BUILD)/fuzz/$$name.log; \
			failed=$$((failed + 1)); \
		fi; \
	done; mkdir -p $(BUILD)/fuzz; \
	echo "$$passed $$failed" >$(BUILD)/fuzz/results; \
	[ $$failed -eq 0 ]

unit-run: unit
	$(Q)for u in $(UNIT_BIN); do $$u || exit 1; done

# Tests: unit tests and every bats file (t/run), the fuzzers for a short
# time, then unit and bats tests once more under AddressSanitizer and UBSan.
check:
	$(Q)WERROR=$(WERROR) t/check

bench: all
	$(Q)t/bench/run

demo: all
	$(Q)AVPN_BUILD=$(BUILD) scripts/demo

# bash-completion loads a completion by the command's name, so every
# program gets a link to the one file.  The systemd units name the programs
# by their installed path, @BINDIR@ in the sources.
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)
	for m in $(MANPAGES); do \
		s=$${m##*.}; \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s || exit 1; \
	done
	install -m 0644 completions/bash/avpn $(DESTDIR)$(BASHCOMPDIR)/avpn
	for t in $(TOOLS); do \
		ln -sf avpn $(DESTDIR)$(BASHCOMPDIR)/$$t || exit 1; \
	done
	install -m 0644 completions/zsh/_avpn $(DESTDIR)$(ZSHCOMPDIR)/_avpn
	for u in contrib/systemd/*.in; do \
		n=$${u##*/}; n=$${n%.in}; \
		sed 's|@BINDIR@|$(BINDIR)|g' $$u >$(DESTDIR)$(SYSTEMDUNITDIR)/$$n \
			&& chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$$n || exit 1; \
	done

uninstall:
	for t in $(TOOLS); do \
		rm -f $(DESTDIR)$(BINDIR)/$$t $(DESTDIR)$(BASHCOMPDIR)/$$t; \
	done
	for m in $(MANPAGES); do \
		s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; \
	done
	rm -f $(DESTDIR)$(BASHCOMPDIR)/avpn $(DESTDIR)$(ZSHCOMPDIR)/_avpn
	for u in contrib/systemd/*.in; do \
		n=$${u##*/}; rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/$${n%.in}; \
	done

clean:
	rm -rf build build-asan

.PHONY: all unit unit-run fuzz fuzz-run check bench demo \
	install uninstall clean

-include $(COMMON_OBJ:.o=.d) $(wildcard $(BUILD)/cmd/*/*.d) \
	$(wildcard $(BUILD)/t/unit/*.d) $(wildcard $(BUILD)/t/tools/*.d)
