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

# Signatures per second through lib/jose.c against `openssl speed ed25519`
# (bench/sig_bench.c, bench/sig_bench.sh; results: bench/results/sig.md).
$(BUILD)/bench/sig_bench: bench/sig_bench.c $(LIBAGORA)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) bench/sig_bench.c -o $@ \
		$(LIBAGORA) $(PKG_LIBS) $(EXTRA_LIBS) -lpthread

.PHONY: bench bench-quick bench-build bench-sig bench-startup bench-policy-eval
bench-sig: $(BUILD)/bench/sig_bench
	bench/sig_bench.sh $(BUILD)

# Start-up time (exec → /healthz) and idle RSS of the servers against nginx,
# --version/--help of every binary against /bin/true (bench/startup_bench.sh;
# results: bench/results/startup.md).
bench-startup: deps-bench $(BINS)
	bench/startup_bench.sh $(BUILD)

# bench/policy_eval (make bench-policy) with its figures written to
# bench/results/policy.md and policy.json.
bench-policy-eval: $(BUILD)/bench/policy_eval
	bench/policy_bench.sh $(BUILD)

# make bench: every benchmark above, one after the other (16½ minutes on the
# 2-core development machine), then bench/collect.py gathers their JSON
# into $(BENCH_RESULTS)/latest.json and writes $(BENCH_REPORT).  See
# docs/BENCHMARKS.md.  BENCH_QUICK=1 shortens every bench (about 4 minutes);
# make bench-quick does that into $(BUILD)/bench-quick/, leaving bench/ alone.
# BENCH_ONLY="sig startup" runs a subset.
BENCH_QUICK   ?= 0
BENCH_RESULTS ?= bench/results
BENCH_REPORT  ?= bench/REPORT.md
BENCH_BINS := $(BUILD)/bench/catalog_gen $(BUILD)/bench/negotiation_bench $(BUILD)/bench/sig_bench \
              $(BUILD)/bench/policy_eval
bench-build: $(BINS) $(BENCH_BINS)
	@:
bench: deps deps-bench
	@$(MAKE) --no-print-directory bench-build
	@BENCH_QUICK=$(BENCH_QUICK) BENCH_RESULTS=$(BENCH_RESULTS) BENCH_REPORT=$(BENCH_REPORT) \
		BENCH_ONLY="$(BENCH_ONLY)" bench/run_all.sh $(BUILD)
bench-quick:
	@$(MAKE) --no-print-directory bench BENCH_QUICK=1 BENCH_RESULTS=$(BUILD)/bench-quick \
		BENCH_REPORT=$(BUILD)/bench-quick/REPORT.md
