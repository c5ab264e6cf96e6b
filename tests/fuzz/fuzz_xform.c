/* libFuzzer target: the data-plane transform (connectors/xform.c).
 *
 * Input lines:
 *   1  members of the Agreement, a JSON fragment put after its @id (as in
 *      tests/unit/test_xform.c): "\"permission\":[…],\"obligation\":[…]"
 *   2  the query (JSON; empty line: none)
 *   3… rows, "seconds<TAB>thing<TAB>vals": ts = 2026-05-01T10:00:00Z +
 *      seconds, vals as PostgreSQL would render the jsonb (or anything).
 * The dataset is test_xform's (temp, hum numeric; label, ok not).
 *
 * When xform_plan_new() accepts: every xform_row() returns -1, 0 or 1 and
 * no row is taken after a 0; the whole output is valid UTF-8; at most
 * xform_plan_limit() rows or buckets go out; JSON output is one JSON array
 * of objects, NDJSON one object per line, CSV (libcsv, strict) records
 * all as wide as the header; and a second plan from the same inputs gives
 * the same bytes (the transfer's hash depends on it).  When it refuses:
 * one of the four documented symbols and a detail. */
#include <csv.h>
#include <jansson.h>

#include "fuzz_util.h"
#include "xform.h"

#define T0 1777629600000000LL

static const struct xform_field fields[] = {
	{ "temp", true },
	{ "hum", true },
	{ "label", false },
	{ "ok", false },
};
static const struct xform_dataset dataset = { fields, 4, NULL, NULL };
static uint8_t key[32];

static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		size_t k;
		unsigned min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1, min = 0x80, c &= 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, min = 0x800, c &= 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, min = 0x10000, c &= 0x07;
		} else {
			return false;
		}
		for (size_t j = 1; j <= k; j++) {
			if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (s[i + j] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

struct csv_count {
	size_t fields, width;
	long records;
	bool ragged;
};

static void
csv_field(void *s, size_t len, void *ctx)
{
	(void)s;
	(void)len;
	((struct csv_count *)ctx)->fields++;
}

static void
csv_record(int c, void *ctx)
{
	(void)c;
	struct csv_count *cc = ctx;
	if (cc->records++ == 0)
		cc->width = cc->fields;
	else if (cc->fields != cc->width)
		cc->ragged = true;
	cc->fields = 0;
}

static void
check_output(struct xform_plan *p, const char *out, size_t len)
{
	FUZZ_CHECK(utf8_valid((const unsigned char *)out, len), "output not UTF-8");
	enum xform_format f = xform_plan_format(p);
	if (f == XFORM_JSON) {
		json_error_t e;
		json_t *a = json_loadb(out, len, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &e);
		FUZZ_CHECK(json_is_array(a), "JSON output does not parse: %s: %.300s", e.text, out);
		for (size_t i = 0; i < json_array_size(a); i++)
			FUZZ_CHECK(json_is_object(json_array_get(a, i)), "element %zu", i);
		FUZZ_CHECK(json_array_size(a) == xform_rows_out(p), "rows out");
		json_decref(a);
	} else if (f == XFORM_NDJSON) {
		const char *s = out, *end = out + len;
		size_t lines = 0;
		while (s < end) {
			const char *nl = memchr(s, '\n', (size_t)(end - s));
			FUZZ_CHECK(nl, "NDJSON line without newline");
			json_error_t e;
			json_t *o = json_loadb(s, (size_t)(nl - s), JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &e);
			FUZZ_CHECK(json_is_object(o), "NDJSON line: %s: %.*s", e.text, (int)(nl - s), s);
			json_decref(o);
			lines++;
			s = nl + 1;
		}
		FUZZ_CHECK(lines == xform_rows_out(p), "rows out %zu / %llu", lines,
			   (unsigned long long)xform_rows_out(p));
	} else {
		struct csv_parser cp;
		struct csv_count cc = { 0 };
		csv_init(&cp, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL);
		FUZZ_CHECK(csv_parse(&cp, out, len, csv_field, csv_record, &cc) == len, "CSV: %s",
			   csv_strerror(csv_error(&cp)));
		FUZZ_CHECK(csv_fini(&cp, csv_field, csv_record, &cc) == 0, "CSV fini");
		csv_free(&cp);
		FUZZ_CHECK(!cc.ragged, "ragged CSV");
		FUZZ_CHECK(cc.records >= 1 && (uint64_t)(cc.records - 1) == xform_rows_out(p),
			   "CSV records %ld, rows out %llu", cc.records,
			   (unsigned long long)xform_rows_out(p));
	}
	uint64_t lim = xform_plan_limit(p);
	FUZZ_CHECK(!lim || xform_rows_out(p) <= lim, "limit");
}

/* Build a plan and run the rows; the output (heap) or NULL when refused. */
static char *
run(const char *members, size_t mlen, const char *query, size_t qlen, const char *rows,
    size_t rlen, size_t *outlen, bool check)
{
	char *text = xasprintf("{\"@context\":\"https://w3id.org/dspace/2025/1/context.jsonld\","
			       "\"@type\":\"Agreement\",\"@id\":\"urn:uuid:agr-1\","
			       "\"assigner\":\"did:web:p.example\",\"assignee\":\"did:web:c.example\","
			       "\"target\":\"urn:uuid:ds-1\"%s%.*s}",
			       mlen ? "," : "", (int)mlen, members);
	json_t *a = json_loads(text, 0, NULL);
	free(text);
	if (!a)
		return NULL;
	json_t *q = qlen ? json_loadb(query, qlen, JSON_DECODE_ANY, NULL) : NULL;
	if (qlen && !q) {
		json_decref(a);
		return NULL;
	}
	const char *errsym = NULL;
	char detail[300] = "";
	struct xform_plan *p = xform_plan_new(a, q, &dataset, key, &errsym, detail, sizeof detail);
	json_decref(a);
	json_decref(q);
	if (!p) {
		FUZZ_CHECK(errsym && (!strcmp(errsym, "invalid_query") ||
				      !strcmp(errsym, "query_not_permitted") ||
				      !strcmp(errsym, "invalid_agreement") ||
				      !strcmp(errsym, "invalid_dataset")),
			   "symbol %s", errsym ? errsym : "(null)");
		FUZZ_CHECK(detail[0], "refused without detail");
		return NULL;
	}
	struct agora_buf out;
	agora_buf_init(&out);
	xform_begin(p, &out);
	const char *s = rows, *end = rows + rlen;
	bool stopped = false;
	while (s < end && !stopped) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		const char *t1 = memchr(s, '\t', (size_t)(le - s));
		const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(le - t1 - 1)) : NULL;
		if (t2) {
			char *secs = xstrndup(s, (size_t)(t1 - s));
			char *thing = xstrndup(t1 + 1, (size_t)(t2 - t1 - 1));
			long long sec = strtoll(secs, NULL, 10);
			if (sec > 400000000000LL)
				sec = 400000000000LL;
			if (sec < -400000000000LL)
				sec = -400000000000LL;
			int r = xform_row(p, T0 + sec * 1000000LL, thing, t2 + 1, (size_t)(le - t2 - 1), &out);
			FUZZ_CHECK(r >= -1 && r <= 1, "xform_row %d", r);
			stopped = r == 0;
			free(secs);
			free(thing);
		}
		s = nl ? nl + 1 : end;
	}
	xform_end(p, &out);
	if (check)
		check_output(p, out.data ? out.data : "", out.len);
	xform_plan_free(p);
	*outlen = out.len;
	if (!out.data)
		return xstrdup("");
	return agora_buf_steal(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 32768)
		return 0;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	const uint8_t *m, *rest, *q, *rows;
	size_t mlen, rlen, qlen, rowslen;
	fuzz_split(data, size, &m, &mlen, &rest, &rlen);
	fuzz_split(rest, rlen, &q, &qlen, &rows, &rowslen);
	size_t n1 = 0, n2 = 0;
	char *o1 = run((const char *)m, mlen, (const char *)q, qlen, (const char *)rows, rowslen, &n1, true);
	if (o1) {
		char *o2 = run((const char *)m, mlen, (const char *)q, qlen, (const char *)rows, rowslen,
			       &n2, false);
		FUZZ_CHECK(o2 && n1 == n2 && !memcmp(o1, o2, n1), "not deterministic");
		free(o2);
	}
	free(o1);
	return 0;
}
