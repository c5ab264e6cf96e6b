/* openapi_check.c — see openapi_check.h. */
#include "openapi_check.h"
#include "util.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The OpenAPI path of a route pattern: "{path*}" (rest of the path) is
 * "{path}" in OpenAPI.  The method in lower case into m. */
static char *
openapi_key(const struct agora_route *rt, char m[16])
{
	size_t k;
	for (k = 0; rt->method[k] && k < 15; k++)
		m[k] = (char)(rt->method[k] | 0x20);
	m[k] = '\0';
	char *key = xstrdup(rt->pattern);
	char *star = strstr(key, "*}");
	if (star)
		memmove(star, star + 1, strlen(star));
	return key;
}

/* Counts the "$ref"s under node that do not resolve in doc (local
 * references "#/a/b" only; ~1 and ~0 unescaped), naming each. */
static int
unresolved_refs(json_t *doc, json_t *node)
{
	int bad = 0;
	if (json_is_array(node)) {
		size_t i;
		json_t *v;
		json_array_foreach(node, i, v)
			bad += unresolved_refs(doc, v);
		return bad;
	}
	if (!json_is_object(node))
		return 0;
	const char *ref = json_string_value(json_object_get(node, "$ref"));
	if (ref) {
		json_t *at = doc;
		char *copy = xstrdup(ref);
		if (strncmp(copy, "#/", 2)) {
			at = NULL;
		} else {
			for (char *save = NULL, *seg = strtok_r(copy + 2, "/", &save); seg && at;
			     seg = strtok_r(NULL, "/", &save)) {
				char *o = seg;
				for (char *c = seg; *c; c++)
					*o++ = (c[0] == '~' && (c[1] == '1' || c[1] == '0')) ? (*++c == '1' ? '/' : '~') : *c;
				*o = '\0';
				at = json_object_get(at, seg);
			}
		}
		free(copy);
		if (!at) {
			cr_log_error("unresolved $ref %s", ref);
			bad++;
		}
	}
	const char *k;
	json_t *v;
	json_object_foreach(node, k, v)
		bad += unresolved_refs(doc, v);
	return bad;
}

void
openapi_check_routes(json_t *doc, const struct agora_route *routes, size_t n, const char *file)
{
	static const char *const methods[] = { "get", "put", "post", "delete", "patch", "head", "options", "trace" };
	const char *version = json_string_value(json_object_get(doc, "openapi"));
	cr_assert(version && !strncmp(version, "3.1.", 4), "%s: openapi: %s", file, version ? version : "(none)");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(doc, "info"), "version")),
			 AGORA_VERSION);
	json_t *paths = json_object_get(doc, "paths");
	for (size_t i = 0; i < n; i++) {
		char m[16];
		char *key = openapi_key(&routes[i], m);
		json_t *op = json_object_get(json_object_get(paths, key), m);
		cr_expect(json_is_object(op), "%s %s is missing from %s", routes[i].method, routes[i].pattern, file);
		cr_expect(json_is_string(json_object_get(op, "summary")), "%s: %s %s has no summary", file, m, key);
		cr_expect(json_is_object(json_object_get(op, "responses")), "%s: %s %s has no responses", file, m, key);
		free(key);
	}
	/* … and nothing else: every operation of the document is a route. */
	size_t nops = 0;
	const char *path;
	json_t *item;
	json_object_foreach(paths, path, item) {
		for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) {
			if (!json_object_get(item, methods[k]))
				continue;
			nops++;
			bool found = false;
			for (size_t i = 0; i < n && !found; i++) {
				char m[16];
				char *key = openapi_key(&routes[i], m);
				found = !strcmp(key, path) && !strcmp(m, methods[k]);
				free(key);
			}
			cr_expect(found, "%s describes %s %s, which is no route", file, methods[k], path);
		}
	}
	cr_expect_eq(nops, n, "%s: %zu operations, %zu routes", file, nops, n);
	cr_expect_eq(unresolved_refs(doc, doc), 0, "%s has unresolved $refs (see the log)", file);
	json_t *err = json_object_get(json_object_get(json_object_get(doc, "components"), "schemas"), "Error");
	json_t *req = json_object_get(err, "required");
	cr_expect(json_array_size(req) == 3 && !strcmp(json_string_value(json_array_get(req, 0)), "code") &&
		  !strcmp(json_string_value(json_array_get(req, 1)), "error") &&
		  !strcmp(json_string_value(json_array_get(req, 2)), "detail"),
		  "%s: the Error schema requires code, error, detail", file);
}
