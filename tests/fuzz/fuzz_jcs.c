/* libFuzzer target: the RFC 8785 canonicaliser (lib/jcs.c).
 *
 * For every input Jansson accepts (any value, \u0000 allowed in strings):
 *   - agora_jcs() succeeds (Jansson's own depth limit equals ours);
 *   - the canonical text parses again and canonicalising that gives the
 *     same bytes: jcs(parse(jcs(x))) == jcs(x);
 *   - parse(jcs(x)) equals x as JSON, numbers compared as IEEE 754
 *     doubles.  Deliberate exception, as jcs.h says: JCS has only
 *     doubles, so an integer beyond 2^53 comes back rounded to the
 *     nearest double and 1.0 comes back as the integer 1 — we compare
 *     (double)x with (double)y, never integer with real.
 * And the first 8 bytes, taken as a double: agora_jcs_number() reads back
 * (strtod) to exactly that double, and refuses only NaN and Infinity. */
#include <jansson.h>
#include <math.h>

#include "fuzz_util.h"
#include "jcs.h"

static double
num(const json_t *v)
{
	return json_is_integer(v) ? (double)json_integer_value(v) : json_real_value(v);
}

/* json_equal with numbers compared as doubles. */
static bool
same(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return num(a) == num(b);
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!same(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	if (json_is_object(a)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		const char *k;
		size_t klen;
		json_t *v;
		json_object_keylen_foreach((json_t *)a, k, klen, v) {
			const json_t *w = json_object_getn(b, k, klen);
			if (!w || !same(v, w))
				return false;
		}
		return true;
	}
	return json_equal(a, b);
}

static void
number(const uint8_t *data, size_t size)
{
	if (size < 8)
		return;
	double d;
	memcpy(&d, data, sizeof d);
	char buf[32];
	int ok = agora_jcs_number(d, buf);
	if (!isfinite(d)) {
		FUZZ_CHECK(!ok, "NaN/Infinity printed");
		return;
	}
	FUZZ_CHECK(ok, "finite %a refused", d);
	FUZZ_CHECK(strlen(buf) < 32, "overlong");
	char *end;
	double back = strtod(buf, &end);
	FUZZ_CHECK(*end == '\0' && (back == d), "%a printed as %s", d, buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	number(data, size);
	const size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
	json_t *x = json_loadb((const char *)data, size, flags, NULL);
	if (!x)
		return 0;
	size_t l1 = 0, l2 = 0;
	char *c1 = agora_jcs(x, &l1);
	FUZZ_CHECK(c1 != NULL, "Jansson's value not canonicalised");
	FUZZ_CHECK(strlen(c1) == l1, "length %zu vs strlen %zu", l1, strlen(c1));
	json_error_t err;
	/* As reals: a canonical 1e20 prints as 100000000000000000000, which
	 * Jansson would refuse as an integer. */
	json_t *y = json_loadb(c1, l1, flags | JSON_DECODE_INT_AS_REAL, &err);
	FUZZ_CHECK(y != NULL, "canonical form does not parse: %s: %.200s", err.text, c1);
	char *c2 = agora_jcs(y, &l2);
	FUZZ_CHECK(c2 && l1 == l2 && !memcmp(c1, c2, l1), "not idempotent: %.200s", c1);
	FUZZ_CHECK(same(x, y), "parse(jcs(x)) != x: %.200s", c1);
	char hex[65];
	FUZZ_CHECK(agora_jcs_sha256_hex(x, hex) && strlen(hex) == 64, "sha256");
	free(c1);
	free(c2);
	json_decref(y);
	json_decref(x);
	return 0;
}
