# Policy engine targets; included from the top-level Makefile.
#
#   make bench-policy              benchmark bench/policy_eval (medians of several runs)
#   make fuzz-policy [FUZZ_SECONDS=60]   libFuzzer over parse+validate+evaluate

BUILD        ?= build
FUZZ_SECONDS ?= 60
POLICY_LIB_SRCS := $(filter-out policy/agora-policy.c,$(wildcard policy/*.c))
POLICY_JANSSON  := $(shell pkg-config --cflags --libs jansson 2>/dev/null)
POLICY_WARN     := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow \
                   -Wstrict-prototypes -Wmissing-prototypes -Ipolicy

.PHONY: bench-policy fuzz-policy

$(BUILD)/bench/policy_eval: bench/policy_eval.c $(POLICY_LIB_SRCS) $(wildcard policy/*.h)
	@mkdir -p $(dir $@)
	gcc $(POLICY_WARN) -O2 -g bench/policy_eval.c $(POLICY_LIB_SRCS) -o $@ $(POLICY_JANSSON)

bench-policy: $(BUILD)/bench/policy_eval
	$(BUILD)/bench/policy_eval

$(BUILD)/fuzz/fuzz_policy: tests/fuzz/fuzz_policy.c $(POLICY_LIB_SRCS) $(wildcard policy/*.h)
	@mkdir -p $(dir $@)
	clang $(POLICY_WARN) -O1 -g -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		tests/fuzz/fuzz_policy.c $(POLICY_LIB_SRCS) -o $@ $(POLICY_JANSSON)

fuzz-policy: $(BUILD)/fuzz/fuzz_policy
	@mkdir -p $(BUILD)/fuzz/corpus-policy
	$(BUILD)/fuzz/fuzz_policy -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 \
		-rss_limit_mb=2048 $(BUILD)/fuzz/corpus-policy tests/fuzz/corpus/policy
