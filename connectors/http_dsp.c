/* http_dsp.c — the connector's DSP catalog endpoints (provider side) and
 * the catalog search it proxies to the broker for its users. */
#include "connector.h"
#include "config.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define DSP_CONTEXT "https://w3id.org/dspace/2025/1/context.jsonld"
#define PAGE_DEFAULT 100
#define PAGE_MAX 1000

static enum MHD_Result
catalog_error(struct agora_req *r, unsigned status, const char *code, const char *reason)
{
	return agora_reply_json(r, status,
				json_pack("{s:[s], s:s, s:s, s:[s]}", "@context", DSP_CONTEXT, "@type",
					  "CatalogError", "code", code, "reason", reason));
}

static bool
has_dsp_context(const json_t *ctx)
{
	if (json_is_string(ctx))
		return !strcmp(json_string_value(ctx), DSP_CONTEXT);
	size_t i;
	json_t *v;
	json_array_foreach(ctx, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), DSP_CONTEXT))
			return true;
	return false;
}

enum MHD_Result
conn_dsp_catalog_request(struct agora_req *r)
{
	const struct connector *c = r->app;
	const json_t *type = json_object_get(r->json, "@type");
	if (!json_is_object(r->json) || !json_is_string(type) ||
	    strcmp(json_string_value(type), "CatalogRequestMessage") != 0 ||
	    !has_dsp_context(json_object_get(r->json, "@context")))
		return catalog_error(r, 400, "400",
				     "the body must be a DSP 2025-1 CatalogRequestMessage with its @context");
	long offset = 0, limit = PAGE_DEFAULT;
	const char *o = agora_req_query(r, "offset"), *l = agora_req_query(r, "limit");
	if ((o && !agora_parse_long(o, 0, 10000000, &offset)) || (l && !agora_parse_long(l, 1, PAGE_MAX, &limit)))
		return catalog_error(r, 400, "400", "offset must be ≥ 0 and limit 1..1000");
	json_t *attrs = connector_participant_attributes(r->participant);
	json_t *all = connector_datasets(c, r->participant, attrs, NULL, NULL);
	json_decref(attrs);
	if (!all)
		return catalog_error(r, 503, "503", "the catalog is unavailable; retry later");
	size_t n = json_array_size(all);
	json_t *page = json_array();
	for (size_t i = (size_t)offset; i < n && i < (size_t)(offset + limit); i++)
		json_array_append(page, json_array_get(all, i));
	json_decref(all);
	if ((size_t)(offset + limit) < n) {
		char *link = xasprintf("<%s%s?offset=%ld&limit=%ld>; rel=\"next\"", c->svc.public_url,
				       r->path, offset + limit, limit);
		agora_reply_header(r, "Link", link);
		free(link);
	}
	if (offset > 0) {
		long prev = offset - limit < 0 ? 0 : offset - limit;
		char *link = xasprintf("<%s%s?offset=%ld&limit=%ld>; rel=\"previous\"", c->svc.public_url,
				       r->path, prev, limit);
		agora_reply_header(r, "Link", link);
		free(link);
	}
	return agora_reply_json(r, 200, connector_catalog_doc(c, page));
}

enum MHD_Result
conn_dsp_dataset(struct agora_req *r)
{
	const struct connector *c = r->app;
	const char *id = agora_req_param(r, "id");
	if (strlen(id) > 200)
		return catalog_error(r, 404, "404", "no such dataset");
	json_t *attrs = connector_participant_attributes(r->participant);
	json_t *ds = connector_datasets(c, r->participant, attrs, id, NULL);
	json_decref(attrs);
	if (!ds)
		return catalog_error(r, 503, "503", "the catalog is unavailable; retry later");
	json_t *d = json_incref(json_array_get(ds, 0));
	json_decref(ds);
	if (!d)
		return catalog_error(r, 404, "404", "no such dataset");
	json_object_set_new(d, "@context", json_pack("[s]", DSP_CONTEXT));
	return agora_reply_json(r, 200, d);
}

enum MHD_Result
conn_catalog_search(struct agora_req *r)
{
	const struct connector *c = r->app;
	/* Forward the query string as given: the broker validates it. */
	const char *qs = r->query_string;
	if (strlen(qs) > 4096)
		return agora_reply_error(r, AGORA_E_INVALID_QUERY, "the query string is too long");
	char *path = xasprintf("/api/v1/catalog/datasets%s%s", qs && *qs ? "?" : "", qs ? qs : "");
	long status = 0;
	json_t *out = NULL;
	char err[256];
	bool ok = connector_call_broker(c, "GET", path, NULL, &status, &out, err, sizeof err);
	free(path);
	if (!ok || !out) {
		json_decref(out);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the broker is unavailable: %s", ok ? "bad answer" : err);
	}
	return agora_reply_json(r, (unsigned)status, out);
}
