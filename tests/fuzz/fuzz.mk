# libFuzzer targets (issue 9); included from the top-level Makefile.
# docs/TESTING.md#fuzzing says what each one checks.
#
#   make fuzz                      every target for FUZZ_SECONDS each
#                                  (default 600 s = 10 minutes per target)
#   make fuzz-jose [FUZZ_SECONDS=60]   one target (default 60 s)
#   make fuzz-build                build them all, run none
#
# clang with -fsanitize=fuzzer,address,undefined.  The sources of lib/,
# policy/ and the few pure files of connectors/ and server/ are compiled
# again with clang (-fsanitize=fuzzer-no-link: coverage and sanitizers) into
# one archive under $(BUILD)/fuzz/; the linker takes from it only the
# objects a target references.  Corpora: the seeds in tests/fuzz/corpus/<t>/
# (read-only, in git) and what a run finds in $(BUILD)/fuzz/corpus-<t>/.

FUZZ_SECONDS ?= 60
# `make fuzz` runs 600 s per target unless FUZZ_SECONDS was given on the
# command line or in the environment (policy.mk's 60 s default is for one
# target at a time).
FUZZ_ALL_SECONDS := $(if $(filter command line environment,$(origin FUZZ_SECONDS)),$(FUZZ_SECONDS),600)

FUZZ_TARGETS := jose pauth jcs ingest http dsp xform catalog
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g $(WARN) -MMD -MP $(FUZZ_SAN)
FUZZ_SRCS    := $(wildcard lib/*.c) $(filter-out policy/agora-policy.c,$(wildcard policy/*.c)) \
                connectors/ingest.c connectors/quality.c connectors/xform.c \
                server/catalog_validate.c server/catalog_access.c
FUZZ_OBJS    := $(FUZZ_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
FUZZ_LIB     := $(BUILD)/fuzz/libagora-fuzz.a

.PHONY: fuzz-build $(FUZZ_TARGETS:%=fuzz-%)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -c $< -o $@

# fuzz.mk is a prerequisite so that a source added to FUZZ_SRCS is built (the
# top-level .SECONDARY: would otherwise let a missing object pass).
$(FUZZ_LIB): $(FUZZ_OBJS) tests/fuzz/fuzz.mk
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $(FUZZ_OBJS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	clang $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) $< $(FUZZ_LIB) -o $@ \
		$(PKG_LIBS) $(EXTRA_LIBS) -lpthread

fuzz-build: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%) $(BUILD)/fuzz/fuzz_policy

# One run: the generated corpus first (new inputs are written there), then
# the seeds.  -max_len 16 KiB is above every seed.
$(FUZZ_TARGETS:%=fuzz-%): fuzz-%: $(BUILD)/fuzz/fuzz_%
	@mkdir -p $(BUILD)/fuzz/corpus-$*
	$(BUILD)/fuzz/fuzz_$* -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		$(BUILD)/fuzz/corpus-$* tests/fuzz/corpus/$*

-include $(shell find $(BUILD)/fuzz -name '*.d' 2>/dev/null)
