# Observation ingest benchmark; included from the top-level Makefile.
#   make bench-ingest    1,000,000 CSV rows through a real connector vs psql \copy
.PHONY: bench-ingest
bench-ingest: $(BUILD)/bin/agora-broker $(BUILD)/bin/agora-connector
	bench/ingest_bench.sh $(BUILD)
