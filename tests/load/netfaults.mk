# Network faults (issue 9, "Hardening"); included from the top-level
# Makefile (-include tests/load/netfaults.mk).
#
#   $(BUILD)/tests/load/agora-faultproxy   a TCP proxy that delays, drops
#                           and truncates responses (and the round-robin
#                           proxy in front of two broker replicas)
#   make test-faultproxy    the proxy's own test against two tiny python3
#                           backends (~6 s)
#   make test-load-netfaults   negotiations and transfers between a broker
#                           and two connectors that reach each other only
#                           through faulty proxies: retries converge and
#                           nothing is duplicated (tests/load/run-netfaults,
#                           docs/TESTING.md "Network faults"; < 5 min)

BUILD ?= build

# Plain C and POSIX sockets: no library of ours, nothing from pkg-config.
$(BUILD)/tests/load/agora-faultproxy: tests/load/faultproxy.c
	@mkdir -p $(dir $@) $(BUILD)/obj/tests/load
	$(CC) $(CPPFLAGS) $(CFLAGS) -MF $(BUILD)/obj/tests/load/faultproxy.d -MT $@ $< -o $@

.PHONY: faultproxy test-faultproxy test-load-netfaults
faultproxy: $(BUILD)/tests/load/agora-faultproxy

test-faultproxy: $(BUILD)/tests/load/agora-faultproxy
	@tests/load/test-faultproxy $(BUILD)

test-load-netfaults: build-all $(BUILD)/tests/load/agora-faultproxy
	@tests/load/run-netfaults $(BUILD)
