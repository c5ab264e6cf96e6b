/* The request context in its JSON form (CLI, tests, the broker's usage API). */
#include "pol_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POL_REQ_MAX_VALUES 256

/* The public struct first, so a struct agora_policy_request * from this
 * file can be converted back; the rest owns the storage. */
struct req_owned {
	struct agora_policy_request r;
	void **allocs;
	size_t n_allocs, cap_allocs;
};

static void *own(struct req_owned *o, void *p)
{
	if (o->n_allocs == o->cap_allocs) {
		o->cap_allocs = o->cap_allocs ? o->cap_allocs * 2 : 16;
		o->allocs = pol_xrealloc(o->allocs, o->cap_allocs * sizeof(void *));
	}
	o->allocs[o->n_allocs++] = p;
	return p;
}

static const char *own_str(struct req_owned *o, const char *s)
{
	return own(o, pol_xstrdup(s));
}

void agora_policy_request_free(struct agora_policy_request *r)
{
	if (!r)
		return;
	struct req_owned *o = (struct req_owned *)r;
	for (size_t i = 0; i < o->n_allocs; i++)
		free(o->allocs[i]);
	free(o->allocs);
	free(o);
}

/* A scalar as a string: strings, numbers and booleans. */
static const char *scalar(struct req_owned *o, const json_t *v)
{
	char tmp[64];
	if (json_is_string(v))
		return own_str(o, json_string_value(v));
	if (json_is_object(v) && json_is_string(json_object_get(v, "@id")))
		return own_str(o, json_string_value(json_object_get(v, "@id")));
	if (json_is_integer(v)) {
		snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
		return own_str(o, tmp);
	}
	if (json_is_real(v)) {
		snprintf(tmp, sizeof(tmp), "%.17g", json_real_value(v));
		return own_str(o, tmp);
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	return NULL;
}

/* A string or list of strings → a set; false when of the wrong type. */
static bool strset(struct req_owned *o, const json_t *v, struct agora_policy_strs *out)
{
	if (!v || json_is_null(v))
		return true;
	size_t n = json_is_array(v) ? json_array_size(v) : 1;
	if (n > POL_REQ_MAX_VALUES)
		return false;
	const char **a = own(o, pol_xcalloc(n, sizeof(char *)));
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
		if (!(a[i] = scalar(o, e)))
			return false;
	}
	out->v = a;
	out->n = n;
	return true;
}

static bool str1(struct req_owned *o, const json_t *j, const char *key, const char **out,
                 struct agora_policy_problems *pr)
{
	const json_t *v = json_object_get(j, key);
	if (!v || json_is_null(v))
		return true;
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	if (!s && json_is_object(v) && json_is_string(json_object_get(v, "@id")))
		s = json_string_value(json_object_get(v, "@id"));
	if (!s) {
		pol_problem(pr, key, "wrong_type", "%s must be a string", key);
		return false;
	}
	*out = own_str(o, s);
	return true;
}

static bool time1(const json_t *j, const char *key, int64_t *out, bool *has,
                  struct agora_policy_problems *pr)
{
	const json_t *v = json_object_get(j, key);
	int64_t hi;
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || pol_parse_time(json_string_value(v), out, &hi)) {
		pol_problem(pr, key, "bad_datetime", "%s must be an ISO 8601 date-time", key);
		return false;
	}
	*has = true;
	return true;
}

static bool num1(const json_t *j, const char *key, double *out, bool *has,
                 struct agora_policy_problems *pr)
{
	const json_t *v = json_object_get(j, key);
	if (!v || json_is_null(v))
		return true;
	if (json_is_number(v)) {
		*out = json_number_value(v);
	} else if (json_is_string(v)) {
		char *end;
		const char *s = json_string_value(v);
		*out = strtod(s, &end);
		if (!*s || *end) {
			pol_problem(pr, key, "bad_number", "%s must be a number", key);
			return false;
		}
	} else {
		pol_problem(pr, key, "bad_number", "%s must be a number", key);
		return false;
	}
	if (!isfinite(*out)) {
		pol_problem(pr, key, "bad_number", "%s must be finite", key);
		return false;
	}
	*has = true;
	return true;
}

static bool dur1(const json_t *j, const char *key, int64_t *out, bool *has,
                 struct agora_policy_problems *pr)
{
	const json_t *v = json_object_get(j, key);
	struct pol_dur d;
	if (!v || json_is_null(v))
		return true;
	if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) < 1e12) {
		*out = (int64_t)(json_number_value(v) * 1000); /* seconds */
	} else if (json_is_string(v) && pol_parse_duration(json_string_value(v), &d) == 0) {
		*out = pol_dur_nominal_ms(&d);
	} else {
		pol_problem(pr, key, "bad_duration", "%s must be an ISO 8601 duration or seconds", key);
		return false;
	}
	*has = true;
	return true;
}

struct agora_policy_request *agora_policy_request_from_json(const json_t *j,
                                                            struct agora_policy_problems *pr)
{
	struct req_owned *o = pol_xcalloc(1, sizeof(*o));
	struct agora_policy_request *r = &o->r;
	bool ok = true;
	if (!json_is_object(j)) {
		pol_problem(pr, "$", "wrong_type", "the request must be a JSON object");
		goto fail;
	}
	ok &= str1(o, j, "action", &r->action, pr);
	if (ok && !r->action) {
		pol_problem(pr, "action", "missing_field", "the request needs an action");
		ok = false;
	}
	ok &= str1(o, j, "target", &r->target, pr);
	ok &= str1(o, j, "assignee", &r->assignee, pr);
	ok &= str1(o, j, "recipient", &r->recipient, pr);
	ok &= str1(o, j, "unit", &r->unit, pr);
	ok &= str1(o, j, "version", &r->version, pr);
	ok &= time1(j, "dateTime", &r->now_ms, &r->has_now, pr);
	ok &= time1(j, "agreementStart", &r->agreement_start_ms, &r->has_agreement_start, pr);
	ok &= num1(j, "payAmount", &r->pay_amount, &r->has_pay_amount, pr);
	ok &= num1(j, "percentage", &r->percentage, &r->has_percentage, pr);
	ok &= dur1(j, "meteredTime", &r->metered_ms, &r->has_metered, pr);
	ok &= dur1(j, "delayPeriod", &r->delay_ms, &r->has_delay, pr);
	const json_t *c = json_object_get(j, "count");
	if (c && !json_is_null(c)) {
		if (!json_is_integer(c) || json_integer_value(c) < 0) {
			pol_problem(pr, "count", "bad_number", "count must be a non-negative integer");
			ok = false;
		} else {
			r->count = json_integer_value(c);
			r->has_count = true;
		}
	}
	static const struct {
		const char *key;
		size_t off;
	} sets[] = {
		{ "purpose", offsetof(struct agora_policy_request, purpose) },
		{ "spatial", offsetof(struct agora_policy_request, spatial) },
		{ "fileFormat", offsetof(struct agora_policy_request, file_format) },
		{ "deliveryChannel", offsetof(struct agora_policy_request, delivery_channel) },
		{ "event", offsetof(struct agora_policy_request, event) },
		{ "fulfilledDuties", offsetof(struct agora_policy_request, fulfilled_duties) },
	};
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
		if (!strset(o, json_object_get(j, sets[i].key),
		            (struct agora_policy_strs *)((char *)r + sets[i].off))) {
			pol_problem(pr, sets[i].key, "wrong_type",
			            "%s must be a string or a list of strings", sets[i].key);
			ok = false;
		}
	const json_t *attrs = json_object_get(j, "attributes");
	if (attrs && !json_is_null(attrs)) {
		if (!json_is_object(attrs) || json_object_size(attrs) > POL_REQ_MAX_VALUES) {
			pol_problem(pr, "attributes", "wrong_type", "attributes must be an object");
			ok = false;
		} else {
			struct agora_policy_attr *a =
				own(o, pol_xcalloc(json_object_size(attrs), sizeof(*a)));
			const char *k;
			json_t *v;
			size_t n = 0;
			json_object_foreach((json_t *)attrs, k, v) {
				a[n].name = own_str(o, k);
				if (!strset(o, v, &a[n].values)) {
					pol_problem(pr, "attributes", "wrong_type",
					            "attribute %.100s must be a string, number or list", k);
					ok = false;
				}
				n++;
			}
			r->attrs = a;
			r->n_attrs = n;
		}
	}
	if (!ok)
		goto fail;
	if (!r->has_now) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		r->now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		r->has_now = true;
	}
	return r;
fail:
	agora_policy_request_free(r);
	return NULL;
}
