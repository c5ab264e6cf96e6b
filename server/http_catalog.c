/* http_catalog.c — the federated catalog: catalog pushes
 * (PUT /api/v1/catalogs/{participant}), search and dataset lookup
 * (/api/v1/catalog/datasets), the DSP catalog of catalogs
 * (POST /dsp/catalog/request) and the crawl trigger
 * (POST /api/v1/catalog/crawl).  docs/CATALOG.md. */
#include "broker.h"
#include "catalog.h"
#include "config.h"
#include "crypto.h"
#include "db_catalog.h"
#include "search_cache.h"
#include "log.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PAGE_DEFAULT 20
#define PAGE_MAX 100
#define DSP_PAGE_DEFAULT 100
#define DSP_PAGE_MAX 1000
#define FILTER_MAX 2048
#define Q_MAX 500

static enum MHD_Result
db_unavailable(struct agora_req *r)
{
	return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
}

/* ---- PUT /api/v1/catalogs/{participant} ---------------------------------- */

enum MHD_Result
broker_catalog_push(struct agora_req *r)
{
	const char *pid = agora_req_param(r, "participant");
	if (!r->participant || strcmp(r->participant, pid) != 0)
		return agora_reply_error(r, AGORA_E_FORBIDDEN,
					 "a participant may only push its own catalog");
	uint64_t t0 = agora_mono_ns();
	struct cat_push p;
	enum agora_error e;
	char detail[512];
	if (!catalog_push_parse(r->json, true, pid, &p, &e, detail, sizeof detail))
		return agora_reply_error(r, e, "%s", detail);
	uint64_t t1 = agora_mono_ns();
	enum agora_qs qs = db_catalog_push(&p);
	uint64_t t2 = agora_mono_ns();
	enum MHD_Result ret;
	if (qs == AGORA_QS_CONFLICT) {
		ret = agora_reply_error(r, AGORA_E_DATASET_ID_TAKEN,
					"dataset '%.200s' is published by another participant",
					p.conflict_id);
	} else if (qs < 0) {
		ret = db_unavailable(r);
	} else {
		agora_log(AGORA_LOG_INFO, "catalog pushed",
			  json_pack("{s:s, s:I, s:I, s:f, s:f}", "participant", pid, "datasets",
				    (json_int_t)p.ndatasets, "version", (json_int_t)p.version,
				    "validateMs", (double)(t1 - t0) / 1e6, "storeMs",
				    (double)(t2 - t1) / 1e6));
		ret = agora_reply_json(r, 200,
				       json_pack("{s:s, s:I, s:I}", "participant", pid, "datasets",
						 (json_int_t)p.ndatasets, "version",
						 (json_int_t)p.version));
	}
	catalog_push_cleanup(&p);
	return ret;
}

/* ---- who is asking ------------------------------------------------------ */

static bool
looks_like_jwt(const char *t)
{
	const char *d1 = strchr(t, '.');
	return d1 && strchr(d1 + 1, '.');
}

/* The catalog is public; a participant token (optional) identifies the
 * caller so that access policies apply.  Returns AGORA_E__COUNT when the
 * request may go on (r->participant set, or anonymous), else the error
 * with detail.  API keys are not participant identities: anonymous. */
static enum agora_error
optional_participant(struct agora_req *r, char *detail, size_t dlen)
{
	const char *authz = agora_req_header(r, "Authorization");
	if (!authz)
		return AGORA_E__COUNT;
	if (strncasecmp(authz, "Bearer ", 7) != 0) {
		snprintf(detail, dlen, "the Authorization scheme must be Bearer");
		return AGORA_E_MISSING_CREDENTIALS;
	}
	const char *tok = authz + 7;
	while (*tok == ' ')
		tok++;
	if (!looks_like_jwt(tok))
		return AGORA_E__COUNT;
	return broker_participant_auth(r, tok, detail, dlen);
}

/* ---- GET /api/v1/catalog/datasets ---------------------------------------- */

/* A filter parameter: NULL when absent or empty; false (replied) when too long. */
static bool
filter_param(struct agora_req *r, const char *name, size_t max, const char **out)
{
	const char *v = agora_req_query(r, name);
	*out = v && *v ? v : NULL;
	if (*out && strlen(*out) > max) {
		agora_reply_error(r, AGORA_E_INVALID_QUERY, "%s is longer than %zu bytes", name, max);
		return false;
	}
	return true;
}

static bool
parse_bbox(const char *s, double bb[4])
{
	const char *p = s;
	for (int i = 0; i < 4; i++) {
		char *end;
		bb[i] = strtod(p, &end);
		if (end == p || !isfinite(bb[i]))
			return false;
		if (i < 3 && *end != ',')
			return false;
		if (i == 3 && *end)
			return false;
		p = end + 1;
	}
	return bb[0] >= -180 && bb[0] <= 180 && bb[2] >= -180 && bb[2] <= 180 && bb[1] >= -90 &&
	       bb[1] <= 90 && bb[3] >= -90 && bb[3] <= 90 && bb[0] <= bb[2] && bb[1] <= bb[3];
}

static const char *const sort_names[] = { "relevance", "modified", "title" };

/* cursor = base64url(JSON [sort, key, id]). */
static char *
make_cursor(enum cat_sort sort, const char *key, const char *id)
{
	json_t *c = json_pack("[s, s, s]", sort_names[sort], key, id);
	char *s = json_dumps(c, JSON_COMPACT);
	char *b = agora_b64url_encode(s, strlen(s));
	free(s);
	json_decref(c);
	return b;
}

/* Decoded cursor (new array) or NULL. */
static json_t *
read_cursor(const char *cursor, enum cat_sort sort)
{
	size_t n;
	if (strlen(cursor) > 4096)
		return NULL;
	uint8_t *raw = agora_b64url_decode(cursor, strlen(cursor), &n);
	if (!raw)
		return NULL;
	json_t *c = json_loadb((const char *)raw, n, 0, NULL);
	free(raw);
	const char *s = json_string_value(json_array_get(c, 0));
	if (json_array_size(c) != 3 || !s || strcmp(s, sort_names[sort]) != 0 ||
	    !json_is_string(json_array_get(c, 1)) || !json_is_string(json_array_get(c, 2))) {
		json_decref(c);
		return NULL;
	}
	return c;
}

enum MHD_Result
broker_catalog_search(struct agora_req *r)
{
	char detail[256];
	enum agora_error e = optional_participant(r, detail, sizeof detail);
	if (e != AGORA_E__COUNT)
		return agora_reply_error(r, e, "%s", detail);
	struct cat_query q = { .caller = r->participant, .limit = PAGE_DEFAULT };
	if (!filter_param(r, "q", Q_MAX, &q.q) || !filter_param(r, "theme", FILTER_MAX, &q.theme) ||
	    !filter_param(r, "keyword", FILTER_MAX, &q.keyword) ||
	    !filter_param(r, "publisher", FILTER_MAX, &q.publisher) ||
	    !filter_param(r, "format", FILTER_MAX, &q.format) ||
	    !filter_param(r, "license", FILTER_MAX, &q.license))
		return MHD_YES;
	const char *bbox = agora_req_query(r, "bbox");
	if (bbox) {
		if (!parse_bbox(bbox, q.bbox))
			return agora_reply_error(r, AGORA_E_INVALID_QUERY,
						 "bbox must be minLon,minLat,maxLon,maxLat with longitudes"
						 " in -180..180, latitudes in -90..90 and min <= max");
		q.has_bbox = true;
	}
	double tf = 0, tt = 0;
	const char *from = agora_req_query(r, "from"), *to = agora_req_query(r, "to");
	if (from && !catalog_parse_time(from, &tf))
		return agora_reply_error(r, AGORA_E_INVALID_QUERY,
					 "from must be an RFC 3339 date-time such as 2026-01-01T00:00:00Z");
	if (to && !catalog_parse_time(to, &tt))
		return agora_reply_error(r, AGORA_E_INVALID_QUERY,
					 "to must be an RFC 3339 date-time such as 2026-12-31T23:59:59Z");
	if (from && to && tf > tt)
		return agora_reply_error(r, AGORA_E_INVALID_QUERY, "from must not be after to");
	q.from = from;
	q.to = to;
	const char *sort = agora_req_query(r, "sort");
	q.sort = CAT_SORT_RELEVANCE;
	if (sort) {
		size_t i;
		for (i = 0; i < ARRAY_LEN(sort_names) && strcmp(sort, sort_names[i]); i++)
			;
		if (i == ARRAY_LEN(sort_names))
			return agora_reply_error(r, AGORA_E_INVALID_QUERY,
						 "sort must be relevance, modified or title");
		q.sort = (enum cat_sort)i;
	}
	/* Relevance needs a text query; without one the newest come first. */
	if (q.sort == CAT_SORT_RELEVANCE && !q.q)
		q.sort = CAT_SORT_MODIFIED;
	long limit = PAGE_DEFAULT;
	const char *lim = agora_req_query(r, "limit");
	if (lim && !agora_parse_long(lim, 1, PAGE_MAX, &limit))
		return agora_reply_error(r, AGORA_E_INVALID_QUERY, "limit must be an integer from 1 to %d",
					 PAGE_MAX);
	q.limit = (int)limit;
	json_t *cur = NULL;
	const char *cursor = agora_req_query(r, "cursor");
	if (cursor && *cursor) {
		cur = read_cursor(cursor, q.sort);
		if (!cur)
			return agora_reply_error(r, AGORA_E_INVALID_QUERY,
						 "cursor is not one this API gave for this sort");
		q.after_key = json_string_value(json_array_get(cur, 1));
		q.after_id = json_string_value(json_array_get(cur, 2));
	}
	if (q.caller && db_catalog_viewer_sync(q.caller, false) < 0) {
		json_decref(cur);
		return db_unavailable(r);
	}
	/* A recent answer to the same question at the same catalog generation
	 * is the answer. */
	long long gen = 0;
	if (db_catalog_generation(&gen) != AGORA_QS_ONE) {
		json_decref(cur);
		return db_unavailable(r);
	}
	char *cached = search_cache_get(q.caller, r->query_string, gen);
	if (cached) {
		json_decref(cur);
		enum MHD_Result ret = agora_reply_text(r, 200, "application/json", cached);
		free(cached);
		return ret;
	}
	json_t *out = NULL;
	enum agora_qs qs = db_catalog_search(&q, &out);
	json_decref(cur);
	if (qs < 0)
		return db_unavailable(r);
	const char *nk = json_string_value(json_object_get(out, "nextKey"));
	const char *ni = json_string_value(json_object_get(out, "nextId"));
	if (nk && ni) {
		char *c = make_cursor(q.sort, nk, ni);
		json_object_set_new(out, "next", json_string(c));
		free(c);
	} else {
		json_object_set_new(out, "next", json_null());
	}
	json_object_del(out, "nextKey");
	json_object_del(out, "nextId");
	char *body = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	json_decref(out);
	search_cache_put(q.caller, r->query_string, gen, body);
	enum MHD_Result ret = agora_reply_text(r, 200, "application/json", body);
	free(body);
	return ret;
}

/* ---- GET /api/v1/catalog/datasets/{id} ----------------------------------- */

enum MHD_Result
broker_catalog_dataset(struct agora_req *r)
{
	char detail[256];
	enum agora_error e = optional_participant(r, detail, sizeof detail);
	if (e != AGORA_E__COUNT)
		return agora_reply_error(r, e, "%s", detail);
	const char *id = agora_req_param(r, "id");
	if (strlen(id) > 200)
		return agora_reply_error(r, AGORA_E_DATASET_NOT_FOUND, "no dataset '%.200s'", id);
	json_t *out = NULL;
	enum agora_qs qs = r->participant ? db_catalog_dataset_get_synced(id, r->participant, &out)
					  : db_catalog_dataset_get(id, NULL, &out);
	if (qs < 0)
		return db_unavailable(r);
	if (qs == AGORA_QS_NONE)
		return agora_reply_error(r, AGORA_E_DATASET_NOT_FOUND, "no dataset '%s' is visible to you",
					 id);
	return agora_reply_json(r, 200, out);
}

/* ---- POST /dsp/catalog/request -------------------------------------------- */

static enum MHD_Result
dsp_error(struct agora_req *r, unsigned status, const char *code, const char *reason)
{
	json_t *b = json_pack("{s:[s], s:s, s:s, s:[s]}", "@context", CATALOG_DSP_CONTEXT, "@type",
			      "CatalogError", "code", code, "reason", reason);
	return agora_reply_json(r, status, b);
}

static bool
has_dsp_context(const json_t *ctx)
{
	if (json_is_string(ctx))
		return !strcmp(json_string_value(ctx), CATALOG_DSP_CONTEXT);
	for (size_t i = 0; i < json_array_size(ctx); i++) {
		const char *s = json_string_value(json_array_get(ctx, i));
		if (s && !strcmp(s, CATALOG_DSP_CONTEXT))
			return true;
	}
	return false;
}

enum MHD_Result
broker_dsp_catalog_request(struct agora_req *r)
{
	const struct broker *b = r->app;
	char detail[256];
	/* DSP: an unauthenticated request gets 404. */
	const char *authz = agora_req_header(r, "Authorization");
	if (!authz || strncasecmp(authz, "Bearer ", 7) != 0 || !looks_like_jwt(authz + 7))
		return dsp_error(r, 404, "not_found", "no catalog here");
	enum agora_error e = broker_participant_auth(r, authz + 7, detail, sizeof detail);
	if (e == AGORA_E_UNAVAILABLE)
		return dsp_error(r, 503, "unavailable", detail);
	if (e != AGORA_E__COUNT) {
		agora_log(AGORA_LOG_INFO, "dsp catalog request refused",
			  json_pack("{s:s, s:s}", "error", agora_error_info(e)->symbol, "detail", detail));
		return dsp_error(r, 404, "not_found", "no catalog here");
	}
	const json_t *m = r->json;
	const char *k;
	json_t *v;
	if (!json_is_object(m))
		return dsp_error(r, 400, "invalid_request", "the body must be a CatalogRequestMessage");
	json_object_foreach((json_t *)m, k, v) {
		if (strcmp(k, "@context") && strcmp(k, "@type") && strcmp(k, "filter") &&
		    strcmp(k, "dspace:filter")) {
			snprintf(detail, sizeof detail, "unknown field '%.64s'", k);
			return dsp_error(r, 400, "unknown_field", detail);
		}
	}
	const char *type = json_string_value(json_object_get(m, "@type"));
	if (!type || (strcmp(type, "CatalogRequestMessage") && strcmp(type, "dspace:CatalogRequestMessage")))
		return dsp_error(r, 400, "invalid_request", "@type must be CatalogRequestMessage");
	if (!has_dsp_context(json_object_get(m, "@context")))
		return dsp_error(r, 400, "invalid_request",
				 "@context must list https://w3id.org/dspace/2025/1/context.jsonld");
	const json_t *filter = json_object_get(m, "filter");
	if (filter && !json_is_array(filter))
		return dsp_error(r, 400, "invalid_request", "filter must be an array");

	long limit = DSP_PAGE_DEFAULT;
	const char *lim = agora_req_query(r, "limit");
	if (lim && !agora_parse_long(lim, 1, DSP_PAGE_MAX, &limit))
		return dsp_error(r, 400, "invalid_query", "limit must be an integer from 1 to 1000");
	json_t *cur = NULL;
	const char *cursor = agora_req_query(r, "cursor");
	const char *after_pid = NULL, *after_id = NULL;
	if (cursor && *cursor) {
		size_t n;
		uint8_t *raw = strlen(cursor) <= 2048 ? agora_b64url_decode(cursor, strlen(cursor), &n)
						      : NULL;
		cur = raw ? json_loadb((const char *)raw, n, 0, NULL) : NULL;
		free(raw);
		after_pid = json_string_value(json_array_get(cur, 0));
		after_id = json_string_value(json_array_get(cur, 1));
		if (!after_pid || !after_id) {
			json_decref(cur);
			return dsp_error(r, 400, "invalid_query", "cursor is not one this endpoint gave");
		}
	}
	if (db_catalog_viewer_sync(r->participant, false) < 0) {
		json_decref(cur);
		return dsp_error(r, 503, "unavailable", "the database is unavailable");
	}
	json_t *rows = NULL;
	enum agora_qs qs = db_catalog_dsp_page(r->participant, after_pid, after_id, (int)limit + 1,
					       &rows);
	json_decref(cur);
	if (qs < 0)
		return dsp_error(r, 503, "unavailable", "the database is unavailable");

	bool more = json_array_size(rows) > (size_t)limit;
	if (more) {
		json_t *last = json_array_get(rows, (size_t)limit - 1);
		json_t *c = json_pack("[O, O]", json_object_get(last, "participant"),
				      json_object_get(json_object_get(last, "dataset"), "@id"));
		char *s = json_dumps(c, JSON_COMPACT);
		char *enc = agora_b64url_encode(s, strlen(s));
		char *link = xasprintf("<%s/dsp/catalog/request?cursor=%s&limit=%ld>; rel=\"next\"",
				       b->svc.public_url, enc, limit);
		agora_reply_header(r, "Link", link);
		free(link);
		free(enc);
		free(s);
		json_decref(c);
	}
	/* Group the page's datasets into one Catalog per participant. */
	json_t *catalogs = json_array(), *cat = NULL;
	const char *cur_pid = NULL;
	for (size_t i = 0; i < json_array_size(rows) && i < (size_t)limit; i++) {
		json_t *row = json_array_get(rows, i);
		const char *pid = json_string_value(json_object_get(row, "participant"));
		if (!cur_pid || strcmp(cur_pid, pid) != 0) {
			cur_pid = pid;
			const json_t *meta = json_object_get(row, "meta");
			const char *cid = json_string_value(json_object_get(row, "catalogId"));
			char *fallback = xasprintf("%s/dsp/catalog/%s", b->svc.public_url, pid);
			cat = json_pack("{s:s, s:s, s:s, s:O, s:[]}", "@id", cid ? cid : fallback, "@type",
					"Catalog", "participantId", pid, "title",
					json_object_get(meta, "title") ? json_object_get(meta, "title")
								       : json_object_get(row, "name"),
					"dataset");
			free(fallback);
			const json_t *svc = json_object_get(meta, "service");
			if (json_array_size(svc))
				json_object_set(cat, "service", (json_t *)svc);
			json_array_append_new(catalogs, cat);
		}
		json_array_append(json_object_get(cat, "dataset"), json_object_get(row, "dataset"));
	}
	char *self_id = xasprintf("%s/dsp/catalog", b->svc.public_url);
	char *svc_id = xasprintf("%s#dsp", b->svc.public_url);
	char *endpoint = xasprintf("%s/dsp", b->svc.public_url);
	json_t *out = json_pack("{s:[s], s:s, s:s, s:s, s:[{s:s, s:s, s:s}]}", "@context",
				CATALOG_DSP_CONTEXT, "@id", self_id, "@type", "Catalog",
				"participantId", b->svc.public_url, "service", "@id", svc_id, "@type",
				"DataService", "endpointURL", endpoint);
	free(self_id);
	free(svc_id);
	free(endpoint);
	if (json_array_size(catalogs))
		json_object_set_new(out, "catalog", catalogs);
	else
		json_decref(catalogs);
	json_decref(rows);
	return agora_reply_json(r, 200, out);
}
