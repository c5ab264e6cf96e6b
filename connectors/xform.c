/* xform.c — anonymize / aggregate duties, time windows and row limits applied
 * to observation rows on their way to a consumer.  See xform.h.
 *
 * Rows are not turned into json_t: vals is scanned once into spans (a value
 * is a number, string, true, false or null), and each output cell is copied
 * from its span.  Strings are decoded only when they have escapes, go into
 * CSV or are hashed, so a row of numbers costs a scan and a few memcpy.
 */
#include "xform.h"

#include <inttypes.h>
#include <math.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

enum anon { KEEP, HASH, DROP };
enum vtype { V_NULL, V_NUM, V_STR, V_TRUE, V_FALSE };

/* The span of one value of the current row (valid while gen matches). */
struct span {
	const char *p;	/* strings: between the quotes */
	size_t n;
	uint32_t gen;
	uint8_t type;
	bool esc;	/* a string with backslash escapes */
};

struct col {
	char *name;
	size_t name_len;
	bool numeric;
	enum anon anon;
	const char *anon_rule;	/* the duty that set anon, for details */
	bool agg_listed;	/* in the aggregate duty's fields (or no list) */
};

/* Aggregates of one numeric field in one bucket of one series. */
struct stat {
	uint64_t count;
	double min, max;
	long double sum;
};

/* One thing's (or, thing dropped, everyone's) bucket being filled. */
struct series {
	char *thing;	/* NULL when thing is dropped */
	size_t thing_len;
	uint64_t hash;
	bool active;
	struct stat *st;	/* nout */
};

#define CACHE_SLOTS 1024
#define CACHE_MAX_KEY 256
struct cache_slot {
	uint64_t hash;
	size_t len;
	char *key;	/* CACHE_MAX_KEY bytes once used */
	char out[XFORM_PSEUDONYM_LEN];
};

struct xform_plan {
	enum xform_format fmt;
	struct col *cols;
	size_t ncols;
	size_t *out;	/* indexes of output columns, schema order */
	size_t nout;
	enum anon thing_anon;
	struct xform_window win;
	uint64_t limit;
	bool agg;
	int64_t bucket_us;

	char *agreement_id;
	bool has_key;
	EVP_MAC *mac;
	EVP_MAC_CTX *mac_ctx;
	struct cache_slot *cache;

	/* row scanning */
	struct span *vals;	/* ncols */
	uint32_t gen;
	size_t *key_hint;	/* column of the k-th key of the previous row */
	size_t nhint;
	struct agora_buf scratch;	/* decoded strings */

	/* time formatting: the date of the last day formatted */
	int64_t day_cached;
	char day_text[11];

	/* aggregation */
	bool have_bucket;
	int64_t bucket;
	struct series *series;
	size_t nseries, series_cap;
	size_t *map;	/* open addressing: series index + 1, 0 empty */
	size_t map_cap;
	size_t *active;	/* series indexes with rows in this bucket */
	size_t nactive;
	double *ax;	/* nout: the current row's numbers */
	bool *ahas;

	bool done;
	uint64_t rows_out, rows_in, malformed, outside;
};

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

static void
fail(const char **errsym, const char *sym, char *detail, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void
fail(const char **errsym, const char *sym, char *detail, size_t len, const char *fmt, ...)
{
	*errsym = sym;
	if (detail && len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, len, fmt, ap);
		va_end(ap);
	}
}

/* Room for n more bytes (and the NUL agora_buf keeps after its data). */
static inline char *
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

static inline void
put(struct agora_buf *b, const void *s, size_t n)
{
	char *d = reserve(b, n);
	memcpy(d, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static inline void
putc1(struct agora_buf *b, char c)
{
	char *d = reserve(b, 1);
	d[0] = c;
	b->len++;
	b->data[b->len] = '\0';
}

#define PUTS(b, lit) put((b), (lit), sizeof(lit) - 1)

static uint64_t
fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static bool
utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		unsigned c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}
		size_t k;
		unsigned cp;
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(e - p) <= k)
			return false;
		for (size_t i = 1; i <= k; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += k + 1;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* time                                                                 */

/* Days since 1970-01-01 → civil date (H. Hinnant's algorithm). */
static void
civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

static int64_t
days_from_civil(int y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static inline int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static inline void
two(char *o, unsigned v)
{
	o[0] = (char)('0' + v / 10);
	o[1] = (char)('0' + v % 10);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ", or ".uuuuuuZ" when the time has sub-millisecond
 * digits.  false for years outside 0001–9999. */
static bool
format_time(struct xform_plan *p, int64_t us, struct agora_buf *out)
{
	/* 0001-01-01 .. 9999-12-31 */
	if (us < -62135596800000000LL || us > 253402300799999999LL)
		return false;
	int64_t day = floor_div(us, 86400000000LL);
	int64_t rem = us - day * 86400000000LL;
	if (day != p->day_cached) {
		int y;
		unsigned m, d;
		civil_from_days(day, &y, &m, &d);
		two(p->day_text, (unsigned)y / 100);
		two(p->day_text + 2, (unsigned)y % 100);
		p->day_text[4] = '-';
		two(p->day_text + 5, m);
		p->day_text[7] = '-';
		two(p->day_text + 8, d);
		p->day_cached = day;
	}
	unsigned s = (unsigned)(rem / 1000000);
	unsigned frac = (unsigned)(rem % 1000000);
	char *o = reserve(out, 32);
	memcpy(o, p->day_text, 10);
	o[10] = 'T';
	two(o + 11, s / 3600);
	o[13] = ':';
	two(o + 14, s / 60 % 60);
	o[16] = ':';
	two(o + 17, s % 60);
	o[19] = '.';
	size_t n;
	if (frac % 1000 == 0) {
		unsigned ms = frac / 1000;
		o[20] = (char)('0' + ms / 100);
		two(o + 21, ms % 100);
		n = 23;
	} else {
		for (int i = 25; i >= 20; i--) {
			o[i] = (char)('0' + frac % 10);
			frac /= 10;
		}
		n = 26;
	}
	o[n++] = 'Z';
	out->len += n;
	out->data[out->len] = '\0';
	return true;
}

static bool
digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

/* RFC 3339 date-time (offset required, T/t/space, fractions: digits past the
 * microsecond round up, which is exact for integral-microsecond rows on both
 * an inclusive lower and an exclusive upper bound), or a bare date.
 * *date_only tells which; the value is that day's 00:00 UTC. */
static bool
parse_time(const char *s, int64_t *us, bool *date_only)
{
	int y, mo, d, h = 0, mi = 0, se = 0;
	size_t n = strlen(s);
	if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d))
		return false;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return false;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return false;
	int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400000000LL;
	*date_only = n == 10;
	if (n == 10) {
		*us = t;
		return true;
	}
	if (n < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &h) ||
	    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se) ||
	    h > 23 || mi > 59 || se > 59)
		return false;
	const char *q = s + 19;
	int64_t frac = 0;
	if (*q == '.') {
		q++;
		int nd = 0;
		bool more = false;
		while (*q >= '0' && *q <= '9') {
			if (nd < 6)
				frac = frac * 10 + (*q - '0');
			else if (*q != '0')
				more = true;
			nd++;
			q++;
		}
		if (nd == 0)
			return false;
		for (int i = nd; i < 6; i++)
			frac *= 10;
		if (more)
			frac++;
	}
	int64_t off = 0;
	if (*q == 'Z' || *q == 'z') {
		q++;
	} else if (*q == '+' || *q == '-') {
		int oh, om;
		if (!digits(q + 1, 2, &oh) || q[3] != ':' || !digits(q + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return false;
		off = (int64_t)(oh * 60 + om) * 60000000LL;
		if (*q == '+')
			off = -off;
		q += 6;
	} else {
		return false;
	}
	if (*q)
		return false;
	*us = t + ((int64_t)h * 3600 + mi * 60 + se) * 1000000LL + frac + off;
	return true;
}

/* An ISO 8601 duration of whole days, hours, minutes and seconds (no years,
 * months or weeks: buckets have a fixed width) in seconds; -1 if not one. */
static int64_t
parse_bucket(const char *s)
{
	if (*s++ != 'P' || !*s)
		return -1;
	int64_t total = 0;
	bool in_time = false, any = false;
	const char *order = "D";
	while (*s) {
		if (*s == 'T') {
			if (in_time || !s[1])
				return -1;
			in_time = true;
			order = "HMS";
			s++;
			continue;
		}
		int64_t v = 0;
		const char *st = s;
		while (*s >= '0' && *s <= '9' && v < 1000000)
			v = v * 10 + (*s++ - '0');
		if (s == st || !*s)
			return -1;
		const char *u = strchr(order, *s);
		if (!u)
			return -1;
		static const int64_t mult[] = { ['D'] = 86400, ['H'] = 3600, ['M'] = 60, ['S'] = 1 };
		total += v * mult[(unsigned char)*s];
		order = u + 1;	/* units in order, each once */
		any = true;
		s++;
	}
	return any ? total : -1;
}

/* ------------------------------------------------------------------ */
/* pseudonyms                                                           */

static void
hmac_hex(struct xform_plan *p, const char *text, size_t len, char out[XFORM_PSEUDONYM_LEN])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0;
	/* A NULL key re-initialises with the key already set. */
	if (!EVP_MAC_init(p->mac_ctx, NULL, 0, NULL) ||
	    !EVP_MAC_update(p->mac_ctx, (const uint8_t *)p->agreement_id,
			    strlen(p->agreement_id) + 1) ||
	    !EVP_MAC_update(p->mac_ctx, (const uint8_t *)text, len) ||
	    !EVP_MAC_final(p->mac_ctx, mac, &maclen, sizeof(mac)) || maclen != 32)
		abort();	/* HMAC-SHA256 with a set key cannot fail */
	static const char hx[] = "0123456789abcdef";
	for (size_t i = 0; i < XFORM_PSEUDONYM_LEN / 2; i++) {
		out[2 * i] = hx[mac[i] >> 4];
		out[2 * i + 1] = hx[mac[i] & 15];
	}
}

/* The pseudonym of text, through a small direct-mapped cache: things and
 * categorical values repeat from row to row. */
static const char *
pseudonym(struct xform_plan *p, const char *text, size_t len)
{
	if (len > CACHE_MAX_KEY) {
		static _Thread_local char buf[XFORM_PSEUDONYM_LEN];
		hmac_hex(p, text, len, buf);
		return buf;
	}
	uint64_t h = fnv1a(text, len);
	struct cache_slot *c = &p->cache[h % CACHE_SLOTS];
	if (c->key && c->hash == h && c->len == len && memcmp(c->key, text, len) == 0)
		return c->out;
	if (!c->key)
		c->key = xmalloc(CACHE_MAX_KEY);
	memcpy(c->key, text, len);
	c->len = len;
	c->hash = h;
	hmac_hex(p, text, len, c->out);
	return c->out;
}

bool
xform_pseudonym(struct xform_plan *p, const char *text, size_t len, char out[XFORM_PSEUDONYM_LEN + 1])
{
	if (!p->has_key)
		return false;
	memcpy(out, pseudonym(p, text, len), XFORM_PSEUDONYM_LEN);
	out[XFORM_PSEUDONYM_LEN] = '\0';
	return true;
}

/* ------------------------------------------------------------------ */
/* the agreement                                                        */

#define ODRL_NS "http://www.w3.org/ns/odrl/2/"
#define AGORA_NS "https://w3id.org/agora/ns#"

/* A member written as name, odrl:name or the full ODRL IRI. */
static json_t *
odrl_get(const json_t *o, const char *name)
{
	char k[96];
	json_t *v = json_object_get(o, name);
	if (!v) {
		snprintf(k, sizeof(k), "odrl:%s", name);
		v = json_object_get(o, k);
	}
	if (!v) {
		snprintf(k, sizeof(k), ODRL_NS "%s", name);
		v = json_object_get(o, k);
	}
	return v;
}

/* An Agora extension member: agora:name or its full IRI (name alone for
 * fields, which ODRL duties carry unprefixed). */
static json_t *
agora_get(const json_t *o, const char *name, bool bare_too)
{
	char k[96];
	json_t *v = bare_too ? json_object_get(o, name) : NULL;
	if (!v) {
		snprintf(k, sizeof(k), "agora:%s", name);
		v = json_object_get(o, k);
	}
	if (!v) {
		snprintf(k, sizeof(k), AGORA_NS "%s", name);
		v = json_object_get(o, k);
	}
	return v;
}

/* An action's local name: "anonymize", "odrl:anonymize", the IRI, {"@id":…}
 * or {"rdf:value":{"@id":…}}; NULL when not one of these. */
static const char *
action_name(const json_t *a)
{
	if (json_is_object(a)) {
		const json_t *v = json_object_get(a, "rdf:value");
		if (!v)
			v = json_object_get(a, "http://www.w3.org/1999/02/22-rdf-syntax-ns#value");
		a = v ? v : a;
		if (json_is_object(a))
			a = json_object_get(a, "@id");
	}
	const char *s = json_string_value(a);
	if (!s)
		return NULL;
	if (strncmp(s, "odrl:", 5) == 0)
		return s + 5;
	if (strncmp(s, ODRL_NS, strlen(ODRL_NS)) == 0)
		return s + strlen(ODRL_NS);
	return s;
}

struct build {
	struct xform_plan *p;
	const char **errsym;
	char *detail;
	size_t dlen;
	const char *time_field, *thing_field;	/* as the dataset declares them */
	bool agg_list_seen;
	bool *agg_in;	/* ncols: in every aggregate duty's list so far */
	bool from_set, to_set;
	int64_t a_from, a_to;	/* the agreement's window */
	uint64_t max_rows;
	char *where;	/* rule path of the current duty */
};

static ssize_t
col_index(const struct xform_plan *p, const char *name)
{
	for (size_t i = 0; i < p->ncols; i++)
		if (strcmp(p->cols[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* The duty's field list (a string or an array of strings) as an array
 * view; NULL with a refusal when malformed. */
static bool
field_list(struct build *b, const json_t *duty, const json_t **list, bool required)
{
	const json_t *f = agora_get(duty, "fields", true);
	*list = f;
	if (!f && !required)
		return true;
	if (!f || (!json_is_string(f) && !json_is_array(f)) ||
	    (json_is_array(f) && json_array_size(f) == 0)) {
		fail(b->errsym, "invalid_agreement", b->detail, b->dlen,
		     "%s: %s needs \"fields\": a list of field names", b->where,
		     required ? "anonymize" : "aggregate");
		return false;
	}
	size_t i;
	const json_t *e;
	json_array_foreach(f, i, e) {
		if (!json_is_string(e)) {
			fail(b->errsym, "invalid_agreement", b->detail, b->dlen,
			     "%s.fields[%zu] must be a field name", b->where, i);
			return false;
		}
	}
	return true;
}

static const char *
list_item(const json_t *list, size_t i)
{
	return json_is_string(list) ? json_string_value(list) : json_string_value(json_array_get(list, i));
}

static size_t
list_size(const json_t *list)
{
	return json_is_string(list) ? 1 : json_array_size(list);
}

static bool
anonymize_duty(struct build *b, const json_t *duty)
{
	struct xform_plan *p = b->p;
	const json_t *list;
	if (!field_list(b, duty, &list, true))
		return false;
	enum anon how = DROP;
	const json_t *m = agora_get(duty, "method", false);
	if (m) {
		const char *ms = json_string_value(m);
		if (ms && strcmp(ms, "hash") == 0) {
			how = HASH;
		} else if (!ms || strcmp(ms, "drop") != 0) {
			fail(b->errsym, "invalid_agreement", b->detail, b->dlen,
			     "%s: agora:method must be \"drop\" or \"hash\"", b->where);
			return false;
		}
	}
	if (how == HASH && (!p->has_key || !p->agreement_id)) {
		fail(b->errsym, "invalid_agreement", b->detail, b->dlen,
		     "%s: hashing needs the agreement's @id%s", b->where,
		     p->has_key ? "" : " and the provider's key");
		return false;
	}
	for (size_t i = 0; i < list_size(list); i++) {
		const char *f = list_item(list, i);
		if (strcmp(f, "thing") == 0 || strcmp(f, b->thing_field) == 0) {
			if (how > p->thing_anon)
				p->thing_anon = how;
			continue;
		}
		if (strcmp(f, "timestamp") == 0 || strcmp(f, b->time_field) == 0) {
			fail(b->errsym, "invalid_agreement", b->detail, b->dlen,
			     "%s: the time field \"%s\" cannot be anonymized", b->where, f);
			return false;
		}
		ssize_t c = col_index(p, f);
		if (c < 0) {
			fail(b->errsym, "invalid_agreement", b->detail, b->dlen,
			     "%s: the dataset has no field \"%s\"", b->where, f);
			return false;
		}
		/* drop beats hash: the stricter duty wins */
		if (how > p->cols[c].anon) {
			p->cols[c].anon = how;
			free((char *)p->cols[c].anon_rule);
			p->cols[c].anon_rule = xstrdup(b->where);
		}
	}
	return true;
}

static bool
aggregate_duty(struct build *b, const json_t *duty)
{
	struct xform_plan *p = b->p;
	int64_t width = XFORM_BUCKET_DEFAULT_S;
	const json_t *bk = agora_get(duty, "bucket", false);
	if (bk) {
		width = json_is_string(bk) ? parse_bucket(json_string_value(bk)) : -1;
		if (width < XFORM_BUCKET_MIN_S || width > XFORM_BUCKET_MAX_S) {
			fail(b->errsym, "invalid_agreement", b->detail, b->dlen,
			     "%s: agora:bucket must be an ISO 8601 duration from PT1M to P1D", b->where);
			return false;
		}
	}
	/* several aggregate duties: the widest bucket, the fields all allow */
	if (width * 1000000 > p->bucket_us)
		p->bucket_us = width * 1000000;
	p->agg = true;
	const json_t *list;
	if (!field_list(b, duty, &list, false))
		return false;
	if (!list)
		return true;
	bool *in = xcalloc(p->ncols ? p->ncols : 1, sizeof(bool));
	for (size_t i = 0; i < list_size(list); i++) {
		const char *f = list_item(list, i);
		ssize_t c = col_index(p, f);
		if (c < 0) {
			fail(b->errsym, "invalid_agreement", b->detail, b->dlen,
			     "%s: the dataset has no value field \"%s\" to aggregate", b->where, f);
			free(in);
			return false;
		}
		in[c] = true;
	}
	for (size_t c = 0; c < p->ncols; c++)
		b->agg_in[c] = b->agg_list_seen ? (b->agg_in[c] && in[c]) : in[c];
	b->agg_list_seen = true;
	free(in);
	return true;
}

static bool
duty(struct build *b, const json_t *d, const char *path)
{
	free(b->where);
	b->where = xstrdup(path);
	if (!json_is_object(d))
		return true;	/* the policy engine validated shapes; not a data duty */
	const char *a = action_name(odrl_get(d, "action"));
	if (!a)
		return true;
	if (strcmp(a, "anonymize") == 0)
		return anonymize_duty(b, d);
	if (strcmp(a, "aggregate") == 0)
		return aggregate_duty(b, d);
	return true;
}

/* agora:dataFrom / agora:dataTo / agora:maxRows on a permission (or on the
 * agreement itself): the strictest of all that are given applies. */
static bool
extension_members(struct build *b, const json_t *o, const char *path)
{
	static const char *const names[] = { "dataFrom", "dataTo" };
	for (int i = 0; i < 2; i++) {
		const json_t *v = agora_get(o, names[i], false);
		if (!v)
			continue;
		int64_t t;
		bool date_only;
		if (!json_is_string(v) || !parse_time(json_string_value(v), &t, &date_only)) {
			fail(b->errsym, "invalid_agreement", b->detail, b->dlen,
			     "%s.agora:%s must be an RFC 3339 date-time", path, names[i]);
			return false;
		}
		if (i == 0) {
			if (!b->from_set || t > b->a_from)
				b->a_from = t;
			b->from_set = true;
		} else {
			if (date_only)
				t += 86400000000LL;	/* a date covers its whole day */
			if (!b->to_set || t < b->a_to)
				b->a_to = t;
			b->to_set = true;
		}
	}
	const json_t *mr = agora_get(o, "maxRows", false);
	if (mr) {
		if (!json_is_integer(mr) || json_integer_value(mr) < 1) {
			fail(b->errsym, "invalid_agreement", b->detail, b->dlen,
			     "%s.agora:maxRows must be a positive integer", path);
			return false;
		}
		uint64_t v = (uint64_t)json_integer_value(mr);
		if (!b->max_rows || v < b->max_rows)
			b->max_rows = v;
	}
	return true;
}

/* Visits rules given as one object or an array of them. */
static bool
each_rule(struct build *b, const json_t *rules, const char *kind,
	  bool (*fn)(struct build *, const json_t *, const char *))
{
	if (!rules)
		return true;
	if (json_is_object(rules))
		return fn(b, rules, kind);
	size_t i;
	const json_t *r;
	json_array_foreach(rules, i, r) {
		char path[96];
		snprintf(path, sizeof(path), "%s[%zu]", kind, i);
		if (!fn(b, r, path))
			return false;
	}
	return true;
}

static bool
permission(struct build *b, const json_t *perm, const char *path)
{
	if (!json_is_object(perm))
		return true;
	if (!extension_members(b, perm, path))
		return false;
	const json_t *duties = odrl_get(perm, "duty");
	if (json_is_object(duties)) {
		char dp[128];
		snprintf(dp, sizeof(dp), "%s.duty", path);
		return duty(b, duties, dp);
	}
	size_t i;
	const json_t *d;
	json_array_foreach(duties, i, d) {
		char dp[128];
		snprintf(dp, sizeof(dp), "%s.duty[%zu]", path, i);
		if (!duty(b, d, dp))
			return false;
	}
	return true;
}

static bool
read_agreement(struct build *b, const json_t *agreement)
{
	struct xform_plan *p = b->p;
	if (!json_is_object(agreement)) {
		fail(b->errsym, "invalid_agreement", b->detail, b->dlen, "the agreement is not an object");
		return false;
	}
	const json_t *id = json_object_get(agreement, "@id");
	if (!id)
		id = odrl_get(agreement, "uid");
	if (json_is_string(id) && json_string_length(id) > 0)
		p->agreement_id = xstrdup(json_string_value(id));
	return extension_members(b, agreement, "agreement") &&
	       each_rule(b, odrl_get(agreement, "permission"), "permission", permission) &&
	       each_rule(b, odrl_get(agreement, "obligation"), "obligation", duty);
}

/* ------------------------------------------------------------------ */
/* the query                                                            */

static bool
read_query(struct build *b, const json_t *q, bool *want)
{
	struct xform_plan *p = b->p;
	p->fmt = XFORM_CSV;
	if (!q)
		return true;
	if (!json_is_object(q)) {
		fail(b->errsym, "invalid_query", b->detail, b->dlen, "the query must be a JSON object");
		return false;
	}
	const char *k;
	const json_t *v;
	json_object_foreach((json_t *)q, k, v) {
		if (strcmp(k, "from") && strcmp(k, "to") && strcmp(k, "fields") &&
		    strcmp(k, "limit") && strcmp(k, "format")) {
			fail(b->errsym, "invalid_query", b->detail, b->dlen,
			     "query.%s is not a known member (from, to, fields, limit, format)", k);
			return false;
		}
	}
	const json_t *fmt = json_object_get(q, "format");
	if (fmt) {
		const char *s = json_string_value(fmt);
		if (s && strcmp(s, "csv") == 0)
			p->fmt = XFORM_CSV;
		else if (s && strcmp(s, "json") == 0)
			p->fmt = XFORM_JSON;
		else if (s && strcmp(s, "ndjson") == 0)
			p->fmt = XFORM_NDJSON;
		else {
			fail(b->errsym, "invalid_query", b->detail, b->dlen,
			     "query.format must be \"csv\", \"json\" or \"ndjson\"");
			return false;
		}
	}
	int64_t qt[2];
	bool has[2] = { false, false };
	static const char *const tn[] = { "from", "to" };
	for (int i = 0; i < 2; i++) {
		const json_t *t = json_object_get(q, tn[i]);
		if (!t)
			continue;
		bool date_only;
		if (!json_is_string(t) || !parse_time(json_string_value(t), &qt[i], &date_only)) {
			fail(b->errsym, "invalid_query", b->detail, b->dlen,
			     "query.%s must be an RFC 3339 date-time", tn[i]);
			return false;
		}
		if (i == 1 && date_only)
			qt[i] += 86400000000LL;
		has[i] = true;
	}
	if (has[0] && has[1] && qt[0] >= qt[1]) {
		fail(b->errsym, "invalid_query", b->detail, b->dlen,
		     "query.from must be earlier than query.to");
		return false;
	}
	if (has[0] && b->from_set && qt[0] < b->a_from) {
		fail(b->errsym, "query_not_permitted", b->detail, b->dlen,
		     "query.from is before the agreement's agora:dataFrom");
		return false;
	}
	if (has[1] && b->to_set && qt[1] > b->a_to) {
		fail(b->errsym, "query_not_permitted", b->detail, b->dlen,
		     "query.to is after the agreement's agora:dataTo");
		return false;
	}
	if (has[0] && b->to_set && qt[0] >= b->a_to) {
		fail(b->errsym, "query_not_permitted", b->detail, b->dlen,
		     "query.from is at or after the agreement's agora:dataTo");
		return false;
	}
	if (has[1] && b->from_set && qt[1] <= b->a_from) {
		fail(b->errsym, "query_not_permitted", b->detail, b->dlen,
		     "query.to is at or before the agreement's agora:dataFrom");
		return false;
	}
	if (has[0]) {
		p->win.has_from = true;
		p->win.from_us = qt[0];
	}
	if (has[1]) {
		p->win.has_to = true;
		p->win.to_us = qt[1];
	}
	const json_t *lim = json_object_get(q, "limit");
	if (lim) {
		if (!json_is_integer(lim) || json_integer_value(lim) < 1) {
			fail(b->errsym, "invalid_query", b->detail, b->dlen,
			     "query.limit must be a positive integer");
			return false;
		}
		uint64_t l = (uint64_t)json_integer_value(lim);
		if (b->max_rows && l > b->max_rows) {
			fail(b->errsym, "query_not_permitted", b->detail, b->dlen,
			     "query.limit %" PRIu64 " is above the agreement's agora:maxRows %" PRIu64, l,
			     b->max_rows);
			return false;
		}
		p->limit = l;
	}
	const json_t *fl = json_object_get(q, "fields");
	if (fl) {
		if (!json_is_array(fl)) {
			fail(b->errsym, "invalid_query", b->detail, b->dlen,
			     "query.fields must be a list of field names");
			return false;
		}
		for (size_t c = 0; c < p->ncols; c++)
			want[c] = false;
		size_t i;
		const json_t *e;
		json_array_foreach(fl, i, e) {
			const char *f = json_string_value(e);
			ssize_t c = f ? col_index(p, f) : -1;
			if (c < 0) {
				if (f)
					fail(b->errsym, "invalid_query", b->detail, b->dlen,
					     "query.fields[%zu]: the dataset has no value field \"%s\"", i, f);
				else
					fail(b->errsym, "invalid_query", b->detail, b->dlen,
					     "query.fields[%zu] must be a field name", i);
				return false;
			}
			const struct col *cl = &p->cols[c];
			if (cl->anon == DROP) {
				fail(b->errsym, "query_not_permitted", b->detail, b->dlen,
				     "query.fields[%zu]: \"%s\" is dropped by the agreement (%s)", i, f,
				     cl->anon_rule);
				return false;
			}
			if (p->agg && (!cl->numeric || cl->anon == HASH || !cl->agg_listed)) {
				fail(b->errsym, "query_not_permitted", b->detail, b->dlen,
				     "query.fields[%zu]: \"%s\" is not among the fields the agreement lets "
				     "out in aggregates", i, f);
				return false;
			}
			want[c] = true;
		}
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* plan                                                                 */

struct xform_plan *
xform_plan_new(const json_t *agreement, const json_t *query, const struct xform_dataset *ds,
	       const uint8_t *key, const char **errsym, char *detail, size_t detail_len)
{
	const struct xform_field *fields = ds->fields;
	size_t nfields = ds->nfields;
	static const char *dummy;
	if (!errsym)
		errsym = &dummy;
	struct xform_plan *p = xcalloc(1, sizeof(*p));
	p->day_cached = INT64_MIN;
	p->cols = xcalloc(nfields ? nfields : 1, sizeof(*p->cols));
	bool *want = xcalloc(nfields ? nfields : 1, sizeof(bool));
	struct build b = { .p = p, .errsym = errsym, .detail = detail, .dlen = detail_len,
			   .time_field = ds->time_field ? ds->time_field : "timestamp",
			   .thing_field = ds->thing_field ? ds->thing_field : "thing" };
	b.agg_in = xcalloc(nfields ? nfields : 1, sizeof(bool));
	bool ok = false;

	for (size_t i = 0; i < nfields; i++) {
		const char *n = fields[i].name;
		if (!n || !*n || strcmp(n, "timestamp") == 0 || strcmp(n, "thing") == 0 ||
		    strcmp(n, b.time_field) == 0 || strcmp(n, b.thing_field) == 0 ||
		    strcmp(n, "bucketStart") == 0 || strcmp(n, "bucket_start") == 0 ||
		    col_index(p, n) >= 0) {
			fail(errsym, "invalid_dataset", detail, detail_len,
			     "value field %zu (\"%s\") is empty, reserved or declared twice", i,
			     n ? n : "");
			p->ncols = i;
			goto out;
		}
		p->cols[i] = (struct col){ .name = xstrdup(n), .name_len = strlen(n),
					   .numeric = fields[i].numeric };
		p->ncols = i + 1;
		want[i] = true;
	}
	p->ncols = nfields;
	if (key) {
		p->has_key = true;
		p->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
		p->mac_ctx = p->mac ? EVP_MAC_CTX_new(p->mac) : NULL;
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
			OSSL_PARAM_construct_end(),
		};
		if (!p->mac_ctx || !EVP_MAC_init(p->mac_ctx, key, 32, params))
			abort();	/* OpenSSL without HMAC-SHA256: a broken build */
		p->cache = xcalloc(CACHE_SLOTS, sizeof(*p->cache));
	}
	if (!read_agreement(&b, agreement))
		goto out;
	for (size_t c = 0; c < p->ncols; c++)
		p->cols[c].agg_listed = !b.agg_list_seen || b.agg_in[c];
	if (b.from_set && b.to_set && b.a_from >= b.a_to) {
		fail(errsym, "invalid_agreement", detail, detail_len,
		     "agora:dataFrom is not earlier than agora:dataTo");
		goto out;
	}
	if (!read_query(&b, query, want))
		goto out;
	/* the effective window: the intersection */
	if (b.from_set && (!p->win.has_from || b.a_from > p->win.from_us)) {
		p->win.has_from = true;
		p->win.from_us = b.a_from;
	}
	if (b.to_set && (!p->win.has_to || b.a_to < p->win.to_us)) {
		p->win.has_to = true;
		p->win.to_us = b.a_to;
	}
	if (b.max_rows && (!p->limit || b.max_rows < p->limit))
		p->limit = b.max_rows;

	p->out = xcalloc(p->ncols ? p->ncols : 1, sizeof(size_t));
	for (size_t c = 0; c < p->ncols; c++) {
		const struct col *cl = &p->cols[c];
		if (!want[c] || cl->anon == DROP)
			continue;
		if (p->agg && (!cl->numeric || cl->anon == HASH || !cl->agg_listed))
			continue;
		p->out[p->nout++] = c;
	}
	p->vals = xcalloc(p->ncols ? p->ncols : 1, sizeof(*p->vals));
	p->ax = xcalloc(p->nout ? p->nout : 1, sizeof(double));
	p->ahas = xcalloc(p->nout ? p->nout : 1, sizeof(bool));
	p->key_hint = xcalloc(p->ncols + 1, sizeof(size_t));
	ok = true;
out:
	free(want);
	free(b.agg_in);
	free(b.where);
	if (!ok) {
		xform_plan_free(p);
		return NULL;
	}
	return p;
}

void
xform_plan_free(struct xform_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->ncols; i++) {
		free(p->cols[i].name);
		free((char *)p->cols[i].anon_rule);
	}
	free(p->cols);
	free(p->out);
	free(p->agreement_id);
	EVP_MAC_CTX_free(p->mac_ctx);
	EVP_MAC_free(p->mac);
	if (p->cache)
		for (size_t i = 0; i < CACHE_SLOTS; i++)
			free(p->cache[i].key);
	free(p->cache);
	free(p->vals);
	free(p->key_hint);
	agora_buf_cleanup(&p->scratch);
	for (size_t i = 0; i < p->nseries; i++) {
		free(p->series[i].thing);
		free(p->series[i].st);
	}
	free(p->series);
	free(p->map);
	free(p->active);
	free(p->ax);
	free(p->ahas);
	free(p);
}

const struct xform_window *
xform_plan_window(const struct xform_plan *p)
{
	return &p->win;
}

uint64_t
xform_plan_limit(const struct xform_plan *p)
{
	return p->limit;
}

uint64_t
xform_plan_sql_limit(const struct xform_plan *p)
{
	return p->agg ? 0 : p->limit;
}

bool
xform_plan_aggregates(const struct xform_plan *p)
{
	return p->agg;
}

int64_t
xform_plan_bucket_us(const struct xform_plan *p)
{
	return p->agg ? p->bucket_us : 0;
}

enum xform_format
xform_plan_format(const struct xform_plan *p)
{
	return p->fmt;
}

const char *
xform_plan_media_type(const struct xform_plan *p)
{
	static const char *const t[] = { "text/csv", "application/json", "application/x-ndjson" };
	return t[p->fmt];
}

uint64_t
xform_rows_out(const struct xform_plan *p)
{
	return p->rows_out;
}

uint64_t
xform_rows_in(const struct xform_plan *p)
{
	return p->rows_in;
}

uint64_t
xform_rows_malformed(const struct xform_plan *p)
{
	return p->malformed;
}

uint64_t
xform_rows_outside(const struct xform_plan *p)
{
	return p->outside;
}

/* ------------------------------------------------------------------ */
/* cells                                                                */

/* RFC 4180: quoted when it has a comma, quote, CR or LF, quotes doubled;
 * also when it starts or ends with a space or tab, which some readers trim
 * from unquoted cells. */
static void
csv_cell(struct agora_buf *out, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && s[i] != ',' && s[i] != '"' && s[i] != '\n' && s[i] != '\r')
		i++;
	if (n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		i = 0;
	if (i == n) {
		put(out, s, n);
		return;
	}
	char *d = reserve(out, 2 * n + 2), *o = d;
	*o++ = '"';
	for (i = 0; i < n; i++) {
		if (s[i] == '"')
			*o++ = '"';
		*o++ = s[i];
	}
	*o++ = '"';
	out->len += (size_t)(o - d);
	out->data[out->len] = '\0';
}

/* A JSON string: " \ and control characters escaped, the rest as is. */
static void
json_str(struct agora_buf *out, const char *s, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	char *d = reserve(out, 6 * n + 2), *o = d;
	*o++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hx[c >> 4];
			o[4] = hx[c & 15];
			o += 5;
		}
	}
	*o++ = '"';
	out->len += (size_t)(o - d);
	out->data[out->len] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
hex4(const char *s, const char *e, unsigned *v)
{
	if (e - s < 4)
		return false;
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return false;
		*v = *v << 4 | (unsigned)h;
	}
	return true;
}

/* Decodes a string span with escapes into p->scratch (from its start);
 * false on a bad escape, a lone surrogate, U+0000 or invalid UTF-8. */
static bool
decode(struct xform_plan *p, const char *s, size_t n)
{
	struct agora_buf *b = &p->scratch;
	b->len = 0;
	char *o = reserve(b, n), *d = o;
	const char *e = s + n;
	while (s < e) {
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		if (e - s < 2)
			return false;
		char c = s[1];
		s += 2;
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '/': *o++ = '/'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'n': *o++ = '\n'; break;
		case 'r': *o++ = '\r'; break;
		case 't': *o++ = '\t'; break;
		case 'u': {
			unsigned cp, lo;
			if (!hex4(s, e, &cp))
				return false;
			s += 4;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return false;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (e - s < 6 || s[0] != '\\' || s[1] != 'u' || !hex4(s + 2, e, &lo) ||
				    lo < 0xdc00 || lo > 0xdfff)
					return false;
				s += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (cp == 0)
				return false;
			if (cp < 0x80) {
				*o++ = (char)cp;
			} else if (cp < 0x800) {
				*o++ = (char)(0xc0 | cp >> 6);
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				*o++ = (char)(0xe0 | cp >> 12);
				*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else {
				*o++ = (char)(0xf0 | cp >> 18);
				*o++ = (char)(0x80 | (cp >> 12 & 0x3f));
				*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			}
			break;
		}
		default:
			return false;
		}
	}
	b->len = (size_t)(o - d);
	return utf8_ok(d, b->len);
}

/* The text of a value: strings decoded, numbers and booleans as written.
 * false when the string does not decode. */
static bool
value_text(struct xform_plan *p, const struct span *v, const char **s, size_t *n)
{
	if (v->type == V_STR && v->esc) {
		if (!decode(p, v->p, v->n))
			return false;
		*s = p->scratch.data;
		*n = p->scratch.len;
		return true;
	}
	if (v->type == V_STR && !utf8_ok(v->p, v->n))
		return false;
	*s = v->p;
	*n = v->n;
	return true;
}

/* ------------------------------------------------------------------ */
/* scanning vals                                                        */

static inline const char *
skip_ws(const char *s, const char *e)
{
	while (s < e && (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r'))
		s++;
	return s;
}

/* s at the opening quote; returns past the closing one, NULL when
 * unterminated or holding a raw control character. */
static const char *
scan_string(const char *s, const char *e, bool *esc)
{
	*esc = false;
	for (s++; s < e; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"')
			return s + 1;
		if (c == '\\') {
			*esc = true;
			if (e - s < 2)
				return NULL;
			s++;
		} else if (c < 0x20) {
			return NULL;
		}
	}
	return NULL;
}

static const char *
scan_number(const char *s, const char *e)
{
#define DIGIT(q) ((q) < e && *(q) >= '0' && *(q) <= '9')
	if (s < e && *s == '-')
		s++;
	if (s < e && *s == '0')
		s++;
	else if (DIGIT(s))
		while (DIGIT(s))
			s++;
	else
		return NULL;
	if (s < e && *s == '.') {
		s++;
		if (!DIGIT(s))
			return NULL;
		while (DIGIT(s))
			s++;
	}
	if (s < e && (*s == 'e' || *s == 'E')) {
		s++;
		if (s < e && (*s == '+' || *s == '-'))
			s++;
		if (!DIGIT(s))
			return NULL;
		while (DIGIT(s))
			s++;
	}
	return s;
#undef DIGIT
}

/* False when the JSON number text s (n bytes) overflows a double.  Without
 * an exponent, 308 characters stay below 1e308: no strtod needed. */
static bool
num_in_range(const char *s, size_t n)
{
	if (n <= 308 && !memchr(s, 'e', n) && !memchr(s, 'E', n))
		return true;
	char *t = xstrndup(s, n);
	double d = strtod(t, NULL);
	free(t);
	return isfinite(d);
}

static ssize_t
find_col(struct xform_plan *p, size_t k, const char *key, size_t n)
{
	if (k < p->nhint) {
		size_t c = p->key_hint[k];
		if (c < p->ncols && p->cols[c].name_len == n && memcmp(p->cols[c].name, key, n) == 0)
			return (ssize_t)c;
	}
	for (size_t c = 0; c < p->ncols; c++)
		if (p->cols[c].name_len == n && memcmp(p->cols[c].name, key, n) == 0) {
			if (k <= p->ncols) {
				p->key_hint[k] = c;
				if (k >= p->nhint)
					p->nhint = k + 1;
			}
			return (ssize_t)c;
		}
	return -1;
}

/* Scans a flat JSON object into p->vals; false when it is not one. */
static bool
scan_vals(struct xform_plan *p, const char *s, size_t len)
{
	const char *e = s + len;
	uint32_t gen = ++p->gen;
	if (gen == 0) {	/* wrapped: forget every span */
		for (size_t c = 0; c < p->ncols; c++)
			p->vals[c].gen = 0;
		gen = p->gen = 1;
	}
	s = skip_ws(s, e);
	if (s >= e || *s++ != '{')
		return false;
	s = skip_ws(s, e);
	if (s < e && *s == '}')
		return skip_ws(s + 1, e) == e;
	for (size_t k = 0;; k++) {
		if (s >= e || *s != '"')
			return false;
		bool esc;
		const char *ke = scan_string(s, e, &esc);
		if (!ke)
			return false;
		const char *key = s + 1;
		size_t kn = (size_t)(ke - s - 2);
		char kbuf[256];
		if (esc) {
			if (!decode(p, key, kn) || p->scratch.len > sizeof(kbuf))
				return false;
			memcpy(kbuf, p->scratch.data, p->scratch.len);
			key = kbuf;
			kn = p->scratch.len;
		}
		ssize_t c = find_col(p, k, key, kn);
		s = skip_ws(ke, e);
		if (s >= e || *s++ != ':')
			return false;
		s = skip_ws(s, e);
		if (s >= e)
			return false;
		struct span v = { .p = s, .gen = gen };
		switch (*s) {
		case '"':
			v.type = V_STR;
			s = scan_string(s, e, &v.esc);
			if (!s)
				return false;
			v.p++;
			v.n = (size_t)(s - v.p - 1);
			break;
		case 't':
			if (e - s < 4 || memcmp(s, "true", 4))
				return false;
			v.type = V_TRUE;
			v.n = 4;
			s += 4;
			break;
		case 'f':
			if (e - s < 5 || memcmp(s, "false", 5))
				return false;
			v.type = V_FALSE;
			v.n = 5;
			s += 5;
			break;
		case 'n':
			if (e - s < 4 || memcmp(s, "null", 4))
				return false;
			v.type = V_NULL;
			v.n = 4;
			s += 4;
			break;
		default:
			v.type = V_NUM;
			s = scan_number(s, e);
			if (!s)
				return false;
			v.n = (size_t)(s - v.p);
			/* A value of ours beyond a double's range (1e400) is
			 * malformed, as aggregation and ingest already treat it:
			 * passed through, it would be JSON that strict readers
			 * (Jansson) refuse. */
			if (c >= 0 && !num_in_range(v.p, v.n))
				return false;
		}
		if (c >= 0) {
			if (p->vals[c].gen == gen)
				return false;	/* a key twice */
			p->vals[c] = v;
		}
		s = skip_ws(s, e);
		if (s < e && *s == ',') {
			s = skip_ws(s + 1, e);
			continue;
		}
		if (s < e && *s == '}')
			return skip_ws(s + 1, e) == e;
		return false;
	}
}

static inline const struct span *
val(const struct xform_plan *p, size_t c)
{
	static const struct span null_span = { .type = V_NULL };
	return p->vals[c].gen == p->gen ? &p->vals[c] : &null_span;
}

/* ------------------------------------------------------------------ */
/* output                                                               */

void
xform_begin(struct xform_plan *p, struct agora_buf *out)
{
	put(out, "", 0);	/* data is never NULL, even when nothing is written */
	if (p->fmt == XFORM_JSON) {
		putc1(out, '[');
		return;
	}
	if (p->fmt != XFORM_CSV)
		return;
	if (p->agg) {
		PUTS(out, "bucket_start");
	} else {
		PUTS(out, "timestamp");
	}
	if (p->thing_anon != DROP)
		PUTS(out, ",thing");
	for (size_t i = 0; i < p->nout; i++) {
		const struct col *c = &p->cols[p->out[i]];
		if (!p->agg) {
			putc1(out, ',');
			csv_cell(out, c->name, c->name_len);
			continue;
		}
		static const char *const sfx[] = { "_count", "_min", "_max", "_mean" };
		for (int k = 0; k < 4; k++) {
			char *name = xasprintf("%s%s", c->name, sfx[k]);
			putc1(out, ',');
			csv_cell(out, name, strlen(name));
			free(name);
		}
	}
	PUTS(out, "\r\n");
}

static void
row_open(struct xform_plan *p, struct agora_buf *out)
{
	if (p->fmt == XFORM_JSON && p->rows_out > 0)
		PUTS(out, ",\n{");
	else if (p->fmt == XFORM_JSON)
		PUTS(out, "\n{");
	else if (p->fmt == XFORM_NDJSON)
		putc1(out, '{');
}

static void
row_close(struct xform_plan *p, struct agora_buf *out)
{
	if (p->fmt == XFORM_CSV)
		PUTS(out, "\r\n");
	else if (p->fmt == XFORM_JSON)
		putc1(out, '}');
	else
		PUTS(out, "}\n");
	p->rows_out++;
}

/* ,"name": — a member after the first. */
static void
member(struct agora_buf *out, const char *name, size_t n)
{
	putc1(out, ',');
	json_str(out, name, n);
	putc1(out, ':');
}

/* Writes one raw row; false (and out as it was) when a value is bad. */
static bool
emit_row(struct xform_plan *p, int64_t ts, const char *thing, size_t thing_len,
	 struct agora_buf *out)
{
	size_t mark = out->len;
	bool csv = p->fmt == XFORM_CSV;
	row_open(p, out);
	if (!csv)
		PUTS(out, "\"timestamp\":\"");
	if (!format_time(p, ts, out))
		goto bad;
	if (!csv)
		putc1(out, '"');
	if (thing) {
		if (csv) {
			putc1(out, ',');
			csv_cell(out, thing, thing_len);
		} else {
			PUTS(out, ",\"thing\":");
			json_str(out, thing, thing_len);
		}
	}
	for (size_t i = 0; i < p->nout; i++) {
		const struct col *c = &p->cols[p->out[i]];
		const struct span *v = val(p, p->out[i]);
		if (csv)
			putc1(out, ',');
		else
			member(out, c->name, c->name_len);
		if (v->type == V_NULL) {
			if (!csv)
				PUTS(out, "null");
			continue;
		}
		if (c->anon == HASH) {
			const char *s;
			size_t n;
			if (!value_text(p, v, &s, &n))
				goto bad;
			const char *ps = pseudonym(p, s, n);
			if (!csv)
				putc1(out, '"');
			put(out, ps, XFORM_PSEUDONYM_LEN);
			if (!csv)
				putc1(out, '"');
			continue;
		}
		if (v->type != V_STR) {
			put(out, v->p, v->n);
			continue;
		}
		if (!csv && !v->esc) {
			if (!utf8_ok(v->p, v->n))
				goto bad;
			putc1(out, '"');
			put(out, v->p, v->n);
			putc1(out, '"');
			continue;
		}
		const char *s;
		size_t n;
		if (!value_text(p, v, &s, &n))
			goto bad;
		if (csv)
			csv_cell(out, s, n);
		else
			json_str(out, s, n);
	}
	row_close(p, out);
	return true;
bad:
	out->len = mark;
	if (out->data)
		out->data[mark] = '\0';
	return false;
}

/* Shortest text that reads back as the same double. */
static void
put_double(struct agora_buf *out, double d)
{
	char buf[40];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	put(out, buf, strlen(buf));
}

static void
put_u64(struct agora_buf *out, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%" PRIu64, v);
	put(out, buf, (size_t)n);
}

static void
emit_bucket(struct xform_plan *p, const struct series *se, struct agora_buf *out)
{
	bool csv = p->fmt == XFORM_CSV;
	row_open(p, out);
	if (!csv)
		PUTS(out, "\"bucketStart\":\"");
	format_time(p, p->bucket, out);	/* checked when the row came in */
	if (!csv)
		putc1(out, '"');
	if (p->thing_anon != DROP) {
		if (csv) {
			putc1(out, ',');
			csv_cell(out, se->thing, se->thing_len);
		} else {
			PUTS(out, ",\"thing\":");
			json_str(out, se->thing, se->thing_len);
		}
	}
	for (size_t i = 0; i < p->nout; i++) {
		const struct col *c = &p->cols[p->out[i]];
		const struct stat *st = &se->st[i];
		if (csv) {
			putc1(out, ',');
			put_u64(out, st->count);
			if (st->count) {
				putc1(out, ',');
				put_double(out, st->min);
				putc1(out, ',');
				put_double(out, st->max);
				putc1(out, ',');
				put_double(out, (double)(st->sum / st->count));
			} else {
				PUTS(out, ",,,");
			}
			continue;
		}
		member(out, c->name, c->name_len);
		PUTS(out, "{\"count\":");
		put_u64(out, st->count);
		if (st->count) {
			PUTS(out, ",\"min\":");
			put_double(out, st->min);
			PUTS(out, ",\"max\":");
			put_double(out, st->max);
			PUTS(out, ",\"mean\":");
			put_double(out, (double)(st->sum / st->count));
			putc1(out, '}');
		} else {
			PUTS(out, ",\"min\":null,\"max\":null,\"mean\":null}");
		}
	}
	row_close(p, out);
}

static int
series_cmp(const void *a, const void *b, void *ctx)
{
	const struct series *s = ctx;
	const struct series *x = &s[*(const size_t *)a], *y = &s[*(const size_t *)b];
	size_t n = x->thing_len < y->thing_len ? x->thing_len : y->thing_len;
	int r = memcmp(x->thing, y->thing, n);
	if (r)
		return r;
	return x->thing_len < y->thing_len ? -1 : x->thing_len > y->thing_len;
}

/* Writes the current bucket's series in thing order (as bytes: for hashed
 * things that is pseudonym order, which says nothing about the things) and
 * clears them.  Stops at the limit. */
static void
flush_bucket(struct xform_plan *p, struct agora_buf *out)
{
	if (p->thing_anon != DROP)
		qsort_r(p->active, p->nactive, sizeof(size_t), series_cmp, p->series);
	for (size_t i = 0; i < p->nactive; i++) {
		struct series *se = &p->series[p->active[i]];
		if (!p->done)
			emit_bucket(p, se, out);
		if (p->limit && p->rows_out >= p->limit)
			p->done = true;
		se->active = false;
		memset(se->st, 0, p->nout * sizeof(*se->st));
	}
	p->nactive = 0;
}

static struct series *
series_for(struct xform_plan *p, const char *thing, size_t n)
{
	uint64_t h = thing ? fnv1a(thing, n) : 0;
	if (p->map_cap) {
		for (size_t i = h & (p->map_cap - 1);; i = (i + 1) & (p->map_cap - 1)) {
			size_t e = p->map[i];
			if (!e)
				break;
			struct series *se = &p->series[e - 1];
			if (se->hash == h && se->thing_len == n &&
			    (!thing || memcmp(se->thing, thing, n) == 0))
				return se;
		}
	}
	if (p->nseries == p->series_cap) {
		p->series_cap = p->series_cap ? 2 * p->series_cap : 16;
		p->series = xrealloc(p->series, p->series_cap * sizeof(*p->series));
		p->active = xrealloc(p->active, p->series_cap * sizeof(size_t));
	}
	if (2 * (p->nseries + 1) > p->map_cap) {
		size_t cap = p->map_cap ? 2 * p->map_cap : 64;
		free(p->map);
		p->map = xcalloc(cap, sizeof(size_t));
		p->map_cap = cap;
		for (size_t s = 0; s < p->nseries; s++) {
			size_t i = p->series[s].hash & (cap - 1);
			while (p->map[i])
				i = (i + 1) & (cap - 1);
			p->map[i] = s + 1;
		}
	}
	struct series *se = &p->series[p->nseries];
	*se = (struct series){ .thing = thing ? xstrndup(thing, n) : NULL, .thing_len = n, .hash = h,
			       .st = xcalloc(p->nout ? p->nout : 1, sizeof(struct stat)) };
	size_t i = h & (p->map_cap - 1);
	while (p->map[i])
		i = (i + 1) & (p->map_cap - 1);
	p->map[i] = ++p->nseries;
	return se;
}

/* Adds the row to its bucket; false when a value is bad. */
static bool
add_row(struct xform_plan *p, const char *thing, size_t n)
{
	/* check every value before touching the aggregates */
	double *x = p->ax;
	bool *has = p->ahas;
	for (size_t i = 0; i < p->nout; i++) {
		const struct span *v = val(p, p->out[i]);
		has[i] = v->type == V_NUM;
		if (!has[i])
			continue;
		char buf[64];
		if (v->n < sizeof(buf)) {
			memcpy(buf, v->p, v->n);
			buf[v->n] = '\0';
			x[i] = strtod(buf, NULL);
		} else {
			char *t = xstrndup(v->p, v->n);
			x[i] = strtod(t, NULL);
			free(t);
		}
		if (!isfinite(x[i]))
			return false;
	}
	struct series *se = series_for(p, thing, n);
	if (!se->active) {
		se->active = true;
		p->active[p->nactive++] = (size_t)(se - p->series);
	}
	for (size_t i = 0; i < p->nout; i++) {
		if (!has[i])
			continue;
		struct stat *st = &se->st[i];
		if (!st->count || x[i] < st->min)
			st->min = x[i];
		if (!st->count || x[i] > st->max)
			st->max = x[i];
		st->sum += x[i];
		st->count++;
	}
	return true;
}

int
xform_row(struct xform_plan *p, int64_t ts, const char *thing, const char *vals, size_t vals_len,
	  struct agora_buf *out)
{
	if (p->done)
		return 0;
	if ((p->win.has_from && ts < p->win.from_us) || (p->win.has_to && ts >= p->win.to_us)) {
		p->outside++;
		return 1;
	}
	if (!thing)
		thing = "";
	size_t tn = strlen(thing);
	if (!utf8_ok(thing, tn) || !scan_vals(p, vals ? vals : "", vals ? vals_len : 0))
		goto bad;
	const char *t = thing;
	char tb[XFORM_PSEUDONYM_LEN];
	if (p->thing_anon == DROP) {
		t = NULL;
		tn = 0;
	} else if (p->thing_anon == HASH) {
		/* copied: hashing a value may reuse the cache slot */
		memcpy(tb, pseudonym(p, thing, tn), XFORM_PSEUDONYM_LEN);
		t = tb;
		tn = XFORM_PSEUDONYM_LEN;
	}
	if (!p->agg) {
		if (!emit_row(p, ts, t, tn, out))
			goto bad;
		p->rows_in++;
		if (p->limit && p->rows_out >= p->limit)
			p->done = true;
		return p->done ? 0 : 1;
	}
	/* years past 9999 cannot be written: refuse them here, not at flush */
	if (ts < -62135596800000000LL || ts > 253402300799999999LL)
		goto bad;
	int64_t bucket = floor_div(ts, p->bucket_us) * p->bucket_us;
	if (p->have_bucket && bucket < p->bucket)
		goto bad;	/* out of order: that bucket has been sent */
	if (p->have_bucket && bucket > p->bucket) {
		flush_bucket(p, out);
		if (p->done)
			return 0;
	}
	p->bucket = bucket;
	p->have_bucket = true;
	if (!add_row(p, t, tn))
		goto bad;
	p->rows_in++;
	return 1;
bad:
	p->malformed++;
	return -1;
}

void
xform_end(struct xform_plan *p, struct agora_buf *out)
{
	put(out, "", 0);	/* data is never NULL, even when nothing is written */
	if (p->agg && p->nactive)
		flush_bucket(p, out);
	if (p->fmt == XFORM_JSON)
		agora_buf_puts(out, p->rows_out ? "\n]\n" : "]\n");
}
