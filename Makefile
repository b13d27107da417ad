# mxsync - keeps a backup MX's Postfix maps equal to the primary's
#
# Targets: all check install clean demo bench fuzz.  Knobs below can be set
# on the command line or in the environment.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DESTDIR ?=
BUILD ?= build

CC ?= cc
PKG_CONFIG ?= pkg-config
OPT ?= -O2 -g
WARN ?= -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
HARDEN ?= -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
CFLAGS ?=
LDFLAGS ?=

# SAN=1: AddressSanitizer and UBSan, SAN=thread: ThreadSanitizer, each into
# its own BUILD (e.g. build-san); a report aborts the program.  SAN=fuzzer
# is what "make fuzz" builds with (clang).
SAN ?=
ifeq ($(SAN),1)
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all
else ifeq ($(SAN),thread)
SAN_FLAGS = -fsanitize=thread
else ifeq ($(SAN),fuzzer)
SAN_FLAGS = -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all
endif
ifneq ($(SAN),)
OPT = -O1 -g -fno-omit-frame-pointer
HARDEN = -fPIE
endif

# Speed knobs, on by default; "make bench" builds each off to show what it
# saves: PARALLEL=0 runs every thread_for() loop (formats/thread.h: the
# full install's parse, state hash and map builds) on one thread.
PARALLEL ?= 1
# PREFETCH=0: a walk of a few shards' records (selwalk.h: a delta's state
# hash and map shards) does not fetch records ahead of their use.
PREFETCH ?= 1

PKGS_FORMATS = jansson libsodium libcdb icu-uc
PKGS_KEYS = libsodium
PKGS_SYNCD = libmicrohttpd gnutls jansson libsystemd
PKGS_AGENT = libcurl jansson libmariadb libpq ldap lber libsystemd

pkg_cflags = $(shell $(PKG_CONFIG) --cflags $(1))
pkg_libs = $(shell $(PKG_CONFIG) --libs $(1))

ALL_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) $(SAN_FLAGS) \
	-DMXSYNC_PARALLEL=$(PARALLEL) -DMXSYNC_PREFETCH=$(PREFETCH) \
	$(call pkg_cflags,$(sort $(PKGS_FORMATS) $(PKGS_SYNCD) $(PKGS_AGENT))) \
	$(CFLAGS)
ALL_LDFLAGS = -pie -Wl,-z,relro,-z,now $(SAN_FLAGS) $(LDFLAGS)

FORMATS_SRC = \
	formats/err.c \
	formats/buf.c \
	formats/norm.c \
	formats/norm_route.c \
	formats/state.c \
	formats/state_sort.c \
	formats/state_finish.c \
	formats/state_parse.c \
	formats/state_hash.c \
	formats/state_pool.c \
	formats/state_runs.c \
	formats/state_ends.c \
	formats/domset.c \
	formats/lookup.c \
	formats/delta.c \
	formats/delta_splice.c \
	formats/delta_splice_shared.c \
	formats/manifest.c \
	formats/snapshot.c \
	formats/textmap.c \
	formats/conf.c \
	formats/conf_value.c \
	formats/atomic.c \
	formats/fileio.c \
	formats/thread.c \
	formats/selwalk.c \
	formats/cdbw.c \
	formats/cdbw_check.c \
	formats/cdbw_pack.c \
	formats/cdblimit.c \
	formats/log.c

KEYS_SRC = \
	keys/key.c \
	keys/trust.c

SYNCD_SRC = \
	syncd/config.c \
	syncd/store.c \
	syncd/journal.c \
	syncd/shard.c \
	syncd/verify.c \
	syncd/apply.c \
	syncd/apply_store.c \
	syncd/status.c \
	syncd/cidr.c \
	syncd/channel.c \
	syncd/sandbox.c \
	syncd/installer.c \
	syncd/listener.c \
	syncd/listener_log.c \
	syncd/listener_peer.c \
	syncd/listener_conn.c \
	syncd/listener_chan.c \
	syncd/listener_http.c \
	syncd/listener_push.c \
	syncd/listener_status.c

# mxsyncd's own files: the command table and one file per command
MXSYNCD_SRC = \
	syncd/mxsyncd.c \
	syncd/cmd.c \
	syncd/cmd_run.c \
	syncd/cmd_apply.c \
	syncd/cmd_forget.c \
	syncd/cmd_status.c \
	syncd/cmd_check.c \
	syncd/cmd_postconf.c

AGENT_SRC = \
	agent/config.c \
	agent/source.c \
	agent/source_file.c \
	agent/source_file_read.c \
	agent/source_file_route.c \
	agent/source_file_cache.c \
	agent/source_file_pend.c \
	agent/source_file_span.c \
	agent/preset.c \
	agent/preset_mysql.c \
	agent/preset_pgsql.c \
	agent/source_mysql.c \
	agent/source_pgsql.c \
	agent/source_pgsql_conn.c \
	agent/source_ldap.c \
	agent/source_ldap_conn.c \
	agent/source_maildir.c \
	agent/export.c \
	agent/guard.c \
	agent/ledger.c \
	agent/ledger_base.c \
	agent/push.c \
	agent/watch.c \
	agent/control.c \
	agent/status.c \
	agent/audit.c \
	agent/sync.c \
	agent/verify.c \
	agent/verify_set.c \
	agent/verify_proc.c \
	agent/verify_postconf.c \
	agent/verify_postmap.c \
	agent/verify_cand.c \
	agent/verify_decide.c \
	agent/verify_report.c \
	agent/daemon.c \
	agent/daemon_export.c \
	agent/daemon_request.c

# the commands of mxsync-agent (cmd.h): program code, not in libagent.a
AGENT_CMD_SRC = \
	agent/mxsync-agent.c \
	agent/cmd.c \
	agent/cmd_export.c \
	agent/cmd_push.c \
	agent/cmd_status.c \
	agent/cmd_sync_now.c \
	agent/cmd_verify.c

FORMATS_LIB = $(BUILD)/libformats.a
KEYS_LIB = $(BUILD)/libkeys.a
SYNCD_LIB = $(BUILD)/libsyncd.a
AGENT_LIB = $(BUILD)/libagent.a

LIBS_FORMATS = $(call pkg_libs,$(PKGS_FORMATS))
LIBS_SYNCD = $(call pkg_libs,$(sort $(PKGS_SYNCD) $(PKGS_FORMATS))) -lpthread
LIBS_AGENT = $(call pkg_libs,$(sort $(PKGS_AGENT) $(PKGS_FORMATS)))

PROGRAMS = \
	$(BUILD)/mxsync-keys \
	$(BUILD)/mxsyncd \
	$(BUILD)/mxsync-agent

UNIT_SRC = $(sort $(wildcard tests/unit/test-*.c))
UNIT_BIN = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOL_SRC = $(sort $(wildcard tests/tools/*.c))
TOOL_BIN = $(patsubst tests/tools/%.c,$(BUILD)/tests/tool-%,$(TOOL_SRC))

# Fuzz harnesses (tests/fuzz/fuzz-NAME.c): replay-NAME runs files through
# one (make check, under SAN=1), fuzz-NAME is the libFuzzer binary (make fuzz)
FUZZ_SRC = $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_NAMES = $(patsubst tests/fuzz/fuzz-%.c,%,$(FUZZ_SRC))
REPLAY_BIN = $(patsubst %,$(BUILD)/fuzz/replay-%,$(FUZZ_NAMES))
FUZZER_BIN = $(patsubst %,$(BUILD)/fuzz/fuzz-%,$(FUZZ_NAMES))
FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_TIME ?= 60

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

# objects reached only through pattern rules are kept, not deleted
.SECONDARY:

.PHONY: all tests check install clean demo bench deps fuzz fuzz-replay \
	fuzz-bins

all: $(PROGRAMS)

tests: $(PROGRAMS) $(UNIT_BIN) $(TOOL_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(FORMATS_LIB): $(call obj,$(FORMATS_SRC))
	$(AR) rcs $@ $^
$(KEYS_LIB): $(call obj,$(KEYS_SRC))
	$(AR) rcs $@ $^
$(SYNCD_LIB): $(call obj,$(SYNCD_SRC))
	$(AR) rcs $@ $^
$(AGENT_LIB): $(call obj,$(AGENT_SRC))
	$(AR) rcs $@ $^

$(BUILD)/mxsync-keys: $(call obj,keys/mxsync-keys.c) $(KEYS_LIB) $(FORMATS_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_FORMATS)

$(BUILD)/mxsyncd: $(call obj,$(MXSYNCD_SRC)) $(SYNCD_LIB) $(KEYS_LIB) $(FORMATS_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_SYNCD)

$(BUILD)/mxsync-agent: $(call obj,$(AGENT_CMD_SRC)) $(AGENT_LIB) $(KEYS_LIB) $(FORMATS_LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_AGENT)

# Unit tests: test-syncd-*.c and test-agent-*.c also link their program's
# modules; every other test links formats/ and keys/ only.
$(BUILD)/tests/test-syncd-%: $(call obj,tests/unit/test-syncd-%.c) $(SYNCD_LIB) $(KEYS_LIB) $(FORMATS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_SYNCD)
$(BUILD)/tests/test-agent-%: $(call obj,tests/unit/test-agent-%.c) $(AGENT_LIB) $(KEYS_LIB) $(FORMATS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_AGENT)
$(BUILD)/tests/test-%: $(call obj,tests/unit/test-%.c) $(KEYS_LIB) $(FORMATS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_FORMATS)

# Test tools (tests/tools/NAME.c): helpers the test scripts call, such as a
# signer of hand-crafted snapshots; they link formats/ and keys/.
$(BUILD)/tests/tool-%: $(call obj,tests/tools/%.c) $(KEYS_LIB) $(FORMATS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_FORMATS)

$(BUILD)/fuzz/replay-%: $(call obj,tests/fuzz/fuzz-%.c tests/fuzz/replay.c) $(SYNCD_LIB) $(KEYS_LIB) $(FORMATS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_SYNCD)
$(BUILD)/fuzz/fuzz-%: $(call obj,tests/fuzz/fuzz-%.c) $(SYNCD_LIB) $(KEYS_LIB) $(FORMATS_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS_SYNCD)

fuzz-replay: $(REPLAY_BIN)
fuzz-bins: $(FUZZER_BIN) $(REPLAY_BIN)

# fuzz runs every harness (FUZZ=name for one) for FUZZ_TIME seconds with
# libFuzzer, seeded from tests/fuzz/corpus; any crash fails it.
fuzz:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) SAN=fuzzer fuzz-bins
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_TIME=$(FUZZ_TIME) ./tests/fuzz/run $(FUZZ)

deps:
	./tests/install-deps

# check installs missing Debian packages, builds, and runs every test;
# the last line is "N passed, N failed".  T=pattern runs a subset.
check:
	./tests/install-deps
	$(MAKE) tests
	BUILD=$(BUILD) ./tests/run $(T)

demo:
	./tests/install-deps
	$(MAKE) all
	BUILD=$(BUILD) ./tests/demo

bench:
	./tests/install-deps
	$(MAKE) all $(BUILD)/tests/tool-mksnap $(BUILD)/tests/tool-blake2b
	BUILD=$(BUILD) ./tests/bench/run $(BENCH)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR)
	install -m 0755 $(BUILD)/mxsync-keys $(DESTDIR)$(BINDIR)/mxsync-keys
	install -m 0755 $(BUILD)/mxsync-agent $(DESTDIR)$(SBINDIR)/mxsync-agent
	install -m 0755 $(BUILD)/mxsyncd $(DESTDIR)$(SBINDIR)/mxsyncd
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/mxsync-keys.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/mxsync.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/mxsync-agent.8 man/mxsyncd.8 $(DESTDIR)$(MANDIR)/man8/
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	for u in mxsyncd mxsync-agent; do \
		sed 's|/usr/sbin/|$(SBINDIR)/|g; s|/etc/mxsync/|$(SYSCONFDIR)/mxsync/|g' \
			systemd/$$u.service >$(DESTDIR)$(UNITDIR)/$$u.service && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; \
	done
	install -m 0644 systemd/mxsync.sysusers $(DESTDIR)$(SYSUSERSDIR)/mxsync.conf
	install -m 0644 systemd/mxsync.tmpfiles $(DESTDIR)$(TMPFILESDIR)/mxsync.conf
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/mxsync
	for f in syncd.conf agent.conf; do \
		test -e $(DESTDIR)$(SYSCONFDIR)/mxsync/$$f || \
		install -m 0644 examples/$$f $(DESTDIR)$(SYSCONFDIR)/mxsync/$$f; \
	done

# deb: the Debian packages of debian/ (mxsyncd, mxsync-agent, mxsync-common)
# into $(BUILD)/deb/, their debug symbols into $(BUILD)/deb/dbgsym/.
# dpkg-buildpackage writes beside the tree it builds, so it builds a copy in
# $(BUILD)/deb-src, which goes away afterwards with the .changes file.
.PHONY: deb
deb:
	rm -rf $(BUILD)/deb-src $(BUILD)/deb
	mkdir -p $(BUILD)/deb-src/mxsync $(BUILD)/deb/dbgsym
	tar -cf - --exclude=./.git --exclude='./build*' --exclude='./$(BUILD)' . | \
		tar -xf - -C $(BUILD)/deb-src/mxsync
	cd $(BUILD)/deb-src/mxsync && dpkg-buildpackage -us -uc -b -jauto
	mv $(BUILD)/deb-src/*-dbgsym_*.deb $(BUILD)/deb/dbgsym/ 2>/dev/null || true
	mv $(BUILD)/deb-src/*.deb $(BUILD)/deb/
	rm -rf $(BUILD)/deb-src
	ls $(BUILD)/deb/*.deb

clean:
	rm -rf $(BUILD)

# (not the copy make deb builds in, where tmpfiles.d is a directory)
-include $(shell find $(BUILD) -path '$(BUILD)/deb-src' -prune -o -name '*.d' -type f -print 2>/dev/null)
