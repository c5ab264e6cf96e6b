/* test_jcs.c — RFC 8785 canonicalisation: the RFC's own examples and its
 * Appendix B number table, plus escaping, sorting and refusal cases. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jcs.h"

/* The double whose IEEE 754 bit pattern is bits (Appendix B lists hex). */
static double
from_bits(uint64_t bits)
{
	double d;
	memcpy(&d, &bits, sizeof d);
	return d;
}

static void
expect_number(uint64_t bits, const char *want)
{
	char buf[32];
	cr_assert_eq(agora_jcs_number(from_bits(bits), buf), 1, "%016llx", (unsigned long long)bits);
	cr_expect_str_eq(buf, want, "%016llx", (unsigned long long)bits);
}

/* Canonical form of the JSON text in, compared with want. */
static void
expect_canon(const char *in, size_t flags, const char *want)
{
	json_error_t err;
	json_t *v = json_loads(in, flags, &err);
	cr_assert_not_null(v, "parse: %s", err.text);
	size_t len = 0;
	char *got = agora_jcs(v, &len);
	cr_assert_not_null(got);
	cr_expect_str_eq(got, want);
	cr_expect_eq(len, strlen(want));
	free(got);
	json_decref(v);
}

Test(jcs, rfc8785_appendix_b_number_table)
{
	expect_number(0x0000000000000000ull, "0");
	expect_number(0x8000000000000000ull, "0");
	expect_number(0x0000000000000001ull, "5e-324");
	expect_number(0x8000000000000001ull, "-5e-324");
	expect_number(0x7fefffffffffffffull, "1.7976931348623157e+308");
	expect_number(0xffefffffffffffffull, "-1.7976931348623157e+308");
	expect_number(0x4340000000000000ull, "9007199254740992");
	expect_number(0xc340000000000000ull, "-9007199254740992");
	expect_number(0x4430000000000000ull, "295147905179352830000");
	expect_number(0x44b52d02c7e14af5ull, "9.999999999999997e+22");
	expect_number(0x44b52d02c7e14af6ull, "1e+23");
	expect_number(0x44b52d02c7e14af7ull, "1.0000000000000001e+23");
	expect_number(0x444b1ae4d6e2ef4eull, "999999999999999700000");
	expect_number(0x444b1ae4d6e2ef4full, "999999999999999900000");
	expect_number(0x444b1ae4d6e2ef50ull, "1e+21");
	expect_number(0x3eb0c6f7a0b5ed8cull, "9.999999999999997e-7");
	expect_number(0x3eb0c6f7a0b5ed8dull, "0.000001");
	expect_number(0x41b3de4355555553ull, "333333333.3333332");
	expect_number(0x41b3de4355555554ull, "333333333.33333325");
	expect_number(0x41b3de4355555555ull, "333333333.3333333");
	expect_number(0x41b3de4355555556ull, "333333333.3333334");
	expect_number(0x41b3de4355555557ull, "333333333.33333343");
	expect_number(0xbecbf647612f3696ull, "-0.0000033333333333333333");
	expect_number(0x43143ff3c1cb0959ull, "1424953923781206.2");
}

Test(jcs, number_layout_boundaries)
{
	char buf[32];
	struct {
		double d;
		const char *want;
	} cases[] = {
		{ 1e21, "1e+21" },
		{ 1e20, "100000000000000000000" },
		{ 1e-7, "1e-7" },
		{ 0.000001, "0.000001" },
		{ 1e-6 * 1.5, "0.0000015" },
		{ 9007199254740993.0, "9007199254740992" },
		{ 295147905179352830000.0, "295147905179352830000" },
		{ 1e23, "1e+23" },
		{ 4.940656458412465e-324, "5e-324" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 333333333.3333333, "333333333.3333333" },
		{ 1, "1" },
		{ -1, "-1" },
		{ 0.5, "0.5" },
		{ 123.456, "123.456" },
		{ 1.5e300, "1.5e+300" },
		{ -2.5e-10, "-2.5e-10" },
		{ 0.1 + 0.2, "0.30000000000000004" },
		/* 2^k with an asymmetric rounding interval: the correctly rounded
		 * 16-digit value does not read back, its upper neighbour does. */
		{ 0x1p+863, "6.150157786156811e+259" },
		{ -0.0, "0" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_assert_eq(agora_jcs_number(cases[i].d, buf), 1);
		cr_expect_str_eq(buf, cases[i].want, "case %zu", i);
	}
}

Test(jcs, nan_and_infinity_refused)
{
	char buf[32] = "untouched";
	cr_expect_eq(agora_jcs_number(NAN, buf), 0);
	cr_expect_eq(agora_jcs_number(INFINITY, buf), 0);
	cr_expect_eq(agora_jcs_number(-INFINITY, buf), 0);
	cr_expect_eq(agora_jcs_number(from_bits(0x7fffffffffffffffull), buf), 0);
	cr_expect_str_eq(buf, "untouched");
}

Test(jcs, rfc8785_3_2_2_example)
{
	const char *in =
		"{\"numbers\":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"
		"\"string\":\"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\","
		"\"literals\":[null,true,false]}";
	expect_canon(in, JSON_DECODE_INT_AS_REAL,
		     "{\"literals\":[null,true,false],"
		     "\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
		     "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

Test(jcs, rfc8785_3_2_3_sorting_by_utf16)
{
	const char *in = "{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\","
			 "\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\","
			 "\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\","
			 "\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}";
	expect_canon(in, 0,
		     "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
		     "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
		     "\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
		     "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

Test(jcs, sorting_surrogates_before_private_use)
{
	/* Code-point order would put U+FFFF first; UTF-16 order puts the
	 * surrogate pair of U+10000 (0xD800 0xDC00) first. */
	expect_canon("{\"\\uffff\":1,\"\\ue000\":2,\"\\ud800\\udc00\":3}", 0,
		     "{\"\xf0\x90\x80\x80\":3,\"\xee\x80\x80\":2,\"\xef\xbf\xbf\":1}");
	/* A prefix sorts before its extensions. */
	expect_canon("{\"b\":0,\"aa\":1,\"a\":2,\"\":3}", 0, "{\"\":3,\"a\":2,\"aa\":1,\"b\":0}");
}

Test(jcs, integers_become_doubles)
{
	json_t *v = json_integer(9007199254740993LL);
	char *got = agora_jcs(v, NULL);
	cr_expect_str_eq(got, "9007199254740992");
	free(got);
	json_decref(v);
	expect_canon("[9007199254740993,-42,0,1000000000000000000]", 0,
		     "[9007199254740992,-42,0,1000000000000000000]");
	/* Beyond int64 Jansson needs JSON_DECODE_INT_AS_REAL. */
	expect_canon("[295147905179352830000,1e21]", JSON_DECODE_INT_AS_REAL,
		     "[295147905179352830000,1e+21]");
}

Test(jcs, string_escapes)
{
	/* Every control character, the two mandatory escapes, and characters
	 * RFC 8785 leaves literal (/, DEL, U+2028). */
	json_t *v = json_stringn("\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x1f \"\\/\x7f\xe2\x80\xa8", 17);
	cr_assert_not_null(v);
	size_t len = 0;
	char *got = agora_jcs(v, &len);
	const char want[] = "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\\"\\\\/\x7f\xe2\x80\xa8\"";
	cr_assert_not_null(got);
	cr_expect_eq(len, sizeof want - 1);
	cr_expect_str_eq(got, want);
	free(got);
	json_decref(v);
}

Test(jcs, whitespace_and_nesting)
{
	expect_canon(" { \"b\" : [ 1 , { \"z\" : null , \"y\" : [ ] } ] , \"a\" : { } } ", 0,
		     "{\"a\":{},\"b\":[1,{\"y\":[],\"z\":null}]}");
	expect_canon("[]", 0, "[]");
	expect_canon("\"x\"", JSON_DECODE_ANY, "\"x\"");
	expect_canon("true", JSON_DECODE_ANY, "true");
}

Test(jcs, invalid_utf8_refused)
{
	/* Only reachable through Jansson's _nocheck API, but the output must
	 * never be invalid UTF-8 either way. */
	json_t *v = json_stringn_nocheck("a\xff", 2);
	cr_expect_null(agora_jcs(v, NULL));
	json_decref(v);
	json_t *o = json_object();
	json_object_set_new_nocheck(o, "\xc0\xaf", json_true());
	cr_expect_null(agora_jcs(o, NULL));
	json_decref(o);
	cr_expect_null(agora_jcs(NULL, NULL));
}

Test(jcs, depth_bounded)
{
	json_t *root = json_array(), *cur = root;
	for (int i = 0; i < 3000; i++) {
		json_t *next = json_array();
		json_array_append_new(cur, next);
		cur = next;
	}
	cr_expect_null(agora_jcs(root, NULL));
	json_decref(root);

	root = json_array();
	cur = root;
	for (int i = 0; i < 100; i++) {
		json_t *next = json_array();
		json_array_append_new(cur, next);
		cur = next;
	}
	size_t len = 0;
	char *got = agora_jcs(root, &len);
	cr_assert_not_null(got);
	cr_expect_eq(len, 202);
	cr_expect_eq(got[100], '[');
	cr_expect_eq(got[101], ']');
	free(got);
	json_decref(root);
}
