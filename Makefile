# Agora — build, test and run.  See README.md.
#
#   make            build everything under build/
#   make test       unit + integration suites (starts its own PostgreSQL), and
#                   the web UI's e2e tests when /usr/bin/chromium is installed
#   make test-e2e   the e2e tests only (installs Chromium and the npm packages)
#   make test-user-guide   docs/USER-GUIDE.md's commands against a fresh demo
#   make run        the demo (starts a private PostgreSQL under ./var/)
#   make SANITIZE=address,undefined test   the same under sanitizers
#   make test-valgrind   the unit tests under valgrind (memory errors, leaks)

CC       ?= cc
PKGS     := libmicrohttpd jansson libpq libcurl openssl yaml-0.1
# libcsv ships no pkg-config file on Debian.
EXTRA_LIBS := -lcsv -lm
TESTPKGS := criterion
BUILD    ?= build
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
PREFIX   ?= /usr/local

WARN     := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes
CPPFLAGS += -D_GNU_SOURCE -DAGORA_VERSION='"$(VERSION)"' -DAGORA_SHARE_DIR='"$(PREFIX)/share/agora"' -Ilib -Ipolicy -Iconnectors -Iserver -I$(BUILD)/gen
CFLAGS   ?= -O2 -g
CFLAGS   += $(WARN) -MMD -MP
ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=$(SANITIZE)
BUILD    := build-san
# Every stage (unit, integration, demo, user guide, e2e) runs its processes
# with these unless the caller set them: a memory error or undefined
# behaviour stops the process with a non-zero status (UBSan cannot recover:
# -fno-sanitize-recover=all), and a leak at a normal exit makes it exit with
# status 23 — the fixtures require status 0 of every server they stop.
# tests/lsan.supp: third-party leaks only.
export ASAN_OPTIONS  ?= halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS  ?= suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0
endif

# pkg-config is only asked once deps are present (make deps runs first).
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_CFLAGS = $(shell pkg-config --cflags $(TESTPKGS) 2>/dev/null)
TEST_LIBS   = $(shell pkg-config --libs $(TESTPKGS) 2>/dev/null)

LIB_SRCS     := $(wildcard lib/*.c)
POLICY_SRCS  := $(filter-out policy/agora-policy.c,$(wildcard policy/*.c))
SERVER_SRCS  := $(wildcard server/*.c)
# connectors/: main.c is agora-connector's entry point; the rest is a
# library that unit tests link too.
CONN_SRCS    := $(filter-out connectors/main.c,$(wildcard connectors/*.c))
HARNESS_SRCS := $(wildcard tests/harness/*.c)
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
INTEG_SRCS   := $(wildcard tests/integration/test_*.c)
INTEG_SUPPORT:= $(filter-out $(INTEG_SRCS),$(wildcard tests/integration/*.c))

LIB_OBJS     := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
POLICY_OBJS  := $(POLICY_SRCS:%.c=$(BUILD)/obj/%.o)
SERVER_OBJS  := $(filter-out $(BUILD)/obj/server/main.o,$(SERVER_SRCS:%.c=$(BUILD)/obj/%.o)) $(BUILD)/obj/gen/broker_migrations.o \
                $(BUILD)/obj/gen/openapi_broker.o
CONN_OBJS    := $(CONN_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/connector_migrations.o \
                $(BUILD)/obj/gen/openapi_connector.o
HARNESS_OBJS := $(HARNESS_SRCS:%.c=$(BUILD)/obj/%.o)
INTEG_OBJS   := $(INTEG_SUPPORT:%.c=$(BUILD)/obj/%.o)
UNIT_BINS    := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_BINS   := $(INTEG_SRCS:tests/integration/%.c=$(BUILD)/tests/integration/%)

LIBAGORA     := $(BUILD)/lib/libagora.a
LIBPOLICY    := $(if $(POLICY_SRCS),$(BUILD)/lib/libagora-policy.a)
LIBBROKER    := $(BUILD)/lib/libagora-broker.a
LIBCONN      := $(if $(CONN_SRCS),$(BUILD)/lib/libagora-connector.a)
BINS         := $(BUILD)/bin/agora-broker
ifneq ($(wildcard connectors/main.c),)
BINS         += $(BUILD)/bin/agora-connector
endif
CLI_SRCS     := $(wildcard cli/*.c)
ifneq ($(CLI_SRCS),)
BINS         += $(BUILD)/bin/agora
endif
ifneq ($(wildcard policy/agora-policy.c),)
BINS         += $(BUILD)/bin/agora-policy
endif
# The demo's data generator (demo/): plain C, no library of ours.
BINS         += $(BUILD)/bin/agora-demo-data

.PHONY: all deps deps-e2e test test-unit test-integration test-hostile test-demo test-user-guide test-e2e test-e2e-if-chromium run clean install check-deps
all: deps
	@$(MAKE) --no-print-directory build-all

.PHONY: build-all
build-all: $(BINS) $(UNIT_BINS) $(INTEG_BINS)

deps:
	@scripts/deps

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/harness $(CFLAGS) $(PKG_CFLAGS) $(TEST_CFLAGS) -c $< -o $@

# Migrations are compiled into the binary: no schema path to configure.
$(BUILD)/gen/broker_migrations.c: scripts/embed-sql $(wildcard schemas/sql/broker/*.sql)
	@mkdir -p $(dir $@)
	scripts/embed-sql broker_migrations schemas/sql/broker > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/connector_migrations.c: scripts/embed-sql $(wildcard schemas/sql/connector/*.sql)
	@mkdir -p $(dir $@)
	scripts/embed-sql connector_migrations schemas/sql/connector > $@.tmp && mv $@.tmp $@

# So are the OpenAPI documents (schemas/openapi/*.yaml), served as JSON at
# /openapi.json (lib/service.c, lib/yamljson.c).
$(BUILD)/gen/openapi_%.c: scripts/embed-text schemas/openapi/%.yaml
	@mkdir -p $(dir $@)
	scripts/embed-text agora_openapi_$*_yaml schemas/openapi/$*.yaml > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -Wno-missing-prototypes -c $< -o $@

$(LIBAGORA): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBPOLICY): $(POLICY_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBBROKER): $(SERVER_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIBCONN): $(CONN_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

ALL_LIBS = $(LIBBROKER) $(LIBCONN) $(LIBPOLICY) $(LIBAGORA)

$(BUILD)/bin/agora-broker: $(BUILD)/obj/server/main.o $(LIBBROKER) $(LIBPOLICY) $(LIBAGORA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(EXTRA_LIBS) -lpthread

$(BUILD)/bin/agora-connector: $(BUILD)/obj/connectors/main.o $(LIBCONN) $(LIBPOLICY) $(LIBAGORA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(EXTRA_LIBS) -lpthread

$(BUILD)/bin/agora: $(CLI_SRCS:%.c=$(BUILD)/obj/%.o) $(LIBPOLICY) $(LIBAGORA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(EXTRA_LIBS) -lpthread

$(BUILD)/bin/agora-policy: $(BUILD)/obj/policy/agora-policy.o $(LIBPOLICY)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/bin/agora-demo-data: $(BUILD)/obj/demo/agora-demo-data.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(HARNESS_OBJS) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(EXTRA_LIBS) $(TEST_LIBS) -lpthread

$(BUILD)/tests/integration/%: $(BUILD)/obj/tests/integration/%.o $(INTEG_OBJS) $(HARNESS_OBJS) $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(EXTRA_LIBS) $(TEST_LIBS) -lpthread

# Unit tests need nothing running; integration tests get a throwaway
# PostgreSQL from scripts/pg-test-cluster and start real processes.
test: all
	@$(MAKE) --no-print-directory test-unit test-integration test-demo test-user-guide test-install \
		test-e2e-if-chromium

test-unit: build-all
	@AGORA_BUILD_DIR=$(BUILD) scripts/run-tests unit $(BUILD) $(UNIT_BINS)

test-integration: build-all
	@AGORA_BUILD_DIR=$(BUILD) scripts/pg-test-cluster run -- scripts/run-tests integration $(BUILD) $(INTEG_BINS)

# The hostile-input suite alone (it also runs in test-integration): each
# test appends its request count to $$AGORA_HOSTILE_COUNT; the total is
# printed after the summary.
HOSTILE_BINS := $(filter $(BUILD)/tests/integration/test_hostile%,$(INTEG_BINS))
test-hostile: build-all
	@f=$$(mktemp); AGORA_HOSTILE_COUNT=$$f AGORA_BUILD_DIR=$(BUILD) scripts/pg-test-cluster run -- \
		scripts/run-tests hostile $(BUILD) $(HOSTILE_BINS); st=$$?; \
	echo "hostile: $$(awk '{n += $$1} END {print n + 0}' $$f) requests"; rm -f $$f; exit $$st

# Every unit test binary under valgrind's memcheck, following Criterion's
# workers; fails on any memory error or definitely/indirectly lost block
# (docs/TESTING.md#valgrind).  Not part of make test.
.PHONY: test-valgrind deps-valgrind
deps-valgrind:
	@scripts/deps valgrind
test-valgrind: deps-valgrind
	@$(MAKE) --no-print-directory build-all
	@scripts/run-valgrind $(UNIT_BINS)

# The demo end to end, unattended, in a temporary directory on free ports:
# start, seed, check, stop, start again, check nothing was made twice (~10 s).
test-demo: build-all
	@scripts/run-demo --check $(BUILD)

# docs/USER-GUIDE.md, run: every ```sh block in order, with set -e, against a
# demo started on free ports in a temporary directory (~30 s).
test-user-guide: build-all
	@scripts/test-user-guide $(BUILD)

# The web UI in headless Chromium against a real broker and two connectors
# (tests/e2e/, docs/WEB-UI.md).  `make test` runs them only where Chromium
# is installed, and says so when it skips them; CI installs it first.
deps-e2e:
	@scripts/deps e2e

test-e2e: deps-e2e
	@$(MAKE) --no-print-directory build-all
	@AGORA_BUILD_DIR=$(BUILD) scripts/pg-test-cluster run -- scripts/run-e2e

test-e2e-if-chromium: build-all
	@if [ -x /usr/bin/chromium ]; then \
		scripts/deps e2e && AGORA_BUILD_DIR=$(BUILD) scripts/pg-test-cluster run -- scripts/run-e2e; \
	else \
		echo "e2e: skipped (no /usr/bin/chromium; make test-e2e or make deps-e2e installs it)"; \
	fi

run: deps
	@$(MAKE) --no-print-directory build-bins
	@scripts/run-demo $(BUILD)

# Fuzzing (libFuzzer: clang with its runtime) and benchmarks have targets of
# their own; CI runs neither.  make fuzz runs every target of
# tests/fuzz/fuzz.mk and policy.mk for FUZZ_SECONDS each (default 600).
.PHONY: fuzz deps-fuzz
deps-fuzz:
	@scripts/deps fuzz
fuzz: deps-fuzz
	@$(MAKE) --no-print-directory FUZZ_SECONDS=$(FUZZ_ALL_SECONDS) fuzz-policy \
		$(FUZZ_TARGETS:%=fuzz-%)

# make install [PREFIX=/usr/local] [DESTDIR=]: the binaries, the web UI
# (when web/ exists), the schemas, the demo seed and the man pages.  Needs
# only the build dependencies (scripts/deps build); the Docker image's
# build stage runs exactly this.
PREFIX ?= /usr/local
SHARE   = $(DESTDIR)$(PREFIX)/share/agora
MAN1    := $(wildcard man/*.1)
MAN8    := $(wildcard man/*.8)
.PHONY: bins deps-build test-install
deps-build:
	@scripts/deps build
bins: deps-build
	@$(MAKE) --no-print-directory build-bins
.PHONY: build-bins
build-bins: $(BINS)
	@:
install: bins
	install -d $(DESTDIR)$(PREFIX)/bin $(SHARE)/demo $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	rm -rf $(SHARE)/schemas $(SHARE)/web
	cp -R schemas $(SHARE)/schemas
	if [ -d web ]; then cp -R web $(SHARE)/web; fi
	install -m 0644 demo/city.json demo/mobility.json $(SHARE)/demo/
	install -m 0755 scripts/demo-seed $(SHARE)/demo/demo-seed
	install -m 0644 $(MAN1) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 $(MAN8) $(DESTDIR)$(PREFIX)/share/man/man8/

# docker/Dockerfile and docker/compose.yaml, checked offline (no image is
# built, no registry asked): see the comment in scripts/docker-check.
.PHONY: docker-check deps-docker
deps-docker:
	@scripts/deps docker
docker-check: bins deps-docker
	@scripts/docker-check $(BUILD)

# Installs into a temporary PREFIX and checks the files and that every
# binary answers --help and --version.
test-install: bins
	@scripts/test-install

clean:
	rm -rf build build-san

-include policy/policy.mk
-include tests/fuzz/fuzz.mk
-include bench/bench.mk
-include bench/ingest.mk
-include bench/negotiation.mk
-include bench/transfer.mk
-include tests/load/load.mk
-include tests/load/netfaults.mk
# The catalog benchmarks of issue 4 include the ingest one; benchmarks
# install their own tools (wrk, bc, curl).
.PHONY: deps-bench
deps-bench:
	@scripts/deps bench
bench-catalog: deps-bench bench-ingest
bench-ingest: deps-bench
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
.SECONDARY:
