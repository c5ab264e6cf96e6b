/* test_yamljson.c — the YAML → JSON converter that serves /openapi.json:
 * scalars resolved as the core schema says, quoting that keeps strings,
 * block scalars, nesting, and the refusals (anchors, aliases, tags, merge
 * keys, duplicate keys, several documents, too deep, not YAML). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "yamljson.h"

static json_t *
yaml(const char *text)
{
	char err[256];
	json_t *v = agora_yaml_to_json(text, strlen(text), err, sizeof err);
	cr_assert_not_null(v, "%s: %s", text, err);
	return v;
}

/* The YAML text parses to the same value as the JSON text want. */
static void
expect_json(const char *text, const char *want)
{
	json_t *got = yaml(text);
	json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
	cr_assert_not_null(w, "bad test JSON %s", want);
	char *g = json_dumps(got, JSON_ENCODE_ANY | JSON_SORT_KEYS | JSON_COMPACT);
	cr_expect(json_equal(got, w), "%s → %s, want %s", text, g, want);
	free(g);
	json_decref(got);
	json_decref(w);
}

/* The YAML text is refused with an error containing what. */
static void
expect_refused(const char *text, const char *what)
{
	char err[256];
	json_t *v = agora_yaml_to_json(text, strlen(text), err, sizeof err);
	cr_expect_null(v, "%s was accepted", text);
	json_decref(v);
	cr_expect(strstr(err, what), "%s: error \"%s\" does not say \"%s\"", text, err, what);
}

Test(yamljson, plain_scalars)
{
	expect_json("a: 1\nb: -17\nc: +3\nd: 0\n", "{\"a\":1,\"b\":-17,\"c\":3,\"d\":0}");
	expect_json("a: 1.5\nb: -0.25\nc: 1e3\nd: 2.5E-2\ne: .5\n",
		    "{\"a\":1.5,\"b\":-0.25,\"c\":1000.0,\"d\":0.025,\"e\":0.5}");
	expect_json("a: true\nb: false\nc: True\nd: FALSE\n", "{\"a\":true,\"b\":false,\"c\":true,\"d\":false}");
	expect_json("a: null\nb: ~\nc:\nd: NULL\n", "{\"a\":null,\"b\":null,\"c\":null,\"d\":null}");
	/* Not numbers or booleans: strings, as YAML 1.2 has it (no yes/no, no octal). */
	expect_json("a: yes\nb: 1.2.3\nc: 0x1F\nd: 3.1.0\ne: 12abc\nf: on\n",
		    "{\"a\":\"yes\",\"b\":\"1.2.3\",\"c\":\"0x1F\",\"d\":\"3.1.0\",\"e\":\"12abc\",\"f\":\"on\"}");
	expect_json("a: hello world\nb: /api/v1/{id}\n", "{\"a\":\"hello world\",\"b\":\"/api/v1/{id}\"}");
	/* Past long long: a real, not an error. */
	expect_json("a: 123456789012345678901234567890\n", "{\"a\":1.2345678901234568e29}");
	expect_json("42", "42");
}

Test(yamljson, quoted_scalars_stay_strings)
{
	expect_json("a: '1'\nb: \"true\"\nc: 'null'\nd: \"\"\ne: !!str 3.1\n",
		    "{\"a\":\"1\",\"b\":\"true\",\"c\":\"null\",\"d\":\"\",\"e\":\"3.1\"}");
	expect_json("a: \"tab\\there \\u00e9\"\nb: 'it''s'\n", "{\"a\":\"tab\\there \\u00e9\",\"b\":\"it's\"}");
	expect_json("'200': ok\n404: missing\n", "{\"200\":\"ok\",\"404\":\"missing\"}");
	expect_json("a: \"#/components/schemas/Error\"\n", "{\"a\":\"#/components/schemas/Error\"}");
}

Test(yamljson, block_scalars)
{
	expect_json("a: |\n  line one\n  line two\nb: >\n  folded\n  text\n",
		    "{\"a\":\"line one\\nline two\\n\",\"b\":\"folded text\\n\"}");
	expect_json("a: |-\n  no newline\n", "{\"a\":\"no newline\"}");
}

Test(yamljson, sequences_and_mappings)
{
	expect_json("- 1\n- two\n- [3, four]\n- {five: 5}\n- []\n- {}\n",
		    "[1,\"two\",[3,\"four\"],{\"five\":5},[],{}]");
	expect_json("paths:\n  /x:\n    get:\n      tags: [a, b]\n      responses:\n        '200':\n"
		    "          description: fine\n",
		    "{\"paths\":{\"/x\":{\"get\":{\"tags\":[\"a\",\"b\"],\"responses\":"
		    "{\"200\":{\"description\":\"fine\"}}}}}}");
	/* Order of keys is kept (the served document reads like the file). */
	json_t *v = yaml("z: 1\na: 2\nm: 3\n");
	const char *k = json_object_iter_key(json_object_iter(v));
	cr_expect_str_eq(k, "z");
	json_decref(v);
	/* An explicit document start and end, and comments. */
	expect_json("# c\n---\na: 1 # c\n...\n", "{\"a\":1}");
}

Test(yamljson, refusals)
{
	expect_refused("a: &x 1\nb: *x\n", "anchors");
	expect_refused("a: &x {k: 1}\n", "anchors");
	expect_refused("a: *x\n", "");				/* an undefined alias: not YAML */
	expect_refused("base: {k: 1}\nc:\n  <<: {k: 2}\n", "merge keys");
	expect_refused("a: !!int 1\n", "tag");
	expect_refused("a: !custom x\n", "tag");
	expect_refused("a: 1\na: 2\n", "duplicate key \"a\"");
	expect_refused("? [1, 2]\n: x\n", "key must be a scalar");
	expect_refused("a: 1\n---\nb: 2\n", "more than one YAML document");
	expect_refused("a: .inf\n", "not representable");
	expect_refused("a: [1, 2\n", "line ");
	expect_refused("a: b: c\n", "line 1");
	expect_refused("", "no YAML document");
}

Test(yamljson, depth_is_bounded)
{
	char deep[400];
	size_t n = 0;
	for (int i = 0; i < 100; i++)
		deep[n++] = '[';
	for (int i = 0; i < 100; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	expect_refused(deep, "deeper than 64");
	/* 60 levels are fine. */
	n = 0;
	for (int i = 0; i < 60; i++)
		deep[n++] = '[';
	for (int i = 0; i < 60; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	json_t *v = yaml(deep);
	json_decref(v);
}

Test(yamljson, err_may_be_null)
{
	cr_expect_null(agora_yaml_to_json("a: [", 4, NULL, 0));
}
