# Catalog benchmarks; included from the top-level Makefile (-include bench/bench.mk).
#
#   make bench-catalog    10,000-dataset push timing, then search over 100,000
#                         datasets from 100 participants: median/p95 latency,
#                         qps with wrk (32 connections) and the same SQL through
#                         pgbench.  Results: bench/results/catalog.md.

BUILD ?= build

$(BUILD)/bench/catalog_gen: bench/catalog_gen.c $(LIBAGORA)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -Wno-missing-prototypes bench/catalog_gen.c -o $@ \
		$(LIBAGORA) $(PKG_LIBS) -lpthread

.PHONY: bench-catalog
bench-catalog: $(BUILD)/bench/catalog_gen $(BUILD)/bin/agora-broker
	bench/catalog_bench.sh $(BUILD)
