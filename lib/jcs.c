/* jcs.c — see jcs.h.  RFC 8785 JSON Canonicalization Scheme. */
#include "jcs.h"
#include "crypto.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Same bound as Jansson's parser, so anything json_loads() produced can be
 * canonicalised, and a hand-built deep value cannot exhaust the stack. */
#define JCS_MAX_DEPTH 2048

/* Decimal digits of |d| ("d1 d2 … dk", no leading or trailing zeros) and the
 * exponent n such that |d| = 0.d1d2…dk × 10^n — the s, k, n of ECMAScript
 * Number::toString. */
struct decimal {
	char digits[24];
	int k;
	int n;
};

/* Split the output of "%.*e" into struct decimal. */
static void
decimal_from_sci(const char *sci, struct decimal *dec)
{
	const char *p = sci;
	dec->k = 0;
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			dec->digits[dec->k++] = *p;
	dec->n = atoi(p + 1) + 1;
	dec->digits[dec->k] = '\0';
}

/* Drop trailing zeros, which Number::toString never prints. */
static void
decimal_trim(struct decimal *dec)
{
	while (dec->k > 1 && dec->digits[dec->k - 1] == '0')
		dec->k--;
	dec->digits[dec->k] = '\0';
}

static double
decimal_value(const struct decimal *dec)
{
	char s[48];
	snprintf(s, sizeof s, "0.%se%d", dec->digits, dec->n);
	return strtod(s, NULL);
}

/* The next k-digit decimal up or down from dec (last digit ±1, with carry
 * or borrow), k being the precision dec was printed with — not trimmed.
 * false when stepping down would reach zero. */
static bool
decimal_step(const struct decimal *dec, int dir, struct decimal *out)
{
	*out = *dec;
	int i = out->k - 1;
	if (dir > 0) {
		while (i >= 0 && out->digits[i] == '9')
			out->digits[i--] = '0';
		if (i < 0) {
			/* 99…9 + 1 = 100…0: one more digit before the point. */
			memmove(out->digits + 1, out->digits, (size_t)out->k);
			out->digits[0] = '1';
			out->n++;
		} else {
			out->digits[i]++;
		}
	} else {
		while (i >= 0 && out->digits[i] == '0')
			out->digits[i--] = '9';
		if (i < 0)
			return false;
		out->digits[i]--;
		if (out->digits[0] == '0') {
			if (out->k == 1)
				return false;
			memmove(out->digits, out->digits + 1, (size_t)out->k - 1);
			out->k--;
			out->n--;
		}
	}
	out->digits[out->k] = '\0';
	return true;
}

/* Shortest digit string that reads back as d (d > 0, finite).  Try 1..17
 * significant digits.  "%.*e" gives the correctly rounded candidate, which
 * is the closest one; when it does not round-trip, the neighbour on the
 * other side of d still can, because the rounding interval of d is
 * asymmetric at powers of two — so try that too before adding a digit. */
static void
shortest_decimal(double d, struct decimal *dec)
{
	char sci[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(sci, sizeof sci, "%.*e", prec - 1, d);
		decimal_from_sci(sci, dec);
		double back = decimal_value(dec);
		if (back == d)
			goto out;
		struct decimal other;
		if (decimal_step(dec, back < d ? 1 : -1, &other) && decimal_value(&other) == d) {
			*dec = other;
			goto out;
		}
	}
	/* 17 significant digits always round-trip a double. */
	snprintf(sci, sizeof sci, "%.16e", d);
	decimal_from_sci(sci, dec);
out:
	decimal_trim(dec);
}

int
agora_jcs_number(double d, char buf[32])
{
	if (!isfinite(d))
		return 0;
	/* Covers -0 too: ECMAScript prints both zeros as "0". */
	if (d == 0) {
		strcpy(buf, "0");
		return 1;
	}
	char *o = buf;
	if (d < 0) {
		*o++ = '-';
		d = -d;
	}
	struct decimal dec;
	shortest_decimal(d, &dec);
	int k = dec.k, n = dec.n;
	const char *s = dec.digits;

	if (k <= n && n <= 21) {
		/* Integer: digits then n-k zeros. */
		memcpy(o, s, (size_t)k);
		o += k;
		for (int i = 0; i < n - k; i++)
			*o++ = '0';
	} else if (0 < n && n <= 21) {
		memcpy(o, s, (size_t)n);
		o += n;
		*o++ = '.';
		memcpy(o, s + n, (size_t)(k - n));
		o += k - n;
	} else if (-6 < n && n <= 0) {
		*o++ = '0';
		*o++ = '.';
		for (int i = 0; i < -n; i++)
			*o++ = '0';
		memcpy(o, s, (size_t)k);
		o += k;
	} else {
		int e = n - 1;
		*o++ = s[0];
		if (k > 1) {
			*o++ = '.';
			memcpy(o, s + 1, (size_t)k - 1);
			o += k - 1;
		}
		o += sprintf(o, "e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
	}
	*o = '\0';
	return 1;
}

/* Decode one UTF-8 sequence at s[*i]; -1 when malformed (overlong,
 * surrogate, beyond U+10FFFF, truncated).  Jansson validates strings it
 * creates, so this only trips on values built with the _nocheck API. */
static int32_t
utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c = s[*i];
	int32_t cp;
	size_t extra;
	if (c < 0x80) {
		(*i)++;
		return c;
	} else if (c >= 0xc2 && c <= 0xdf) {
		cp = c & 0x1f;
		extra = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		cp = c & 0x0f;
		extra = 2;
	} else if (c >= 0xf0 && c <= 0xf4) {
		cp = c & 0x07;
		extra = 3;
	} else {
		return -1;
	}
	if (*i + extra >= len)
		return -1;
	for (size_t j = 1; j <= extra; j++) {
		unsigned char cc = s[*i + j];
		if ((cc & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (cc & 0x3f);
	}
	if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += extra + 1;
	return cp;
}

static bool
utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;)
		if (utf8_next((const unsigned char *)s, len, &i) < 0)
			return false;
	return true;
}

static bool
put_string(struct agora_buf *b, const char *s, size_t len)
{
	if (!utf8_valid(s, len))
		return false;
	agora_buf_append(b, "\"", 1);
	size_t run = 0;	/* start of the pending literal run */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char hex[8];
		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (c < 0x20) {
				snprintf(hex, sizeof hex, "\\u%04x", c);
				esc = hex;
			}
		}
		if (!esc)
			continue;
		agora_buf_append(b, s + run, i - run);
		agora_buf_puts(b, esc);
		run = i + 1;
	}
	agora_buf_append(b, s + run, len - run);
	agora_buf_append(b, "\"", 1);
	return true;
}

/* An object member with its name as UTF-16 code units, the order RFC 8785
 * §3.2.3 sorts by.  Code-point order would differ: U+10000 and above
 * become surrogates 0xD800.., which sort before U+E000..U+FFFF. */
struct member {
	const char *key;
	size_t key_len;
	uint16_t *u16;
	size_t u16_len;
	json_t *value;
};

static bool
to_utf16(struct member *m)
{
	m->u16 = xmalloc((m->key_len + 1) * sizeof *m->u16);
	m->u16_len = 0;
	for (size_t i = 0; i < m->key_len;) {
		int32_t cp = utf8_next((const unsigned char *)m->key, m->key_len, &i);
		if (cp < 0)
			return false;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			m->u16[m->u16_len++] = (uint16_t)(0xd800 + (cp >> 10));
			m->u16[m->u16_len++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
		} else {
			m->u16[m->u16_len++] = (uint16_t)cp;
		}
	}
	return true;
}

static int
member_cmp(const void *pa, const void *pb)
{
	const struct member *a = pa, *b = pb;
	size_t n = a->u16_len < b->u16_len ? a->u16_len : b->u16_len;
	for (size_t i = 0; i < n; i++)
		if (a->u16[i] != b->u16[i])
			return a->u16[i] < b->u16[i] ? -1 : 1;
	return (a->u16_len > b->u16_len) - (a->u16_len < b->u16_len);
}

static bool put_value(struct agora_buf *b, const json_t *v, int depth);

static bool
put_object(struct agora_buf *b, const json_t *obj, int depth)
{
	bool ok = false;
	size_t count = json_object_size(obj);
	struct member *m = xcalloc(count ? count : 1, sizeof *m);
	size_t i = 0;
	/* Jansson's iteration API takes a non-const object but does not
	 * modify it. */
	json_t *o = (json_t *)obj;
	for (void *it = json_object_iter(o); it && i < count; it = json_object_iter_next(o, it), i++) {
		m[i].key = json_object_iter_key(it);
		m[i].key_len = json_object_iter_key_len(it);
		m[i].value = json_object_iter_value(it);
		if (!to_utf16(&m[i])) {
			i++;
			goto out;
		}
	}
	qsort(m, i, sizeof *m, member_cmp);
	agora_buf_append(b, "{", 1);
	for (size_t j = 0; j < i; j++) {
		if (j)
			agora_buf_append(b, ",", 1);
		if (!put_string(b, m[j].key, m[j].key_len))
			goto out;
		agora_buf_append(b, ":", 1);
		if (!put_value(b, m[j].value, depth + 1))
			goto out;
	}
	agora_buf_append(b, "}", 1);
	ok = true;
out:
	for (size_t j = 0; j < i; j++)
		free(m[j].u16);
	free(m);
	return ok;
}

static bool
put_value(struct agora_buf *b, const json_t *v, int depth)
{
	char num[32];
	if (depth > JCS_MAX_DEPTH)
		return false;
	switch (json_typeof(v)) {
	case JSON_NULL:
		agora_buf_puts(b, "null");
		return true;
	case JSON_TRUE:
		agora_buf_puts(b, "true");
		return true;
	case JSON_FALSE:
		agora_buf_puts(b, "false");
		return true;
	case JSON_INTEGER:
		/* RFC 8785 numbers are IEEE 754 doubles: 2^53+1 loses its 1. */
		if (!agora_jcs_number((double)json_integer_value(v), num))
			return false;
		agora_buf_puts(b, num);
		return true;
	case JSON_REAL:
		if (!agora_jcs_number(json_real_value(v), num))
			return false;
		agora_buf_puts(b, num);
		return true;
	case JSON_STRING:
		return put_string(b, json_string_value(v), json_string_length(v));
	case JSON_ARRAY:
		agora_buf_append(b, "[", 1);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				agora_buf_append(b, ",", 1);
			if (!put_value(b, json_array_get(v, i), depth + 1))
				return false;
		}
		agora_buf_append(b, "]", 1);
		return true;
	case JSON_OBJECT:
		return put_object(b, v, depth);
	}
	return false;
}

char *
agora_jcs(const json_t *v, size_t *len)
{
	if (!v)
		return NULL;
	struct agora_buf b;
	agora_buf_init(&b);
	if (!put_value(&b, v, 0)) {
		agora_buf_cleanup(&b);
		return NULL;
	}
	if (len)
		*len = b.len;
	return agora_buf_steal(&b);
}

bool
agora_jcs_sha256_hex(const json_t *v, char out[65])
{
	size_t len;
	char *canon = agora_jcs(v, &len);
	if (!canon)
		return false;
	uint8_t h[AGORA_SHA256_LEN];
	agora_sha256(canon, len, h);
	agora_hex(h, sizeof h, out);
	free(canon);
	return true;
}
