/* test_xform.c — data-level duties, query filters and output shapes of the
 * provider's observation stream (connectors/xform). */
#include "xform.h"
#include "util.h"

#include <criterion/criterion.h>
#include <csv.h>
#include <openssl/evp.h>
#include <string.h>

/* 2026-05-01T10:00:00Z in microseconds */
#define T0 1777629600000000LL
#define MIN (60LL * 1000000)
#define HOUR (60 * MIN)

static const struct xform_field fields[] = {
	{ "temp", true },
	{ "hum", true },
	{ "label", false },
	{ "ok", false },
};
static const struct xform_dataset dataset = { fields, sizeof(fields) / sizeof(fields[0]), NULL, NULL };

static uint8_t key[32];
/* Pseudonyms computed independently (Python's hmac module) for key
 * 00 01 … 1f and agreement urn:uuid:agr-1. */
#define PS_S1 "bf806b8ed19dfb1e09fa4dcafdd18e4e"
#define PS_S2 "9d804d2abbf7fcbe1eddd2c2bde415b7"
#define PS_S1_AGR2 "582c3786858bdedd4515fb58b98f99b3"
#define PS_OK "5cb3aecf29f94c450e9a0ca9e1ac0b12"

static void
init_key(void)
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
}

TestSuite(xform, .init = init_key);

struct row {
	int64_t ts;
	const char *thing;
	const char *vals;
};

static const char *errsym;
static char detail[256];

/* An Agreement with the given members after @id (a JSON fragment). */
static json_t *
agreement(const char *id, const char *members)
{
	char *text = xasprintf("{\"@context\":\"https://w3id.org/dspace/2025/1/context.jsonld\","
			       "\"@type\":\"Agreement\",\"@id\":\"%s\","
			       "\"assigner\":\"did:web:p.example\",\"assignee\":\"did:web:c.example\","
			       "\"target\":\"urn:uuid:ds-1\"%s%s}",
			       id, *members ? "," : "", members);
	json_error_t e;
	json_t *a = json_loads(text, 0, &e);
	cr_assert_not_null(a, "agreement JSON: %s in %s", e.text, text);
	free(text);
	return a;
}

static json_t *
parse(const char *text)
{
	if (!text)
		return NULL;
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	cr_assert_not_null(j, "JSON: %s in %s", e.text, text);
	return j;
}

static struct xform_plan *
plan_id(const char *id, const char *members, const char *query)
{
	json_t *a = agreement(id, members), *q = parse(query);
	errsym = NULL;
	detail[0] = '\0';
	struct xform_plan *p = xform_plan_new(a, q, &dataset, key, &errsym, detail, sizeof detail);
	json_decref(a);
	json_decref(q);
	return p;
}

static struct xform_plan *
plan(const char *members, const char *query)
{
	struct xform_plan *p = plan_id("urn:uuid:agr-1", members, query);
	cr_assert_not_null(p, "plan refused: %s: %s", errsym, detail);
	return p;
}

static void
refused(const char *members, const char *query, const char *sym, const char *in_detail)
{
	struct xform_plan *p = plan_id("urn:uuid:agr-1", members, query);
	cr_assert_null(p, "plan accepted; expected %s", sym);
	cr_assert_str_eq(errsym, sym, "symbol %s (%s), expected %s", errsym, detail, sym);
	cr_assert(strstr(detail, in_detail), "detail \"%s\" does not mention \"%s\"", detail, in_detail);
}

/* Runs rows through p; returns the output (heap) and frees p. */
static char *
run(struct xform_plan *p, const struct row *rows, size_t n)
{
	struct agora_buf out;
	agora_buf_init(&out);
	xform_begin(p, &out);
	for (size_t i = 0; i < n; i++) {
		int r = xform_row(p, rows[i].ts, rows[i].thing, rows[i].vals, strlen(rows[i].vals), &out);
		cr_assert_neq(r, -1, "row %zu refused as malformed", i);
		if (r == 0)
			break;
	}
	xform_end(p, &out);
	xform_plan_free(p);
	return agora_buf_steal(&out);
}

static void
expect(struct xform_plan *p, const struct row *rows, size_t n, const char *want)
{
	char *got = run(p, rows, n);
	cr_assert_str_eq(got, want);
	free(got);
}

static const struct row basic[] = {
	{ T0, "s1", "{\"temp\":21.5,\"hum\":40,\"label\":\"a\",\"ok\":true}" },
	{ T0, "s2", "{\"temp\":-3,\"hum\":null,\"label\":null,\"ok\":false}" },
	{ T0 + MIN, "s1", "{\"temp\":1e3,\"hum\":41,\"label\":\"b\",\"ok\":null}" },
};

/* ---- output shapes, no duties ---------------------------------------- */

Test(xform, plain_csv_exact_bytes)
{
	expect(plan("", NULL), basic, 3,
	       "timestamp,thing,temp,hum,label,ok\r\n"
	       "2026-05-01T10:00:00.000Z,s1,21.5,40,a,true\r\n"
	       "2026-05-01T10:00:00.000Z,s2,-3,,,false\r\n"
	       "2026-05-01T10:01:00.000Z,s1,1e3,41,b,\r\n");
}

Test(xform, plain_json_exact_bytes)
{
	expect(plan("", "{\"format\":\"json\"}"), basic, 3,
	       "[\n"
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s1\",\"temp\":21.5,\"hum\":40,"
	       "\"label\":\"a\",\"ok\":true},\n"
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s2\",\"temp\":-3,\"hum\":null,"
	       "\"label\":null,\"ok\":false},\n"
	       "{\"timestamp\":\"2026-05-01T10:01:00.000Z\",\"thing\":\"s1\",\"temp\":1e3,\"hum\":41,"
	       "\"label\":\"b\",\"ok\":null}\n"
	       "]\n");
}

Test(xform, plain_ndjson_exact_bytes)
{
	expect(plan("", "{\"format\":\"ndjson\"}"), basic, 2,
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s1\",\"temp\":21.5,\"hum\":40,"
	       "\"label\":\"a\",\"ok\":true}\n"
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s2\",\"temp\":-3,\"hum\":null,"
	       "\"label\":null,\"ok\":false}\n");
}

Test(xform, empty_result_in_each_format)
{
	expect(plan("", NULL), NULL, 0, "timestamp,thing,temp,hum,label,ok\r\n");
	expect(plan("", "{\"format\":\"json\"}"), NULL, 0, "[]\n");
	expect(plan("", "{\"format\":\"ndjson\"}"), NULL, 0, "");
	const char *agg = "\"obligation\":[{\"action\":\"aggregate\",\"fields\":[\"temp\"]}]";
	expect(plan(agg, NULL), NULL, 0, "bucket_start,thing,temp_count,temp_min,temp_max,temp_mean\r\n");
	expect(plan(agg, "{\"format\":\"json\"}"), NULL, 0, "[]\n");
	expect(plan(agg, "{\"format\":\"ndjson\"}"), NULL, 0, "");
}

Test(xform, media_types_and_defaults)
{
	struct xform_plan *p = plan("", NULL);
	cr_assert_str_eq(xform_plan_media_type(p), "text/csv");
	cr_assert_eq(xform_plan_format(p), XFORM_CSV);
	cr_assert_not(xform_plan_aggregates(p));
	cr_assert_eq(xform_plan_limit(p), 0);
	cr_assert_eq(xform_plan_sql_limit(p), 0);
	cr_assert_not(xform_plan_window(p)->has_from);
	cr_assert_not(xform_plan_window(p)->has_to);
	xform_plan_free(p);
	p = plan("", "{\"format\":\"json\"}");
	cr_assert_str_eq(xform_plan_media_type(p), "application/json");
	xform_plan_free(p);
	p = plan("", "{\"format\":\"ndjson\"}");
	cr_assert_str_eq(xform_plan_media_type(p), "application/x-ndjson");
	xform_plan_free(p);
	xform_plan_free(NULL);
}

Test(xform, csv_quotes_commas_quotes_and_newlines)
{
	static const struct row rows[] = {
		{ T0, "s,1", "{\"temp\":1,\"hum\":2,\"label\":\"a,b\",\"ok\":true}" },
		{ T0, "s2", "{\"temp\":1,\"hum\":2,\"label\":\"say \\\"hi\\\"\",\"ok\":true}" },
		{ T0, "s3", "{\"temp\":1,\"hum\":2,\"label\":\"line1\\nline2\\r\\n\",\"ok\":true}" },
		{ T0, "s4", "{\"temp\":1,\"hum\":2,\"label\":\"caf\\u00e9 \\ud83d\\ude00 /\\/\",\"ok\":true}" },
	};
	expect(plan("", "{\"fields\":[\"label\"]}"), rows, 4,
	       "timestamp,thing,label\r\n"
	       "2026-05-01T10:00:00.000Z,\"s,1\",\"a,b\"\r\n"
	       "2026-05-01T10:00:00.000Z,s2,\"say \"\"hi\"\"\"\r\n"
	       "2026-05-01T10:00:00.000Z,s3,\"line1\nline2\r\n\"\r\n"
	       "2026-05-01T10:00:00.000Z,s4,caf\xc3\xa9 \xf0\x9f\x98\x80 //\r\n");
}

Test(xform, json_escapes_strings_canonically)
{
	static const struct row rows[] = {
		{ T0, "s\"1\\", "{\"label\":\"q\\\"b\\\\t\\tc\\u0001\\u00e9\\/\"}" },
		{ T0, "s\n2", "{\"label\":\"\xc3\xa9 plain\"}" },
	};
	expect(plan("", "{\"format\":\"ndjson\",\"fields\":[\"label\"]}"), rows, 2,
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s\\\"1\\\\\","
	       "\"label\":\"q\\\"b\\\\t\\tc\\u0001\xc3\xa9/\"}\n"
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s\\n2\",\"label\":\"\xc3\xa9 plain\"}\n");
}

Test(xform, reads_vals_as_postgresql_renders_jsonb)
{
	/* jsonb: keys by length then bytes, ", " and ": ", missing and extra keys */
	static const struct row rows[] = {
		{ T0, "s1", "{\"ok\": true, \"hum\": 40, \"temp\": 21.50, \"extra\": \"x\"}" },
		{ T0, "s1", " { } " },
	};
	expect(plan("", NULL), rows, 2,
	       "timestamp,thing,temp,hum,label,ok\r\n"
	       "2026-05-01T10:00:00.000Z,s1,21.50,40,,true\r\n"
	       "2026-05-01T10:00:00.000Z,s1,,,,\r\n");
}

Test(xform, timestamps_keep_microseconds_and_go_before_1970)
{
	static const struct row rows[] = {
		{ T0 + 123456, "s", "{}" },
		{ -1000, "s", "{}" },
		{ 0, "s", "{}" },
	};
	expect(plan("", "{\"fields\":[]}"), rows, 3,
	       "timestamp,thing\r\n"
	       "2026-05-01T10:00:00.123456Z,s\r\n"
	       "1969-12-31T23:59:59.999Z,s\r\n"
	       "1970-01-01T00:00:00.000Z,s\r\n");
}

Test(xform, query_fields_keep_schema_order)
{
	expect(plan("", "{\"fields\":[\"ok\",\"temp\"]}"), basic, 1,
	       "timestamp,thing,temp,ok\r\n"
	       "2026-05-01T10:00:00.000Z,s1,21.5,true\r\n");
}

Test(xform, malformed_rows_are_skipped_and_counted)
{
	static const char *const bad[] = {
		"",
		"[1]",
		"{\"temp\":}",
		"{\"temp\":1,}",
		"{\"temp\":{\"x\":1}}",
		"{\"temp\":[1]}",
		"{\"temp\":01}",
		"{\"temp\":1,\"temp\":2}",
		"{\"label\":\"\\ud800\"}",
		"{\"label\":\"\\x\"}",
		"{\"label\":\"\xff\"}",
		"{\"label\":\"a\"} x",
		"{\"temp\":tru}",
	};
	struct xform_plan *p = plan("", "{\"format\":\"json\"}");
	struct agora_buf out;
	agora_buf_init(&out);
	xform_begin(p, &out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(xform_row(p, T0, "s1", bad[i], strlen(bad[i]), &out), -1, "accepted %s", bad[i]);
	cr_assert_eq(xform_row(p, T0, "s\xc3", "{}", 2, &out), -1, "accepted a thing that is not UTF-8");
	cr_assert_eq(xform_row(p, 253402300800000000LL, "s1", "{}", 2, &out), -1, "accepted year 10000");
	cr_assert_eq(xform_row(p, T0, "s1", "{\"temp\":2}", 10, &out), 1);
	xform_end(p, &out);
	cr_assert_eq(xform_rows_malformed(p), 15);
	cr_assert_eq(xform_rows_out(p), 1);
	cr_assert_str_eq(out.data, "[\n{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s1\",\"temp\":2,"
				   "\"hum\":null,\"label\":null,\"ok\":null}\n]\n");
	agora_buf_cleanup(&out);
	xform_plan_free(p);
}

/* Found by fuzz-xform: a number beyond a double's range went out verbatim
 * ({"temp":1e400} as NDJSON), which Jansson and other strict readers refuse;
 * aggregation already refused such a row.  Now malformed in every mode; a
 * key the dataset does not declare is still ignored, whatever it holds. */
Test(xform, number_beyond_double_is_malformed)
{
	struct xform_plan *p = plan("", "{\"format\":\"ndjson\"}");
	struct agora_buf out;
	agora_buf_init(&out);
	xform_begin(p, &out);
	static const char *const bad[] = { "{\"temp\":1e400}", "{\"hum\":-1E+309}" };
	for (size_t i = 0; i < 2; i++)
		cr_expect_eq(xform_row(p, T0, "s1", bad[i], strlen(bad[i]), &out), -1, "%s", bad[i]);
	char big[400];
	memset(big, '9', 309);	/* 309 nines: 1e309, no exponent */
	big[309] = '\0';
	char *row = xasprintf("{\"temp\":%s}", big);
	cr_expect_eq(xform_row(p, T0, "s1", row, strlen(row), &out), -1);
	free(row);
	const char *ok = "{\"temp\":1e308,\"hum\":1e-400,\"zzz\":1e400}";
	cr_expect_eq(xform_row(p, T0, "s1", ok, strlen(ok), &out), 1);
	xform_end(p, &out);
	cr_expect_eq(xform_rows_malformed(p), 3);
	cr_expect_str_eq(out.data, "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s1\","
				   "\"temp\":1e308,\"hum\":1e-400,\"label\":null,\"ok\":null}\n");
	agora_buf_cleanup(&out);
	xform_plan_free(p);
}

/* ---- anonymize --------------------------------------------------------- */

Test(xform, anonymize_drops_fields)
{
	const char *a = "\"permission\":[{\"action\":\"use\",\"duty\":[{\"action\":\"anonymize\","
			"\"fields\":[\"hum\",\"label\"]}]}]";
	expect(plan(a, NULL), basic, 2,
	       "timestamp,thing,temp,ok\r\n"
	       "2026-05-01T10:00:00.000Z,s1,21.5,true\r\n"
	       "2026-05-01T10:00:00.000Z,s2,-3,false\r\n");
	expect(plan(a, "{\"format\":\"ndjson\"}"), basic, 1,
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s1\",\"temp\":21.5,\"ok\":true}\n");
}

Test(xform, anonymize_drops_the_thing)
{
	const char *a = "\"obligation\":{\"action\":\"odrl:anonymize\",\"fields\":\"thing\"}";
	expect(plan(a, "{\"fields\":[\"temp\"]}"), basic, 2,
	       "timestamp,temp\r\n"
	       "2026-05-01T10:00:00.000Z,21.5\r\n"
	       "2026-05-01T10:00:00.000Z,-3\r\n");
	expect(plan(a, "{\"format\":\"json\",\"fields\":[\"temp\"]}"), basic, 1,
	       "[\n{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"temp\":21.5}\n]\n");
}

Test(xform, anonymize_is_read_in_every_odrl_spelling)
{
	static const char *const forms[] = {
		"\"odrl:permission\":[{\"odrl:action\":\"use\",\"odrl:duty\":[{\"odrl:action\":"
		"{\"@id\":\"odrl:anonymize\"},\"agora:fields\":[\"hum\"]}]}]",
		"\"permission\":{\"action\":\"use\",\"duty\":{\"action\":"
		"\"http://www.w3.org/ns/odrl/2/anonymize\",\"fields\":[\"hum\"]}}",
		"\"http://www.w3.org/ns/odrl/2/obligation\":[{\"action\":{\"rdf:value\":"
		"{\"@id\":\"odrl:anonymize\"}},\"https://w3id.org/agora/ns#fields\":[\"hum\"]}]",
	};
	for (size_t i = 0; i < 3; i++)
		expect(plan(forms[i], "{\"fields\":[\"temp\",\"ok\"]}"), basic, 1,
		       "timestamp,thing,temp,ok\r\n2026-05-01T10:00:00.000Z,s1,21.5,true\r\n");
	for (size_t i = 0; i < 3; i++)
		refused(forms[i], "{\"fields\":[\"hum\"]}", "query_not_permitted", "hum");
}

Test(xform, anonymize_hash_thing_gives_keyed_pseudonyms)
{
	const char *a = "\"obligation\":[{\"action\":\"anonymize\",\"agora:method\":\"hash\","
			"\"fields\":[\"thing\"]}]";
	expect(plan(a, "{\"fields\":[\"temp\"]}"), basic, 3,
	       "timestamp,thing,temp\r\n"
	       "2026-05-01T10:00:00.000Z," PS_S1 ",21.5\r\n"
	       "2026-05-01T10:00:00.000Z," PS_S2 ",-3\r\n"
	       "2026-05-01T10:01:00.000Z," PS_S1 ",1e3\r\n");
	/* another agreement, another pseudonym */
	struct xform_plan *p = plan_id("urn:uuid:agr-2", a, "{\"fields\":[\"temp\"]}");
	cr_assert_not_null(p);
	expect(p, basic, 1, "timestamp,thing,temp\r\n2026-05-01T10:00:00.000Z," PS_S1_AGR2 ",21.5\r\n");
}

Test(xform, pseudonym_is_hmac_sha256_of_agreement_id_nul_value)
{
	const char *a = "\"obligation\":[{\"action\":\"anonymize\",\"agora:method\":\"hash\","
			"\"fields\":[\"label\"]}]";
	struct xform_plan *p = plan(a, NULL);
	const char *v = "a value, with \"quotes\"";
	uint8_t msg[128], mac[32];
	size_t idn = strlen("urn:uuid:agr-1") + 1;
	memcpy(msg, "urn:uuid:agr-1", idn);
	memcpy(msg + idn, v, strlen(v));
	size_t maclen = 0;
	cr_assert_not_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32, msg, idn + strlen(v),
				     mac, sizeof mac, &maclen));
	char want[65], got[XFORM_PSEUDONYM_LEN + 1];
	agora_hex(mac, 32, want);
	want[32] = '\0';
	cr_assert(xform_pseudonym(p, v, strlen(v), got));
	cr_assert_str_eq(got, want);
	/* twice the same (from the cache), and the cache does not mix values up */
	cr_assert(xform_pseudonym(p, "ok", 2, got));
	cr_assert_str_eq(got, PS_OK);
	cr_assert(xform_pseudonym(p, v, strlen(v), got));
	cr_assert_str_eq(got, want);
	xform_plan_free(p);
}

Test(xform, anonymize_hash_value_fields_never_show_the_value)
{
	const char *a = "\"obligation\":[{\"action\":\"anonymize\",\"agora:method\":\"hash\","
			"\"fields\":[\"label\",\"ok\"]}]";
	static const struct row rows[] = {
		{ T0, "s1", "{\"temp\":1,\"label\":\"ok\",\"ok\":null}" },
		{ T0, "s2", "{\"temp\":2,\"label\":\"o\\u006b\",\"ok\":true}" },
	};
	/* "ok" and "o\u006b" are the same string: the same pseudonym; null stays null */
	expect(plan(a, "{\"format\":\"ndjson\",\"fields\":[\"label\",\"ok\"]}"), rows, 2,
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s1\",\"label\":\"" PS_OK "\",\"ok\":null}\n"
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s2\",\"label\":\"" PS_OK
	       "\",\"ok\":\"c3ae50c0e6341fa0320b41459f5f91da\"}\n");
}

Test(xform, hashed_output_never_holds_the_raw_values)
{
	const char *a = "\"obligation\":[{\"action\":\"anonymize\",\"agora:method\":\"hash\","
			"\"fields\":[\"thing\",\"label\"]}]";
	static const struct row rows[] = {
		{ T0, "sensor-secret-17", "{\"temp\":1,\"label\":\"Main Street 5\"}" },
		{ T0 + 1, "sensor-secret-17", "{\"temp\":2,\"label\":\"Main Street 5\"}" },
	};
	for (int f = 0; f < 3; f++) {
		static const char *const q[] = { NULL, "{\"format\":\"json\"}", "{\"format\":\"ndjson\"}" };
		char *out = run(plan(a, q[f]), rows, 2);
		cr_assert_null(strstr(out, "secret"), "%s", out);
		cr_assert_null(strstr(out, "Main"), "%s", out);
		free(out);
	}
}

Test(xform, drop_beats_hash_for_the_same_field)
{
	const char *a = "\"obligation\":[{\"action\":\"anonymize\",\"agora:method\":\"hash\","
			"\"fields\":[\"label\"]},{\"action\":\"anonymize\",\"fields\":[\"label\"]}]";
	expect(plan(a, "{\"fields\":[\"temp\"]}"), basic, 1,
	       "timestamp,thing,temp\r\n2026-05-01T10:00:00.000Z,s1,21.5\r\n");
	refused(a, "{\"fields\":[\"label\"]}", "query_not_permitted", "obligation[1]");
}

/* ---- aggregate --------------------------------------------------------- */

static const struct row series[] = {
	{ T0, "s1", "{\"temp\":1,\"hum\":10,\"label\":\"x\",\"ok\":true}" },
	{ T0, "s2", "{\"temp\":5,\"hum\":null,\"label\":\"y\",\"ok\":true}" },
	{ T0 + 10 * MIN, "s1", "{\"temp\":2,\"hum\":20,\"label\":\"x\",\"ok\":true}" },
	{ T0 + 10 * MIN, "s2", "{\"temp\":7,\"hum\":null,\"label\":\"y\",\"ok\":true}" },
	{ T0 + 59 * MIN, "s1", "{\"temp\":6,\"hum\":null,\"label\":\"x\",\"ok\":true}" },
	{ T0 + HOUR, "s2", "{\"temp\":0.5,\"hum\":1,\"label\":\"y\",\"ok\":true}" },
	{ T0 + 2 * HOUR + 1, "s1", "{\"temp\":-1.25,\"hum\":2,\"label\":\"x\",\"ok\":true}" },
};
#define NSERIES (sizeof(series) / sizeof(series[0]))

Test(xform, aggregate_per_thing_csv)
{
	const char *a = "\"obligation\":[{\"action\":\"aggregate\"}]";
	struct xform_plan *p = plan(a, NULL);
	cr_assert(xform_plan_aggregates(p));
	cr_assert_eq(xform_plan_bucket_us(p), HOUR);
	expect(p, series, NSERIES,
	       "bucket_start,thing,temp_count,temp_min,temp_max,temp_mean,hum_count,hum_min,hum_max,hum_mean\r\n"
	       "2026-05-01T10:00:00.000Z,s1,3,1,6,3,2,10,20,15\r\n"
	       "2026-05-01T10:00:00.000Z,s2,2,5,7,6,0,,,\r\n"
	       "2026-05-01T11:00:00.000Z,s2,1,0.5,0.5,0.5,1,1,1,1\r\n"
	       "2026-05-01T12:00:00.000Z,s1,1,-1.25,-1.25,-1.25,1,2,2,2\r\n");
}

Test(xform, aggregate_per_thing_json)
{
	const char *a = "\"permission\":[{\"action\":\"use\",\"duty\":[{\"action\":\"aggregate\","
			"\"agora:bucket\":\"PT1H\",\"fields\":[\"temp\"]}]}]";
	expect(plan(a, "{\"format\":\"json\"}"), series, 4,
	       "[\n"
	       "{\"bucketStart\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s1\","
	       "\"temp\":{\"count\":2,\"min\":1,\"max\":2,\"mean\":1.5}},\n"
	       "{\"bucketStart\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s2\","
	       "\"temp\":{\"count\":2,\"min\":5,\"max\":7,\"mean\":6}}\n"
	       "]\n");
}

Test(xform, aggregate_null_stats_in_json)
{
	const char *a = "\"obligation\":[{\"action\":\"aggregate\",\"fields\":[\"hum\"]}]";
	expect(plan(a, "{\"format\":\"ndjson\"}"), series, 2,
	       "{\"bucketStart\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s1\","
	       "\"hum\":{\"count\":1,\"min\":10,\"max\":10,\"mean\":10}}\n"
	       "{\"bucketStart\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s2\","
	       "\"hum\":{\"count\":0,\"min\":null,\"max\":null,\"mean\":null}}\n");
}

Test(xform, aggregate_across_things_when_thing_is_dropped)
{
	const char *a = "\"obligation\":[{\"action\":\"aggregate\",\"agora:bucket\":\"PT2H\"},"
			"{\"action\":\"anonymize\",\"fields\":[\"thing\"]}]";
	expect(plan(a, "{\"fields\":[\"temp\"]}"), series, NSERIES,
	       "bucket_start,temp_count,temp_min,temp_max,temp_mean\r\n"
	       "2026-05-01T10:00:00.000Z,6,0.5,7,3.5833333333333335\r\n"
	       "2026-05-01T12:00:00.000Z,1,-1.25,-1.25,-1.25\r\n");
}

Test(xform, aggregate_per_pseudonym_in_pseudonym_order)
{
	const char *a = "\"obligation\":[{\"action\":\"aggregate\",\"fields\":[\"temp\"]},"
			"{\"action\":\"anonymize\",\"agora:method\":\"hash\",\"fields\":[\"thing\"]}]";
	/* PS_S2 < PS_S1 as bytes: s2's bucket comes first */
	expect(plan(a, NULL), series, 4,
	       "bucket_start,thing,temp_count,temp_min,temp_max,temp_mean\r\n"
	       "2026-05-01T10:00:00.000Z," PS_S2 ",2,5,7,6\r\n"
	       "2026-05-01T10:00:00.000Z," PS_S1 ",2,1,2,1.5\r\n");
}

Test(xform, aggregate_leaves_out_strings_hashed_and_dropped_fields)
{
	const char *a = "\"obligation\":[{\"action\":\"aggregate\"},"
			"{\"action\":\"anonymize\",\"fields\":[\"hum\"]}]";
	expect(plan(a, NULL), series, 1,
	       "bucket_start,thing,temp_count,temp_min,temp_max,temp_mean\r\n"
	       "2026-05-01T10:00:00.000Z,s1,1,1,1,1\r\n");
	refused(a, "{\"fields\":[\"label\"]}", "query_not_permitted", "label");
	refused(a, "{\"fields\":[\"hum\"]}", "query_not_permitted", "hum");
	a = "\"obligation\":[{\"action\":\"aggregate\",\"fields\":[\"hum\"]}]";
	refused(a, "{\"fields\":[\"temp\"]}", "query_not_permitted", "temp");
}

Test(xform, aggregate_bucket_widths)
{
	static const struct {
		const char *bucket;
		int64_t us;
	} ok[] = { { "PT1M", MIN }, { "PT15M", 15 * MIN }, { "PT90S", 90 * 1000000LL },
		   { "P1D", 24 * HOUR }, { "PT24H", 24 * HOUR }, { "PT1H30M", 90 * MIN } };
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *a = xasprintf("\"obligation\":[{\"action\":\"aggregate\",\"agora:bucket\":\"%s\"}]",
				    ok[i].bucket);
		struct xform_plan *p = plan(a, NULL);
		cr_assert_eq(xform_plan_bucket_us(p), ok[i].us, "%s", ok[i].bucket);
		xform_plan_free(p);
		free(a);
	}
	const char *a = "\"obligation\":[{\"action\":\"aggregate\",\"agora:bucket\":\"PT15M\","
			"\"fields\":[\"temp\"]}]";
	expect(plan(a, NULL), series, 5,
	       "bucket_start,thing,temp_count,temp_min,temp_max,temp_mean\r\n"
	       "2026-05-01T10:00:00.000Z,s1,2,1,2,1.5\r\n"
	       "2026-05-01T10:00:00.000Z,s2,2,5,7,6\r\n"
	       "2026-05-01T10:45:00.000Z,s1,1,6,6,6\r\n");
	/* two aggregate duties: the wider bucket, the fields both allow */
	a = "\"obligation\":[{\"action\":\"aggregate\",\"agora:bucket\":\"PT15M\",\"fields\":[\"temp\",\"hum\"]},"
	    "{\"action\":\"aggregate\",\"agora:bucket\":\"PT2H\",\"fields\":[\"temp\"]}]";
	struct xform_plan *p = plan(a, NULL);
	cr_assert_eq(xform_plan_bucket_us(p), 2 * HOUR);
	expect(p, series, 1, "bucket_start,thing,temp_count,temp_min,temp_max,temp_mean\r\n"
			     "2026-05-01T10:00:00.000Z,s1,1,1,1,1\r\n");
}

Test(xform, aggregate_limits_buckets_not_rows)
{
	const char *a = "\"permission\":[{\"action\":\"use\",\"agora:maxRows\":3,"
			"\"duty\":[{\"action\":\"aggregate\",\"fields\":[\"temp\"]}]}]";
	struct xform_plan *p = plan(a, NULL);
	cr_assert_eq(xform_plan_limit(p), 3);
	cr_assert_eq(xform_plan_sql_limit(p), 0);
	struct agora_buf out;
	agora_buf_init(&out);
	xform_begin(p, &out);
	int r = 1;
	size_t i;
	for (i = 0; i < NSERIES && r == 1; i++)
		r = xform_row(p, series[i].ts, series[i].thing, series[i].vals, strlen(series[i].vals), &out);
	cr_assert_eq(r, 0);
	cr_assert_eq(i, 7, "stopped at row %zu", i);	/* the first row of the third bucket */
	cr_assert_eq(xform_row(p, T0 + 5 * HOUR, "s1", "{}", 2, &out), 0);
	xform_end(p, &out);
	cr_assert_eq(xform_rows_out(p), 3);
	cr_assert_str_eq(out.data, "bucket_start,thing,temp_count,temp_min,temp_max,temp_mean\r\n"
				   "2026-05-01T10:00:00.000Z,s1,3,1,6,3\r\n"
				   "2026-05-01T10:00:00.000Z,s2,2,5,7,6\r\n"
				   "2026-05-01T11:00:00.000Z,s2,1,0.5,0.5,0.5\r\n");
	agora_buf_cleanup(&out);
	xform_plan_free(p);
}

Test(xform, aggregate_limit_cuts_inside_a_bucket)
{
	const char *a = "\"obligation\":[{\"action\":\"aggregate\",\"fields\":[\"temp\"]}]";
	expect(plan(a, "{\"limit\":1}"), series, NSERIES,
	       "bucket_start,thing,temp_count,temp_min,temp_max,temp_mean\r\n"
	       "2026-05-01T10:00:00.000Z,s1,3,1,6,3\r\n");
}

Test(xform, aggregate_refuses_rows_out_of_order)
{
	const char *a = "\"obligation\":[{\"action\":\"aggregate\",\"fields\":[\"temp\"]}]";
	struct xform_plan *p = plan(a, NULL);
	struct agora_buf out;
	agora_buf_init(&out);
	xform_begin(p, &out);
	cr_assert_eq(xform_row(p, T0 + HOUR, "s1", "{\"temp\":1}", 10, &out), 1);
	cr_assert_eq(xform_row(p, T0, "s1", "{\"temp\":9}", 10, &out), -1);
	cr_assert_eq(xform_row(p, T0 + HOUR + 1, "s1", "{\"temp\":3}", 10, &out), 1);
	xform_end(p, &out);
	cr_assert_eq(xform_rows_malformed(p), 1);
	cr_assert_str_eq(out.data, "bucket_start,thing,temp_count,temp_min,temp_max,temp_mean\r\n"
				   "2026-05-01T11:00:00.000Z,s1,2,1,3,2\r\n");
	agora_buf_cleanup(&out);
	xform_plan_free(p);
}

/* ---- window and limit ------------------------------------------------- */

Test(xform, window_is_the_intersection)
{
	const char *a = "\"permission\":[{\"action\":\"use\",\"agora:dataFrom\":\"2026-05-01T10:00:00Z\","
			"\"agora:dataTo\":\"2026-05-01T12:00:00+02:00\"}]";
	/* 12:00+02:00 is 10:00Z: an empty window */
	refused(a, NULL, "invalid_agreement", "agora:dataFrom");

	a = "\"permission\":[{\"action\":\"use\",\"agora:dataFrom\":\"2026-05-01T10:00:00Z\","
	    "\"agora:dataTo\":\"2026-05-01T12:00:00Z\"}]";
	struct xform_plan *p = plan(a, "{\"from\":\"2026-05-01T10:30:00Z\"}");
	const struct xform_window *w = xform_plan_window(p);
	cr_assert(w->has_from && w->has_to);
	cr_assert_eq(w->from_us, T0 + 30 * MIN);
	cr_assert_eq(w->to_us, T0 + 2 * HOUR);
	xform_plan_free(p);
	p = plan(a, "{\"to\":\"2026-05-01T11:00:00.5Z\"}");
	w = xform_plan_window(p);
	cr_assert_eq(w->from_us, T0);
	cr_assert_eq(w->to_us, T0 + HOUR + 500000);
	xform_plan_free(p);
	/* the query alone */
	p = plan("", "{\"from\":\"2026-05-01T10:00:00.0000001Z\",\"to\":\"2026-05-02\"}");
	w = xform_plan_window(p);
	cr_assert_eq(w->from_us, T0 + 1);	/* beyond-microsecond digits round up */
	cr_assert_eq(w->to_us, T0 + 38 * HOUR);	/* a date covers its whole day */
	xform_plan_free(p);
}

Test(xform, strictest_window_and_max_rows_of_all_permissions)
{
	const char *a = "\"agora:maxRows\":10,"
			"\"permission\":[{\"action\":\"use\",\"agora:dataFrom\":\"2026-05-01T09:00:00Z\","
			"\"agora:maxRows\":100},"
			"{\"action\":\"read\",\"agora:dataFrom\":\"2026-05-01T10:00:00Z\","
			"\"agora:dataTo\":\"2026-05-01\"}]";
	struct xform_plan *p = plan(a, NULL);
	const struct xform_window *w = xform_plan_window(p);
	cr_assert_eq(w->from_us, T0);
	cr_assert_eq(w->to_us, T0 + 14 * HOUR);
	cr_assert_eq(xform_plan_limit(p), 10);
	cr_assert_eq(xform_plan_sql_limit(p), 10);
	xform_plan_free(p);
}

Test(xform, rows_outside_the_window_are_skipped)
{
	const char *a = "\"permission\":[{\"action\":\"use\",\"agora:dataFrom\":\"2026-05-01T10:00:00Z\","
			"\"agora:dataTo\":\"2026-05-01T10:01:00Z\"}]";
	static const struct row rows[] = {
		{ T0 - 1, "s1", "{\"temp\":1}" },
		{ T0, "s1", "{\"temp\":2}" },
		{ T0 + MIN - 1, "s1", "{\"temp\":3}" },
		{ T0 + MIN, "s1", "{\"temp\":4}" },
	};
	struct xform_plan *p = plan(a, "{\"fields\":[\"temp\"]}");
	struct agora_buf out;
	agora_buf_init(&out);
	xform_begin(p, &out);
	for (size_t i = 0; i < 4; i++)
		cr_assert_eq(xform_row(p, rows[i].ts, rows[i].thing, rows[i].vals, strlen(rows[i].vals), &out), 1);
	xform_end(p, &out);
	cr_assert_eq(xform_rows_outside(p), 2);
	cr_assert_eq(xform_rows_in(p), 2);
	cr_assert_str_eq(out.data, "timestamp,thing,temp\r\n"
				   "2026-05-01T10:00:00.000Z,s1,2\r\n"
				   "2026-05-01T10:00:59.999999Z,s1,3\r\n");
	agora_buf_cleanup(&out);
	xform_plan_free(p);
}

Test(xform, limit_is_the_min_and_stops_the_stream)
{
	const char *a = "\"permission\":[{\"action\":\"use\",\"agora:maxRows\":5}]";
	struct xform_plan *p = plan(a, "{\"limit\":2,\"format\":\"ndjson\",\"fields\":[\"temp\"]}");
	cr_assert_eq(xform_plan_limit(p), 2);
	cr_assert_eq(xform_plan_sql_limit(p), 2);
	struct agora_buf out;
	agora_buf_init(&out);
	xform_begin(p, &out);
	cr_assert_eq(xform_row(p, basic[0].ts, basic[0].thing, basic[0].vals, strlen(basic[0].vals), &out), 1);
	cr_assert_eq(xform_row(p, basic[1].ts, basic[1].thing, basic[1].vals, strlen(basic[1].vals), &out), 0);
	cr_assert_eq(xform_row(p, basic[2].ts, basic[2].thing, basic[2].vals, strlen(basic[2].vals), &out), 0);
	xform_end(p, &out);
	cr_assert_eq(xform_rows_out(p), 2);
	cr_assert_str_eq(out.data, "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s1\",\"temp\":21.5}\n"
				   "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"s2\",\"temp\":-3}\n");
	agora_buf_cleanup(&out);
	xform_plan_free(p);
	/* maxRows alone */
	expect(plan(a, "{\"fields\":[]}"), basic, 3,
	       "timestamp,thing\r\n2026-05-01T10:00:00.000Z,s1\r\n2026-05-01T10:00:00.000Z,s2\r\n"
	       "2026-05-01T10:01:00.000Z,s1\r\n");
	p = plan(a, "{\"limit\":5}");
	cr_assert_eq(xform_plan_limit(p), 5);
	xform_plan_free(p);
}

Test(xform, duties_combine)
{
	/* hash the thing, drop label, window, limit: all at once */
	const char *a = "\"permission\":[{\"action\":\"use\",\"agora:dataFrom\":\"2026-05-01T10:00:00Z\","
			"\"agora:maxRows\":2,\"duty\":[{\"action\":\"anonymize\",\"agora:method\":\"hash\","
			"\"fields\":[\"thing\"]},{\"action\":\"anonymize\",\"fields\":[\"label\",\"ok\"]}]}]";
	static const struct row rows[] = {
		{ T0 - MIN, "s1", "{\"temp\":0,\"hum\":0,\"label\":\"early\",\"ok\":true}" },
		basic[0], basic[1], basic[2],
	};
	expect(plan(a, "{\"format\":\"json\"}"), rows, 4,
	       "[\n"
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"" PS_S1 "\",\"temp\":21.5,\"hum\":40},\n"
	       "{\"timestamp\":\"2026-05-01T10:00:00.000Z\",\"thing\":\"" PS_S2 "\",\"temp\":-3,\"hum\":null}\n"
	       "]\n");
}

Test(xform, output_is_deterministic)
{
	const char *a = "\"obligation\":[{\"action\":\"anonymize\",\"agora:method\":\"hash\","
			"\"fields\":[\"thing\",\"label\"]}]";
	char *one = run(plan(a, "{\"format\":\"json\"}"), series, NSERIES);
	char *two = run(plan(a, "{\"format\":\"json\"}"), series, NSERIES);
	cr_assert_str_eq(one, two);
	free(one);
	free(two);
}

/* ---- refusals ----------------------------------------------------------- */

Test(xform, query_refusals)
{
	const char *a = "\"permission\":[{\"action\":\"use\",\"agora:dataFrom\":\"2026-05-01T10:00:00Z\","
			"\"agora:dataTo\":\"2026-05-02T00:00:00Z\",\"agora:maxRows\":100,"
			"\"duty\":[{\"action\":\"anonymize\",\"fields\":[\"hum\"]}]}]";
	refused(a, "{\"fields\":[\"hum\"]}", "query_not_permitted", "query.fields[0]");
	refused(a, "{\"fields\":[\"temp\",\"pressure\"]}", "invalid_query", "query.fields[1]");
	refused(a, "{\"fields\":[1]}", "invalid_query", "query.fields[0]");
	refused(a, "{\"fields\":\"temp\"}", "invalid_query", "query.fields");
	refused(a, "{\"from\":\"2026-05-01T09:59:59Z\"}", "query_not_permitted", "query.from");
	refused(a, "{\"to\":\"2026-05-02T00:00:01Z\"}", "query_not_permitted", "query.to");
	refused(a, "{\"to\":\"2026-05-02\"}", "query_not_permitted", "query.to");
	refused(a, "{\"from\":\"2026-05-02T00:00:00Z\"}", "query_not_permitted", "query.from");
	refused(a, "{\"to\":\"2026-05-01T10:00:00Z\"}", "query_not_permitted", "query.to");
	refused(a, "{\"limit\":101}", "query_not_permitted", "query.limit");
	refused(a, "{\"limit\":0}", "invalid_query", "query.limit");
	refused(a, "{\"limit\":\"5\"}", "invalid_query", "query.limit");
	refused(a, "{\"limit\":1.5}", "invalid_query", "query.limit");
	refused(a, "{\"format\":\"xml\"}", "invalid_query", "query.format");
	refused(a, "{\"format\":1}", "invalid_query", "query.format");
	refused(a, "{\"from\":1777629600}", "invalid_query", "query.from");
	refused(a, "{\"from\":\"2026-05-01 10:00\"}", "invalid_query", "query.from");
	refused(a, "{\"from\":\"2026-02-30T10:00:00Z\"}", "invalid_query", "query.from");
	refused(a, "{\"to\":\"2026-05-01T25:00:00Z\"}", "invalid_query", "query.to");
	refused(a, "{\"from\":\"2026-05-01T12:00:00Z\",\"to\":\"2026-05-01T11:00:00Z\"}", "invalid_query",
		"query.from");
	refused(a, "{\"fields\":[],\"sort\":\"desc\"}", "invalid_query", "query.sort");
	refused(a, "[]", "invalid_query", "query");
}

Test(xform, agreement_refusals)
{
	refused("\"obligation\":[{\"action\":\"anonymize\",\"fields\":[\"timestamp\"]}]", NULL,
		"invalid_agreement", "timestamp");
	refused("\"obligation\":[{\"action\":\"anonymize\"}]", NULL, "invalid_agreement", "obligation[0]");
	refused("\"obligation\":[{\"action\":\"anonymize\",\"fields\":[]}]", NULL, "invalid_agreement",
		"fields");
	refused("\"obligation\":[{\"action\":\"anonymize\",\"fields\":[\"pressure\"]}]", NULL,
		"invalid_agreement", "pressure");
	refused("\"obligation\":[{\"action\":\"anonymize\",\"fields\":[7]}]", NULL, "invalid_agreement",
		"obligation[0].fields[0]");
	refused("\"permission\":[{\"action\":\"use\",\"duty\":[{\"action\":\"anonymize\","
		"\"agora:method\":\"encrypt\",\"fields\":[\"hum\"]}]}]",
		NULL, "invalid_agreement", "permission[0].duty[0]");
	static const char *const buckets[] = { "PT30S", "P2D", "P1M", "P1Y", "PT1.5M", "1h", "PT", "P",
					       "PT1H1H", "PT1S1M" };
	for (size_t i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++) {
		char *a = xasprintf("\"obligation\":[{\"action\":\"aggregate\",\"agora:bucket\":\"%s\"}]",
				    buckets[i]);
		refused(a, NULL, "invalid_agreement", "agora:bucket");
		free(a);
	}
	refused("\"obligation\":[{\"action\":\"aggregate\",\"fields\":[\"nope\"]}]", NULL,
		"invalid_agreement", "nope");
	refused("\"permission\":[{\"action\":\"use\",\"agora:dataFrom\":\"yesterday\"}]", NULL,
		"invalid_agreement", "permission[0].agora:dataFrom");
	refused("\"permission\":[{\"action\":\"use\",\"agora:dataFrom\":\"2026-05-02T00:00:00Z\","
		"\"agora:dataTo\":\"2026-05-01T00:00:00Z\"}]",
		NULL, "invalid_agreement", "agora:dataFrom");
	refused("\"permission\":[{\"action\":\"use\",\"agora:maxRows\":0}]", NULL, "invalid_agreement",
		"permission[0].agora:maxRows");
	refused("\"permission\":[{\"action\":\"use\",\"agora:maxRows\":\"10\"}]", NULL, "invalid_agreement",
		"agora:maxRows");

	/* hashing needs a key and an agreement id */
	json_t *a = agreement("urn:uuid:agr-1", "\"obligation\":[{\"action\":\"anonymize\","
						 "\"agora:method\":\"hash\",\"fields\":[\"thing\"]}]");
	cr_assert_null(xform_plan_new(a, NULL, &dataset, NULL, &errsym, detail, sizeof detail));
	cr_assert_str_eq(errsym, "invalid_agreement");
	json_object_del(a, "@id");
	cr_assert_null(xform_plan_new(a, NULL, &dataset, key, &errsym, detail, sizeof detail));
	cr_assert_str_eq(errsym, "invalid_agreement");
	cr_assert(strstr(detail, "@id"), "%s", detail);
	json_decref(a);
	json_t *s = json_string("not an agreement");
	cr_assert_null(xform_plan_new(s, NULL, &dataset, key, &errsym, detail, sizeof detail));
	cr_assert_str_eq(errsym, "invalid_agreement");
	json_decref(s);
}

Test(xform, other_duties_are_not_data_duties)
{
	const char *a = "\"permission\":[{\"action\":\"use\",\"duty\":[{\"action\":\"delete\","
			"\"constraint\":[{\"leftOperand\":\"elapsedTime\",\"operator\":\"eq\","
			"\"rightOperand\":\"P30D\"}]},{\"action\":\"inform\"}]}],"
			"\"prohibition\":[{\"action\":\"distribute\"}]";
	expect(plan(a, "{\"fields\":[\"temp\"]}"), basic, 1,
	       "timestamp,thing,temp\r\n2026-05-01T10:00:00.000Z,s1,21.5\r\n");
}

Test(xform, dataset_field_refusals)
{
	json_t *a = agreement("urn:uuid:agr-1", "");
	static const struct xform_field dup[] = { { "temp", true }, { "temp", false } };
	static const struct xform_field reserved[] = { { "thing", false } };
	static const struct xform_field sensor[] = { { "sensor", false } };
	struct xform_dataset ds = { dup, 2, NULL, NULL };
	cr_assert_null(xform_plan_new(a, NULL, &ds, key, &errsym, detail, sizeof detail));
	cr_assert_str_eq(errsym, "invalid_dataset");
	ds = (struct xform_dataset){ reserved, 1, NULL, NULL };
	cr_assert_null(xform_plan_new(a, NULL, &ds, key, &errsym, detail, sizeof detail));
	cr_assert_str_eq(errsym, "invalid_dataset");
	ds = (struct xform_dataset){ sensor, 1, "ts", "sensor" };
	cr_assert_null(xform_plan_new(a, NULL, &ds, key, &errsym, detail, sizeof detail));
	cr_assert_str_eq(errsym, "invalid_dataset");
	cr_assert(strstr(detail, "sensor"), "%s", detail);
	json_decref(a);
}

Test(xform, declared_thing_and_time_names_are_understood)
{
	static const struct xform_field f[] = { { "no2", true } };
	struct xform_dataset ds = { f, 1, "observedAt", "sensor" };
	json_t *a = agreement("urn:uuid:agr-1", "\"obligation\":[{\"action\":\"anonymize\","
						 "\"agora:method\":\"hash\",\"fields\":[\"sensor\"]}]");
	struct xform_plan *p = xform_plan_new(a, NULL, &ds, key, &errsym, detail, sizeof detail);
	cr_assert_not_null(p, "%s: %s", errsym, detail);
	static const struct row rows[] = { { T0, "s1", "{\"no2\":12}" } };
	expect(p, rows, 1, "timestamp,thing,no2\r\n2026-05-01T10:00:00.000Z," PS_S1 ",12\r\n");
	json_decref(a);
	a = agreement("urn:uuid:agr-1", "\"obligation\":[{\"action\":\"anonymize\",\"fields\":[\"observedAt\"]}]");
	cr_assert_null(xform_plan_new(a, NULL, &ds, key, &errsym, detail, sizeof detail));
	cr_assert_str_eq(errsym, "invalid_agreement");
	cr_assert(strstr(detail, "observedAt"), "%s", detail);
	json_decref(a);
}

/* ---- round trips through independent readers ---------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* A random UTF-8 string of awkward pieces (no NUL). */
static char *
random_text(void)
{
	static const char *const pieces[] = { "a", "Z", "0", " ", ",", "\"", "\\", "\n", "\r", "\t",
					      "\x01", "\x1f", "/", "\xc3\xa9", "\xe2\x80\xa8",
					      "\xf0\x9f\x98\x80", "=", ";", "{", "}" };
	struct agora_buf b;
	agora_buf_init(&b);
	size_t n = next_rand() % 12;
	for (size_t i = 0; i < n; i++)
		agora_buf_puts(&b, pieces[next_rand() % (sizeof(pieces) / sizeof(pieces[0]))]);
	return agora_buf_steal(&b);
}

struct cells {
	char *cell[8];
	size_t n;
	size_t rows;
	char *want[8];	/* the row expected next */
	size_t nwant;
	int mismatches;
};

static void
csv_field(void *s, size_t len, void *data)
{
	struct cells *c = data;
	if (c->n < 8)
		c->cell[c->n] = xstrndup(s ? s : "", len);
	c->n++;
}

static void
csv_row_end(int ch, void *data)
{
	(void)ch;
	struct cells *c = data;
	if (c->rows > 0) {	/* the header is row 0 */
		if (c->n != c->nwant)
			c->mismatches++;
		for (size_t i = 0; i < c->n && i < c->nwant && i < 8; i++)
			if (strcmp(c->cell[i], c->want[i]))
				c->mismatches++;
	}
	for (size_t i = 0; i < c->n && i < 8; i++)
		free(c->cell[i]);
	c->n = 0;
	c->rows++;
}

Test(xform, random_strings_round_trip_through_jansson_and_libcsv)
{
	for (int round = 0; round < 300; round++) {
		char *thing = random_text(), *label = random_text();
		if (!*thing) {
			free(thing);
			thing = xstrdup("t");
		}
		json_t *v = json_pack("{s:s, s:f, s:b}", "label", label, "temp", (double)(next_rand() % 2000) / 8 - 100,
				      "ok", (int)(next_rand() & 1));
		/* as jsonb would render it, or with every non-ASCII character escaped */
		char *vals = json_dumps(v, (round & 1) ? JSON_ENSURE_ASCII : 0);

		/* NDJSON read back by Jansson */
		struct xform_plan *p = plan("", "{\"format\":\"ndjson\"}");
		struct agora_buf out;
		agora_buf_init(&out);
		xform_begin(p, &out);
		cr_assert_eq(xform_row(p, T0, thing, vals, strlen(vals), &out), 1, "refused %s", vals);
		xform_end(p, &out);
		json_error_t e;
		json_t *got = json_loads(out.data, 0, &e);
		cr_assert_not_null(got, "output is not JSON (%s): %s", e.text, out.data);
		cr_assert_str_eq(json_string_value(json_object_get(got, "thing")), thing);
		cr_assert_str_eq(json_string_value(json_object_get(got, "label")), label);
		cr_assert(json_equal(json_object_get(got, "temp"), json_object_get(v, "temp")));
		cr_assert(json_equal(json_object_get(got, "ok"), json_object_get(v, "ok")));
		json_decref(got);
		agora_buf_cleanup(&out);
		xform_plan_free(p);

		/* CSV read back by libcsv, strictly */
		p = plan("", "{\"fields\":[\"label\"]}");
		agora_buf_init(&out);
		xform_begin(p, &out);
		cr_assert_eq(xform_row(p, T0, thing, vals, strlen(vals), &out), 1);
		xform_end(p, &out);
		struct cells c = { .want = { "2026-05-01T10:00:00.000Z", thing, label }, .nwant = 3 };
		struct csv_parser cp;
		cr_assert_eq(csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI), 0);
		cr_assert_eq(csv_parse(&cp, out.data, out.len, csv_field, csv_row_end, &c), out.len,
			     "libcsv: %s in %s", csv_strerror(csv_error(&cp)), out.data);
		cr_assert_eq(csv_fini(&cp, csv_field, csv_row_end, &c), 0);
		csv_free(&cp);
		cr_assert_eq(c.rows, 2, "%zu rows in %s", c.rows, out.data);
		cr_assert_eq(c.mismatches, 0, "thing %s label %s gave %s", thing, label, out.data);
		agora_buf_cleanup(&out);
		xform_plan_free(p);

		free(vals);
		json_decref(v);
		free(thing);
		free(label);
	}
}

Test(xform, csv_quotes_cells_with_edge_whitespace)
{
	static const struct row rows[] = { { T0, " s", "{\"label\":\"a\\t\"}" } };
	expect(plan("", "{\"fields\":[\"label\"]}"), rows, 1,
	       "timestamp,thing,label\r\n2026-05-01T10:00:00.000Z,\" s\",\"a\t\"\r\n");
}

Test(xform, random_bytes_never_crash_the_scanner)
{
	static const char alphabet[] = "{}[]\":,\\u0123456789abcdefntrl -+.eE\xc3\xa9\xff";
	struct xform_plan *p = plan("", "{\"format\":\"json\"}");
	struct agora_buf out;
	agora_buf_init(&out);
	xform_begin(p, &out);
	char buf[64];
	uint64_t good = 0;
	for (int i = 0; i < 20000; i++) {
		size_t n = next_rand() % sizeof(buf);
		for (size_t k = 0; k < n; k++)
			buf[k] = alphabet[next_rand() % (sizeof(alphabet) - 1)];
		if (n > 0 && (i & 3) == 0)
			buf[0] = '{';
		int r = xform_row(p, T0, "s", buf, n, &out);
		cr_assert(r == 1 || r == -1);
		good += r == 1;
	}
	xform_end(p, &out);
	cr_assert_gt(good, 0, "no random row was well-formed: the test says nothing");
	cr_assert_eq(xform_rows_out(p), good);
	cr_assert_eq(xform_rows_malformed(p), 20000 - good);
	/* whatever was accepted, the document is JSON with one element per row */
	json_error_t e;
	json_t *doc = json_loadb(out.data, out.len, 0, &e);
	cr_assert_not_null(doc, "%s", e.text);
	cr_assert_eq(json_array_size(doc), good);
	json_decref(doc);
	agora_buf_cleanup(&out);
	xform_plan_free(p);
}
