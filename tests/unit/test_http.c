/* test_http.c — the server's pure helpers: the Range header parser and the
 * route matcher (lib/http.c). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "http.h"

static int
range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
	*from = *to = 12345;
	return agora_http_parse_range(h, size, from, to);
}

Test(http, range_forms)
{
	uint64_t f, t;
	cr_expect_eq(range("bytes=0-499", 1000, &f, &t), 1);
	cr_expect(f == 0 && t == 499);
	cr_expect_eq(range("bytes=500-", 1000, &f, &t), 1);
	cr_expect(f == 500 && t == 999);
	cr_expect_eq(range("bytes=-200", 1000, &f, &t), 1);
	cr_expect(f == 800 && t == 999);
	cr_expect_eq(range("bytes=-2000", 1000, &f, &t), 1);
	cr_expect(f == 0 && t == 999);
	cr_expect_eq(range("bytes=900-5000", 1000, &f, &t), 1);
	cr_expect(f == 900 && t == 999);
	cr_expect_eq(range("bytes=1000-", 1000, &f, &t), -1);
	cr_expect_eq(range("bytes=-0", 1000, &f, &t), -1);
	cr_expect_eq(range("bytes=0-", 0, &f, &t), -1);
	cr_expect_eq(range(NULL, 1000, &f, &t), 0);
	cr_expect_eq(range("items=0-1", 1000, &f, &t), 0);
	cr_expect_eq(range("bytes=0-1,5-6", 1000, &f, &t), 0);
	cr_expect_eq(range("bytes=5-1", 1000, &f, &t), 0);
}

/* Found by fuzz-http: the suffix form went through strtoull, which also
 * takes a sign and leading spaces, so "bytes=--2" (strtoull: 2^64-2) was
 * served as the whole representation in a 206.  Malformed: ignored (0). */
Test(http, range_suffix_must_be_digits)
{
	uint64_t f, t;
	cr_expect_eq(range("bytes=--2", 4, &f, &t), 0);
	cr_expect_eq(range("bytes=-+2", 4, &f, &t), 0);
	cr_expect_eq(range("bytes=- 2", 4, &f, &t), 0);
	cr_expect_eq(range("bytes=-", 4, &f, &t), 0);
	cr_expect(f == 12345 && t == 12345, "outputs written on refusal");
}

Test(http, route_match)
{
	struct agora_req r;
	memset(&r, 0, sizeof r);
	cr_assert(agora_http_route_match("/api/v1/datasets/{id}/observations",
					 "/api/v1/datasets/ds-1/observations", &r));
	cr_expect_str_eq(r.param_names[0], "id");
	cr_expect_str_eq(r.param_values[0], "ds-1");
	free((char *)r.param_names[0]);
	free(r.param_values[0]);
	memset(&r, 0, sizeof r);
	cr_assert(agora_http_route_match("/ui/{path*}", "/ui/css/site.css", &r));
	cr_expect_str_eq(r.param_names[0], "path");
	cr_expect_str_eq(r.param_values[0], "css/site.css");
	free((char *)r.param_names[0]);
	free(r.param_values[0]);
	cr_expect_not(agora_http_route_match("/ui/{path*}", "/ui/", NULL));
	cr_expect_not(agora_http_route_match("/a/{x}/b", "/a//b", NULL));
	cr_expect_not(agora_http_route_match("/a/{x}", "/a/b/c", NULL));
	cr_expect_not(agora_http_route_match("/a", "/a/", NULL));
}
