/* quality.c — see quality.h. */
#include "quality.h"

#include <math.h>
#include <string.h>

#include "util.h"

static double
round4(double x)
{
	return round(x * 10000.0) / 10000.0;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Adds the member and, unless it is null, its measurement; steals v. */
static void
measure(json_t *obj, json_t *list, const char *key, json_t *v)
{
	if (!json_is_null(v)) {
		char metric[64] = "agora:";
		strncat(metric, key, sizeof metric - strlen(metric) - 1);
		json_array_append_new(list, json_pack("{s:s, s:s, s:O}", "@type", "QualityMeasurement",
						      "isMeasurementOf", metric, "value", v));
	}
	json_object_set_new(obj, key, v);
}

json_t *
agora_quality_compute(const struct agora_quality_input *in)
{
	json_t *obj = json_object();
	json_t *list = json_array();
	int64_t r = in->records > 0 ? in->records : 0;

	double completeness = 0;
	json_t *expected = json_null();
	if (r > 0) {
		double ratio = 1;
		if (in->field_count > 0) {
			double n = 0;
			for (size_t i = 0; i < in->field_count; i++)
				n += (double)in->nonnull[i];
			ratio = n / ((double)r * (double)in->field_count);
		}
		double coverage = 1;
		if (in->period_s > 0) {
			int64_t span = in->newest_ms - in->oldest_ms;
			int64_t slots = (span > 0 ? span / (in->period_s * 1000) : 0) + 1;
			int64_t things = in->things > 0 ? in->things : 1;
			int64_t exp_n = things > INT64_MAX / slots ? INT64_MAX : things * slots;
			double got = (double)(r - in->duplicates);
			coverage = fmin(1.0, got / (double)exp_n);
			expected = json_integer(exp_n);
		}
		completeness = ratio * coverage;
	}

	measure(obj, list, "recordCount", json_integer(r));
	measure(obj, list, "completeness", json_real(round4(completeness)));
	json_object_set_new(obj, "expectedRecords", expected);
	json_t *fresh = json_null();
	if (r > 0) {
		int64_t age = in->now - floor_div(in->newest_ms, 1000);
		fresh = json_integer(age > 0 ? age : 0);
	}
	measure(obj, list, "freshnessSeconds", fresh);
	measure(obj, list, "plausibility",
		in->checked > 0 ? json_real(round4(1.0 - (double)in->implausible / (double)in->checked))
				: json_null());
	measure(obj, list, "duplicateRate",
		json_real(r > 0 ? round4((double)in->duplicates / (double)r) : 0.0));
	int64_t seen = r + (in->rejected > 0 ? in->rejected : 0);
	measure(obj, list, "schemaConformance",
		json_real(seen > 0 ? round4((double)r / (double)seen) : 1.0));
	json_object_set_new(obj, "measurements", list);
	return obj;
}

json_t *
agora_quality_for_file(int64_t byte_size, int64_t modified_unix, int64_t now)
{
	json_t *obj = json_object();
	json_t *list = json_array();
	int64_t age = now - modified_unix;
	measure(obj, list, "recordCount", json_null());
	measure(obj, list, "completeness", json_null());
	json_object_set_new(obj, "expectedRecords", json_null());
	measure(obj, list, "freshnessSeconds", json_integer(age > 0 ? age : 0));
	measure(obj, list, "plausibility", json_null());
	measure(obj, list, "duplicateRate", json_null());
	measure(obj, list, "schemaConformance", json_null());
	measure(obj, list, "byteSize", json_integer(byte_size));
	json_object_set_new(obj, "measurements", list);
	return obj;
}

/* Reads digits at *p into *n; false when there are none or too many. */
static bool
number(const char **p, int64_t *n)
{
	const char *s = *p;
	int64_t v = 0;
	int digits = 0;
	while (*s >= '0' && *s <= '9') {
		if (++digits > 18)
			return false;
		v = v * 10 + (*s++ - '0');
	}
	*p = s;
	*n = v;
	return digits > 0;
}

bool
agora_iso8601_duration_seconds(const char *s, int64_t *out)
{
	static const struct {
		char unit;
		bool time;
		int64_t seconds;
	} parts[] = {
		{ 'Y', false, 365 * 86400 }, { 'M', false, 30 * 86400 }, { 'D', false, 86400 },
		{ 'H', true, 3600 },	     { 'M', true, 60 },		 { 'S', true, 1 },
	};
	if (!s || *s++ != 'P' || !*s)
		return false;
	int64_t n, total = 0;
	const char *p = s;
	if (number(&p, &n) && p[0] == 'W' && p[1] == '\0') {
		if (__builtin_mul_overflow(n, (int64_t)7 * 86400, &total))
			return false;
		*out = total;
		return true;
	}
	size_t next = 0;
	bool in_time = false, any = false, time_any = false;
	while (*s) {
		if (*s == 'T') {
			if (in_time)
				return false;
			in_time = true;
			s++;
			continue;
		}
		if (!number(&s, &n))
			return false;
		size_t i = next;
		while (i < ARRAY_LEN(parts) && (parts[i].time != in_time || parts[i].unit != *s))
			i++;
		if (i == ARRAY_LEN(parts))
			return false;
		int64_t add;
		if (__builtin_mul_overflow(n, parts[i].seconds, &add) ||
		    __builtin_add_overflow(total, add, &total))
			return false;
		next = i + 1;
		any = true;
		time_any |= in_time;
		s++;
	}
	if (!any || (in_time && !time_any))
		return false;
	*out = total;
	return true;
}
