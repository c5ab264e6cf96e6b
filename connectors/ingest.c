/* ingest.c — see ingest.h. */
#include "ingest.h"

#include <csv.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- schema */

static const char *const type_names[] = { "number", "integer", "string", "boolean" };

static bool
name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > AGORA_OBS_MAX_NAME)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* Refuses members of obj not listed in allowed (NULL-terminated). */
static bool
only_members(const json_t *obj, const char *const *allowed, const char *where, char *err,
	     size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		size_t i = 0;
		while (allowed[i] && strcmp(allowed[i], key))
			i++;
		if (!allowed[i]) {
			snprintf(err, errlen, "unknown field '%s%.64s'", where, key);
			return false;
		}
	}
	return true;
}

static bool
parse_field(const json_t *f, size_t i, struct agora_obs_field *out, char *err, size_t errlen)
{
	static const char *const allowed[] = { "name", "type", "unit", "min", "max", "required", NULL };
	char where[48];
	snprintf(where, sizeof where, "source.fields[%zu].", i);
	if (!json_is_object(f)) {
		snprintf(err, errlen, "source.fields[%zu] must be an object", i);
		return false;
	}
	if (!only_members(f, allowed, where, err, errlen))
		return false;
	const json_t *name = json_object_get(f, "name"), *type = json_object_get(f, "type");
	const json_t *unit = json_object_get(f, "unit"), *req = json_object_get(f, "required");
	const json_t *min = json_object_get(f, "min"), *max = json_object_get(f, "max");
	if (!json_is_string(name) || strlen(json_string_value(name)) != json_string_length(name) ||
	    !name_ok(json_string_value(name))) {
		snprintf(err, errlen, "%sname must be 1-%d characters of A-Z a-z 0-9 _ . -", where,
			 AGORA_OBS_MAX_NAME);
		return false;
	}
	size_t t = ARRAY_LEN(type_names);
	if (json_is_string(type))
		for (t = 0; t < ARRAY_LEN(type_names) && strcmp(type_names[t], json_string_value(type)); t++)
			;
	if (t == ARRAY_LEN(type_names)) {
		snprintf(err, errlen, "%stype must be one of number, integer, string, boolean", where);
		return false;
	}
	if (unit && (!json_is_string(unit) || json_string_length(unit) < 1 ||
		     json_string_length(unit) > AGORA_OBS_MAX_UNIT ||
		     strlen(json_string_value(unit)) != json_string_length(unit))) {
		snprintf(err, errlen, "%sunit must be a string of 1-%d bytes", where, AGORA_OBS_MAX_UNIT);
		return false;
	}
	if (req && !json_is_boolean(req)) {
		snprintf(err, errlen, "%srequired must be a boolean", where);
		return false;
	}
	bool numeric = t == AGORA_OBS_NUMBER || t == AGORA_OBS_INTEGER;
	const json_t *bounds[2] = { min, max };
	for (int k = 0; k < 2; k++) {
		if (!bounds[k])
			continue;
		if (!numeric) {
			snprintf(err, errlen, "%s%s is only allowed for number and integer fields", where,
				 k ? "max" : "min");
			return false;
		}
		if (!json_is_number(bounds[k])) {
			snprintf(err, errlen, "%s%s must be a number", where, k ? "max" : "min");
			return false;
		}
	}
	if (min && max && json_number_value(min) > json_number_value(max)) {
		snprintf(err, errlen, "%smin must not exceed max", where);
		return false;
	}
	out->name = xstrdup(json_string_value(name));
	out->type = (enum agora_obs_type)t;
	out->unit = unit ? xstrdup(json_string_value(unit)) : NULL;
	out->required = json_is_true(req);
	out->has_min = min != NULL;
	out->has_max = max != NULL;
	out->min = min ? json_number_value(min) : 0;
	out->max = max ? json_number_value(max) : 0;
	return true;
}

static bool
role_name(const json_t *source, const char *key, const char *dflt, char **out, char *err,
	  size_t errlen)
{
	const json_t *v = json_object_get(source, key);
	if (!v) {
		*out = xstrdup(dflt);
		return true;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
	    !name_ok(json_string_value(v))) {
		snprintf(err, errlen, "source.%s must be 1-%d characters of A-Z a-z 0-9 _ . -", key,
			 AGORA_OBS_MAX_NAME);
		return false;
	}
	*out = xstrdup(json_string_value(v));
	return true;
}

struct agora_obs_schema *
agora_obs_schema_parse(const json_t *source, char *err, size_t errlen)
{
	static const char *const allowed[] = { "type", "fields", "timeField", "thingField", NULL };
	struct agora_obs_schema *s = xcalloc(1, sizeof *s);
	if (!json_is_object(source)) {
		snprintf(err, errlen, "source must be an object");
		goto fail;
	}
	if (!only_members(source, allowed, "source.", err, errlen))
		goto fail;
	const json_t *type = json_object_get(source, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "observations")) {
		snprintf(err, errlen, "source.type must be \"observations\"");
		goto fail;
	}
	const json_t *fields = json_object_get(source, "fields");
	if (!json_is_array(fields) || json_array_size(fields) < 1 ||
	    json_array_size(fields) > AGORA_OBS_MAX_FIELDS) {
		snprintf(err, errlen, "source.fields must be an array of 1-%d fields", AGORA_OBS_MAX_FIELDS);
		goto fail;
	}
	if (!role_name(source, "timeField", "timestamp", &s->time_field, err, errlen) ||
	    !role_name(source, "thingField", "thing", &s->thing_field, err, errlen))
		goto fail;
	if (!strcmp(s->time_field, s->thing_field)) {
		snprintf(err, errlen, "source.thingField must differ from source.timeField");
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(fields); i++) {
		struct agora_obs_field *f = &s->fields[i];
		if (!parse_field(json_array_get(fields, i), i, f, err, errlen))
			goto fail;
		s->nfields++;
		if (!strcmp(f->name, s->time_field) || !strcmp(f->name, s->thing_field)) {
			snprintf(err, errlen, "source.fields[%zu].name '%s' is the time or thing field", i,
				 f->name);
			goto fail;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(s->fields[j].name, f->name)) {
				snprintf(err, errlen, "source.fields[%zu].name '%s' is declared twice", i,
					 f->name);
				goto fail;
			}
	}
	return s;
fail:
	agora_obs_schema_free(s);
	return NULL;
}

void
agora_obs_schema_free(struct agora_obs_schema *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nfields; i++) {
		free(s->fields[i].name);
		free(s->fields[i].unit);
	}
	free(s->time_field);
	free(s->thing_field);
	free(s);
}

json_t *
agora_obs_schema_to_json(const struct agora_obs_schema *s)
{
	json_t *fields = json_array();
	for (size_t i = 0; i < s->nfields; i++) {
		const struct agora_obs_field *f = &s->fields[i];
		json_t *o = json_pack("{s:s, s:s}", "name", f->name, "type", type_names[f->type]);
		if (f->unit)
			json_object_set_new(o, "unit", json_string(f->unit));
		if (f->has_min)
			json_object_set_new(o, "min", json_real(f->min));
		if (f->has_max)
			json_object_set_new(o, "max", json_real(f->max));
		json_object_set_new(o, "required", json_boolean(f->required));
		json_array_append_new(fields, o);
	}
	return json_pack("{s:s, s:o, s:s, s:s}", "type", "observations", "fields", fields, "timeField",
			 s->time_field, "thingField", s->thing_field);
}

/* ---------------------------------------------------------------- time */

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

#define MS_PER_DAY 86400000LL
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z. */
#define TS_MIN (-62135596800000LL)
#define TS_MAX (253402300799999LL)

static bool
digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

bool
agora_rfc3339_ms(const char *s, size_t len, int64_t *out)
{
	static const unsigned char mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, se, oh = 0, om = 0;
	if (len < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &se))
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (unsigned)(mo == 2 && leap) || h > 23 ||
	    mi > 59 || se > 59)
		return false;
	size_t i = 19;
	unsigned ms = 0;
	if (s[i] == '.') {
		size_t start = ++i;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (i - start < 3)
				ms = ms * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		if (i == start)
			return false;
		for (size_t k = i - start; k < 3; k++)
			ms *= 10;
	}
	int sign = 0;
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i < len && (s[i] == '+' || s[i] == '-')) {
		sign = s[i] == '+' ? 1 : -1;
		if (len - i < 6 || !digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
		    !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
			return false;
		i += 6;
	} else {
		return false;
	}
	if (i != len)
		return false;
	int64_t t = days_from_civil(y, mo, d) * MS_PER_DAY +
		    ((int64_t)h * 3600 + mi * 60 + se) * 1000 + ms -
		    (int64_t)sign * ((int64_t)oh * 3600 + om * 60) * 1000;
	if (t < TS_MIN || t > TS_MAX)
		return false;
	*out = t;
	return true;
}

static void
put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

void
agora_rfc3339_format_ms(int64_t t, char buf[static 32])
{
	int64_t days = t / MS_PER_DAY, rem = t % MS_PER_DAY;
	if (rem < 0) {
		rem += MS_PER_DAY;
		days--;
	}
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		snprintf(buf, 32, "out-of-range");
		return;
	}
	unsigned sec = (unsigned)(rem / 1000), ms = (unsigned)(rem % 1000);
	put2(buf, (unsigned)(y / 100));
	put2(buf + 2, (unsigned)(y % 100));
	buf[4] = '-';
	put2(buf + 5, m);
	buf[7] = '-';
	put2(buf + 8, d);
	buf[10] = 'T';
	put2(buf + 11, sec / 3600);
	buf[13] = ':';
	put2(buf + 14, sec / 60 % 60);
	buf[16] = ':';
	put2(buf + 17, sec % 60);
	buf[19] = '.';
	buf[20] = (char)('0' + ms / 100);
	put2(buf + 21, ms % 100);
	buf[23] = 'Z';
	buf[24] = '\0';
}

/* ---------------------------------------------------------------- text */

enum text_check { TEXT_OK, TEXT_NUL, TEXT_BAD_UTF8 };

static enum text_check
check_text(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned c = s[i];
		if (c >= 0x20 && c < 0x80) {
			i++;
			continue;
		}
		if (c == 0)
			return TEXT_NUL;
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return TEXT_BAD_UTF8;
		}
		if (n - i <= k)
			return TEXT_BAD_UTF8;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return TEXT_BAD_UTF8;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return TEXT_BAD_UTF8;
		i += k + 1;
	}
	return TEXT_OK;
}

static char *
reserve(struct agora_buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	return b->data + b->len;
}

/* Appends s (checked text) as a JSON string. */
static void
json_quote(struct agora_buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *p = reserve(out, 6 * n + 2), *start = p;
	*p++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			*p++ = (char)c;
			continue;
		}
		*p++ = '\\';
		switch (c) {
		case '"': *p++ = '"'; break;
		case '\\': *p++ = '\\'; break;
		case '\n': *p++ = 'n'; break;
		case '\r': *p++ = 'r'; break;
		case '\t': *p++ = 't'; break;
		case '\b': *p++ = 'b'; break;
		case '\f': *p++ = 'f'; break;
		default:
			*p++ = 'u';
			*p++ = '0';
			*p++ = '0';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p++ = '"';
	out->len += (size_t)(p - start);
	out->data[out->len] = '\0';
}

/* Appends s (NUL-terminated at n) with COPY text-format escaping. */
static void
copy_escape(struct agora_buf *out, const char *s, size_t n)
{
	char *p = reserve(out, 2 * n), *start = p;
	const char *end = s + n;
	while (s < end) {
		/* Runs without specials are the rule: copy them whole. */
		size_t run = strcspn(s, "\\\t\n\r");
		if (run > (size_t)(end - s))
			run = (size_t)(end - s);
		memcpy(p, s, run);
		p += run;
		s += run;
		if (s == end)
			break;
		*p++ = '\\';
		switch (*s++) {
		case '\t': *p++ = 't'; break;
		case '\n': *p++ = 'n'; break;
		case '\r': *p++ = 'r'; break;
		default: *p++ = '\\';
		}
	}
	out->len += (size_t)(p - start);
	out->data[out->len] = '\0';
}

static size_t
fmt_int(char *buf, int64_t v)
{
	char tmp[24];
	size_t n = 0, len = 0;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[len++] = '-';
	while (n)
		buf[len++] = tmp[--n];
	return len;
}

/* The shortest %g form that reads back as v. */
static size_t
fmt_double(char *buf, double v)
{
	int n = 0;
	for (int prec = 15; prec <= 17; prec++) {
		n = snprintf(buf, 32, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return (size_t)n;
}

static const double pow10_exact[] = { 1e0,  1e1,  1e2,	1e3,  1e4,  1e5,  1e6,  1e7,
				      1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				      1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };

enum num_check { NUM_OK, NUM_BAD, NUM_RANGE };

/* A decimal number as text ([+-]digits[.digits][e[+-]digits], at least one
 * mantissa digit; s NUL-terminated at n) rewritten in JSON syntax into out
 * (≥ n + 3 bytes); its value in *v.  NUM_RANGE when the value is not
 * finite. */
static enum num_check
csv_number(const char *s, size_t n, char *out, size_t *outlen, double *v)
{
	size_t i = 0, o = 0;
	bool neg = false;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	size_t int_start = i;
	while (i < n && s[i] == '0')
		i++;
	size_t int_sig = i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	size_t int_end = i, frac_start = i, frac_end = i;
	if (i < n && s[i] == '.') {
		frac_start = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		frac_end = i;
	}
	if (int_end == int_start && frac_end == frac_start)
		return NUM_BAD;
	bool eneg = false;
	size_t exp_sig = 0, exp_end = 0;
	bool has_exp = false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		has_exp = true;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		size_t es = i;
		while (i < n && s[i] == '0')
			i++;
		exp_sig = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == es)
			return NUM_BAD;
		exp_end = i;
	}
	if (i != n)
		return NUM_BAD;

	if (neg)
		out[o++] = '-';
	if (int_end == int_sig) {
		out[o++] = '0';
	} else {
		memcpy(out + o, s + int_sig, int_end - int_sig);
		o += int_end - int_sig;
	}
	if (frac_end > frac_start) {
		out[o++] = '.';
		memcpy(out + o, s + frac_start, frac_end - frac_start);
		o += frac_end - frac_start;
	}
	if (has_exp) {
		out[o++] = 'e';
		if (eneg)
			out[o++] = '-';
		if (exp_end == exp_sig) {
			out[o++] = '0';
		} else {
			memcpy(out + o, s + exp_sig, exp_end - exp_sig);
			o += exp_end - exp_sig;
		}
	}
	*outlen = o;

	/* Clinger's fast path: a mantissa below 2^53 scaled by an exact power
	 * of ten is correctly rounded; everything else goes through strtod. */
	size_t mant_digits = (int_end - int_sig) + (frac_end - frac_start);
	if (!has_exp && mant_digits <= 15 && frac_end - frac_start <= 22) {
		uint64_t m = 0;
		for (size_t k = int_sig; k < int_end; k++)
			m = m * 10 + (uint64_t)(s[k] - '0');
		for (size_t k = frac_start; k < frac_end; k++)
			m = m * 10 + (uint64_t)(s[k] - '0');
		double d = (double)m / pow10_exact[frac_end - frac_start];
		*v = neg ? -d : d;
		return NUM_OK;
	}
	*v = strtod(s, NULL);
	return isfinite(*v) ? NUM_OK : NUM_RANGE;
}

/* [+-]digits fitting int64. */
static bool
csv_integer(const char *s, size_t n, int64_t *v, bool *range)
{
	size_t i = 0;
	bool neg = false;
	*range = false;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	if (i == n)
		return false;
	uint64_t u = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned dgt = (unsigned)(s[i] - '0');
		if (u > (UINT64_MAX - dgt) / 10)
			*range = true;
		else
			u = u * 10 + dgt;
	}
	if (*range || u > (uint64_t)INT64_MAX + neg) {
		*range = true;
		return false;
	}
	*v = neg ? (int64_t)(0 - u) : (int64_t)u;
	return true;
}

static int
bool_text(const char *s, size_t n)
{
	if ((n == 4 && !strncasecmp(s, "true", 4)) || (n == 1 && s[0] == '1'))
		return 1;
	if ((n == 5 && !strncasecmp(s, "false", 5)) || (n == 1 && s[0] == '0'))
		return 0;
	return -1;
}

/* ---------------------------------------------------------------- batch */

struct row {
	int64_t ts;
	size_t off;		/* thing, NUL, values JSON, NUL */
	uint32_t thing_len;
	uint32_t vals_len;
	uint32_t thing;		/* thing number, 1-based */
	bool dup;
};

struct rejection {
	int64_t row;
	int64_t colnum;		/* used when col is empty; 0 = no column */
	char col[AGORA_OBS_MAX_NAME + 1];
	char reason[128];
};

struct thing_slot {
	uint64_t h;
	uint32_t row;		/* first row with this thing */
	uint32_t id;		/* 0 = empty, else thing number + 1 */
};

struct pair_slot {
	int64_t ts;
	uint32_t id;		/* 0 = empty */
};

/* The row being assembled: values rendered into vals, one span per field. */
struct row_builder {
	int64_t row;
	bool has_ts;
	int64_t ts;
	char thing[AGORA_OBS_MAX_THING + 1];
	size_t thing_len;
	bool has_thing;
	struct agora_buf vals;
	size_t voff[AGORA_OBS_MAX_FIELDS];
	uint32_t vlen[AGORA_OBS_MAX_FIELDS];
	uint64_t nonnull, checked, implausible;
	bool failed;
	struct rejection why;
};

struct agora_obs_batch {
	const struct agora_obs_schema *schema;
	char *error;
	struct row *rows;
	size_t nrows, cap;
	struct agora_buf arena;
	struct rejection rej[AGORA_OBS_MAX_REJECTIONS];
	size_t nrej;
	struct agora_obs_stats st;
	struct thing_slot *things;
	size_t tcap;
	int64_t *thing_last;	/* per thing number: latest ts so far */
	size_t thing_last_cap;
	/* The (thing, ts) set is only built once some thing's timestamps stop
	 * increasing: sorted or per-thing ordered input never pays for it. */
	struct pair_slot *pairs;
	size_t pcap, pcount;
	/* "{\"name\":" then ",\"name\":" …: the fixed text around values. */
	char *prefix[AGORA_OBS_MAX_FIELDS];
	size_t prefix_len[AGORA_OBS_MAX_FIELDS];
	size_t fixed_len;
	struct row_builder rb;
};

static struct agora_obs_batch *
batch_new(const struct agora_obs_schema *s)
{
	struct agora_obs_batch *b = xcalloc(1, sizeof *b);
	b->schema = s;
	agora_buf_init(&b->arena);
	agora_buf_init(&b->rb.vals);
	b->st.nfields = s->nfields;
	b->fixed_len = 2;
	for (size_t i = 0; i < s->nfields; i++) {
		b->prefix[i] = xasprintf("%c\"%s\":", i ? ',' : '{', s->fields[i].name);
		b->prefix_len[i] = strlen(b->prefix[i]);
		b->fixed_len += b->prefix_len[i] + 4;
	}
	b->tcap = 1024;
	b->things = xcalloc(b->tcap, sizeof *b->things);
	return b;
}

void
agora_obs_batch_free(struct agora_obs_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->schema->nfields; i++)
		free(b->prefix[i]);
	free(b->error);
	free(b->rows);
	agora_buf_cleanup(&b->arena);
	agora_buf_cleanup(&b->rb.vals);
	free(b->things);
	free(b->pairs);
	free(b->thing_last);
	free(b);
}

/* Fails the whole batch: the first reason wins and no row is kept. */
static void __attribute__((format(printf, 2, 3)))
batch_fail(struct agora_obs_batch *b, const char *fmt, ...)
{
	if (b->error)
		return;
	va_list ap;
	va_start(ap, fmt);
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	b->error = xstrdup(msg);
}

/* Drops everything accepted so far so that a failed batch holds nothing. */
static void
batch_clear(struct agora_obs_batch *b)
{
	b->nrows = 0;
	b->arena.len = 0;
	b->nrej = 0;
	size_t nf = b->st.nfields;
	memset(&b->st, 0, sizeof b->st);
	b->st.nfields = nf;
}

static void
row_begin(struct agora_obs_batch *b, int64_t row)
{
	struct row_builder *rb = &b->rb;
	rb->row = row;
	rb->has_ts = rb->has_thing = rb->failed = false;
	rb->thing_len = 0;
	rb->vals.len = 0;
	rb->nonnull = rb->checked = rb->implausible = 0;
}

/* The length of s cut to at most max bytes without splitting a UTF-8
 * sequence (client-chosen names are echoed in rejections). */
static size_t
utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/* Notes the row's first problem; column is a name or, when NULL, colnum. */
static void
row_reject(struct row_builder *rb, const char *column, size_t column_len, int64_t colnum,
	   const char *fmt, ...)
{
	if (rb->failed)
		return;
	rb->failed = true;
	rb->why.row = rb->row;
	rb->why.colnum = colnum;
	rb->why.col[0] = '\0';
	if (column) {
		size_t n = utf8_cut(column, column_len, AGORA_OBS_MAX_NAME);
		memcpy(rb->why.col, column, n);
		rb->why.col[n] = '\0';
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rb->why.reason, sizeof rb->why.reason, fmt, ap);
	va_end(ap);
}

static void
record_rejection(struct agora_obs_batch *b, const struct rejection *r)
{
	b->st.rejected++;
	if (b->nrej < AGORA_OBS_MAX_REJECTIONS)
		b->rej[b->nrej++] = *r;
}

static void
field_reject(struct row_builder *rb, const struct agora_obs_field *f, const char *reason)
{
	row_reject(rb, f->name, strlen(f->name), 0, "%s", reason);
}

static const char *
text_reason(enum text_check c)
{
	return c == TEXT_NUL ? "must not contain NUL" : "must be valid UTF-8";
}

static void
set_thing(struct row_builder *rb, const struct agora_obs_schema *s, const char *v, size_t n)
{
	const char *f = s->thing_field;
	if (n < 1 || n > AGORA_OBS_MAX_THING) {
		row_reject(rb, f, strlen(f), 0, "must be 1-%d bytes", AGORA_OBS_MAX_THING);
		return;
	}
	enum text_check c = check_text((const unsigned char *)v, n);
	if (c != TEXT_OK) {
		row_reject(rb, f, strlen(f), 0, "%s", text_reason(c));
		return;
	}
	memcpy(rb->thing, v, n);
	rb->thing[n] = '\0';
	rb->thing_len = n;
	rb->has_thing = true;
}

static void
set_time(struct row_builder *rb, const struct agora_obs_schema *s, const char *v, size_t n)
{
	if (agora_rfc3339_ms(v, n, &rb->ts))
		rb->has_ts = true;
	else
		row_reject(rb, s->time_field, strlen(s->time_field), 0, "must be an RFC 3339 date-time");
}

/* Stores the rendered text of field k's value. */
static void
set_value(struct row_builder *rb, size_t k, const char *text, size_t n)
{
	char *p = reserve(&rb->vals, n);
	memcpy(p, text, n);
	rb->voff[k] = rb->vals.len;
	rb->vlen[k] = (uint32_t)n;
	rb->vals.len += n;
	rb->nonnull |= 1ull << k;
}

static void
check_range(struct row_builder *rb, const struct agora_obs_field *f, size_t k, double v)
{
	if (!f->has_min && !f->has_max)
		return;
	rb->checked |= 1ull << k;
	if ((f->has_min && v < f->min) || (f->has_max && v > f->max))
		rb->implausible |= 1ull << k;
}

static void
set_string(struct row_builder *rb, const struct agora_obs_field *f, size_t k, const char *v,
	   size_t n)
{
	if (n > AGORA_OBS_MAX_STRING) {
		row_reject(rb, f->name, strlen(f->name), 0, "must be at most %d bytes",
			   AGORA_OBS_MAX_STRING);
		return;
	}
	enum text_check c = check_text((const unsigned char *)v, n);
	if (c != TEXT_OK) {
		field_reject(rb, f, text_reason(c));
		return;
	}
	rb->voff[k] = rb->vals.len;
	json_quote(&rb->vals, v, n);
	rb->vlen[k] = (uint32_t)(rb->vals.len - rb->voff[k]);
	rb->nonnull |= 1ull << k;
}

static uint64_t
hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static void
things_grow(struct agora_obs_batch *b)
{
	size_t cap = b->tcap * 2;
	struct thing_slot *t = xcalloc(cap, sizeof *t);
	for (size_t i = 0; i < b->tcap; i++) {
		if (!b->things[i].id)
			continue;
		size_t j = b->things[i].h & (cap - 1);
		while (t[j].id)
			j = (j + 1) & (cap - 1);
		t[j] = b->things[i];
	}
	free(b->things);
	b->things = t;
	b->tcap = cap;
}

static void
pairs_grow(struct agora_obs_batch *b)
{
	size_t cap = b->pcap * 2;
	struct pair_slot *t = xcalloc(cap, sizeof *t);
	for (size_t i = 0; i < b->pcap; i++) {
		if (!b->pairs[i].id)
			continue;
		size_t j = mix64((uint64_t)b->pairs[i].ts ^ ((uint64_t)b->pairs[i].id << 40)) & (cap - 1);
		while (t[j].id)
			j = (j + 1) & (cap - 1);
		t[j] = b->pairs[i];
	}
	free(b->pairs);
	b->pairs = t;
	b->pcap = cap;
}

/* The thing's number (1-based), added when new; row holds it in the arena. */
static uint32_t
thing_id(struct agora_obs_batch *b, const char *thing, size_t n, uint32_t row)
{
	uint64_t h = mix64(hash_bytes(thing, n));
	size_t j = h & (b->tcap - 1);
	for (; b->things[j].id; j = (j + 1) & (b->tcap - 1)) {
		const struct thing_slot *t = &b->things[j];
		const struct row *r = &b->rows[t->row];
		if (t->h == h && r->thing_len == n && !memcmp(b->arena.data + r->off, thing, n))
			return t->id;
	}
	uint32_t id = (uint32_t)++b->st.things;
	b->things[j] = (struct thing_slot){ h, row, id };
	if (id >= b->thing_last_cap) {
		b->thing_last_cap = b->thing_last_cap ? 2 * b->thing_last_cap : 1024;
		b->thing_last = xrealloc(b->thing_last, b->thing_last_cap * sizeof *b->thing_last);
	}
	b->thing_last[id] = INT64_MIN;
	if ((size_t)b->st.things * 2 > b->tcap)
		things_grow(b);
	return id;
}

/* True when (id, ts) was seen before; records it otherwise. */
static bool
pair_seen(struct agora_obs_batch *b, uint32_t id, int64_t ts)
{
	if (!b->pairs) {
		if (ts > b->thing_last[id]) {
			b->thing_last[id] = ts;
			return false;
		}
		/* Out of order: from now on every pair goes into the set. */
		b->pcap = 1024;
		while (b->pcap < 2 * (b->nrows + 1))
			b->pcap *= 2;
		b->pairs = xcalloc(b->pcap, sizeof *b->pairs);
		for (size_t i = 0; i < b->nrows; i++)
			if (!b->rows[i].dup)
				pair_seen(b, b->rows[i].thing, b->rows[i].ts);
	}
	size_t j = mix64((uint64_t)ts ^ ((uint64_t)id << 40)) & (b->pcap - 1);
	for (; b->pairs[j].id; j = (j + 1) & (b->pcap - 1))
		if (b->pairs[j].id == id && b->pairs[j].ts == ts)
			return true;
	b->pairs[j] = (struct pair_slot){ ts, id };
	if (++b->pcount * 2 > b->pcap)
		pairs_grow(b);
	return false;
}

/* Ends the row: rejects it or appends it and counts its statistics. */
static void
row_end(struct agora_obs_batch *b)
{
	struct row_builder *rb = &b->rb;
	const struct agora_obs_schema *s = b->schema;
	if (!rb->failed && !rb->has_ts)
		row_reject(rb, s->time_field, strlen(s->time_field), 0, "is required");
	if (!rb->failed && !rb->has_thing)
		row_reject(rb, s->thing_field, strlen(s->thing_field), 0, "is required");
	for (size_t k = 0; k < s->nfields && !rb->failed; k++)
		if (s->fields[k].required && !(rb->nonnull & (1ull << k)))
			field_reject(rb, &s->fields[k], "is required");
	if (rb->failed) {
		record_rejection(b, &rb->why);
		return;
	}

	if (b->nrows == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 1024;
		b->rows = xrealloc(b->rows, b->cap * sizeof *b->rows);
	}
	struct row *r = &b->rows[b->nrows];
	r->ts = rb->ts;
	r->off = b->arena.len;
	r->thing_len = (uint32_t)rb->thing_len;
	char *p = reserve(&b->arena, rb->thing_len + 1 + b->fixed_len + rb->vals.len), *start = p;
	memcpy(p, rb->thing, rb->thing_len + 1);
	p += rb->thing_len + 1;
	for (size_t k = 0; k < s->nfields; k++) {
		memcpy(p, b->prefix[k], b->prefix_len[k]);
		p += b->prefix_len[k];
		if (rb->nonnull & (1ull << k)) {
			memcpy(p, rb->vals.data + rb->voff[k], rb->vlen[k]);
			p += rb->vlen[k];
		} else {
			memcpy(p, "null", 4);
			p += 4;
		}
	}
	*p++ = '}';
	r->vals_len = (uint32_t)(p - start - (ptrdiff_t)rb->thing_len - 1);
	*p++ = '\0';
	b->arena.len += (size_t)(p - start);

	r->thing = thing_id(b, rb->thing, rb->thing_len, (uint32_t)b->nrows);
	r->dup = pair_seen(b, r->thing, rb->ts);
	b->nrows++;

	struct agora_obs_stats *st = &b->st;
	if (st->accepted == 0 || rb->ts < st->min_ts)
		st->min_ts = rb->ts;
	if (st->accepted == 0 || rb->ts > st->max_ts)
		st->max_ts = rb->ts;
	st->accepted++;
	st->duplicates += r->dup;
	for (uint64_t m = rb->nonnull; m; m &= m - 1)
		st->nonnull[__builtin_ctzll(m)]++;
	for (uint64_t m = rb->checked; m; m &= m - 1)
		st->checked[__builtin_ctzll(m)]++;
	for (uint64_t m = rb->implausible; m; m &= m - 1)
		st->implausible[__builtin_ctzll(m)]++;
}

/* ---------------------------------------------------------------- JSON */

static void
json_value(struct row_builder *rb, const struct agora_obs_field *f, size_t k, const json_t *v)
{
	char buf[32];
	size_t n;
	if (json_is_null(v))
		return;
	switch (f->type) {
	case AGORA_OBS_NUMBER:
		if (!json_is_number(v)) {
			field_reject(rb, f, "must be a number");
			return;
		}
		if (json_is_integer(v))
			n = fmt_int(buf, json_integer_value(v));
		else
			n = fmt_double(buf, json_real_value(v));
		set_value(rb, k, buf, n);
		check_range(rb, f, k, json_number_value(v));
		return;
	case AGORA_OBS_INTEGER:
		if (!json_is_integer(v)) {
			field_reject(rb, f, "must be an integer");
			return;
		}
		set_value(rb, k, buf, fmt_int(buf, json_integer_value(v)));
		check_range(rb, f, k, (double)json_integer_value(v));
		return;
	case AGORA_OBS_BOOLEAN:
		if (!json_is_boolean(v)) {
			field_reject(rb, f, "must be a boolean");
			return;
		}
		if (json_is_true(v))
			set_value(rb, k, "true", 4);
		else
			set_value(rb, k, "false", 5);
		return;
	case AGORA_OBS_STRING:
		if (!json_is_string(v)) {
			field_reject(rb, f, "must be a string");
			return;
		}
		set_string(rb, f, k, json_string_value(v), json_string_length(v));
		return;
	}
}

static void
json_row(struct agora_obs_batch *b, const json_t *obj)
{
	const struct agora_obs_schema *s = b->schema;
	struct row_builder *rb = &b->rb;
	if (!json_is_object(obj)) {
		row_reject(rb, NULL, 0, 0, "must be an object");
		return;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v) {
		if (rb->failed)
			return;
		if (!strcmp(key, s->time_field)) {
			if (json_is_string(v))
				set_time(rb, s, json_string_value(v), json_string_length(v));
			else if (!json_is_null(v))
				row_reject(rb, key, strlen(key), 0, "must be an RFC 3339 date-time");
			continue;
		}
		if (!strcmp(key, s->thing_field)) {
			if (json_is_string(v))
				set_thing(rb, s, json_string_value(v), json_string_length(v));
			else if (!json_is_null(v))
				row_reject(rb, key, strlen(key), 0, "must be a string");
			continue;
		}
		size_t k = 0;
		while (k < s->nfields && strcmp(s->fields[k].name, key))
			k++;
		if (k == s->nfields) {
			size_t n = strlen(key);
			row_reject(rb, key, n, 0, "unknown field '%.*s'", (int)utf8_cut(key, n, 64), key);
			continue;
		}
		json_value(rb, &s->fields[k], k, v);
	}
}

struct agora_obs_batch *
agora_obs_parse_json(const struct agora_obs_schema *s, const char *body, size_t len, size_t max_rows)
{
	struct agora_obs_batch *b = batch_new(s);
	json_error_t jerr;
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		batch_fail(b, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		goto out;
	}
	if (!json_is_array(root)) {
		batch_fail(b, "the body must be a JSON array of observations");
		goto out;
	}
	if (json_array_size(root) > max_rows) {
		batch_fail(b, "more than %zu rows", max_rows);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(root); i++) {
		row_begin(b, (int64_t)i + 1);
		json_row(b, json_array_get(root, i));
		row_end(b);
	}
out:
	json_decref(root);
	if (b->error)
		batch_clear(b);
	return b;
}

/* ---------------------------------------------------------------- CSV */

#define COL_TIME (-1)
#define COL_THING (-2)

struct agora_obs_csv {
	struct agora_obs_batch *b;
	const struct agora_obs_schema *s;
	struct csv_parser parser;
	size_t max_rows;
	size_t bom;		/* BOM bytes matched so far; 3 once past it */
	int64_t line;		/* line of the text being fed */
	int64_t newlines;	/* newlines inside the current record's cells */
	bool header_done;
	size_t ncols;		/* header columns */
	int role[AGORA_OBS_MAX_FIELDS + 2];
	size_t col;		/* cells seen in the current record */
	size_t records;
};

static void
csv_header_cell(struct agora_obs_csv *p, const char *v, size_t n)
{
	const struct agora_obs_schema *s = p->s;
	size_t c = p->col;
	if (!v || !n) {
		batch_fail(p->b, "header: column %zu has no name", c + 1);
		return;
	}
	int role;
	if (n == strlen(s->time_field) && !memcmp(v, s->time_field, n)) {
		role = COL_TIME;
	} else if (n == strlen(s->thing_field) && !memcmp(v, s->thing_field, n)) {
		role = COL_THING;
	} else {
		size_t k = 0;
		while (k < s->nfields && !(strlen(s->fields[k].name) == n && !memcmp(s->fields[k].name, v, n)))
			k++;
		if (k == s->nfields) {
			/* Echo the name only when it is printable text. */
			if (n <= 64 && check_text((const unsigned char *)v, n) == TEXT_OK)
				batch_fail(p->b, "header: unknown column '%.*s'", (int)n, v);
			else
				batch_fail(p->b, "header: unknown column %zu", c + 1);
			return;
		}
		role = (int)k;
	}
	for (size_t i = 0; i < c; i++)
		if (p->role[i] == role) {
			batch_fail(p->b, "header: column '%.*s' appears twice", (int)n, v);
			return;
		}
	p->role[c] = role;
	p->ncols++;
}

static void
csv_header_end(struct agora_obs_csv *p)
{
	const struct agora_obs_schema *s = p->s;
	bool time = false, thing = false;
	uint64_t seen = 0;
	for (size_t i = 0; i < p->ncols; i++) {
		if (p->role[i] == COL_TIME)
			time = true;
		else if (p->role[i] == COL_THING)
			thing = true;
		else
			seen |= 1ull << p->role[i];
	}
	if (!time) {
		batch_fail(p->b, "header: no column '%s'", s->time_field);
		return;
	}
	if (!thing) {
		batch_fail(p->b, "header: no column '%s'", s->thing_field);
		return;
	}
	for (size_t k = 0; k < s->nfields; k++)
		if (s->fields[k].required && !(seen & (1ull << k))) {
			batch_fail(p->b, "header: no column for required field '%s'", s->fields[k].name);
			return;
		}
	p->header_done = true;
}

static void
csv_cell(struct agora_obs_csv *p, const char *v, size_t n)
{
	struct row_builder *rb = &p->b->rb;
	if (p->col >= p->ncols || rb->failed)
		return;
	int role = p->role[p->col];
	if (role == COL_TIME) {
		set_time(rb, p->s, v ? v : "", n);
		return;
	}
	if (role == COL_THING) {
		set_thing(rb, p->s, v ? v : "", n);
		return;
	}
	size_t k = (size_t)role;
	const struct agora_obs_field *f = &p->s->fields[k];
	if (!v || (n == 0 && f->type != AGORA_OBS_STRING))
		return;
	char buf[64];
	switch (f->type) {
	case AGORA_OBS_NUMBER: {
		double d;
		size_t len;
		char *out = n + 3 <= sizeof buf ? buf : xmalloc(n + 3);
		enum num_check c = csv_number(v, n, out, &len, &d);
		if (c == NUM_OK) {
			set_value(rb, k, out, len);
			check_range(rb, f, k, d);
		} else {
			field_reject(rb, f, c == NUM_RANGE ? "number out of range" : "must be a number");
		}
		if (out != buf)
			free(out);
		return;
	}
	case AGORA_OBS_INTEGER: {
		int64_t i;
		bool range;
		if (csv_integer(v, n, &i, &range)) {
			set_value(rb, k, buf, fmt_int(buf, i));
			check_range(rb, f, k, (double)i);
		} else {
			field_reject(rb, f, range ? "integer out of range" : "must be an integer");
		}
		return;
	}
	case AGORA_OBS_BOOLEAN: {
		int t = bool_text(v, n);
		if (t < 0)
			field_reject(rb, f, "must be a boolean");
		else if (t)
			set_value(rb, k, "true", 4);
		else
			set_value(rb, k, "false", 5);
		return;
	}
	case AGORA_OBS_STRING:
		set_string(rb, f, k, v, n);
		return;
	}
}

static void
csv_cb_cell(void *data, size_t n, void *ctx)
{
	struct agora_obs_csv *p = ctx;
	if (p->b->error)
		return;
	const char *v = data;
	/* Quoted newlines move the record's first line back (see row numbers). */
	if (v)
		for (const char *q = v, *end = v + n; (q = memchr(q, '\n', (size_t)(end - q))); q++)
			p->newlines++;
	if (!p->header_done)
		csv_header_cell(p, v, n);
	else {
		if (p->col == 0) {
			if (++p->records > p->max_rows) {
				batch_fail(p->b, "more than %zu rows", p->max_rows);
				return;
			}
			row_begin(p->b, 0);
		}
		csv_cell(p, v, n);
	}
	p->col++;
}

static void
csv_cb_row(int term, void *ctx)
{
	(void)term;
	struct agora_obs_csv *p = ctx;
	struct agora_obs_batch *b = p->b;
	int64_t row = p->line - p->newlines;
	size_t cols = p->col;
	p->col = 0;
	p->newlines = 0;
	if (b->error || cols == 0)
		return;
	if (!p->header_done) {
		csv_header_end(p);
		return;
	}
	b->rb.row = row;
	b->rb.why.row = row;
	if (cols != p->ncols) {
		b->rb.failed = false;
		if (cols < p->ncols) {
			int role = p->role[cols];
			const char *name = role == COL_TIME	 ? p->s->time_field
					   : role == COL_THING ? p->s->thing_field
							       : p->s->fields[role].name;
			row_reject(&b->rb, name, strlen(name), 0, "expected %zu columns, found %zu", p->ncols,
				   cols);
		} else {
			row_reject(&b->rb, NULL, 0, (int64_t)p->ncols + 1, "expected %zu columns, found %zu",
				   p->ncols, cols);
		}
	}
	row_end(b);
}

struct agora_obs_csv *
agora_obs_csv_new(const struct agora_obs_schema *s, size_t max_rows)
{
	struct agora_obs_csv *p = xcalloc(1, sizeof *p);
	p->b = batch_new(s);
	p->s = s;
	/* Row positions are 32-bit inside the batch. */
	p->max_rows = max_rows < UINT32_MAX - 1 ? max_rows : UINT32_MAX - 1;
	p->line = 1;
	if (csv_init(&p->parser, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL | CSV_APPEND_NULL))
		abort();
	csv_set_realloc_func(&p->parser, xrealloc);
	csv_set_free_func(&p->parser, free);
	return p;
}

/* Feeds a line at a time so that callbacks know the current line. */
static void
csv_feed_lines(struct agora_obs_csv *p, const char *s, size_t len)
{
	while (len && !p->b->error) {
		const char *nl = memchr(s, '\n', len);
		size_t n = nl ? (size_t)(nl - s) + 1 : len;
		if (csv_parse(&p->parser, s, n, csv_cb_cell, csv_cb_row, p) != n) {
			batch_fail(p->b, "CSV syntax error on line %lld: a quote inside an unquoted cell or text after a closing quote",
				   (long long)p->line);
			return;
		}
		if (nl)
			p->line++;
		s += n;
		len -= n;
	}
}

bool
agora_obs_csv_feed(struct agora_obs_csv *p, const char *chunk, size_t len)
{
	static const char bom[] = "\xef\xbb\xbf";
	while (p->bom < 3 && len && !p->b->error) {
		if (*chunk == bom[p->bom]) {
			p->bom++;
			chunk++;
			len--;
			continue;
		}
		/* Not a BOM after all: the bytes matched so far are data. */
		size_t matched = p->bom;
		p->bom = 3;
		csv_feed_lines(p, bom, matched);
	}
	if (len)
		csv_feed_lines(p, chunk, len);
	return p->b->error == NULL;
}

struct agora_obs_batch *
agora_obs_csv_finish(struct agora_obs_csv *p)
{
	struct agora_obs_batch *b = p->b;
	if (!b->error && p->bom > 0 && p->bom < 3) {
		size_t matched = p->bom;
		p->bom = 3;
		csv_feed_lines(p, "\xef\xbb\xbf", matched);
	}
	if (csv_fini(&p->parser, csv_cb_cell, csv_cb_row, p) != 0)
		batch_fail(b, "CSV syntax error: a quoted cell is not closed at the end of the body");
	if (!b->error && !p->header_done)
		batch_fail(b, "the CSV body has no header line");
	csv_free(&p->parser);
	free(p);
	if (b->error)
		batch_clear(b);
	return b;
}

struct agora_obs_batch *
agora_obs_parse_csv(const struct agora_obs_schema *s, const char *body, size_t len, size_t max_rows)
{
	struct agora_obs_csv *p = agora_obs_csv_new(s, max_rows);
	agora_obs_csv_feed(p, body, len);
	return agora_obs_csv_finish(p);
}

/* ---------------------------------------------------------------- access */

bool
agora_obs_batch_ok(const struct agora_obs_batch *b)
{
	return b->error == NULL;
}

const char *
agora_obs_batch_error(const struct agora_obs_batch *b)
{
	return b->error;
}

size_t
agora_obs_batch_count(const struct agora_obs_batch *b)
{
	return b->nrows;
}

int64_t
agora_obs_batch_rejected_count(const struct agora_obs_batch *b)
{
	return b->st.rejected;
}

json_t *
agora_obs_batch_rejections(const struct agora_obs_batch *b)
{
	json_t *a = json_array();
	for (size_t i = 0; i < b->nrej; i++) {
		const struct rejection *r = &b->rej[i];
		json_t *col = r->col[0]	     ? json_string(r->col)
			      : r->colnum ? json_integer(r->colnum)
					  : json_null();
		json_t *reason = json_string(r->reason);
		/* json_string refuses invalid UTF-8; names were cut on a boundary,
		 * so this is only a guard. */
		json_array_append_new(a, json_pack("{s:I, s:o, s:o}", "row", (json_int_t)r->row, "column",
						   col ? col : json_null(), "reason",
						   reason ? reason : json_string("invalid")));
	}
	return a;
}

const struct agora_obs_stats *
agora_obs_batch_stats(const struct agora_obs_batch *b)
{
	return &b->st;
}

int64_t
agora_obs_batch_ts(const struct agora_obs_batch *b, size_t i)
{
	return b->rows[i].ts;
}

const char *
agora_obs_batch_thing(const struct agora_obs_batch *b, size_t i)
{
	return b->arena.data + b->rows[i].off;
}

const char *
agora_obs_batch_values_text(const struct agora_obs_batch *b, size_t i)
{
	return b->arena.data + b->rows[i].off + b->rows[i].thing_len + 1;
}

json_t *
agora_obs_batch_values(const struct agora_obs_batch *b, size_t i)
{
	const char *t = agora_obs_batch_values_text(b, i);
	json_t *v = json_loadb(t, b->rows[i].vals_len, 0, NULL);
	/* A number field keeps a CSV integer's digits, so it may hold one
	 * beyond int64 ("33333333333333333333"), which Jansson refuses as an
	 * integer: read such a row with every number as a real (fuzz-ingest). */
	return v ? v : json_loadb(t, b->rows[i].vals_len, JSON_DECODE_INT_AS_REAL, NULL);
}

bool
agora_obs_batch_is_duplicate(const struct agora_obs_batch *b, size_t i)
{
	return b->rows[i].dup;
}

void
agora_obs_batch_copy_line(const struct agora_obs_batch *b, size_t i, const char *dataset_id,
			  struct agora_buf *out)
{
	const struct row *r = &b->rows[i];
	char ts[32];
	agora_rfc3339_format_ms(r->ts, ts);
	copy_escape(out, dataset_id, strlen(dataset_id));
	char *p = reserve(out, 26);
	p[0] = '\t';
	memcpy(p + 1, ts, 24);
	p[25] = '\t';
	out->len += 26;
	copy_escape(out, b->arena.data + r->off, r->thing_len);
	agora_buf_append(out, "\t", 1);
	copy_escape(out, b->arena.data + r->off + r->thing_len + 1, r->vals_len);
	agora_buf_append(out, "\n", 1);
}

void
agora_obs_batch_quality_input(const struct agora_obs_batch *b, int64_t period_s, int64_t now,
			      struct agora_quality_input *q)
{
	const struct agora_obs_stats *st = &b->st;
	int64_t implausible = 0, checked = 0;
	for (size_t k = 0; k < st->nfields; k++) {
		implausible += st->implausible[k];
		checked += st->checked[k];
	}
	*q = (struct agora_quality_input){
		.records = st->accepted,
		.rejected = st->rejected,
		.field_count = st->nfields,
		.nonnull = st->nonnull,
		.implausible = implausible,
		.checked = checked,
		.duplicates = st->duplicates,
		.things = st->things,
		.oldest_ms = st->min_ts,
		.newest_ms = st->max_ts,
		.period_s = period_s,
		.now = now,
	};
}
