/* libFuzzer target: observation ingest (connectors/ingest.c) against a fixed
 * schema (the one of tests/unit/test_ingest.c).
 *
 * First byte:
 *   0  CSV: agora_obs_parse_csv() on the whole body, and the streaming API
 *      fed the same bytes in chunks whose sizes come from a hash of the
 *      input — the two batches must be identical (ok, error, rows,
 *      rejections, every row's ts/thing/values).
 *   1  JSON: agora_obs_parse_json().
 *   2  a schema (agora_obs_schema_parse): when accepted, its canonical
 *      form must parse again to the same canonical form.
 * For every accepted row: the values text is a JSON object with every
 * declared field, the timestamp formats and parses back to itself, and
 * the COPY line is one line of exactly four tab-separated columns. */
#include <jansson.h>

#include "fuzz_util.h"
#include "ingest.h"

static const char source_text[] =
	"{\"type\":\"observations\","
	"\"fields\":[{\"name\":\"no2\",\"type\":\"number\",\"unit\":\"ug/m3\",\"min\":0,\"max\":400,\"required\":true},"
	"{\"name\":\"status\",\"type\":\"string\"},"
	"{\"name\":\"count\",\"type\":\"integer\",\"min\":0},"
	"{\"name\":\"ok\",\"type\":\"boolean\"}],"
	"\"timeField\":\"timestamp\",\"thingField\":\"sensor\"}";

static struct agora_obs_schema *schema;

static void
check_rows(const struct agora_obs_batch *b)
{
	if (!agora_obs_batch_ok(b)) {
		FUZZ_CHECK(agora_obs_batch_count(b) == 0, "refused batch with rows");
		FUZZ_CHECK(agora_obs_batch_error(b) && *agora_obs_batch_error(b), "no reason");
		return;
	}
	const struct agora_obs_stats *st = agora_obs_batch_stats(b);
	FUZZ_CHECK(st->accepted == (int64_t)agora_obs_batch_count(b), "stats");
	FUZZ_CHECK(st->rejected == agora_obs_batch_rejected_count(b), "rejected");
	json_t *rej = agora_obs_batch_rejections(b);
	FUZZ_CHECK(json_is_array(rej) && json_array_size(rej) <= AGORA_OBS_MAX_REJECTIONS &&
			   (int64_t)json_array_size(rej) <= st->rejected,
		   "rejections");
	json_decref(rej);
	struct agora_buf line;
	agora_buf_init(&line);
	for (size_t i = 0; i < agora_obs_batch_count(b); i++) {
		json_t *v = agora_obs_batch_values(b, i);
		FUZZ_CHECK(json_is_object(v) && json_object_size(v) == schema->nfields,
			   "values: %s", agora_obs_batch_values_text(b, i));
		json_decref(v);
		int64_t ts = agora_obs_batch_ts(b, i), back = 0;
		char buf[32];
		agora_rfc3339_format_ms(ts, buf);
		FUZZ_CHECK(agora_rfc3339_ms(buf, strlen(buf), &back) && back == ts, "ts %s", buf);
		FUZZ_CHECK(agora_obs_batch_thing(b, i) != NULL, "thing");
		line.len = 0;
		agora_obs_batch_copy_line(b, i, "ds-1", &line);
		size_t tabs = 0, nls = 0;
		for (size_t k = 0; k < line.len; k++) {
			tabs += line.data[k] == '\t';
			nls += line.data[k] == '\n';
		}
		FUZZ_CHECK(tabs == 3 && nls == 1 && line.data[line.len - 1] == '\n', "COPY line");
	}
	agora_buf_cleanup(&line);
}

static void
same_batch(const struct agora_obs_batch *a, const struct agora_obs_batch *b)
{
	FUZZ_CHECK(agora_obs_batch_ok(a) == agora_obs_batch_ok(b), "ok differs: %s / %s",
		   agora_obs_batch_ok(a) ? "-" : agora_obs_batch_error(a),
		   agora_obs_batch_ok(b) ? "-" : agora_obs_batch_error(b));
	if (!agora_obs_batch_ok(a)) {
		FUZZ_CHECK(!strcmp(agora_obs_batch_error(a), agora_obs_batch_error(b)), "error: %s / %s",
			   agora_obs_batch_error(a), agora_obs_batch_error(b));
		return;
	}
	FUZZ_CHECK(agora_obs_batch_count(a) == agora_obs_batch_count(b), "count %zu / %zu",
		   agora_obs_batch_count(a), agora_obs_batch_count(b));
	FUZZ_CHECK(agora_obs_batch_rejected_count(a) == agora_obs_batch_rejected_count(b), "rejected");
	json_t *ra = agora_obs_batch_rejections(a), *rb = agora_obs_batch_rejections(b);
	FUZZ_CHECK(json_equal(ra, rb), "rejections differ");
	json_decref(ra);
	json_decref(rb);
	for (size_t i = 0; i < agora_obs_batch_count(a); i++) {
		FUZZ_CHECK(agora_obs_batch_ts(a, i) == agora_obs_batch_ts(b, i), "ts of row %zu", i);
		FUZZ_CHECK(!strcmp(agora_obs_batch_thing(a, i), agora_obs_batch_thing(b, i)), "thing");
		FUZZ_CHECK(!strcmp(agora_obs_batch_values_text(a, i), agora_obs_batch_values_text(b, i)),
			   "values of row %zu", i);
	}
}

static void
csv(const char *body, size_t len, uint32_t h)
{
	size_t max_rows = 1 + h % 50;
	struct agora_obs_batch *whole = agora_obs_parse_csv(schema, body, len, max_rows);
	check_rows(whole);
	struct agora_obs_csv *p = agora_obs_csv_new(schema, max_rows);
	size_t off = 0;
	uint32_t r = h;
	while (off < len) {
		r = r * 1103515245u + 12345u;
		size_t n = 1 + (r >> 16) % 17;
		if (n > len - off)
			n = len - off;
		agora_obs_csv_feed(p, body + off, n);
		off += n;
	}
	struct agora_obs_batch *streamed = agora_obs_csv_finish(p);
	same_batch(whole, streamed);
	agora_obs_batch_free(streamed);
	agora_obs_batch_free(whole);
}

static void
schema_roundtrip(const char *body, size_t len)
{
	json_t *src = json_loadb(body, len, JSON_DECODE_ANY, NULL);
	if (!src)
		return;
	char err[300] = "";
	struct agora_obs_schema *s = agora_obs_schema_parse(src, err, sizeof err);
	if (s) {
		json_t *canon = agora_obs_schema_to_json(s);
		struct agora_obs_schema *again = agora_obs_schema_parse(canon, err, sizeof err);
		FUZZ_CHECK(again != NULL, "canonical schema refused: %s", err);
		json_t *canon2 = agora_obs_schema_to_json(again);
		FUZZ_CHECK(json_equal(canon, canon2), "canonical form not stable");
		json_decref(canon2);
		json_decref(canon);
		agora_obs_schema_free(again);
		agora_obs_schema_free(s);
	} else {
		FUZZ_CHECK(err[0], "schema refused without a reason");
	}
	json_decref(src);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	if (!schema) {
		json_t *src = json_loads(source_text, 0, NULL);
		char err[256];
		schema = agora_obs_schema_parse(src, err, sizeof err);
		json_decref(src);
		if (!schema)
			abort();
	}
	uint32_t h = fuzz_hash(data, size);
	const char *body = (const char *)data + 1;
	size_t len = size - 1;
	switch (data[0] % 3) {
	case 0:
		csv(body, len, h);
		break;
	case 1: {
		struct agora_obs_batch *b = agora_obs_parse_json(schema, body, len, 1 + h % 50);
		check_rows(b);
		agora_obs_batch_free(b);
		break;
	}
	default:
		schema_roundtrip(body, len);
	}
	return 0;
}
