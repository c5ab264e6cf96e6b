# Transfer data-plane benchmark (issue 6); included from the top-level
# Makefile (-include bench/transfer.mk).
#
#   make bench-transfer   the provider connector's GET /data/{transfer}
#                         against nginx (Debian's nginx-light) serving the
#                         same files, in one run: a 1 GiB file pulled with
#                         curl (throughput, the provider's RSS and CPU
#                         time), and a 1 KiB file under wrk with 64
#                         connections, each request carrying a token that
#                         is checked.  Results: bench/results/transfer.md.

BUILD ?= build

.PHONY: bench-transfer
bench-transfer: deps-bench $(BUILD)/bin/agora-broker $(BUILD)/bin/agora-connector
	bench/transfer_bench.sh $(BUILD)
