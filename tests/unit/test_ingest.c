/* test_ingest.c — observation schemas, JSON and CSV batches, COPY lines, statistics. */
#include "ingest.h"
#include "util.h"

#include <criterion/criterion.h>
#include <string.h>

static const char *source_text =
	"{\"type\":\"observations\","
	"\"fields\":[{\"name\":\"no2\",\"type\":\"number\",\"unit\":\"ug/m3\",\"min\":0,\"max\":400,\"required\":true},"
	"{\"name\":\"status\",\"type\":\"string\"},"
	"{\"name\":\"count\",\"type\":\"integer\",\"min\":0},"
	"{\"name\":\"ok\",\"type\":\"boolean\"}],"
	"\"timeField\":\"timestamp\",\"thingField\":\"sensor\"}";

static struct agora_obs_schema *schema;

static void
setup(void)
{
	json_t *src = json_loads(source_text, 0, NULL);
	char err[256] = "";
	schema = agora_obs_schema_parse(src, err, sizeof err);
	cr_assert_not_null(schema, "%s", err);
	json_decref(src);
}

static void
teardown(void)
{
	agora_obs_schema_free(schema);
}

TestSuite(ingest, .init = setup, .fini = teardown);
TestSuite(schema);
TestSuite(rfc3339);

static struct agora_obs_batch *
csv(const char *text, size_t max_rows)
{
	return agora_obs_parse_csv(schema, text, strlen(text), max_rows);
}

static struct agora_obs_batch *
json(const char *text, size_t max_rows)
{
	return agora_obs_parse_json(schema, text, strlen(text), max_rows);
}

/* All accepted rows as COPY text for dataset "ds1". */
static char *
copy_all(const struct agora_obs_batch *b)
{
	struct agora_buf out;
	agora_buf_init(&out);
	for (size_t i = 0; i < agora_obs_batch_count(b); i++)
		agora_obs_batch_copy_line(b, i, "ds1", &out);
	agora_buf_append(&out, "", 0);
	return agora_buf_steal(&out);
}

static void
expect_copy(const struct agora_obs_batch *b, const char *want)
{
	cr_assert(agora_obs_batch_ok(b), "batch failed: %s", agora_obs_batch_error(b));
	char *got = copy_all(b);
	cr_assert_str_eq(got, want);
	free(got);
}

static void
expect_rejections(const struct agora_obs_batch *b, const char *want_text)
{
	json_t *got = agora_obs_batch_rejections(b);
	json_t *want = json_loads(want_text, 0, NULL);
	cr_assert_not_null(want, "bad expected JSON %s", want_text);
	char *g = json_dumps(got, JSON_COMPACT);
	cr_assert(json_equal(got, want), "got %s", g);
	cr_assert_eq(agora_obs_batch_rejected_count(b), (int64_t)json_array_size(want));
	free(g);
	json_decref(got);
	json_decref(want);
}

/* ---------------------------------------------------------------- schema */

static void
schema_error(const char *text, const char *want)
{
	json_t *src = json_loads(text, 0, NULL);
	cr_assert_not_null(src, "bad test JSON %s", text);
	char err[256] = "";
	struct agora_obs_schema *s = agora_obs_schema_parse(src, err, sizeof err);
	cr_assert_null(s, "%s accepted", text);
	cr_assert_str_eq(err, want);
	json_decref(src);
}

Test(schema, defaults_and_canonical_form)
{
	json_t *src = json_loads("{\"type\":\"observations\",\"fields\":[{\"name\":\"t.c-1_x\",\"type\":\"integer\",\"max\":5}]}",
				 0, NULL);
	char err[256];
	struct agora_obs_schema *s = agora_obs_schema_parse(src, err, sizeof err);
	cr_assert_not_null(s, "%s", err);
	cr_assert_str_eq(s->time_field, "timestamp");
	cr_assert_str_eq(s->thing_field, "thing");
	cr_assert_eq(s->nfields, 1);
	cr_assert(!s->fields[0].has_min && s->fields[0].has_max && s->fields[0].max == 5);
	json_t *back = agora_obs_schema_to_json(s);
	json_t *want = json_loads("{\"type\":\"observations\",\"fields\":[{\"name\":\"t.c-1_x\",\"type\":\"integer\","
				  "\"max\":5.0,\"required\":false}],\"timeField\":\"timestamp\",\"thingField\":\"thing\"}",
				  0, NULL);
	cr_assert(json_equal(back, want));
	/* The canonical form parses to the same schema. */
	struct agora_obs_schema *again = agora_obs_schema_parse(back, err, sizeof err);
	cr_assert_not_null(again, "%s", err);
	agora_obs_schema_free(again);
	json_decref(want);
	json_decref(back);
	json_decref(src);
	agora_obs_schema_free(s);
}

Test(schema, refuses_naming_the_member)
{
	schema_error("[]", "source must be an object");
	schema_error("{\"type\":\"file\",\"fields\":[]}", "source.type must be \"observations\"");
	schema_error("{\"type\":\"observations\"}", "source.fields must be an array of 1-64 fields");
	schema_error("{\"type\":\"observations\",\"fields\":[]}", "source.fields must be an array of 1-64 fields");
	schema_error("{\"type\":\"observations\",\"fields\":[],\"extra\":1}", "unknown field 'source.extra'");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"number\",\"requried\":true}]}",
		     "unknown field 'source.fields[0].requried'");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"number\"},{\"name\":\"b c\",\"type\":\"number\"}]}",
		     "source.fields[1].name must be 1-64 characters of A-Z a-z 0-9 _ . -");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"float\"}]}",
		     "source.fields[0].type must be one of number, integer, string, boolean");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"string\",\"min\":1}]}",
		     "source.fields[0].min is only allowed for number and integer fields");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"number\",\"max\":\"9\"}]}",
		     "source.fields[0].max must be a number");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"number\",\"min\":2,\"max\":1}]}",
		     "source.fields[0].min must not exceed max");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"number\",\"required\":1}]}",
		     "source.fields[0].required must be a boolean");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"number\"},{\"name\":\"a\",\"type\":\"string\"}]}",
		     "source.fields[1].name 'a' is declared twice");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"thing\",\"type\":\"string\"}]}",
		     "source.fields[0].name 'thing' is the time or thing field");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}],\"timeField\":\"x\",\"thingField\":\"x\"}",
		     "source.thingField must differ from source.timeField");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"string\"}],\"timeField\":\"\"}",
		     "source.timeField must be 1-64 characters of A-Z a-z 0-9 _ . -");
	schema_error("{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"string\",\"unit\":\"\"}]}",
		     "source.fields[0].unit must be a string of 1-64 bytes");

	/* 64 fields are fine, 65 are not. */
	struct agora_buf b;
	agora_buf_init(&b);
	agora_buf_puts(&b, "{\"type\":\"observations\",\"fields\":[");
	for (int i = 0; i < 65; i++)
		agora_buf_printf(&b, "%s{\"name\":\"f%d\",\"type\":\"number\"}", i ? "," : "", i);
	agora_buf_puts(&b, "]}");
	schema_error(b.data, "source.fields must be an array of 1-64 fields");
	char *cut = strstr(b.data, ",{\"name\":\"f64\"");
	strcpy(cut, "]}");
	json_t *src = json_loads(b.data, 0, NULL);
	char err[256];
	struct agora_obs_schema *s = agora_obs_schema_parse(src, err, sizeof err);
	cr_assert_not_null(s, "%s", err);
	cr_assert_eq(s->nfields, 64);
	agora_obs_schema_free(s);
	json_decref(src);
	agora_buf_cleanup(&b);
}

/* ---------------------------------------------------------------- time */

Test(rfc3339, parses_and_normalises_to_utc)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{ "2024-05-01T10:00:00Z", "2024-05-01T10:00:00.000Z" },
		{ "2024-05-01t10:00:00z", "2024-05-01T10:00:00.000Z" },
		{ "2024-05-01 10:00:00Z", "2024-05-01T10:00:00.000Z" },
		{ "2024-05-01T12:30:00.123+02:00", "2024-05-01T10:30:00.123Z" },
		{ "2024-05-01T01:30:00.5-03:30", "2024-05-01T05:00:00.500Z" },
		{ "2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00.000Z" },
		{ "2023-12-31T23:59:59.999999999-00:01", "2024-01-01T00:00:59.999Z" },
		{ "1969-12-31T23:59:59.001Z", "1969-12-31T23:59:59.001Z" },
		{ "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z" },
		{ "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int64_t ms;
		char buf[32];
		cr_assert(agora_rfc3339_ms(cases[i].in, strlen(cases[i].in), &ms), "%s", cases[i].in);
		agora_rfc3339_format_ms(ms, buf);
		cr_assert_str_eq(buf, cases[i].out, "%s", cases[i].in);
	}
	int64_t ms;
	cr_assert(agora_rfc3339_ms("2024-05-01T10:00:00Z", 20, &ms));
	cr_assert_eq(ms, 1714557600000LL);
	cr_assert(agora_rfc3339_ms("1970-01-01T00:00:00Z", 20, &ms));
	cr_assert_eq(ms, 0);
}

Test(rfc3339, refuses)
{
	static const char *const bad[] = {
		"2024-02-30T00:00:00Z",	 "2023-02-29T00:00:00Z",      "2024-05-01T24:00:00Z",
		"2024-05-01T10:60:00Z",	 "2024-05-01T10:00:60Z",      "2024-13-01T10:00:00Z",
		"2024-00-01T10:00:00Z",	 "2024-05-00T10:00:00Z",      "2024-05-01T10:00:00",
		"2024-05-01T10:00:00.Z", "2024-05-01T10:00:00+0200", "2024-05-01T10:00:00+02",
		"2024-05-01T10:00:00+24:00", "2024-05-01T10:00:00Zx", "2024-05-01",
		"2024-5-01T10:00:00Z",	 "2024-05-01X10:00:00Z",      "0001-01-01T00:00:00+00:01",
		"9999-12-31T23:59:59-00:01", "+2024-05-01T10:00:00Z", "",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		int64_t ms = 7;
		cr_assert_not(agora_rfc3339_ms(bad[i], strlen(bad[i]), &ms), "%s accepted", bad[i]);
		cr_assert_eq(ms, 7);
	}
	/* Length bounds the parse: a valid prefix is not enough. */
	int64_t ms;
	cr_assert_not(agora_rfc3339_ms("2024-05-01T10:00:00Z", 19, &ms));
}

/* ---------------------------------------------------------------- JSON */

Test(ingest, json_happy_path)
{
	struct agora_obs_batch *b = json(
		"[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"s1\",\"no2\":12.5,\"status\":\"ok\",\"count\":3,\"ok\":true},"
		" {\"sensor\":\"s2\",\"no2\":7,\"timestamp\":\"2024-05-01T12:30:00.123+02:00\",\"ok\":false,\"status\":null},"
		" {\"timestamp\":\"2024-05-01T11:00:00Z\",\"sensor\":\"s1\",\"no2\":0.1,\"count\":-9223372036854775807}]",
		10);
	expect_copy(b, "ds1\t2024-05-01T10:00:00.000Z\ts1\t{\"no2\":12.5,\"status\":\"ok\",\"count\":3,\"ok\":true}\n"
		       "ds1\t2024-05-01T10:30:00.123Z\ts2\t{\"no2\":7,\"status\":null,\"count\":null,\"ok\":false}\n"
		       "ds1\t2024-05-01T11:00:00.000Z\ts1\t{\"no2\":0.1,\"status\":null,\"count\":-9223372036854775807,\"ok\":null}\n");
	cr_assert_eq(agora_obs_batch_count(b), 3);
	cr_assert_eq(agora_obs_batch_rejected_count(b), 0);
	cr_assert_eq(agora_obs_batch_ts(b, 1), 1714559400123LL);
	cr_assert_str_eq(agora_obs_batch_thing(b, 1), "s2");
	json_t *v = agora_obs_batch_values(b, 0);
	json_t *want = json_loads("{\"no2\":12.5,\"status\":\"ok\",\"count\":3,\"ok\":true}", 0, NULL);
	cr_assert(json_equal(v, want));
	json_decref(v);
	json_decref(want);

	const struct agora_obs_stats *st = agora_obs_batch_stats(b);
	cr_assert_eq(st->accepted, 3);
	cr_assert_eq(st->min_ts, 1714557600000LL);
	cr_assert_eq(st->max_ts, 1714561200000LL);
	cr_assert_eq(st->nonnull[0], 3);
	cr_assert_eq(st->nonnull[1], 1);
	cr_assert_eq(st->nonnull[2], 2);
	cr_assert_eq(st->nonnull[3], 2);
	cr_assert_eq(st->things, 2);
	/* count's min 0: one of the two counts is below it. */
	cr_assert_eq(st->checked[0], 3);
	cr_assert_eq(st->checked[2], 2);
	cr_assert_eq(st->implausible[2], 1);
	agora_obs_batch_free(b);
}

Test(ingest, json_rows_rejected_with_row_and_column)
{
	char longthing[AGORA_OBS_MAX_THING + 2];
	memset(longthing, 'x', sizeof longthing - 1);
	longthing[sizeof longthing - 1] = '\0';
	char body[2048];
	snprintf(body, sizeof body,
		 "[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"s1\",\"no2\":1,\"temp\":2},"	/* 1 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"s1\",\"no2\":\"1\"},"		/* 2 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"s1\",\"status\":\"x\"},"		/* 3 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"s1\",\"no2\":null},"		/* 4 */
		 "[1,2],"										/* 5 */
		 "{\"timestamp\":\"2024-05-01\",\"sensor\":\"s1\",\"no2\":1},"				/* 6 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"%s\",\"no2\":1},"		/* 7 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":5,\"no2\":1},"			/* 8 */
		 "{\"sensor\":\"s1\",\"no2\":1},"							/* 9 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"no2\":1},"					/* 10 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"s1\",\"no2\":1,\"count\":1.0},"	/* 11 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"s1\",\"no2\":1,\"ok\":\"true\"}," /* 12 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"s1\",\"no2\":1,\"status\":7},"	/* 13 */
		 "{\"timestamp\":1714557600,\"sensor\":\"s1\",\"no2\":1},"				/* 14 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"\",\"no2\":1},"			/* 15 */
		 "{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"ok\",\"no2\":1}]",		/* 16 */
		 longthing);
	struct agora_obs_batch *b = json(body, 100);
	cr_assert(agora_obs_batch_ok(b), "%s", agora_obs_batch_error(b));
	cr_assert_eq(agora_obs_batch_count(b), 1);
	cr_assert_str_eq(agora_obs_batch_thing(b, 0), "ok");
	expect_rejections(b, "[{\"row\":1,\"column\":\"temp\",\"reason\":\"unknown field 'temp'\"},"
			     "{\"row\":2,\"column\":\"no2\",\"reason\":\"must be a number\"},"
			     "{\"row\":3,\"column\":\"no2\",\"reason\":\"is required\"},"
			     "{\"row\":4,\"column\":\"no2\",\"reason\":\"is required\"},"
			     "{\"row\":5,\"column\":null,\"reason\":\"must be an object\"},"
			     "{\"row\":6,\"column\":\"timestamp\",\"reason\":\"must be an RFC 3339 date-time\"},"
			     "{\"row\":7,\"column\":\"sensor\",\"reason\":\"must be 1-200 bytes\"},"
			     "{\"row\":8,\"column\":\"sensor\",\"reason\":\"must be a string\"},"
			     "{\"row\":9,\"column\":\"timestamp\",\"reason\":\"is required\"},"
			     "{\"row\":10,\"column\":\"sensor\",\"reason\":\"is required\"},"
			     "{\"row\":11,\"column\":\"count\",\"reason\":\"must be an integer\"},"
			     "{\"row\":12,\"column\":\"ok\",\"reason\":\"must be a boolean\"},"
			     "{\"row\":13,\"column\":\"status\",\"reason\":\"must be a string\"},"
			     "{\"row\":14,\"column\":\"timestamp\",\"reason\":\"must be an RFC 3339 date-time\"},"
			     "{\"row\":15,\"column\":\"sensor\",\"reason\":\"must be 1-200 bytes\"}]");
	const struct agora_obs_stats *st = agora_obs_batch_stats(b);
	cr_assert_eq(st->accepted, 1);
	cr_assert_eq(st->rejected, 15);
	/* Rejected rows leave no trace in the statistics. */
	cr_assert_eq(st->nonnull[0], 1);
	cr_assert_eq(st->things, 1);
	agora_obs_batch_free(b);
}

Test(ingest, json_whole_body_failures)
{
	struct {
		const char *body;
		const char *error;
	} cases[] = {
		{ "{\"timestamp\":1}", "the body must be a JSON array of observations" },
		{ "[{\"a\":1,}]", "invalid JSON at line 1 column 9: string or '}' expected near '}'" },
		{ "[{\"sensor\":\"a\",\"sensor\":\"b\"}]",
		  "invalid JSON at line 1 column 23: duplicate object key near '\"sensor\"'" },
		{ "[{},{},{}]", "more than 2 rows" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct agora_obs_batch *b = json(cases[i].body, 2);
		cr_assert_not(agora_obs_batch_ok(b), "%s", cases[i].body);
		cr_assert_str_eq(agora_obs_batch_error(b), cases[i].error);
		cr_assert_eq(agora_obs_batch_count(b), 0);
		agora_obs_batch_free(b);
	}
	struct agora_obs_batch *b = json("[{},{}]", 2);
	cr_assert(agora_obs_batch_ok(b));
	cr_assert_eq(agora_obs_batch_rejected_count(b), 2);
	agora_obs_batch_free(b);
}

Test(ingest, json_numbers_shortest_form)
{
	struct agora_obs_batch *b = json(
		"[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"a\",\"no2\":1e21},"
		"{\"timestamp\":\"2024-05-01T10:00:01Z\",\"sensor\":\"a\",\"no2\":0.30000000000000004},"
		"{\"timestamp\":\"2024-05-01T10:00:02Z\",\"sensor\":\"a\",\"no2\":-2.5E-3},"
		"{\"timestamp\":\"2024-05-01T10:00:03Z\",\"sensor\":\"a\",\"no2\":100.0}]",
		10);
	cr_assert_eq(agora_obs_batch_count(b), 4);
	cr_assert_str_eq(agora_obs_batch_values_text(b, 0), "{\"no2\":1e+21,\"status\":null,\"count\":null,\"ok\":null}");
	cr_assert_str_eq(agora_obs_batch_values_text(b, 1),
			 "{\"no2\":0.30000000000000004,\"status\":null,\"count\":null,\"ok\":null}");
	cr_assert_str_eq(agora_obs_batch_values_text(b, 2), "{\"no2\":-0.0025,\"status\":null,\"count\":null,\"ok\":null}");
	cr_assert_str_eq(agora_obs_batch_values_text(b, 3), "{\"no2\":100,\"status\":null,\"count\":null,\"ok\":null}");
	/* 1e21 is above max 400 and -0.0025 below min 0. */
	cr_assert_eq(agora_obs_batch_stats(b)->implausible[0], 2);
	agora_obs_batch_free(b);
}

/* ---------------------------------------------------------------- CSV */

Test(ingest, csv_happy_path)
{
	struct agora_obs_batch *b = csv("timestamp,sensor,no2,status,count,ok\n"
					"2024-05-01T10:00:00Z,s1,12.5,ok,3,true\n"
					"2024-05-01T12:00:00+02:00,s2,+7,\"a,b\",,FALSE\n"
					"2024-05-01T10:00:01Z , s1 ,.5,,-0,1\n",
					10);
	expect_copy(b, "ds1\t2024-05-01T10:00:00.000Z\ts1\t{\"no2\":12.5,\"status\":\"ok\",\"count\":3,\"ok\":true}\n"
		       "ds1\t2024-05-01T10:00:00.000Z\ts2\t{\"no2\":7,\"status\":\"a,b\",\"count\":null,\"ok\":false}\n"
		       "ds1\t2024-05-01T10:00:01.000Z\ts1\t{\"no2\":0.5,\"status\":null,\"count\":0,\"ok\":true}\n");
	cr_assert_eq(agora_obs_batch_rejected_count(b), 0);
	agora_obs_batch_free(b);
}

Test(ingest, csv_columns_in_any_order_and_optional_columns_absent)
{
	struct agora_obs_batch *b = csv("no2,sensor,timestamp\n3,x,2024-05-01T10:00:00Z\n", 10);
	expect_copy(b, "ds1\t2024-05-01T10:00:00.000Z\tx\t{\"no2\":3,\"status\":null,\"count\":null,\"ok\":null}\n");
	agora_obs_batch_free(b);
}

Test(ingest, csv_number_forms_normalised)
{
	struct agora_obs_batch *b = csv("timestamp,sensor,no2\n"
					"2024-05-01T10:00:00Z,a,007.250\n"
					"2024-05-01T10:00:01Z,a,1E+03\n"
					"2024-05-01T10:00:02Z,a,-0.5e-007\n"
					"2024-05-01T10:00:03Z,a,5.\n"
					"2024-05-01T10:00:04Z,a,0\n",
					10);
	cr_assert_eq(agora_obs_batch_count(b), 5);
	const char *want[] = { "7.250", "1e3", "-0.5e-7", "5", "0" };
	for (size_t i = 0; i < 5; i++) {
		char expect[128];
		snprintf(expect, sizeof expect, "{\"no2\":%s,\"status\":null,\"count\":null,\"ok\":null}", want[i]);
		cr_assert_str_eq(agora_obs_batch_values_text(b, i), expect);
		/* Each is valid JSON. */
		json_t *v = agora_obs_batch_values(b, i);
		cr_assert_not_null(v, "%s", expect);
		json_decref(v);
	}
	/* 1000 > 400 and -0.00000005 < 0. */
	cr_assert_eq(agora_obs_batch_stats(b)->implausible[0], 2);
	cr_assert_eq(agora_obs_batch_stats(b)->checked[0], 5);
	agora_obs_batch_free(b);
}

/* Found by fuzz-ingest: a number column keeps a CSV integer's digits, so an
 * accepted row can hold an integer literal beyond int64, which Jansson
 * refuses as an integer; agora_obs_batch_values() returned NULL for it. */
Test(ingest, csv_number_beyond_int64_reads_back)
{
	struct agora_obs_batch *b = csv("timestamp,sensor,no2\n"
					"2024-05-01T10:00:00Z,s1,33333333333333333333\n", 10);
	cr_assert_eq(agora_obs_batch_count(b), 1, "%s", agora_obs_batch_error(b));
	cr_assert_str_eq(agora_obs_batch_values_text(b, 0),
			 "{\"no2\":33333333333333333333,\"status\":null,\"count\":null,\"ok\":null}");
	json_t *v = agora_obs_batch_values(b, 0);
	cr_assert_not_null(v);
	cr_assert_float_eq(json_number_value(json_object_get(v, "no2")), 3.3333333333333333e19, 1e4);
	json_decref(v);
	agora_obs_batch_free(b);
}

Test(ingest, csv_quoted_cells_with_commas_newlines_quotes)
{
	struct agora_obs_batch *b = csv("timestamp,sensor,no2,status\n"
					"2024-05-01T10:00:00Z,\"s,1\",1,\"he said \"\"hi\"\", then\nleft\"\n"
					"2024-05-01T10:00:00Z,s2,2,\"\"\n"
					"2024-05-01T10:00:00Z,\"s\n3\",3,\"a\\b\tc\"\n"
					"2024-05-01T10:00:00Z,s4\n",
					10);
	expect_copy(b, "ds1\t2024-05-01T10:00:00.000Z\ts,1\t{\"no2\":1,\"status\":\"he said \\\\\"hi\\\\\", then\\\\nleft\",\"count\":null,\"ok\":null}\n"
		       "ds1\t2024-05-01T10:00:00.000Z\ts2\t{\"no2\":2,\"status\":\"\",\"count\":null,\"ok\":null}\n"
		       "ds1\t2024-05-01T10:00:00.000Z\ts\\n3\t{\"no2\":3,\"status\":\"a\\\\\\\\b\\\\tc\",\"count\":null,\"ok\":null}\n");
	cr_assert_str_eq(agora_obs_batch_thing(b, 2), "s\n3");
	json_t *v = agora_obs_batch_values(b, 0);
	cr_assert_str_eq(json_string_value(json_object_get(v, "status")), "he said \"hi\", then\nleft");
	json_decref(v);
	/* Records 2 and 4 span two lines each: the ragged one starts on line 7. */
	expect_rejections(b, "[{\"row\":7,\"column\":\"no2\",\"reason\":\"expected 4 columns, found 2\"}]");
	agora_obs_batch_free(b);
}

Test(ingest, csv_ragged_rows_numbered)
{
	struct agora_obs_batch *b = csv("timestamp,sensor,no2\n"
					"2024-05-01T10:00:00Z,s1,1\n"
					"2024-05-01T10:00:00Z,s2\n"
					"2024-05-01T10:00:00Z,s3,3,4\n"
					"\n"
					"2024-05-01T10:00:00Z,s5,5\n"
					"2024-05-01T10:00:00Z,s6,x,9\n"
					"only\n",
					10);
	cr_assert(agora_obs_batch_ok(b));
	cr_assert_eq(agora_obs_batch_count(b), 2);
	cr_assert_str_eq(agora_obs_batch_thing(b, 1), "s5");
	expect_rejections(b, "[{\"row\":3,\"column\":\"no2\",\"reason\":\"expected 3 columns, found 2\"},"
			     "{\"row\":4,\"column\":4,\"reason\":\"expected 3 columns, found 4\"},"
			     "{\"row\":7,\"column\":4,\"reason\":\"expected 3 columns, found 4\"},"
			     "{\"row\":8,\"column\":\"sensor\",\"reason\":\"expected 3 columns, found 1\"}]");
	agora_obs_batch_free(b);
}

Test(ingest, csv_type_errors_name_row_and_column)
{
	struct agora_obs_batch *b = csv("timestamp,sensor,no2,count,ok,status\n"
					"2024-05-01T10:00:00Z,s1,abc,1,true,x\n"
					"2024-05-01T10:00:00Z,s1,1,1.5,true,x\n"
					"2024-05-01T10:00:00Z,s1,1,1,yes,x\n"
					"2024-05-01T10:00:00Z,s1,1e999,1,true,x\n"
					"2024-05-01T10:00:00Z,s1,1,99999999999999999999,true,x\n"
					"2024-05-01T10:00:00Z,s1,,1,true,x\n"
					"2024-05-01T10:00:00Z,s1,0x10,1,true,x\n"
					"2024-05-01T10:00:00Z,s1,nan,1,true,x\n"
					"2024-05-01T10:00:00Z,s1,\"\",1,true,x\n"
					"2024-05-01T10:00:00,s1,1,1,true,x\n"
					",s1,1,1,true,x\n"
					"2024-05-01T10:00:00Z,,1,1,true,x\n"
					"2024-05-01T10:00:00Z,s1,1,1,true,\"\xff\"\n"
					"2024-05-01T10:00:00Z,s1,1 2,1,true,x\n"
					"2024-05-01T10:00:00Z,s1,-,1,true,x\n"
					"2024-05-01T10:00:00Z,s1,1e,1,true,x\n"
					"2024-05-01T10:00:00Z,s1,1,+,true,x\n"
					"2024-05-01T10:00:00Z,s1,1,-9223372036854775808,true,x\n",
					100);
	cr_assert(agora_obs_batch_ok(b));
	expect_rejections(b, "[{\"row\":2,\"column\":\"no2\",\"reason\":\"must be a number\"},"
			     "{\"row\":3,\"column\":\"count\",\"reason\":\"must be an integer\"},"
			     "{\"row\":4,\"column\":\"ok\",\"reason\":\"must be a boolean\"},"
			     "{\"row\":5,\"column\":\"no2\",\"reason\":\"number out of range\"},"
			     "{\"row\":6,\"column\":\"count\",\"reason\":\"integer out of range\"},"
			     "{\"row\":7,\"column\":\"no2\",\"reason\":\"is required\"},"
			     "{\"row\":8,\"column\":\"no2\",\"reason\":\"must be a number\"},"
			     "{\"row\":9,\"column\":\"no2\",\"reason\":\"must be a number\"},"
			     "{\"row\":10,\"column\":\"no2\",\"reason\":\"is required\"},"
			     "{\"row\":11,\"column\":\"timestamp\",\"reason\":\"must be an RFC 3339 date-time\"},"
			     "{\"row\":12,\"column\":\"timestamp\",\"reason\":\"must be an RFC 3339 date-time\"},"
			     "{\"row\":13,\"column\":\"sensor\",\"reason\":\"must be 1-200 bytes\"},"
			     "{\"row\":14,\"column\":\"status\",\"reason\":\"must be valid UTF-8\"},"
			     "{\"row\":15,\"column\":\"no2\",\"reason\":\"must be a number\"},"
			     "{\"row\":16,\"column\":\"no2\",\"reason\":\"must be a number\"},"
			     "{\"row\":17,\"column\":\"no2\",\"reason\":\"must be a number\"},"
			     "{\"row\":18,\"column\":\"count\",\"reason\":\"must be an integer\"}]");
	cr_assert_eq(agora_obs_batch_count(b), 1);
	cr_assert_str_eq(agora_obs_batch_values_text(b, 0),
			 "{\"no2\":1,\"status\":\"x\",\"count\":-9223372036854775808,\"ok\":true}");
	agora_obs_batch_free(b);
}

Test(ingest, csv_header_errors_fail_the_batch)
{
	struct {
		const char *body;
		const char *error;
	} cases[] = {
		{ "timestamp,sensor,no2,temp\n2024-05-01T10:00:00Z,s1,1,2\n", "header: unknown column 'temp'" },
		{ "timestamp,no2\n", "header: no column 'sensor'" },
		{ "sensor,no2\n", "header: no column 'timestamp'" },
		{ "timestamp,sensor,status\n", "header: no column for required field 'no2'" },
		{ "timestamp,sensor,no2,no2\n", "header: column 'no2' appears twice" },
		{ "timestamp,,sensor,no2\n", "header: column 2 has no name" },
		{ "Timestamp,sensor,no2\n", "header: unknown column 'Timestamp'" },
		{ "", "the CSV body has no header line" },
		{ "\n\n", "the CSV body has no header line" },
		{ "timestamp,sensor,no2\n2024-05-01T10:00:00Z,s\"1,1\n",
		  "CSV syntax error on line 2: a quote inside an unquoted cell or text after a closing quote" },
		{ "timestamp,sensor,no2\n2024-05-01T10:00:00Z,\"s1\"x,1\n",
		  "CSV syntax error on line 2: a quote inside an unquoted cell or text after a closing quote" },
		{ "timestamp,sensor,no2\n2024-05-01T10:00:00Z,\"s1,1\n", "CSV syntax error: a quoted cell is not closed at the end of the body" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct agora_obs_batch *b = csv(cases[i].body, 10);
		cr_assert_not(agora_obs_batch_ok(b), "%s", cases[i].body);
		cr_assert_str_eq(agora_obs_batch_error(b), cases[i].error);
		cr_assert_eq(agora_obs_batch_count(b), 0);
		cr_assert_eq(agora_obs_batch_rejected_count(b), 0);
		agora_obs_batch_free(b);
	}
}

Test(ingest, csv_bom_and_crlf)
{
	struct agora_obs_batch *b = csv("\xef\xbb\xbftimestamp,sensor,no2,status\r\n"
					"2024-05-01T10:00:00Z,s1,1,\"two\r\nlines\"\r\n"
					"2024-05-01T10:00:00Z,s2,x,y\r\n"
					"2024-05-01T10:00:00Z,s3,3,z\r\n",
					10);
	expect_copy(b, "ds1\t2024-05-01T10:00:00.000Z\ts1\t{\"no2\":1,\"status\":\"two\\\\r\\\\nlines\",\"count\":null,\"ok\":null}\n"
		       "ds1\t2024-05-01T10:00:00.000Z\ts3\t{\"no2\":3,\"status\":\"z\",\"count\":null,\"ok\":null}\n");
	expect_rejections(b, "[{\"row\":4,\"column\":\"no2\",\"reason\":\"must be a number\"}]");
	agora_obs_batch_free(b);

	/* Without a trailing newline the last record still counts. */
	b = csv("\xef\xbb\xbftimestamp,sensor,no2\r\n2024-05-01T10:00:00Z,s1,1", 10);
	expect_copy(b, "ds1\t2024-05-01T10:00:00.000Z\ts1\t{\"no2\":1,\"status\":null,\"count\":null,\"ok\":null}\n");
	agora_obs_batch_free(b);

	/* A BOM anywhere but the start is data. */
	b = csv("timestamp,sensor,no2\n2024-05-01T10:00:00Z,\xef\xbb\xbfs1,1\n", 10);
	cr_assert_str_eq(agora_obs_batch_thing(b, 0), "\xef\xbb\xbfs1");
	agora_obs_batch_free(b);
}

Test(ingest, csv_streaming_in_any_chunks_matches_whole_parse)
{
	const char *body = "\xef\xbb\xbftimestamp,sensor,no2,status\r\n"
			   "2024-05-01T10:00:00Z,\"s,1\",1,\"a\"\"b\nc\"\r\n"
			   "2024-05-01T10:00:00Z,s2\r\n"
			   "2024-05-01T10:00:00.250+01:00,s3,3,\xc3\xa9t\xc3\xa9\r\n"
			   "2024-05-01T10:00:00Z,s4,q,z";
	struct agora_obs_batch *whole = csv(body, 10);
	char *want = copy_all(whole);
	json_t *want_rej = agora_obs_batch_rejections(whole);
	cr_assert_eq(agora_obs_batch_count(whole), 2);
	cr_assert_eq(json_array_size(want_rej), 2);
	for (size_t step = 1; step <= 7; step++) {
		struct agora_obs_csv *p = agora_obs_csv_new(schema, 10);
		for (size_t off = 0; off < strlen(body); off += step) {
			size_t n = strlen(body) - off < step ? strlen(body) - off : step;
			cr_assert(agora_obs_csv_feed(p, body + off, n));
		}
		struct agora_obs_batch *b = agora_obs_csv_finish(p);
		char *got = copy_all(b);
		json_t *rej = agora_obs_batch_rejections(b);
		cr_assert_str_eq(got, want, "step %zu", step);
		cr_assert(json_equal(rej, want_rej), "step %zu", step);
		free(got);
		json_decref(rej);
		agora_obs_batch_free(b);
	}
	free(want);
	json_decref(want_rej);
	agora_obs_batch_free(whole);
}

Test(ingest, max_rows_exceeded)
{
	struct agora_obs_batch *b = csv("timestamp,sensor,no2\n"
					"2024-05-01T10:00:00Z,s1,1\n"
					"2024-05-01T10:00:00Z,s2,2\n"
					"bad,row\n",
					2);
	cr_assert_not(agora_obs_batch_ok(b));
	cr_assert_str_eq(agora_obs_batch_error(b), "more than 2 rows");
	cr_assert_eq(agora_obs_batch_count(b), 0);
	cr_assert_eq(agora_obs_batch_stats(b)->accepted, 0);
	agora_obs_batch_free(b);

	b = csv("timestamp,sensor,no2\n2024-05-01T10:00:00Z,s1,1\n2024-05-01T10:00:00Z,s2,2\n", 2);
	cr_assert(agora_obs_batch_ok(b));
	cr_assert_eq(agora_obs_batch_count(b), 2);
	agora_obs_batch_free(b);

	/* Streaming stops taking input once over the limit. */
	struct agora_obs_csv *p = agora_obs_csv_new(schema, 1);
	cr_assert(agora_obs_csv_feed(p, "timestamp,sensor,no2\n2024-05-01T10:00:00Z,s1,1\n", 47));
	cr_assert_not(agora_obs_csv_feed(p, "2024-05-01T10:00:00Z,s1,1\n", 26));
	cr_assert_not(agora_obs_csv_feed(p, "x", 1));
	b = agora_obs_csv_finish(p);
	cr_assert_str_eq(agora_obs_batch_error(b), "more than 1 rows");
	agora_obs_batch_free(b);
}

Test(ingest, header_only_is_an_empty_batch)
{
	struct agora_obs_batch *b = csv("timestamp,sensor,no2\n", 10);
	cr_assert(agora_obs_batch_ok(b));
	cr_assert_eq(agora_obs_batch_count(b), 0);
	json_t *r = agora_obs_batch_rejections(b);
	cr_assert_eq(json_array_size(r), 0);
	json_decref(r);
	agora_obs_batch_free(b);
}

Test(ingest, duplicates_counted)
{
	struct agora_obs_batch *b = csv("timestamp,sensor,no2\n"
					"2024-05-01T10:00:00Z,s1,1\n"
					"2024-05-01T10:00:00Z,s1,2\n"
					"2024-05-01T10:00:00Z,s2,3\n"
					"2024-05-01T10:00:00.001Z,s1,4\n"
					"2024-05-01T12:00:00+02:00,s1,5\n"
					"2024-05-01T10:00:00Z,s10,6\n",
					10);
	const struct agora_obs_stats *st = agora_obs_batch_stats(b);
	cr_assert_eq(st->accepted, 6);
	cr_assert_eq(st->duplicates, 2);
	cr_assert_eq(st->things, 3);
	bool want[] = { false, true, false, false, true, false };
	for (size_t i = 0; i < 6; i++)
		cr_assert_eq(agora_obs_batch_is_duplicate(b, i), want[i], "row %zu", i);
	agora_obs_batch_free(b);
}

Test(ingest, duplicates_over_many_rows_and_things)
{
	/* Enough rows and things to grow both hash sets several times. */
	struct agora_buf body;
	agora_buf_init(&body);
	agora_buf_puts(&body, "timestamp,sensor,no2\n");
	for (int i = 0; i < 20000; i++)
		agora_buf_printf(&body, "2024-05-01T10:%02d:%02dZ,thing-%d,%d\n", (i / 60) % 60, i % 60, i % 3000,
				 i % 500);
	/* Every 4th row again: 5000 duplicates. */
	for (int i = 0; i < 20000; i += 4)
		agora_buf_printf(&body, "2024-05-01T10:%02d:%02dZ,thing-%d,1\n", (i / 60) % 60, i % 60, i % 3000);
	struct agora_obs_batch *b = agora_obs_parse_csv(schema, body.data, body.len, 100000);
	const struct agora_obs_stats *st = agora_obs_batch_stats(b);
	cr_assert_eq(st->accepted, 25000);
	/* (i mod 3000, i mod 3600) repeats only after lcm(3000, 3600) = 18000. */
	cr_assert_eq(st->duplicates, 5000 + 2000);
	cr_assert_eq(st->things, 3000);
	/* 401..499 are above max 400. */
	cr_assert_eq(st->implausible[0], 99 * 40);
	agora_obs_batch_free(b);
	agora_buf_cleanup(&body);
}

Test(ingest, implausible_counted_but_accepted)
{
	struct agora_obs_batch *b = json(
		"[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"a\",\"no2\":-1,\"count\":-5},"
		"{\"timestamp\":\"2024-05-01T10:01:00Z\",\"sensor\":\"a\",\"no2\":400.5,\"count\":0},"
		"{\"timestamp\":\"2024-05-01T10:02:00Z\",\"sensor\":\"a\",\"no2\":400,\"count\":7},"
		"{\"timestamp\":\"2024-05-01T10:03:00Z\",\"sensor\":\"a\",\"no2\":0}]",
		10);
	cr_assert_eq(agora_obs_batch_count(b), 4);
	const struct agora_obs_stats *st = agora_obs_batch_stats(b);
	cr_assert_eq(st->checked[0], 4);
	cr_assert_eq(st->implausible[0], 2);
	cr_assert_eq(st->checked[2], 3);
	cr_assert_eq(st->implausible[2], 1);
	cr_assert_eq(st->checked[1], 0);

	struct agora_quality_input q;
	agora_obs_batch_quality_input(b, 60, 1714557600 + 300, &q);
	cr_assert_eq(q.implausible, 3);
	cr_assert_eq(q.checked, 7);
	json_t *m = agora_quality_compute(&q);
	/* nonnull 4+0+3+0 of 16; 4 of 4 expected minutes present. */
	cr_assert_eq(json_real_value(json_object_get(m, "completeness")), 0.4375);
	cr_assert_eq(json_integer_value(json_object_get(m, "expectedRecords")), 4);
	cr_assert_eq(json_real_value(json_object_get(m, "plausibility")), 0.5714);
	cr_assert_eq(json_integer_value(json_object_get(m, "freshnessSeconds")), 120);
	json_decref(m);
	agora_obs_batch_free(b);
}

Test(ingest, copy_escaping)
{
	struct agora_obs_batch *b = json(
		"[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"a\\tb\\\\c\\nd\\re\",\"no2\":1,"
		"\"status\":\"tab\\there \\\\ back \\\"q\\\" nl\\n \\u0001 \\u00e9\"}]",
		10);
	cr_assert_eq(agora_obs_batch_count(b), 1, "%s", agora_obs_batch_error(b));
	cr_assert_str_eq(agora_obs_batch_thing(b, 0), "a\tb\\c\nd\re");
	struct agora_buf out;
	agora_buf_init(&out);
	agora_obs_batch_copy_line(b, 0, "id\twith\\odd", &out);
	cr_assert_str_eq(out.data, "id\\twith\\\\odd\t2024-05-01T10:00:00.000Z\ta\\tb\\\\c\\nd\\re\t"
				   "{\"no2\":1,\"status\":\"tab\\\\there \\\\\\\\ back \\\\\"q\\\\\" nl\\\\n \\\\u0001 \xc3\xa9\","
				   "\"count\":null,\"ok\":null}\n");
	agora_buf_cleanup(&out);
	agora_obs_batch_free(b);
}

Test(ingest, rejections_bounded)
{
	struct agora_buf body;
	agora_buf_init(&body);
	agora_buf_puts(&body, "timestamp,sensor,no2\n");
	for (int i = 0; i < 150; i++)
		agora_buf_puts(&body, "2024-05-01T10:00:00Z,s,x\n");
	agora_buf_puts(&body, "2024-05-01T10:00:00Z,s,1\n");
	struct agora_obs_batch *b = agora_obs_parse_csv(schema, body.data, body.len, 1000);
	cr_assert_eq(agora_obs_batch_count(b), 1);
	cr_assert_eq(agora_obs_batch_rejected_count(b), 150);
	json_t *r = agora_obs_batch_rejections(b);
	cr_assert_eq(json_array_size(r), AGORA_OBS_MAX_REJECTIONS);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(r, 99), "row")), 101);
	json_decref(r);
	struct agora_quality_input q;
	agora_obs_batch_quality_input(b, 0, 0, &q);
	json_t *m = agora_quality_compute(&q);
	cr_assert_eq(json_real_value(json_object_get(m, "schemaConformance")), 0.0066);
	json_decref(m);
	agora_obs_batch_free(b);
	agora_buf_cleanup(&body);
}

Test(ingest, long_unknown_names_cut_on_utf8_boundary)
{
	/* 63 ASCII bytes then "é": a 64-byte cut would split it. */
	char body[512], key[80];
	memset(key, 'k', 63);
	strcpy(key + 63, "\xc3\xa9xyz");
	snprintf(body, sizeof body, "[{\"timestamp\":\"2024-05-01T10:00:00Z\",\"sensor\":\"a\",\"no2\":1,\"%s\":1}]", key);
	struct agora_obs_batch *b = json(body, 10);
	json_t *r = agora_obs_batch_rejections(b);
	const char *col = json_string_value(json_object_get(json_array_get(r, 0), "column"));
	cr_assert_not_null(col);
	cr_assert_eq(strlen(col), 63);
	const char *reason = json_string_value(json_object_get(json_array_get(r, 0), "reason"));
	cr_assert_not_null(reason);
	cr_assert_eq(strlen(reason), strlen("unknown field ''") + 63);
	json_decref(r);
	agora_obs_batch_free(b);
}

Test(ingest, long_strings_bounded)
{
	struct agora_buf body;
	agora_buf_init(&body);
	agora_buf_puts(&body, "timestamp,sensor,no2,status\n2024-05-01T10:00:00Z,s,1,");
	for (int i = 0; i < AGORA_OBS_MAX_STRING + 1; i++)
		agora_buf_append(&body, "y", 1);
	agora_buf_puts(&body, "\n");
	struct agora_obs_batch *b = agora_obs_parse_csv(schema, body.data, body.len, 10);
	expect_rejections(b, "[{\"row\":2,\"column\":\"status\",\"reason\":\"must be at most 4096 bytes\"}]");
	agora_obs_batch_free(b);

	/* 4096 escaped quotes are 4096 bytes of value (8192 of CSV). */
	agora_buf_cleanup(&body);

	agora_buf_init(&body);
	agora_buf_puts(&body, "timestamp,sensor,no2,status\n2024-05-01T10:00:00Z,s,1,\"");
	for (int i = 0; i < AGORA_OBS_MAX_STRING; i++)
		agora_buf_append(&body, "\"\"", 2);
	agora_buf_puts(&body, "\"\n");
	b = agora_obs_parse_csv(schema, body.data, body.len, 10);
	cr_assert_eq(agora_obs_batch_count(b), 1, "%s", agora_obs_batch_error(b));
	json_t *v = agora_obs_batch_values(b, 0);
	cr_assert_eq(json_string_length(json_object_get(v, "status")), AGORA_OBS_MAX_STRING);
	json_decref(v);
	agora_obs_batch_free(b);
	agora_buf_cleanup(&body);
}
