/* http_datasets.c — /api/v1/datasets: register, list, read, replace,
 * patch and delete datasets (DCAT fields of DESIGN.md §4 and §12). */
#include "config.h"
#include "connector.h"
#include "crypto.h"
#include "db_connector.h"
#include "ingest.h"
#include "jsonv.h"
#include "quality.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 20
#define PAGE_MAX 100

static bool
valid_time_or_null(const json_t *v, int64_t *ms, bool *present)
{
	*present = false;
	if (!v || json_is_null(v))
		return true;
	*present = true;
	return json_is_string(v) && agora_time_parse_rfc3339(json_string_value(v), ms);
}

static bool
check_spatial(struct agora_req *r, const json_t *spatial)
{
	const json_t *bbox;
	const struct agora_jfield f[] = { { "bbox", AGORA_J_ARRAY, true, 4, &bbox } };
	if (!agora_req_fields(r, spatial, f, ARRAY_LEN(f), true, "spatial."))
		return false;
	double v[4];
	bool ok = json_array_size(bbox) == 4;
	for (size_t i = 0; ok && i < 4; i++) {
		const json_t *x = json_array_get(bbox, i);
		ok = json_is_number(x);
		v[i] = ok ? json_number_value(x) : 0;
	}
	if (ok)
		ok = v[0] >= -180 && v[0] <= 180 && v[2] >= -180 && v[2] <= 180 && v[1] >= -90 &&
		     v[1] <= 90 && v[3] >= -90 && v[3] <= 90 && v[0] <= v[2] && v[1] <= v[3];
	if (!ok)
		agora_reply_error(r, AGORA_E_INVALID_REQUEST,
				  "field 'spatial.bbox' must be [minlon, minlat, maxlon, maxlat] with "
				  "longitudes in -180..180, latitudes in -90..90 and min <= max");
	return ok;
}

static bool
check_temporal(struct agora_req *r, const json_t *temporal)
{
	const json_t *start, *end;
	const struct agora_jfield f[] = {
		{ "start", AGORA_J_STRING, false, 64, &start },
		{ "end", AGORA_J_STRING, false, 64, &end },
	};
	if (!agora_req_fields(r, temporal, f, ARRAY_LEN(f), true, "temporal."))
		return false;
	int64_t s = 0, e = 0;
	bool hs, he;
	if (!valid_time_or_null(start, &s, &hs) || !valid_time_or_null(end, &e, &he)) {
		agora_reply_error(r, AGORA_E_INVALID_REQUEST,
				  "field 'temporal.%s' must be an RFC 3339 date-time such as 2026-01-01T00:00:00Z",
				  start && !agora_time_parse_rfc3339(json_string_value(start), &s) ? "start" : "end");
		return false;
	}
	if (hs && he && e < s) {
		agora_reply_error(r, AGORA_E_INVALID_REQUEST, "field 'temporal.end' is before 'temporal.start'");
		return false;
	}
	return true;
}

bool
connector_url_host(const char *url, char *host, size_t len)
{
	const char *p = !strncmp(url, "https://", 8) ? url + 8 : !strncmp(url, "http://", 7) ? url + 7 : NULL;
	if (!p)
		return false;
	size_t n = strcspn(p, ":/?#");
	if (n == 0 || n >= len || memchr(p, '@', strcspn(p, "/?#")))
		return false;	/* no userinfo: "http://allowed@evil" tricks */
	for (size_t i = 0; i < n; i++)
		host[i] = (char)((p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i]);
	host[n] = '\0';
	return true;
}

bool
connector_host_allowed(const struct connector *c, const char *host)
{
	for (char **h = c->http_allow; h && *h; h++)
		if (!strcmp(*h, host))
			return true;
	return false;
}

static bool
check_source(struct agora_req *r, const json_t *source)
{
	const struct connector *c = r->app;
	const char *type = json_string_value(json_object_get(source, "type"));
	if (!json_is_object(source) || !type) {
		agora_reply_error(r, AGORA_E_INVALID_REQUEST,
				  "field 'source.type' must be file, http or observations");
		return false;
	}
	if (!strcmp(type, "file")) {
		const struct agora_jfield f[] = { { "type", AGORA_J_STRING, true, 16, NULL } };
		return agora_req_fields(r, source, f, ARRAY_LEN(f), true, "source.");
	}
	if (!strcmp(type, "http")) {
		const json_t *url;
		const struct agora_jfield f[] = { { "type", AGORA_J_STRING, true, 16, NULL },
						  { "url", AGORA_J_STRING, true, 2048, &url } };
		if (!agora_req_fields(r, source, f, ARRAY_LEN(f), true, "source."))
			return false;
		char host[256];
		if (!connector_url_host(json_string_value(url), host, sizeof host)) {
			agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					  "field 'source.url' must be an http:// or https:// URL without credentials");
			return false;
		}
		if (connector_host_allowed(c, host))
			return true;
		agora_reply_error(r, AGORA_E_INVALID_REQUEST,
				  "host '%s' of 'source.url' is not on this connector's allow-list (--http-allow)",
				  host);
		return false;
	}
	if (!strcmp(type, "observations")) {
		char err[256];
		struct agora_obs_schema *s = agora_obs_schema_parse(source, err, sizeof err);
		if (!s) {
			agora_reply_error(r, AGORA_E_INVALID_REQUEST, "source: %s", err);
			return false;
		}
		agora_obs_schema_free(s);
		return true;
	}
	agora_reply_error(r, AGORA_E_INVALID_REQUEST, "field 'source.type' must be file, http or observations");
	return false;
}

/* Validate a dataset document; `full` (create, replace) requires title and
 * source.  Replies and returns false on the first problem. */
static bool
check_dataset(struct agora_req *r, const json_t *doc, bool full)
{
	const json_t *spatial, *temporal, *period, *source, *media;
	const struct agora_jfield f[] = {
		{ "title", AGORA_J_STRING, full, 500, NULL },
		{ "description", AGORA_J_STRING, false, 10000, NULL },
		{ "keyword", AGORA_J_STRINGS, false, 50, NULL },
		{ "theme", AGORA_J_STRINGS, false, 20, NULL },
		{ "license", AGORA_J_STRING, false, 500, NULL },
		{ "spatial", AGORA_J_OBJECT, false, 1, &spatial },
		{ "temporal", AGORA_J_OBJECT, false, 2, &temporal },
		{ "accrualPeriodicity", AGORA_J_STRING, false, 32, &period },
		{ "mediaType", AGORA_J_STRING, false, 100, &media },
		{ "source", AGORA_J_OBJECT, full, 16, &source },
	};
	if (!agora_req_fields(r, doc, f, ARRAY_LEN(f), true, NULL))
		return false;
	/* A null member clears an optional field (as if absent on create);
	 * title and source cannot be cleared. */
	if (json_is_null(json_object_get(doc, "title")) || json_is_null(json_object_get(doc, "source"))) {
		agora_reply_error(r, AGORA_E_INVALID_REQUEST, "fields 'title' and 'source' cannot be null");
		return false;
	}
	if (!full && json_object_size(doc) == 0) {
		agora_reply_error(r, AGORA_E_INVALID_REQUEST, "nothing to change");
		return false;
	}
	if (spatial && !check_spatial(r, spatial))
		return false;
	if (temporal && !check_temporal(r, temporal))
		return false;
	int64_t secs;
	if (period && !agora_iso8601_duration_seconds(json_string_value(period), &secs)) {
		agora_reply_error(r, AGORA_E_INVALID_REQUEST,
				  "field 'accrualPeriodicity' must be an ISO 8601 duration such as PT1H");
		return false;
	}
	const char *mt = json_string_value(media);
	if (mt && (!strchr(mt, '/') || strchr(mt, '/') != strrchr(mt, '/') || mt[0] == '/' ||
		   mt[strlen(mt) - 1] == '/' || strspn(mt, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&^_.+-/") != strlen(mt))) {
		agora_reply_error(r, AGORA_E_INVALID_REQUEST, "field 'mediaType' must be a media type such as text/csv");
		return false;
	}
	return !source || check_source(r, source);
}

static enum MHD_Result
db_unavailable(struct agora_req *r)
{
	return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
}

struct write_ctx {
	const char *id;
	const char *owner;
	const json_t *doc;
	int op;		/* 0 insert, 1 replace, 2 patch, 3 delete */
};

static enum agora_qs
write_tx(PGconn *db, void *arg)
{
	struct write_ctx *w = arg;
	enum agora_qs qs;
	switch (w->op) {
	case 0:
		qs = db_dataset_insert(db, w->id, w->owner, w->doc);
		break;
	case 3:
		qs = db_dataset_delete(db, w->id);
		break;
	default:
		qs = db_dataset_update(db, w->id, w->doc, w->op == 2);
		break;
	}
	if (qs != AGORA_QS_ONE)
		return qs;
	return db_catalog_bump(db) < 0 ? AGORA_QS_HARD_ERROR : AGORA_QS_ONE;
}

static enum MHD_Result
reply_dataset(struct agora_req *r, unsigned status, const char *id)
{
	json_t *doc = NULL;
	enum agora_qs qs = db_dataset_get(id, &doc, NULL);
	if (qs != AGORA_QS_ONE)
		return db_unavailable(r);
	return agora_reply_json(r, status, doc);
}

enum MHD_Result
conn_dataset_create(struct agora_req *r)
{
	if (!check_dataset(r, r->json, true))
		return MHD_YES;
	char id[46];
	agora_urn_uuid(id);
	struct write_ctx w = { id, r->api_key_id, r->json, 0 };
	if (agora_db_tx(write_tx, &w, false) != AGORA_QS_ONE)
		return db_unavailable(r);
	connector_push_wake(r->app);
	char *loc = xasprintf("/api/v1/datasets/%s", id);
	agora_reply_header(r, "Location", loc);
	free(loc);
	return reply_dataset(r, 201, id);
}

enum MHD_Result
conn_dataset_list(struct agora_req *r)
{
	long limit;
	char *after;
	if (!agora_req_page(r, PAGE_DEFAULT, PAGE_MAX, &limit, &after))
		return MHD_YES;
	const char *q = agora_req_query(r, "q");
	const char *theme = agora_req_query(r, "theme");
	const char *keyword = agora_req_query(r, "keyword");
	if ((q && strlen(q) > 200) || (theme && strlen(theme) > 256) || (keyword && strlen(keyword) > 256)) {
		free(after);
		return agora_reply_error(r, AGORA_E_INVALID_QUERY, "q, theme and keyword are bounded to 200/256 bytes");
	}
	json_t *list = NULL;
	enum agora_qs qs = db_dataset_list(after, q, theme, keyword, (int)limit + 1, &list);
	free(after);
	if (qs < 0)
		return db_unavailable(r);
	json_t *next = agora_page_next(list, limit, "id");
	return agora_reply_json(r, 200, json_pack("{s:o, s:o}", "results", list, "next", next));
}

json_t *
connector_dataset_lookup(struct agora_req *r, bool change)
{
	const char *id = agora_req_param(r, "id");
	json_t *doc = NULL;
	char *owner = NULL;
	enum agora_qs qs = strlen(id) <= 200 ? db_dataset_get(id, &doc, &owner) : AGORA_QS_NONE;
	if (qs < 0) {
		db_unavailable(r);
	} else if (qs == AGORA_QS_NONE) {
		agora_reply_error(r, AGORA_E_DATASET_NOT_FOUND, "no dataset '%.200s'", id);
	} else if (change && !connector_may_change(r, owner)) {
		agora_reply_error(r, AGORA_E_FORBIDDEN, "only its owner or an admin may change this dataset");
		json_decref(doc);
		doc = NULL;
	}
	free(owner);
	return doc;
}

enum MHD_Result
conn_dataset_get(struct agora_req *r)
{
	json_t *doc = connector_dataset_lookup(r, false);
	return doc ? agora_reply_json(r, 200, doc) : MHD_YES;
}

static enum MHD_Result
update(struct agora_req *r, int op)
{
	json_t *doc = connector_dataset_lookup(r, true);
	if (!doc)
		return MHD_YES;
	json_decref(doc);
	if (op != 3 && !check_dataset(r, r->json, op == 1))
		return MHD_YES;
	const char *id = agora_req_param(r, "id");
	struct write_ctx w = { id, r->api_key_id, r->json, op };
	enum agora_qs qs = agora_db_tx(write_tx, &w, false);
	if (qs == AGORA_QS_NONE)
		return agora_reply_error(r, AGORA_E_DATASET_NOT_FOUND, "no dataset '%.200s'", id);
	if (qs != AGORA_QS_ONE)
		return db_unavailable(r);
	connector_push_wake(r->app);
	if (op == 3)
		return agora_reply_json(r, 200, json_pack("{s:s, s:b}", "id", id, "deleted", 1));
	return reply_dataset(r, 200, id);
}

enum MHD_Result
conn_dataset_replace(struct agora_req *r)
{
	return update(r, 1);
}

enum MHD_Result
conn_dataset_patch(struct agora_req *r)
{
	return update(r, 2);
}

enum MHD_Result
conn_dataset_delete(struct agora_req *r)
{
	return update(r, 3);
}

enum MHD_Result
conn_dataset_quality(struct agora_req *r)
{
	json_t *doc = connector_dataset_lookup(r, false);
	if (!doc)
		return MHD_YES;
	json_t *q = json_incref(json_object_get(doc, "quality"));
	json_decref(doc);
	if (!q)
		q = json_pack("{s:n}", "recordCount");
	return agora_reply_json(r, 200, q);
}
