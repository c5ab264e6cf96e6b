/* test_quality.c — DQV measures on hand-computed statistics, ISO 8601 durations. */
#include "quality.h"
#include "util.h"

#include <criterion/criterion.h>

/* Compares the whole object with the expected JSON text. */
static void
expect(json_t *got, const char *want_text)
{
	json_t *want = json_loads(want_text, 0, NULL);
	cr_assert_not_null(want, "bad expected JSON: %s", want_text);
	char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(10));
	cr_assert(json_equal(got, want), "got %s", g);
	free(g);
	json_decref(want);
	json_decref(got);
}

#define M(metric, v) "{\"@type\":\"QualityMeasurement\",\"isMeasurementOf\":\"agora:" metric "\",\"value\":" v "}"

Test(quality, full_measures_with_a_known_period)
{
	/* 10 hourly records of one thing, 2 fields: 10 + 7 of 20 values set;
	 * 1 of 17 checked values out of range; 2 records refused. */
	int64_t nonnull[] = { 10, 7 };
	int64_t newest = 1714557600000LL + 9 * 3600000LL;
	struct agora_quality_input in = {
		.records = 10, .rejected = 2, .field_count = 2, .nonnull = nonnull,
		.implausible = 1, .checked = 17, .duplicates = 0, .things = 1,
		.oldest_ms = 1714557600000LL, .newest_ms = newest, .period_s = 3600,
		.now = newest / 1000 + 120,
	};
	expect(agora_quality_compute(&in),
	       "{\"recordCount\":10,\"completeness\":0.85,\"expectedRecords\":10,\"freshnessSeconds\":120,"
	       "\"plausibility\":0.9412,\"duplicateRate\":0.0,\"schemaConformance\":0.8333,"
	       "\"measurements\":[" M("recordCount", "10") "," M("completeness", "0.85") ","
	       M("freshnessSeconds", "120") "," M("plausibility", "0.9412") "," M("duplicateRate", "0.0") ","
	       M("schemaConformance", "0.8333") "]}");
}

Test(quality, coverage_counts_distinct_samples_per_thing)
{
	/* Two things, one sample a minute over 5 minutes → 2 × 6 expected;
	 * 6 records of which 1 repeats a (thing, ts): 5 / 12 received. */
	int64_t nonnull[] = { 6 };
	struct agora_quality_input in = {
		.records = 6, .field_count = 1, .nonnull = nonnull, .duplicates = 1, .things = 2,
		.oldest_ms = 0, .newest_ms = 300000, .period_s = 60, .now = 1000,
	};
	json_t *q = agora_quality_compute(&in);
	cr_assert_eq(json_real_value(json_object_get(q, "completeness")), 0.4167);
	cr_assert_eq(json_integer_value(json_object_get(q, "expectedRecords")), 12);
	cr_assert_eq(json_real_value(json_object_get(q, "duplicateRate")), 0.1667);
	cr_assert_eq(json_integer_value(json_object_get(q, "freshnessSeconds")), 700);
	cr_assert(json_is_null(json_object_get(q, "plausibility")));
	cr_assert_eq(json_real_value(json_object_get(q, "schemaConformance")), 1.0);
	/* plausibility is null, so it has no measurement. */
	cr_assert_eq(json_array_size(json_object_get(q, "measurements")), 5);
	json_decref(q);
}

Test(quality, coverage_is_capped_at_one_and_span_floors)
{
	/* Span 150 s at a 60 s period → ⌊2.5⌋ + 1 = 3 slots; 5 samples > 3. */
	int64_t nonnull[] = { 4, 5 };
	struct agora_quality_input in = {
		.records = 5, .field_count = 2, .nonnull = nonnull, .things = 0,
		.oldest_ms = 0, .newest_ms = 150000, .period_s = 60, .now = 150,
	};
	json_t *q = agora_quality_compute(&in);
	cr_assert_eq(json_real_value(json_object_get(q, "completeness")), 0.9);
	cr_assert_eq(json_integer_value(json_object_get(q, "expectedRecords")), 3);
	cr_assert_eq(json_integer_value(json_object_get(q, "freshnessSeconds")), 0);
	json_decref(q);
}

Test(quality, unknown_period_leaves_expected_null)
{
	int64_t nonnull[] = { 3, 1, 2 };
	struct agora_quality_input in = {
		.records = 3, .rejected = 1, .field_count = 3, .nonnull = nonnull, .implausible = 3,
		.checked = 4, .things = 3, .oldest_ms = 5000, .newest_ms = 9999, .now = 100,
	};
	expect(agora_quality_compute(&in),
	       "{\"recordCount\":3,\"completeness\":0.6667,\"expectedRecords\":null,\"freshnessSeconds\":91,"
	       "\"plausibility\":0.25,\"duplicateRate\":0.0,\"schemaConformance\":0.75,"
	       "\"measurements\":[" M("recordCount", "3") "," M("completeness", "0.6667") ","
	       M("freshnessSeconds", "91") "," M("plausibility", "0.25") "," M("duplicateRate", "0.0") ","
	       M("schemaConformance", "0.75") "]}");
}

Test(quality, no_records)
{
	struct agora_quality_input in = { .rejected = 4, .field_count = 2, .nonnull = (int64_t[]){ 0, 0 },
					  .period_s = 3600, .now = 100 };
	expect(agora_quality_compute(&in),
	       "{\"recordCount\":0,\"completeness\":0.0,\"expectedRecords\":null,\"freshnessSeconds\":null,"
	       "\"plausibility\":null,\"duplicateRate\":0.0,\"schemaConformance\":0.0,"
	       "\"measurements\":[" M("recordCount", "0") "," M("completeness", "0.0") ","
	       M("duplicateRate", "0.0") "," M("schemaConformance", "0.0") "]}");
	struct agora_quality_input none = { .now = 100 };
	json_t *q = agora_quality_compute(&none);
	cr_assert_eq(json_real_value(json_object_get(q, "schemaConformance")), 1.0);
	json_decref(q);
}

Test(quality, negative_timestamps_floor_to_seconds)
{
	struct agora_quality_input in = { .records = 1, .field_count = 0, .oldest_ms = -1500,
					  .newest_ms = -1500, .now = 10 };
	json_t *q = agora_quality_compute(&in);
	/* ⌊-1.5⌋ = -2 → 12 s old; no fields means nothing can be missing. */
	cr_assert_eq(json_integer_value(json_object_get(q, "freshnessSeconds")), 12);
	cr_assert_eq(json_real_value(json_object_get(q, "completeness")), 1.0);
	json_decref(q);
}

Test(quality, file_measures)
{
	expect(agora_quality_for_file(12345, 1000, 4600),
	       "{\"recordCount\":null,\"completeness\":null,\"expectedRecords\":null,\"freshnessSeconds\":3600,"
	       "\"plausibility\":null,\"duplicateRate\":null,\"schemaConformance\":null,\"byteSize\":12345,"
	       "\"measurements\":[" M("freshnessSeconds", "3600") "," M("byteSize", "12345") "]}");
}

Test(duration, accepts)
{
	static const struct {
		const char *s;
		int64_t want;
	} ok[] = {
		{ "PT1H", 3600 },	  { "PT15M", 900 },	{ "P1D", 86400 },      { "P1Y", 31536000 },
		{ "P1M", 2592000 },	  { "P2W", 1209600 },	{ "P1DT12H", 129600 }, { "PT1H30M", 5400 },
		{ "PT0S", 0 },		  { "PT36H", 129600 },	{ "PT01M", 60 },       { "P0D", 0 },
		{ "P1Y2M3DT4H5M6S", 36993906 },
	};
	for (size_t i = 0; i < ARRAY_LEN(ok); i++) {
		int64_t v = -1;
		cr_assert(agora_iso8601_duration_seconds(ok[i].s, &v), "%s", ok[i].s);
		cr_assert_eq(v, ok[i].want, "%s: %lld", ok[i].s, (long long)v);
	}
}

Test(duration, rejects)
{
	static const char *const bad[] = {
		"",	  "P",	      "PT",	    "P1DT",	 "1D",	      "p1d",	   "PT1h",
		"P1H",	  "PT1D",     "P1M1Y",	    "P1W1D",	 "P1DT1W",    "P-1D",	   "-P1D",
		"PT1.5H", "PT1,5H",   "P1DT1H1H",   "PT1S1M",	 " P1D",      "P1D ",	   "P1DT1HT",
		"PD",	  "PTH",      "P1D1D",	    "P1W ",	 "PW",	      "P1S",	   "PT1Y",
		"P9999999999999999999D", "P999999999999999999Y", "P1DTT1H",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		int64_t v = 42;
		cr_assert_not(agora_iso8601_duration_seconds(bad[i], &v), "'%s' accepted", bad[i]);
		cr_assert_eq(v, 42, "%s", bad[i]);
	}
	int64_t v;
	cr_assert_not(agora_iso8601_duration_seconds(NULL, &v));
}
