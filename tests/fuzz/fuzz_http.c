/* libFuzzer target: the Range header parser and the route matcher
 * (lib/http.c).
 *
 * First byte:
 *   0  "size\nRange header": agora_http_parse_range() returns -1, 0 or 1;
 *      1 implies from <= to < size, and only for a header of RFC 9110's
 *      single-range grammar (bytes=digits-[digits] or bytes=-digits).
 *   1  "pattern\npath": agora_http_route_match() with and without a
 *      request agree; on a match, putting the captured values back into
 *      the pattern gives the path again, every value is non-empty, and
 *      only a {name*} value may contain '/'.
 *   2  "path": matched against the broker's and connectors' real patterns
 *      (same checks). */
#include <inttypes.h>

#include "fuzz_util.h"
#include "http.h"

static bool
digits(const char *s, const char *e)
{
	if (s == e)
		return false;
	for (; s < e; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* bytes=a-b, bytes=a-, bytes=-n */
static bool
well_formed(const char *h)
{
	if (strncmp(h, "bytes=", 6) != 0)
		return false;
	const char *p = h + 6, *dash = strchr(p, '-'), *end = p + strlen(p);
	if (!dash)
		return false;
	if (dash == p)
		return digits(p + 1, end);
	return digits(p, dash) && (dash + 1 == end || digits(dash + 1, end));
}

static void
range(const uint8_t *data, size_t size)
{
	const uint8_t *a, *b;
	size_t alen, blen;
	fuzz_split(data, size, &a, &alen, &b, &blen);
	char *sz = fuzz_strndup(a, alen), *h = fuzz_strndup(b, blen);
	uint64_t n = strtoull(sz, NULL, 10);
	uint64_t from = 0xdead, to = 0xbeef;
	int r = agora_http_parse_range(h, n, &from, &to);
	FUZZ_CHECK(r == -1 || r == 0 || r == 1, "result %d", r);
	if (r == 1) {
		FUZZ_CHECK(from <= to && to < n, "[%" PRIu64 ", %" PRIu64 "] of %" PRIu64, from, to, n);
		FUZZ_CHECK(well_formed(h), "malformed Range accepted: \"%s\" -> [%" PRIu64 ", %" PRIu64 "]",
			   h, from, to);
	}
	free(sz);
	free(h);
}

static void
route(const char *pattern, const char *path)
{
	struct agora_req r;
	memset(&r, 0, sizeof r);
	bool m0 = agora_http_route_match(pattern, path, NULL);
	bool m1 = agora_http_route_match(pattern, path, &r);
	FUZZ_CHECK(m0 == m1, "with and without a request differ");
	if (m1) {
		/* Rebuild the path from the pattern and the captured values,
		 * segment by segment: "{…}" is a parameter, a last "{…*}" the
		 * rest of the path. */
		struct agora_buf out;
		agora_buf_init(&out);
		int np = 0;
		const char *p = pattern;
		while (*p) {
			agora_buf_append(&out, p, 1);	/* the '/' */
			p++;
			const char *pe = strchr(p, '/');
			size_t pl = pe ? (size_t)(pe - p) : strlen(p);
			bool rest = !pe && pl > 3 && p[0] == '{' && p[pl - 2] == '*' && p[pl - 1] == '}';
			if (rest || (pl > 2 && p[0] == '{' && p[pl - 1] == '}')) {
				FUZZ_CHECK(np < AGORA_MAX_PARAMS, "too many parameters");
				const char *name = r.param_names[np], *v = r.param_values[np];
				size_t nl = pl - 2 - rest;
				FUZZ_CHECK(name && strlen(name) == nl && !memcmp(name, p + 1, nl), "name");
				FUZZ_CHECK(v && *v, "empty value for %s", name);
				FUZZ_CHECK(rest || !strchr(v, '/'), "'/' in {%s}", name);
				agora_buf_puts(&out, v);
				np++;
			} else {
				agora_buf_append(&out, p, pl);
			}
			p += pl;
		}
		agora_buf_append(&out, "", 1);
		FUZZ_CHECK(!strcmp(out.data, path), "rebuilt \"%s\" from \"%s\" for \"%s\"", out.data,
			   pattern, path);
		agora_buf_cleanup(&out);
	}
	for (int i = 0; i < AGORA_MAX_PARAMS; i++) {
		free((char *)r.param_names[i]);
		free(r.param_values[i]);
	}
}

static const char *const patterns[] = {
	"/api/v1/datasets",
	"/api/v1/datasets/{id}",
	"/api/v1/datasets/{id}/observations",
	"/api/v1/participants/{id}/keys/{kid}",
	"/dsp/negotiations/{pid}/request",
	"/dsp/transfers/{pid}/start",
	"/data/{tid}",
	"/ui/{path*}",
	"/.well-known/jwks.json",
	"/",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 8192)
		return 0;
	switch (data[0] % 3) {
	case 0:
		range(data + 1, size - 1);
		break;
	case 1: {
		const uint8_t *a, *b;
		size_t alen, blen;
		fuzz_split(data + 1, size - 1, &a, &alen, &b, &blen);
		char *pat = fuzz_strndup(a, alen), *path = fuzz_strndup(b, blen);
		route(pat, path);
		free(pat);
		free(path);
		break;
	}
	default: {
		char *path = fuzz_strndup(data + 1, size - 1);
		for (size_t i = 0; i < sizeof patterns / sizeof *patterns; i++)
			route(patterns[i], path);
		free(path);
	}
	}
	return 0;
}
