# outreachd - one non-recursive GNU Makefile.
#   make              build outreachd and outreachctl (into $(BUILD)/)
#   make check        every test: unit, integration, fuzzers (when clang)
#   make check-asan   the same under AddressSanitizer + UBSan
#   make bench        the benchmark table
#   make install      PREFIX, DESTDIR, SYSCONFDIR honoured

PREFIX		?= /usr/local
SYSCONFDIR	?= /etc
BINDIR		?= $(PREFIX)/bin
SBINDIR		?= $(PREFIX)/sbin
MANDIR		?= $(PREFIX)/share/man
UNITDIR		?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR	?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR	?= $(PREFIX)/lib/tmpfiles.d
DOCDIR		?= $(PREFIX)/share/doc/outreachd

VERSION		:= 0.1.0
BUILD		?= build
CC		?= cc
PKG_CONFIG	?= pkg-config
PKGS		:= libzmq libconfig openssl libcurl sqlite3 jansson icu-uc icu-i18n

WARN		:= -Wall -Wextra -Wformat=2 -Wshadow -Werror
OPT		?= -O2
CFLAGS		?= $(OPT) -g
ALL_CFLAGS	:= -std=c11 -D_GNU_SOURCE -DOUTREACH_VERSION='"$(VERSION)"' \
		   $(WARN) $(CFLAGS) -MMD -MP -Iinclude -Idaemon \
		   $(shell $(PKG_CONFIG) --cflags $(PKGS))
LIBS		:= $(shell $(PKG_CONFIG) --libs $(PKGS)) -lm
ifeq ($(SAN),1)
ALL_CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=undefined
LDSAN		:= -fsanitize=address,undefined
endif

# Code both programs use.
LIB_SRCS := \
	lib/buf.c	\
	lib/log.c	\
	lib/utf8.c	\
	lib/topic.c	\
	lib/frame.c	\
	lib/keyfile.c	\
	lib/csv.c

# The daemon: intake (config, acl, ingest, event) into the journal, the
# loop and its control socket, systemd notification; notices (template,
# mime, render, notice); delivery (tls, smtp, webhook, deliver).
DAEMON_SRCS := \
	daemon/config.c		\
	daemon/acl.c		\
	daemon/event.c		\
	daemon/journal.c	\
	daemon/audience.c	\
	daemon/contacts.c	\
	daemon/contact.c	\
	daemon/ingest.c		\
	daemon/control.c	\
	daemon/notify.c		\
	daemon/commands.c	\
	daemon/template.c	\
	daemon/mime.c		\
	daemon/render.c		\
	daemon/notice.c		\
	daemon/loop.c		\
	daemon/tls.c		\
	daemon/smtp.c		\
	daemon/webhook.c	\
	daemon/deliver.c
DAEMON_MAIN := daemon/main.c

CLIENT_SRCS := \
	client/outreachctl.c	\
	client/ctl.c		\
	client/publish.c	\
	client/keygen.c		\
	client/contacts.c	\
	client/deliveries.c

# Unit tests: tests/unit/test_NAME.c links the library and the daemon
# sources listed in UNIT_DEPS_NAME.
UNIT_DEPS_buf		:=
UNIT_DEPS_utf8		:=
UNIT_DEPS_topic		:=
UNIT_DEPS_event		:= daemon/event.c
UNIT_DEPS_config	:= daemon/config.c daemon/acl.c
UNIT_DEPS_journal	:= daemon/journal.c
UNIT_DEPS_template	:= daemon/template.c
UNIT_DEPS_mime		:= daemon/mime.c
UNIT_DEPS_render	:= daemon/render.c daemon/template.c daemon/mime.c daemon/event.c daemon/notice.c daemon/contact.c
UNIT_DEPS_contact	:= daemon/contact.c daemon/event.c
UNIT_DEPS_csv		:=
UNIT_DEPS_audience	:= daemon/audience.c daemon/journal.c daemon/contacts.c daemon/contact.c daemon/event.c
UNIT_DEPS_tls		:= daemon/tls.c
UNIT_DEPS_smtp		:= daemon/smtp.c daemon/tls.c daemon/loop.c
UNIT_DEPS_webhook	:= daemon/webhook.c daemon/tls.c daemon/loop.c
UNIT_TESTS := $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))

# libFuzzer targets: fuzz/fuzz_NAME.c with the sources in FUZZ_DEPS_NAME.
FUZZ_DEPS_event		:= daemon/event.c
FUZZ_DEPS_config	:= daemon/config.c daemon/acl.c
FUZZ_DEPS_template	:= daemon/template.c
FUZZ_DEPS_mime		:= daemon/mime.c
FUZZ_DEPS_csv		:=
FUZZ_DEPS_contact	:= daemon/contact.c daemon/event.c
FUZZ_DEPS_smtp		:= daemon/smtp.c daemon/tls.c daemon/loop.c
FUZZ_DEPS_webhook	:= daemon/webhook.c daemon/tls.c daemon/loop.c
FUZZERS := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))

# Test tools (TLS sinks, drivers of one module): tests/tools/NAME.c with
# the daemon sources in TOOL_DEPS_NAME, built into $(BUILD)/tools/NAME.
TOOL_DEPS_smtpsink	:=
TOOL_DEPS_httpsink	:=
TOOL_DEPS_smtpsend	:= daemon/smtp.c daemon/tls.c daemon/loop.c
TOOL_DEPS_hooksend	:= daemon/webhook.c daemon/tls.c daemon/loop.c
TOOLS := $(patsubst tests/tools/%.c,%,$(wildcard tests/tools/*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

LIB_A		:= $(BUILD)/liboutreach.a
OUTREACHD	:= $(BUILD)/outreachd
OUTREACHCTL	:= $(BUILD)/outreachctl
BENCH_BINS	:= $(BUILD)/bench/ackload $(BUILD)/bench/fsynclat \
		   $(BUILD)/bench/render $(BUILD)/bench/smtpload
# Benchmarks that drive daemon modules directly link them.
BENCH_DEPS_render := daemon/render.c daemon/template.c daemon/mime.c \
		   daemon/event.c daemon/notice.c daemon/contact.c
BENCH_DEPS_smtpload :=

.PHONY: all check check-asan check-unit fuzz bench install clean
all: $(OUTREACHD) $(OUTREACHCTL)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_A): $(call obj,$(LIB_SRCS))
	$(AR) rcs $@ $^

$(OUTREACHD): $(call obj,$(DAEMON_MAIN) $(DAEMON_SRCS)) $(LIB_A)
	$(CC) $(LDSAN) $(LDFLAGS) -o $@ $^ $(LIBS)

$(OUTREACHCTL): $(call obj,$(CLIENT_SRCS)) $(LIB_A)
	$(CC) $(LDSAN) $(LDFLAGS) -o $@ $^ $(LIBS)

.SECONDEXPANSION:
$(BUILD)/bench/%: $(BUILD)/bench/%.o $$(call obj,$$(BENCH_DEPS_$$*)) $(LIB_A)
	$(CC) $(LDSAN) $(LDFLAGS) -o $@ $^ $(LIBS) -lpthread

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $$(call obj,$$(TOOL_DEPS_$$*)) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(LDSAN) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $$(call obj,$$(UNIT_DEPS_$$*)) $(LIB_A)
	$(CC) $(LDSAN) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# Fuzzers are built whole by clang, each in one command.
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Idaemon \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(shell $(PKG_CONFIG) --cflags $(PKGS))
$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $$(FUZZ_DEPS_$$*) $(LIB_SRCS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $^ $(LIBS)

UNIT_BINS := $(patsubst %,$(BUILD)/tests/test_%,$(UNIT_TESTS))
FUZZ_BINS := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZERS))
TOOL_BINS := $(patsubst %,$(BUILD)/tools/%,$(TOOLS))

check: all $(UNIT_BINS) $(BENCH_BINS) $(TOOL_BINS)
	@$(if $(shell command -v clang),$(MAKE) --no-print-directory fuzz,true)
	BUILD=$(BUILD) tests/run-tests

check-unit: $(UNIT_BINS)
	BUILD=$(BUILD) tests/run-tests unit

fuzz: $(FUZZ_BINS)

check-asan:
	$(MAKE) BUILD=build-asan SAN=1 OPT=-O1 all $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_BINS) $(BENCH_BINS) $(TOOL_BINS))
	OUTREACH_ASAN=1 BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run-tests unit integration

bench: all $(BENCH_BINS) $(TOOL_BINS)
	BUILD=$(BUILD) bench/run
	BUILD=$(BUILD) bench/render-run
	BUILD=$(BUILD) /usr/bin/python3 bench/contacts.py
	BUILD=$(BUILD) /usr/bin/python3 bench/deliver.py

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/outreachd $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(DOCDIR)
	install -m 0755 $(OUTREACHD) $(DESTDIR)$(SBINDIR)/outreachd
	install -m 0755 $(OUTREACHCTL) $(DESTDIR)$(BINDIR)/outreachctl
	install -m 0644 conf/outreachd.conf $(DESTDIR)$(DOCDIR)/outreachd.conf.example
	install -m 0644 conf/publishers.conf $(DESTDIR)$(DOCDIR)/publishers.conf.example
	test -e $(DESTDIR)$(SYSCONFDIR)/outreachd/outreachd.conf || \
	    install -m 0644 conf/outreachd.conf $(DESTDIR)$(SYSCONFDIR)/outreachd/outreachd.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/outreachd/publishers.conf || \
	    install -m 0644 conf/publishers.conf $(DESTDIR)$(SYSCONFDIR)/outreachd/publishers.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/outreachd/templates || \
	    cp -R conf/templates $(DESTDIR)$(SYSCONFDIR)/outreachd/templates
	install -m 0644 docs/outreachctl.1 $(DESTDIR)$(MANDIR)/man1/outreachctl.1
	install -m 0644 docs/outreachd.conf.5 $(DESTDIR)$(MANDIR)/man5/outreachd.conf.5
	install -m 0644 docs/outreachd.8 $(DESTDIR)$(MANDIR)/man8/outreachd.8
	sed 's|@SBINDIR@|$(SBINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    systemd/outreachd.service > $(DESTDIR)$(UNITDIR)/outreachd.service
	install -m 0644 systemd/outreachd.sysusers $(DESTDIR)$(SYSUSERSDIR)/outreachd.conf
	install -m 0644 systemd/outreachd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/outreachd.conf

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
