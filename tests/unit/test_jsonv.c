/* test_jsonv.c — declarative body checks: presence, types, bounds, strictness. */
#include "jsonv.h"
#include "util.h"

#include <criterion/criterion.h>

static const json_t *name, *tags, *n, *flag, *obj;
static const struct agora_jfield fields[] = {
	{ "name", AGORA_J_STRING, true, 5, &name },
	{ "tags", AGORA_J_STRINGS, false, 2, &tags },
	{ "n", AGORA_J_INTEGER, false, 0, &n },
	{ "flag", AGORA_J_BOOLEAN, false, 0, &flag },
	{ "obj", AGORA_J_OBJECT, false, 1, &obj },
};

static void
check(const char *text, bool ok, enum agora_error want, const char *detail)
{
	json_t *v = json_loads(text, 0, NULL);
	enum agora_error e = AGORA_E__COUNT;
	char d[256] = "";
	bool got = agora_json_check(v, fields, ARRAY_LEN(fields), true, NULL, &e, d, sizeof d);
	cr_assert_eq(got, ok, "%s: %s", text, d);
	if (!ok) {
		cr_assert_eq(e, want, "%s", text);
		cr_assert_str_eq(d, detail);
	}
	json_decref(v);
}

Test(jsonv, accepts_and_borrows)
{
	json_t *v = json_loads("{\"name\":\"abc\",\"tags\":[\"x\"],\"n\":3,\"flag\":true}", 0, NULL);
	enum agora_error e;
	char d[128];
	cr_assert(agora_json_check(v, fields, ARRAY_LEN(fields), true, NULL, &e, d, sizeof d));
	cr_assert_str_eq(json_string_value(name), "abc");
	cr_assert_eq(json_integer_value(n), 3);
	cr_assert_null(obj);
	json_decref(v);
}

Test(jsonv, refuses_with_the_field_named)
{
	check("{}", false, AGORA_E_INVALID_REQUEST, "field 'name' is required");
	check("{\"name\":null}", false, AGORA_E_INVALID_REQUEST, "field 'name' is required");
	check("{\"name\":7}", false, AGORA_E_INVALID_REQUEST, "field 'name' must be a string");
	check("{\"name\":\"\"}", false, AGORA_E_INVALID_REQUEST,
	      "field 'name' must be a non-empty string without NUL of at most 5 bytes");
	check("{\"name\":\"abcdef\"}", false, AGORA_E_INVALID_REQUEST,
	      "field 'name' must be a non-empty string without NUL of at most 5 bytes");
	check("{\"name\":\"a\",\"tags\":[\"a\",\"b\",\"c\"]}", false, AGORA_E_INVALID_REQUEST,
	      "field 'tags' must be an array of strings of at most 2 items");
	check("{\"name\":\"a\",\"tags\":[1]}", false, AGORA_E_INVALID_REQUEST,
	      "field 'tags' must be an array of strings of at most 2 items");
	check("{\"name\":\"a\",\"n\":1.5}", false, AGORA_E_INVALID_REQUEST, "field 'n' must be an integer");
	check("{\"name\":\"a\",\"flag\":\"yes\"}", false, AGORA_E_INVALID_REQUEST, "field 'flag' must be a boolean");
	check("{\"name\":\"a\",\"obj\":{\"a\":1,\"b\":2}}", false, AGORA_E_INVALID_REQUEST,
	      "field 'obj' must be an object of at most 1 members");
	check("{\"name\":\"a\",\"evil\":1}", false, AGORA_E_UNKNOWN_FIELD, "unknown field 'evil'");
	check("[]", false, AGORA_E_INVALID_REQUEST, "the body must be a JSON object");
}

Test(jsonv, missing_body_and_prefix)
{
	enum agora_error e;
	char d[128];
	cr_assert_not(agora_json_check(NULL, fields, ARRAY_LEN(fields), true, "attributes.", &e, d, sizeof d));
	cr_assert_str_eq(d, "attributes. must be a JSON object");
}
