/* catalog_validate.c — checking a pushed (or crawled) DSP Catalog and
 * turning it into the rows db_catalog_push() stores.  docs/CATALOG.md. */
#include "catalog.h"
#include "crypto.h"
#include "jsonv.h"
#include "policy.h"
#include "util.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_OFFERS 32
#define MAX_DISTRIBUTIONS 32
#define MAX_KEYWORDS 64
#define MAX_THEMES 32
#define MAX_SERVICES 16
#define MAX_SAMPLE_POINTS 1000

static bool
digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool
catalog_parse_time(const char *s, double *t)
{
	int Y, M, D, h, m, sec, oh = 0, om = 0;
	if (!s || strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
	    s[7] != '-' || !digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || (M == 2 && D == 29 && !leap) ||
	    h > 23 || m > 59 || sec > 60)
		return false;
	const char *p = s + 19;
	double frac = 0;
	if (*p == '.') {
		double scale = 0.1;
		p++;
		if (!isdigit((unsigned char)*p))
			return false;
		for (int n = 0; isdigit((unsigned char)*p); p++, n++) {
			if (n >= 9)
				return false;
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	int sign = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) || oh > 23 ||
		    om > 59)
			return false;
		p += 6;
	} else {
		return false;
	}
	if (*p)
		return false;
	struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h,
			 .tm_min = m, .tm_sec = sec > 59 ? 59 : sec };
	double v = (double)timegm(&tm) + frac - sign * (oh * 3600 + om * 60);
	if (t)
		*t = v;
	return true;
}

void
catalog_push_cleanup(struct cat_push *p)
{
	if (!p)
		return;
	json_decref(p->meta);
	json_decref(p->datasets);
	json_decref(p->ids);
	json_decref(p->offers);
	json_decref(p->access);
	json_decref(p->flags);
	for (size_t i = 0; i < p->nacc; i++)
		agora_policy_free(p->acc[i].policy);
	free(p->acc);
	memset(p, 0, sizeof *p);
}

/* The unprefixed 2025-1 term for a member name: "dct:title" → "title". */
static const char *
unprefix(const char *k)
{
	static const char *const pre[] = { "dct:", "dcterms:", "dcat:", "odrl:", "dspace:" };
	for (size_t i = 0; i < ARRAY_LEN(pre); i++)
		if (!strncmp(k, pre[i], strlen(pre[i])))
			return k + strlen(pre[i]);
	return k;
}

/* A copy of obj with prefixed member names unprefixed; NULL (detail
 * filled) when two members collide. */
static json_t *
normalise(const json_t *obj, const char *where, char *detail, size_t dlen)
{
	json_t *o = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)obj, k, v) {
		const char *u = unprefix(k);
		if (json_object_get(o, u)) {
			snprintf(detail, dlen, "%s: '%.64s' is given twice (with and without a prefix)",
				 where, u);
			json_decref(o);
			return NULL;
		}
		json_object_set(o, u, v);
	}
	return o;
}

static bool
type_is(const json_t *t, const char *want)
{
	const char *s = json_string_value(t);
	if (!s)
		return false;
	s = unprefix(s);
	return !strcmp(s, want);
}

/* A JSON array of the distinct strings of arr (order kept). */
static json_t *
distinct(const json_t *arr)
{
	json_t *out = json_array();
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const char *s = json_string_value(json_array_get(arr, i));
		bool dup = false;
		for (size_t j = 0; j < json_array_size(out) && !dup; j++)
			dup = !strcmp(s, json_string_value(json_array_get(out, j)));
		if (!dup)
			json_array_append_new(out, json_string(s));
	}
	return out;
}

#define FAIL(e, ...) do { *err = (e); snprintf(detail, dlen, __VA_ARGS__); goto fail; } while (0)

static bool
check_time_field(const json_t *v, const char *where, const char *name, double *t, char *detail,
		 size_t dlen)
{
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || !catalog_parse_time(json_string_value(v), t)) {
		snprintf(detail, dlen, "%s.%s must be an RFC 3339 date-time such as 2026-01-01T00:00:00Z",
			 where, name);
		return false;
	}
	return true;
}

/* One dataset: checks it and appends its record and its offers to out.
 * offer_ids collects every offer id (value: true). */
static bool
dataset(const json_t *raw, size_t idx, struct cat_push *out, json_t *seen_ids, json_t *offer_ids,
	enum agora_error *err, char *detail, size_t dlen)
{
	char where[48];
	snprintf(where, sizeof where, "catalog.dataset[%zu]", idx);
	json_t *d = NULL, *rec = NULL;
	if (!json_is_object(raw))
		FAIL(AGORA_E_INVALID_REQUEST, "%s must be an object", where);
	d = normalise(raw, where, detail, dlen);
	if (!d) {
		*err = AGORA_E_INVALID_REQUEST;
		goto fail;
	}
	json_object_del(d, "@context");
	json_object_del(d, "publisher");	/* the publisher is the pushing participant */
	const json_t *id, *type, *title, *desc, *kw, *theme, *license, *issued, *modified, *spatial,
		*temporal, *quality, *sample, *offers, *dists;
	const struct agora_jfield f[] = {
		{ "@id", AGORA_J_STRING, true, 200, &id },
		{ "@type", AGORA_J_STRING, false, 64, &type },
		{ "title", AGORA_J_STRING, true, 1000, &title },
		{ "description", AGORA_J_STRING, false, 20000, &desc },
		{ "keyword", AGORA_J_STRINGS, false, MAX_KEYWORDS, &kw },
		{ "theme", AGORA_J_STRINGS, false, MAX_THEMES, &theme },
		{ "license", AGORA_J_STRING, false, 2048, &license },
		{ "issued", AGORA_J_STRING, false, 64, &issued },
		{ "modified", AGORA_J_STRING, false, 64, &modified },
		{ "spatial", AGORA_J_OBJECT, false, 4, &spatial },
		{ "temporal", AGORA_J_OBJECT, false, 2, &temporal },
		{ "accrualPeriodicity", AGORA_J_STRING, false, 64, NULL },
		{ "mediaType", AGORA_J_STRING, false, 255, NULL },
		{ "quality", AGORA_J_OBJECT, false, 64, &quality },
		{ "sample", AGORA_J_OBJECT, false, 8, &sample },
		{ "hasPolicy", AGORA_J_ARRAY, true, MAX_OFFERS, &offers },
		{ "distribution", AGORA_J_ARRAY, true, MAX_DISTRIBUTIONS, &dists },
	};
	char pre[64];
	snprintf(pre, sizeof pre, "%s.", where);
	if (!agora_json_check(d, f, ARRAY_LEN(f), true, pre, err, detail, dlen))
		goto fail;
	const char *ids = json_string_value(id);
	if (json_object_get(seen_ids, ids))
		FAIL(AGORA_E_INVALID_REQUEST, "%s.@id '%.200s' repeats an earlier dataset's id", where,
		     ids);
	json_object_set_new(seen_ids, ids, json_true());
	if (type && !type_is(type, "Dataset"))
		FAIL(AGORA_E_INVALID_REQUEST, "%s.@type must be Dataset", where);
	json_object_set_new(d, "@type", json_string("Dataset"));

	/* Times. */
	double t_issued, t_mod, t_start = 0, t_end = 0;
	if (!check_time_field(issued, where, "issued", &t_issued, detail, dlen) ||
	    !check_time_field(modified, where, "modified", &t_mod, detail, dlen)) {
		*err = AGORA_E_INVALID_REQUEST;
		goto fail;
	}
	const json_t *ts = NULL, *te = NULL;
	if (temporal) {
		const struct agora_jfield tf[] = { { "start", AGORA_J_STRING, false, 64, &ts },
						   { "end", AGORA_J_STRING, false, 64, &te } };
		char tp[80];
		snprintf(tp, sizeof tp, "%s.temporal.", where);
		if (!agora_json_check(temporal, tf, ARRAY_LEN(tf), true, tp, err, detail, dlen))
			goto fail;
		char tw[64];
		snprintf(tw, sizeof tw, "%s.temporal", where);
		if (!check_time_field(ts, tw, "start", &t_start, detail, dlen) ||
		    !check_time_field(te, tw, "end", &t_end, detail, dlen)) {
			*err = AGORA_E_INVALID_REQUEST;
			goto fail;
		}
		if (ts && te && t_start > t_end)
			FAIL(AGORA_E_INVALID_REQUEST, "%s.temporal.start is after temporal.end", where);
	}

	/* Bounding box: [minLon, minLat, maxLon, maxLat]. */
	double bb[4] = { 0 };
	bool has_bbox = false;
	if (spatial) {
		const json_t *bbox;
		const struct agora_jfield sf[] = { { "bbox", AGORA_J_ARRAY, true, 4, &bbox } };
		char sp[80];
		snprintf(sp, sizeof sp, "%s.spatial.", where);
		if (!agora_json_check(spatial, sf, ARRAY_LEN(sf), true, sp, err, detail, dlen))
			goto fail;
		bool ok = json_array_size(bbox) == 4;
		for (size_t i = 0; ok && i < 4; i++) {
			ok = json_is_number(json_array_get(bbox, i));
			bb[i] = json_number_value(json_array_get(bbox, i));
			ok = ok && isfinite(bb[i]);
		}
		if (!ok)
			FAIL(AGORA_E_INVALID_REQUEST,
			     "%s.spatial.bbox must be 4 numbers [minLon, minLat, maxLon, maxLat]", where);
		if (bb[0] < -180 || bb[0] > 180 || bb[2] < -180 || bb[2] > 180 || bb[1] < -90 ||
		    bb[1] > 90 || bb[3] < -90 || bb[3] > 90)
			FAIL(AGORA_E_INVALID_REQUEST,
			     "%s.spatial.bbox is out of range (longitude -180..180, latitude -90..90)",
			     where);
		if (bb[0] > bb[2] || bb[1] > bb[3])
			FAIL(AGORA_E_INVALID_REQUEST,
			     "%s.spatial.bbox must have minLon <= maxLon and minLat <= maxLat", where);
		has_bbox = true;
	}
	if (sample) {
		const json_t *pts = json_object_get(sample, "points");
		if (pts && (!json_is_array(pts) || json_array_size(pts) > MAX_SAMPLE_POINTS))
			FAIL(AGORA_E_INVALID_REQUEST, "%s.sample.points must be an array of at most %d items",
			     where, MAX_SAMPLE_POINTS);
	}
	(void)quality;

	/* Distributions: DSP needs format and accessService on each. */
	if (json_array_size(dists) == 0)
		FAIL(AGORA_E_INVALID_REQUEST, "%s.distribution needs at least one item", where);
	json_t *formats = json_array();
	const char *mt = json_string_value(json_object_get(d, "mediaType"));
	if (mt)
		json_array_append_new(formats, json_string(mt));
	for (size_t i = 0; i < json_array_size(dists); i++) {
		char dp[96];
		snprintf(dp, sizeof dp, "%s.distribution[%zu].", where, i);
		const json_t *dist = json_array_get(dists, i), *dtype, *fmt, *svc, *dmt, *size;
		const struct agora_jfield df[] = {
			{ "@id", AGORA_J_STRING, false, 200, NULL },
			{ "@type", AGORA_J_STRING, false, 64, &dtype },
			{ "format", AGORA_J_STRING, true, 255, &fmt },
			{ "accessService", AGORA_J_STRING, true, 2048, &svc },
			{ "mediaType", AGORA_J_STRING, false, 255, &dmt },
			{ "byteSize", AGORA_J_INTEGER, false, 0, &size },
			{ "title", AGORA_J_STRING, false, 1000, NULL },
			{ "description", AGORA_J_STRING, false, 20000, NULL },
		};
		json_t *nd = json_is_object(dist) ? normalise(dist, dp, detail, dlen) : NULL;
		bool ok = nd != NULL;
		if (!nd && !json_is_object(dist)) {
			*err = AGORA_E_INVALID_REQUEST;
			snprintf(detail, dlen, "%s.distribution[%zu] must be an object", where, i);
		} else if (!nd) {
			*err = AGORA_E_INVALID_REQUEST;
		}
		/* accessService may be an embedded DataService object. */
		json_t *svc_obj = ok ? json_object_get(nd, "accessService") : NULL;
		if (ok && json_is_object(svc_obj)) {
			const json_t *sid = json_object_get(svc_obj, "@id");
			if (!json_is_string(sid) || !json_is_string(json_object_get(svc_obj, "endpointURL"))) {
				ok = false;
				*err = AGORA_E_INVALID_REQUEST;
				snprintf(detail, dlen, "%saccessService needs @id and endpointURL", dp);
			} else {
				json_object_set(nd, "accessService", (json_t *)sid);
			}
		}
		ok = ok && agora_json_check(nd, df, ARRAY_LEN(df), true, dp, err, detail, dlen);
		if (ok && dtype && !type_is(dtype, "Distribution")) {
			ok = false;
			*err = AGORA_E_INVALID_REQUEST;
			snprintf(detail, dlen, "%s@type must be Distribution", dp);
		}
		if (ok && size && json_integer_value(size) < 0) {
			ok = false;
			*err = AGORA_E_INVALID_REQUEST;
			snprintf(detail, dlen, "%sbyteSize must not be negative", dp);
		}
		if (ok && dmt)
			json_array_append_new(formats, json_string(json_string_value(dmt)));
		json_decref(nd);
		if (!ok) {
			json_decref(formats);
			goto fail;
		}
	}

	/* Offers: DSP Offers with an @id, valid ODRL, no target. */
	if (json_array_size(offers) == 0) {
		json_decref(formats);
		FAIL(AGORA_E_INVALID_REQUEST, "%s.hasPolicy needs at least one offer", where);
	}
	json_t *offer_seen = json_object();
	for (size_t i = 0; i < json_array_size(offers); i++) {
		const json_t *o = json_array_get(offers, i);
		const json_t *oid = json_object_get(o, "@id");
		const json_t *otype = json_object_get(o, "@type");
		const char *bad = NULL;
		if (!json_is_object(o))
			bad = "must be an ODRL Offer object";
		else if (!json_is_string(oid) || json_string_length(oid) == 0 ||
			 json_string_length(oid) > 200)
			bad = "needs an @id of at most 200 characters";
		else if (!type_is(otype, "Offer"))
			bad = "must have @type Offer";
		else if (json_object_get(o, "target") || json_object_get(o, "odrl:target"))
			bad = "must not name a target (the dataset is the target)";
		else if (json_object_get(offer_seen, json_string_value(oid)))
			bad = "repeats an offer id of this dataset";
		if (bad) {
			json_decref(offer_seen);
			json_decref(formats);
			FAIL(AGORA_E_INVALID_REQUEST, "%s.hasPolicy[%zu] %s", where, i, bad);
		}
		json_object_set_new(offer_seen, json_string_value(oid), json_true());
		struct agora_policy_problems *prob = agora_policy_problems_new();
		struct agora_policy *pol = agora_policy_parse(o, catalog_policy_config(), prob);
		if (!pol) {
			*err = AGORA_E_INVALID_POLICY;
			snprintf(detail, dlen, "%s.hasPolicy[%zu] (offer '%.200s'): %s: %s", where, i,
				 json_string_value(oid),
				 agora_policy_problems_count(prob) ? agora_policy_problem_path(prob, 0) : "",
				 agora_policy_problems_count(prob) ? agora_policy_problem_message(prob, 0)
								   : "not a valid ODRL policy");
			agora_policy_problems_free(prob);
			json_decref(offer_seen);
			json_decref(formats);
			goto fail;
		}
		agora_policy_problems_free(prob);
		char *desc_text = agora_policy_describe(pol);
		agora_policy_free(pol);
		json_array_append_new(out->offers,
				      json_pack("{s:s, s:s, s:i, s:O, s:s}", "dataset_id", ids,
						"offer_id", json_string_value(oid), "position", (int)i,
						"policy", o, "description", desc_text ? desc_text : ""));
		free(desc_text);
		json_object_set_new(offer_ids, json_string_value(oid), json_true());
	}
	json_decref(offer_seen);

	/* The record for jsonb_to_recordset. */
	char *canon = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
	uint8_t h[32];
	agora_sha256(canon, strlen(canon), h);
	free(canon);
	char hex[65];
	agora_hex(h, 32, hex);
	rec = json_pack("{s:s, s:s, s:O, s:s, s:O, s:o, s:o, s:o, s:O, s:O, s:O, s:O, s:O}",
			"id", ids, "hash", hex, "doc", d, "title", json_string_value(title),
			"description", desc ? desc : json_null(),
			"keyword", kw ? distinct(kw) : json_array(),
			"theme", theme ? distinct(theme) : json_array(),
			"format", distinct(formats),
			"license", license ? license : json_null(),
			"issued", issued ? issued : json_null(),
			"modified", modified ? modified : json_null(),
			"t_start", ts ? ts : json_null(),
			"t_end", te ? te : json_null());
	json_decref(formats);
	if (has_bbox) {
		json_object_set_new(rec, "min_lon", json_real(bb[0]));
		json_object_set_new(rec, "min_lat", json_real(bb[1]));
		json_object_set_new(rec, "max_lon", json_real(bb[2]));
		json_object_set_new(rec, "max_lat", json_real(bb[3]));
	}
	json_array_append_new(out->datasets, rec);
	json_array_append_new(out->ids, json_string(ids));
	json_decref(d);
	return true;
fail:
	json_decref(d);
	return false;
}

bool
catalog_push_parse(const json_t *body, bool with_access, const char *participant,
		   struct cat_push *out, enum agora_error *err, char *detail, size_t dlen)
{
	memset(out, 0, sizeof *out);
	out->participant = participant;
	out->datasets = json_array();
	out->ids = json_array();
	out->offers = json_array();
	out->access = json_array();
	json_t *seen_ids = json_object(), *offer_ids = json_object(), *cat = NULL;
	const json_t *catalog = body, *access = NULL;
	if (with_access) {
		const struct agora_jfield bf[] = {
			{ "catalog", AGORA_J_OBJECT, true, 0, &catalog },
			{ "accessPolicies", AGORA_J_OBJECT, false, 0, &access },
		};
		if (!agora_json_check(body, bf, ARRAY_LEN(bf), true, NULL, err, detail, dlen))
			goto fail;
	}
	if (!json_is_object(catalog))
		FAIL(AGORA_E_INVALID_REQUEST, "the catalog must be a JSON object");
	cat = normalise(catalog, "catalog", detail, dlen);
	if (!cat) {
		*err = AGORA_E_INVALID_REQUEST;
		goto fail;
	}
	const json_t *ctx, *cid, *ctype, *pid, *service, *datasets, *title, *desc;
	const struct agora_jfield cf[] = {
		{ "@context", AGORA_J_ARRAY, true, 16, &ctx },
		{ "@id", AGORA_J_STRING, true, 200, &cid },
		{ "@type", AGORA_J_STRING, true, 64, &ctype },
		{ "participantId", AGORA_J_STRING, true, 200, &pid },
		{ "service", AGORA_J_ARRAY, false, MAX_SERVICES, &service },
		{ "dataset", AGORA_J_ARRAY, false, CATALOG_MAX_DATASETS, &datasets },
		{ "distribution", AGORA_J_ARRAY, false, MAX_DISTRIBUTIONS, NULL },
		{ "title", AGORA_J_STRING, false, 1000, &title },
		{ "description", AGORA_J_STRING, false, 20000, &desc },
	};
	if (!agora_json_check(cat, cf, ARRAY_LEN(cf), true, "catalog.", err, detail, dlen)) {
		/* Name the limit plainly: it is documented. */
		if (json_array_size(json_object_get(cat, "dataset")) > CATALOG_MAX_DATASETS)
			snprintf(detail, dlen, "catalog.dataset holds more than %d datasets",
				 CATALOG_MAX_DATASETS);
		goto fail;
	}
	bool has_ctx = false;
	for (size_t i = 0; i < json_array_size(ctx); i++) {
		const char *s = json_string_value(json_array_get(ctx, i));
		has_ctx = has_ctx || (s && !strcmp(s, CATALOG_DSP_CONTEXT));
	}
	if (!has_ctx)
		FAIL(AGORA_E_INVALID_REQUEST, "catalog.@context must list %s", CATALOG_DSP_CONTEXT);
	if (!type_is(ctype, "Catalog"))
		FAIL(AGORA_E_INVALID_REQUEST, "catalog.@type must be Catalog");
	if (strcmp(json_string_value(pid), participant) != 0)
		FAIL(AGORA_E_INVALID_REQUEST, "catalog.participantId must be '%.200s'", participant);
	for (size_t i = 0; i < json_array_size(service); i++) {
		const json_t *s = json_array_get(service, i);
		if (!json_is_object(s) || !json_is_string(json_object_get(s, "@id")) ||
		    !json_is_string(json_object_get(s, "endpointURL")))
			FAIL(AGORA_E_INVALID_REQUEST,
			     "catalog.service[%zu] must be a DataService with @id and endpointURL", i);
	}
	for (size_t i = 0; i < json_array_size(datasets); i++)
		if (!dataset(json_array_get(datasets, i), i, out, seen_ids, offer_ids, err, detail,
			     dlen))
			goto fail;
	out->ndatasets = json_array_size(datasets);
	out->meta = json_object();
	if (service)
		json_object_set(out->meta, "service", (json_t *)service);
	if (title)
		json_object_set(out->meta, "title", (json_t *)title);
	if (desc)
		json_object_set(out->meta, "description", (json_t *)desc);
	json_object_set(out->meta, "@id", (json_t *)cid);
	out->catalog_id = json_string_value(cid);	/* meta holds a reference */

	/* Access policies: keyed by offer ids of this catalog. */
	json_t *public_of = json_object();
	const char *oid;
	json_t *ap;
	json_object_foreach((json_t *)access, oid, ap) {
		if (!json_object_get(offer_ids, oid)) {
			json_decref(public_of);
			FAIL(AGORA_E_INVALID_REQUEST,
			     "accessPolicies['%.200s']: no offer of the catalog has this id", oid);
		}
		struct agora_policy_problems *prob = agora_policy_problems_new();
		struct agora_policy *pol = agora_policy_parse(ap, catalog_policy_config(), prob);
		if (!pol) {
			*err = AGORA_E_INVALID_POLICY;
			snprintf(detail, dlen, "accessPolicies['%.200s']: %s: %s", oid,
				 agora_policy_problems_count(prob) ? agora_policy_problem_path(prob, 0) : "",
				 agora_policy_problems_count(prob) ? agora_policy_problem_message(prob, 0)
								   : "not a valid ODRL policy");
			agora_policy_problems_free(prob);
			json_decref(public_of);
			goto fail;
		}
		agora_policy_problems_free(prob);
		bool pub = catalog_policy_permits(pol, NULL, NULL);
		json_object_set_new(public_of, oid, json_boolean(pub));
		json_array_append_new(out->access,
				      json_pack("{s:s, s:O, s:b}", "offer_id", oid, "policy", ap,
						"public", pub));
		if (pub) {
			agora_policy_free(pol);
		} else {
			out->acc = xrealloc(out->acc, (out->nacc + 1) * sizeof *out->acc);
			out->acc[out->nacc++] = (struct cat_access){ oid, pol };
		}
	}
	/* Offers are public unless their access policy is not; a dataset with
	 * a public offer is listed for anyone (any_public). */
	json_t *by_id = json_object();
	size_t i;
	json_t *o;
	json_array_foreach(out->datasets, i, o) {
		json_object_set_new(o, "any_public", json_false());
		json_object_set(by_id, json_string_value(json_object_get(o, "id")), o);
	}
	json_array_foreach(out->offers, i, o) {
		const json_t *pub = json_object_get(public_of,
						    json_string_value(json_object_get(o, "offer_id")));
		bool is_pub = !pub || json_is_true(pub);
		json_object_set_new(o, "public", json_boolean(is_pub));
		if (is_pub)
			json_object_set_new(json_object_get(by_id, json_string_value(
							json_object_get(o, "dataset_id"))),
					    "any_public", json_true());
	}
	out->flags = json_array();
	json_array_foreach(out->datasets, i, o)
		json_array_append_new(out->flags,
				      json_pack("{s:O, s:O}", "id", json_object_get(o, "id"),
						"any_public", json_object_get(o, "any_public")));
	json_decref(by_id);
	json_decref(public_of);
	json_decref(cat);
	json_decref(seen_ids);
	json_decref(offer_ids);
	return true;
fail:
	json_decref(cat);
	json_decref(seen_ids);
	json_decref(offer_ids);
	catalog_push_cleanup(out);
	return false;
}
