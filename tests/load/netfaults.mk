# Network faults (issue 9, "Hardening"); included from the top-level
# Makefile (-include tests/load/netfaults.mk).
#
#   $(BUILD)/tests/load/agora-faultproxy   a TCP proxy that delays, drops
#                           and truncates responses (and the round-robin
#                           proxy in front of two broker replicas)
#   make test-faultproxy    the proxy's own test against two tiny python3
#                           backends (~6 s)

BUILD ?= build

# Plain C and POSIX sockets: no library of ours, nothing from pkg-config.
$(BUILD)/tests/load/agora-faultproxy: tests/load/faultproxy.c
	@mkdir -p $(dir $@) $(BUILD)/obj/tests/load
	$(CC) $(CPPFLAGS) $(CFLAGS) -MF $(BUILD)/obj/tests/load/faultproxy.d -MT $@ $< -o $@

.PHONY: faultproxy test-faultproxy
faultproxy: $(BUILD)/tests/load/agora-faultproxy

test-faultproxy: $(BUILD)/tests/load/agora-faultproxy
	@tests/load/test-faultproxy $(BUILD)
