# Load and fault tests (issue 9); included from the top-level Makefile
# (-include tests/load/load.mk).
#
#   make test-load   tests/load/run-load: 64 clients for 60 s mixing catalog
#                    searches, negotiations and transfers against a broker
#                    and two connectors on a private PostgreSQL (steady;
#                    with kill -9 of the broker, a connector and PostgreSQL;
#                    two broker replicas behind a round-robin proxy), then
#                    tests/load/run-netfaults when it exists.  Results:
#                    bench/results/load.md.  LOAD_CLIENTS, LOAD_SECONDS and
#                    LOAD_SCENARIOS (steady faults replicas) narrow a run.

BUILD ?= build

$(BUILD)/tests/load/agora-load: tests/load/agora-load.c $(LIBAGORA)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) tests/load/agora-load.c -o $@ \
		$(LIBAGORA) $(PKG_LIBS) $(EXTRA_LIBS) -lpthread

LOAD_BINS := $(BUILD)/tests/load/agora-load $(BUILD)/bin/agora-broker \
	$(BUILD)/bin/agora-connector $(BUILD)/bin/agora
# The proxy of the replica scenario (tests/load/faultproxy.c), when it is there.
ifneq ($(wildcard tests/load/faultproxy.c),)
LOAD_BINS += $(BUILD)/tests/load/agora-faultproxy
endif

.PHONY: test-load
test-load: deps
	@$(MAKE) --no-print-directory $(LOAD_BINS)
	@tests/load/run-load $(BUILD)
	@if [ -x tests/load/run-netfaults ]; then $(MAKE) --no-print-directory test-load-netfaults; fi
