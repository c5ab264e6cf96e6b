# Contract negotiation benchmark (issue 5); included from the top-level
# Makefile (-include bench/negotiation.mk).
#
#   make bench-negotiation   end-to-end negotiations through consumer
#                            connector → broker → provider connector on one
#                            PostgreSQL with synchronous_commit on: latency of
#                            single negotiations, finalized/s with 32 in
#                            flight, and a pgbench anchor of the same
#                            write transactions.  Results:
#                            bench/results/negotiation.md.

BUILD ?= build

$(BUILD)/bench/negotiation_bench: bench/negotiation_bench.c $(LIBAGORA)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) bench/negotiation_bench.c -o $@ \
		$(LIBAGORA) $(PKG_LIBS) $(EXTRA_LIBS) -lpthread

.PHONY: bench-negotiation
bench-negotiation: $(BUILD)/bench/negotiation_bench $(BUILD)/bin/agora-broker $(BUILD)/bin/agora-connector
	bench/negotiation_bench.sh $(BUILD)
