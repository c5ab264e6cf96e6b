/* Allocation, string buffers, problem lists, ISO 8601 times and durations. */
#include "pol_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ allocation */

static void pol_oom(void)
{
	fputs("agora-policy: out of memory\n", stderr);
	abort();
}

void *pol_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		pol_oom();
	return p;
}

void *pol_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		pol_oom();
	return p;
}

void *pol_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		pol_oom();
	return q;
}

char *pol_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = pol_xmalloc(n);
	memcpy(d, s, n);
	return d;
}

/* --------------------------------------------------------------- buffers */

static void buf_reserve(struct pol_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->s = pol_xrealloc(b->s, cap);
	b->cap = cap;
}

void pol_buf_add(struct pol_buf *b, const char *s)
{
	size_t n = strlen(s);
	buf_reserve(b, n);
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

void pol_buf_addf(struct pol_buf *b, const char *fmt, ...)
{
	va_list ap;
	char probe[1];
	va_start(ap, fmt);
	int n = vsnprintf(probe, sizeof(probe), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	buf_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *pol_buf_steal(struct pol_buf *b)
{
	char *s = b->s ? b->s : pol_xstrdup("");
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

/* -------------------------------------------------------------- problems */

struct pol_problem {
	char *path, *code, *message;
};

struct agora_policy_problems {
	struct pol_problem *v;
	size_t n, cap;
};

/* Past this many problems further ones are dropped: a hostile policy cannot
 * make the list grow without bound. */
#define POL_MAX_PROBLEMS 100

struct agora_policy_problems *agora_policy_problems_new(void)
{
	return pol_xcalloc(1, sizeof(struct agora_policy_problems));
}

void agora_policy_problems_free(struct agora_policy_problems *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->v[i].path);
		free(p->v[i].code);
		free(p->v[i].message);
	}
	free(p->v);
	free(p);
}

size_t agora_policy_problems_count(const struct agora_policy_problems *p)
{
	return p ? p->n : 0;
}

const char *agora_policy_problem_code(const struct agora_policy_problems *p, size_t i)
{
	return p && i < p->n ? p->v[i].code : NULL;
}

const char *agora_policy_problem_path(const struct agora_policy_problems *p, size_t i)
{
	return p && i < p->n ? p->v[i].path : NULL;
}

const char *agora_policy_problem_message(const struct agora_policy_problems *p, size_t i)
{
	return p && i < p->n ? p->v[i].message : NULL;
}

json_t *agora_policy_problems_to_json(const struct agora_policy_problems *p)
{
	json_t *a = json_array();
	for (size_t i = 0; p && i < p->n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "path", p->v[i].path, "code",
		                                   p->v[i].code, "message", p->v[i].message));
	return a;
}

void pol_problem(struct agora_policy_problems *p, const char *path, const char *code,
                 const char *fmt, ...)
{
	if (!p || !fmt || p->n >= POL_MAX_PROBLEMS)
		return;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = pol_xrealloc(p->v, p->cap * sizeof(*p->v));
	}
	struct pol_buf b = { 0 };
	va_list ap;
	char probe[1];
	va_start(ap, fmt);
	int n = vsnprintf(probe, sizeof(probe), fmt, ap);
	va_end(ap);
	b.s = pol_xmalloc((size_t)(n > 0 ? n : 0) + 1);
	va_start(ap, fmt);
	vsnprintf(b.s, (size_t)(n > 0 ? n : 0) + 1, fmt, ap);
	va_end(ap);
	p->v[p->n].path = pol_xstrdup(path && *path ? path : "$");
	p->v[p->n].code = pol_xstrdup(code);
	p->v[p->n].message = b.s;
	p->n++;
}

/* ----------------------------------------------------------------- times */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp + (mp < 10 ? 3 : -9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int64_t m)
{
	static const int dm[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* Reads exactly N digits. */
static int digits(const char **s, int n, int64_t *out)
{
	int64_t v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*s)[i]))
			return -1;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

int pol_parse_time(const char *s, int64_t *lo, int64_t *hi)
{
	int64_t y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
	if (!s || digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
	    digits(&s, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || y < 1)
		return -1;
	int64_t day0 = days_from_civil(y, mo, d) * 86400000;
	if (*s == '\0') {
		*lo = day0;
		*hi = day0 + 86400000;
		return 0;
	}
	if (*s != 'T' && *s != 't' && *s != ' ')
		return -1;
	s++;
	if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi))
		return -1;
	if (*s == ':') {
		s++;
		if (digits(&s, 2, &sec))
			return -1;
		if (*s == '.' || *s == ',') {
			s++;
			int nd = 0;
			int64_t scale = 100;
			if (!isdigit((unsigned char)*s))
				return -1;
			while (isdigit((unsigned char)*s)) {
				if (nd++ < 3) {
					ms += (*s - '0') * scale;
					scale /= 10;
				}
				s++;
				if (nd > 12)
					return -1;
			}
		}
	}
	if (h > 24 || mi > 59 || sec > 60 || (h == 24 && (mi || sec || ms)))
		return -1;
	if (sec == 60)
		sec = 59; /* leap second: clamp */
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s == '-' ? -1 : 1;
		int64_t oh, om;
		s++;
		if (digits(&s, 2, &oh))
			return -1;
		if (*s == ':')
			s++;
		if (digits(&s, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600 + om * 60) * 1000;
	}
	if (*s != '\0')
		return -1;
	*lo = day0 + ((h * 60 + mi) * 60 + sec) * 1000 + ms - off;
	*hi = *lo + 1;
	return 0;
}

int pol_parse_duration(const char *s, struct pol_dur *d)
{
	memset(d, 0, sizeof(*d));
	if (!s || *s++ != 'P' || *s == '\0')
		return -1;
	bool in_time = false, any = false;
	char last = 0;
	static const char date_order[] = "YMWD", time_order[] = "HMS";
	const char *order = date_order;
	while (*s) {
		if (*s == 'T') {
			if (in_time)
				return -1;
			in_time = true;
			order = time_order;
			last = 0;
			s++;
			if (*s == '\0')
				return -1;
			continue;
		}
		if (!isdigit((unsigned char)*s))
			return -1;
		int64_t v = 0;
		int nd = 0;
		while (isdigit((unsigned char)*s)) {
			v = v * 10 + (*s++ - '0');
			if (++nd > 9)
				return -1; /* 10^9 of anything is not a usage duration */
		}
		int64_t frac_ms = 0;
		if (*s == '.' || *s == ',') {
			/* only seconds may carry a fraction */
			s++;
			int64_t scale = 100;
			if (!isdigit((unsigned char)*s))
				return -1;
			while (isdigit((unsigned char)*s)) {
				frac_ms += (*s - '0') * scale;
				scale /= 10;
				s++;
			}
			if (!in_time || *s != 'S')
				return -1;
		}
		char u = *s++;
		const char *pos = strchr(order, u);
		if (!u || !pos)
			return -1;
		if (last && strchr(order, last) >= pos)
			return -1; /* out of order or repeated */
		last = u;
		any = true;
		if (!in_time) {
			if (u == 'Y')
				d->years = v;
			else if (u == 'M')
				d->months = v;
			else if (u == 'W')
				d->days += v * 7;
			else
				d->days += v;
		} else {
			if (u == 'H')
				d->ms += v * 3600000;
			else if (u == 'M')
				d->ms += v * 60000;
			else
				d->ms += v * 1000 + frac_ms;
		}
	}
	return any ? 0 : -1;
}

int64_t pol_time_add(int64_t t, const struct pol_dur *d)
{
	if (d->years || d->months) {
		int64_t day = t >= 0 ? t / 86400000 : -((-t + 86399999) / 86400000);
		int64_t rem = t - day * 86400000;
		int64_t y, m, dd;
		civil_from_days(day, &y, &m, &dd);
		int64_t mm = (m - 1) + d->months + 12 * d->years;
		y += mm / 12;
		m = mm % 12 + 1;
		int dim = days_in_month(y, m);
		if (dd > dim)
			dd = dim;
		t = days_from_civil(y, m, dd) * 86400000 + rem;
	}
	return t + d->days * 86400000 + d->ms;
}

int64_t pol_dur_nominal_ms(const struct pol_dur *d)
{
	return ((d->years * 365 + d->months * 30 + d->days) * 86400000) + d->ms;
}

void pol_format_date(int64_t ms, char *out, size_t n)
{
	static const char *mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int64_t day = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
	int64_t rem = ms - day * 86400000;
	int64_t y, m, d;
	civil_from_days(day, &y, &m, &d);
	if (rem == 0)
		snprintf(out, n, "%d %s %d", (int)d, mon[m - 1], (int)y);
	else
		snprintf(out, n, "%d %s %d %02d:%02d UTC", (int)d, mon[m - 1], (int)y,
		         (int)(rem / 3600000), (int)(rem / 60000 % 60));
}

static void dur_part(struct pol_buf *b, int64_t v, const char *unit)
{
	if (!v)
		return;
	pol_buf_addf(b, "%s%lld %s%s", b->len ? " " : "", (long long)v, unit, v == 1 ? "" : "s");
}

void pol_format_duration(const struct pol_dur *d, char *out, size_t n)
{
	struct pol_buf b = { 0 };
	dur_part(&b, d->years, "year");
	dur_part(&b, d->months, "month");
	dur_part(&b, d->days, "day");
	int64_t ms = d->ms;
	dur_part(&b, ms / 3600000, "hour");
	dur_part(&b, ms / 60000 % 60, "minute");
	dur_part(&b, ms / 1000 % 60, "second");
	if (!b.len)
		pol_buf_add(&b, "0 seconds");
	snprintf(out, n, "%s", b.s);
	free(b.s);
}
