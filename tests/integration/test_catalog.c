/* test_catalog.c — the broker's federated catalog end to end: catalog
 * pushes (auth, validation, atomic replacement, versions), search with
 * every filter, sort, paging and exact facets, access-policy filtering for
 * anonymous and two different participants, dataset lookup, the DSP
 * catalog of catalogs (checked with dsp-validate) and crawling. */
#include "broker_fixture.h"
#include "jose.h"
#include "util.h"

#include <criterion/criterion.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(catalog, .init = fx_start, .fini = fx_stop, .timeout = 120);

#define CITY "urn:agora:participant:city"
#define MOB "urn:agora:participant:mobility-co"
#define FRORG "urn:agora:participant:fr-agency"
#define DSP_CTX "https://w3id.org/dspace/2025/1/context.jsonld"
#define SEARCH "/api/v1/catalog/datasets"

/* ---- helpers ---------------------------------------------------------- */

/* Register id with the given attributes (country, industry). */
static void
register_as(struct participant *p, const char *id, const char *country, const char *industry)
{
	snprintf(p->id, sizeof p->id, "%s", id);
	p->key = agora_key_generate();
	agora_key_thumbprint(p->key, p->kid);
	json_t *b = json_pack("{s:s, s:s, s:s, s:{s:[o]}, s:{s:s, s:s}}", "id", id, "name",
			      id + strlen("urn:agora:participant:"), "endpoint", "http://127.0.0.1:9",
			      "jwks", "keys", agora_jwk_from_key(p->key), "attributes", "country",
			      country, "industry", industry);
	char *s = json_dumps(b, JSON_COMPACT);
	struct harness_resp *r = fx_call("POST", "/api/v1/participants", ADMIN_KEY, s);
	cr_assert_eq(r->status, 201, "register %s: %s", id, r->body);
	harness_resp_free(r);
	free(s);
	json_decref(b);
}

/* An ODRL Offer permitting use, optionally with one constraint. */
static json_t *
offer(const char *id, const char *lo, const char *op, const char *ro)
{
	json_t *perm = json_pack("{s:s}", "action", "use");
	if (lo)
		json_object_set_new(perm, "constraint",
				    json_pack("[{s:s, s:s, s:s}]", "leftOperand", lo, "operator", op,
					      "rightOperand", ro));
	return json_pack("{s:s, s:s, s:[o]}", "@id", id, "@type", "Offer", "permission", perm);
}

/* An access policy (ODRL Set) permitting use when lo eq ro. */
static json_t *
access_policy(const char *lo, const char *ro)
{
	return json_pack("{s:s, s:[{s:s, s:[{s:s, s:s, s:s}]}]}", "@type", "Set", "permission",
			 "action", "use", "constraint", "leftOperand", lo, "operator", "eq",
			 "rightOperand", ro);
}

struct ds {
	const char *id, *title, *description;
	const char *keywords[4], *themes[4];
	const char *license, *modified, *tstart, *tend, *media;
	double bbox[4];
	bool no_bbox;
	const char *offer_ids[3];
};

static json_t *
dataset(const struct ds *d)
{
	json_t *j = json_pack("{s:s, s:s, s:s}", "@id", d->id, "@type", "Dataset", "title", d->title);
	if (d->description)
		json_object_set_new(j, "description", json_string(d->description));
	json_t *kw = json_array(), *th = json_array();
	for (int i = 0; i < 4 && d->keywords[i]; i++)
		json_array_append_new(kw, json_string(d->keywords[i]));
	for (int i = 0; i < 4 && d->themes[i]; i++)
		json_array_append_new(th, json_string(d->themes[i]));
	json_object_set_new(j, "keyword", kw);
	json_object_set_new(j, "theme", th);
	json_object_set_new(j, "license",
			    json_string(d->license ? d->license
						   : "https://creativecommons.org/licenses/by/4.0/"));
	json_object_set_new(j, "issued", json_string("2026-01-01T00:00:00Z"));
	json_object_set_new(j, "modified",
			    json_string(d->modified ? d->modified : "2026-06-01T00:00:00Z"));
	if (!d->no_bbox)
		json_object_set_new(j, "spatial",
				    json_pack("{s:[f,f,f,f]}", "bbox", d->bbox[0], d->bbox[1],
					      d->bbox[2], d->bbox[3]));
	json_object_set_new(j, "temporal",
			    json_pack("{s:s, s:o}", "start",
				      d->tstart ? d->tstart : "2026-01-01T00:00:00Z", "end",
				      d->tend ? json_string(d->tend) : json_null()));
	json_object_set_new(j, "accrualPeriodicity", json_string("PT1H"));
	json_object_set_new(j, "mediaType", json_string(d->media ? d->media : "text/csv"));
	json_object_set_new(j, "quality", json_pack("{s:i, s:f}", "recordCount", 8760,
						    "completeness", 0.97));
	json_t *offers = json_array();
	for (int i = 0; i < 3 && d->offer_ids[i]; i++)
		json_array_append_new(offers, offer(d->offer_ids[i], NULL, NULL, NULL));
	if (!json_array_size(offers)) {
		char *oid = xasprintf("%s:offer", d->id);
		json_array_append_new(offers, offer(oid, NULL, NULL, NULL));
		free(oid);
	}
	json_object_set_new(j, "hasPolicy", offers);
	json_object_set_new(j, "distribution",
			    json_pack("[{s:s, s:s, s:s, s:i, s:s}]", "@type", "Distribution",
				      "format", "HttpData-PULL", "mediaType",
				      d->media ? d->media : "text/csv", "byteSize", 1234,
				      "accessService", "urn:test#dsp"));
	return j;
}

/* {"catalog":{…datasets…}, "accessPolicies":access (stolen, may be NULL)}. */
static json_t *
push_body(const char *pid, json_t *datasets, json_t *access)
{
	char *svc = xasprintf("%s#dsp", pid);
	json_t *cat = json_pack("{s:[s], s:s, s:s, s:s, s:[{s:s, s:s, s:s}], s:o}", "@context",
				DSP_CTX, "@id", "urn:uuid:8d4b2c4e-0000-4000-8000-000000000001", "@type",
				"Catalog", "participantId", pid, "service", "@id", svc, "@type",
				"DataService", "endpointURL", "http://127.0.0.1:9/dsp", "dataset",
				datasets);
	free(svc);
	json_t *b = json_pack("{s:o}", "catalog", cat);
	if (access)
		json_object_set_new(b, "accessPolicies", access);
	return b;
}

/* PUT the body (stolen) as participant `as` to pid's catalog. */
static struct harness_resp *
push_as(const struct participant *as, const char *pid, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	char *path = xasprintf("/api/v1/catalogs/%s", pid);
	char *t = fx_token(as, "PUT", path, s, NULL);
	struct harness_resp *r = fx_call("PUT", path, t, s);
	free(t);
	free(path);
	free(s);
	return r;
}

static void
push_ok(const struct participant *p, json_t *body, long datasets)
{
	struct harness_resp *r = push_as(p, p->id, body);
	cr_assert_eq(r->status, 200, "push: %s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "participant")), p->id);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "datasets")), datasets, "%s", r->body);
	harness_resp_free(r);
}

/* GET a catalog path (with query) as p (NULL: anonymous). */
static struct harness_resp *
get_as(const struct participant *p, const char *path_query)
{
	char *path = xstrdup(path_query);
	path[strcspn(path, "?")] = '\0';
	char *t = p ? fx_token(p, "GET", path, NULL, NULL) : NULL;
	struct harness_resp *r = fx_call("GET", path_query, t, NULL);
	free(t);
	free(path);
	return r;
}

static struct harness_resp *
search_ok(const struct participant *p, const char *query)
{
	char *pq = xasprintf(SEARCH "%s", query);
	struct harness_resp *r = get_as(p, pq);
	cr_assert_eq(r->status, 200, "GET %s: %s", pq, r->body);
	free(pq);
	return r;
}

/* The result ids, comma-separated, in order ("" for none). */
static char *
ids_of(const struct harness_resp *r)
{
	struct agora_buf b;
	agora_buf_init(&b);
	json_t *res = json_object_get(r->json, "results");
	for (size_t i = 0; i < json_array_size(res); i++) {
		if (i)
			agora_buf_puts(&b, ",");
		agora_buf_puts(&b, json_string_value(json_object_get(json_array_get(res, i), "id")));
	}
	agora_buf_append(&b, "", 0);
	return agora_buf_steal(&b);
}

static void
expect_ids(const struct participant *p, const char *query, const char *want, long count)
{
	struct harness_resp *r = search_ok(p, query);
	char *got = ids_of(r);
	cr_assert_str_eq(got, want, "search %s: got [%s], want [%s]: %s", query, got, want, r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "count")), count,
		     "search %s: count: %s", query, r->body);
	free(got);
	harness_resp_free(r);
}

static void
expect_query_error(const char *query)
{
	char *pq = xasprintf(SEARCH "%s", query);
	struct harness_resp *r = fx_call("GET", pq, NULL, NULL);
	fx_assert_error(r, 400, "invalid_query");
	harness_resp_free(r);
	free(pq);
}

/* The facet's "name=count,…" list. */
static char *
facet(const struct harness_resp *r, const char *name)
{
	struct agora_buf b;
	agora_buf_init(&b);
	json_t *f = json_object_get(json_object_get(r->json, "facets"), name);
	cr_assert(json_is_array(f), "facet %s: %s", name, r->body);
	for (size_t i = 0; i < json_array_size(f); i++) {
		json_t *e = json_array_get(f, i);
		agora_buf_printf(&b, "%s%s=%lld", i ? "," : "",
				 json_string_value(json_object_get(e, "name")),
				 (long long)json_integer_value(json_object_get(e, "count")));
	}
	agora_buf_append(&b, "", 0);
	return agora_buf_steal(&b);
}

static long
db_count(const char *sql)
{
	return harness_db_count(fx.db, sql);
}

/* Three datasets of the city used by several tests. */
static json_t *
three_datasets(void)
{
	json_t *a = json_array();
	json_array_append_new(a, dataset(&(struct ds){
		.id = "urn:uuid:a", .title = "Air quality sensors, Lyon",
		.description = "Hourly NO2 and PM10 readings.", .keywords = { "no2", "pm10" },
		.themes = { "environment" }, .modified = "2026-03-01T00:00:00Z",
		.bbox = { 4.83, 45.74, 4.87, 45.77 } }));
	json_array_append_new(a, dataset(&(struct ds){
		.id = "urn:uuid:b", .title = "Traffic counts",
		.description = "Vehicle counts per road segment; correlates with air pollution.",
		.keywords = { "air quality", "traffic" }, .themes = { "mobility", "environment" },
		.modified = "2026-05-01T00:00:00Z", .license = "https://opendatacommons.org/odbl/",
		.bbox = { 2.25, 48.81, 2.42, 48.90 }, .tstart = "2025-01-01T00:00:00Z",
		.tend = "2025-12-31T23:59:59Z", .media = "application/json" }));
	json_array_append_new(a, dataset(&(struct ds){
		.id = "urn:uuid:c", .title = "Bike sharing stations",
		.description = "Station status; the air in the docks is not measured.",
		.keywords = { "bike", "traffic" }, .themes = { "mobility" },
		.modified = "2026-04-01T00:00:00Z", .no_bbox = true }));
	return a;
}

/* ---- pushes -------------------------------------------------------------- */

Test(catalog, push_is_authenticated_and_stored)
{
	struct participant city, other;
	register_as(&city, CITY, "FR", "public-sector");
	register_as(&other, MOB, "DE", "mobility");

	struct harness_resp *r = push_as(&city, CITY, push_body(CITY, three_datasets(), NULL));
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "datasets")), 3);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "version")), 1);
	harness_resp_free(r);
	cr_assert_eq(db_count("SELECT count(*) FROM datasets WHERE NOT withdrawn"), 3);
	cr_assert_eq(db_count("SELECT count(*) FROM dataset_versions"), 3);

	/* Another participant may not push the city's catalog. */
	r = push_as(&other, CITY, push_body(CITY, json_array(), NULL));
	fx_assert_error(r, 403, "forbidden");
	harness_resp_free(r);
	/* Nor claim the city's dataset ids in its own. */
	json_t *steal = json_array();
	json_array_append_new(steal, dataset(&(struct ds){ .id = "urn:uuid:a", .title = "Mine",
							    .bbox = { 0, 0, 1, 1 } }));
	r = push_as(&other, MOB, push_body(MOB, steal, NULL));
	fx_assert_error(r, 409, "dataset_id_taken");
	harness_resp_free(r);
	/* No credentials; an API key is not a participant. */
	r = fx_call("PUT", "/api/v1/catalogs/" CITY, NULL, "{}");
	fx_assert_error(r, 401, "missing_credentials");
	harness_resp_free(r);
	r = fx_call("PUT", "/api/v1/catalogs/" CITY, ADMIN_KEY, "{}");
	fx_assert_error(r, 401, "missing_credentials");
	harness_resp_free(r);
	cr_assert_eq(db_count("SELECT count(*) FROM datasets WHERE NOT withdrawn"), 3);
	cr_assert_eq(db_count("SELECT count(*) FROM datasets WHERE participant_id = '" MOB "'"), 0);

	/* The stored dataset as a search result. */
	r = get_as(NULL, SEARCH "/urn:uuid:a");
	cr_assert_eq(r->status, 200, "%s", r->body);
	json_t *d = r->json;
	cr_assert_str_eq(json_string_value(json_object_get(d, "title")), "Air quality sensors, Lyon");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "publisher"), "id")), CITY);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "publisher"), "name")),
			 "city");
	cr_assert(json_is_true(json_object_get(d, "available")));
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(d, "quality"), "recordCount")),
		     8760);
	cr_assert_eq(json_array_size(json_object_get(json_object_get(d, "spatial"), "bbox")), 4);
	json_t *o = json_array_get(json_object_get(d, "offers"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(o, "id")), "urn:uuid:a:offer");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "policy"), "@type")),
			 "Offer");
	const char *desc = json_string_value(json_object_get(o, "description"));
	cr_assert(desc && strlen(desc) > 0, "plain-language description: %s", r->body);
	harness_resp_free(r);
	r = get_as(NULL, SEARCH "/urn:uuid:nope");
	fx_assert_error(r, 404, "dataset_not_found");
	harness_resp_free(r);
}

static void
expect_refused(const struct participant *city, json_t *body, const char *symbol, const char *needle)
{
	struct harness_resp *r = push_as(city, CITY, body);
	fx_assert_error(r, 400, symbol);
	const char *detail = json_string_value(json_object_get(r->json, "detail"));
	cr_assert(strstr(detail, needle), "detail '%s' names '%s'", detail, needle);
	harness_resp_free(r);
}

/* Replace member `key` of dataset i of a fresh three_datasets() push. */
static json_t *
with_field(size_t i, const char *key, json_t *value)
{
	json_t *ds = three_datasets();
	json_t *d = json_array_get(ds, i);
	if (value)
		json_object_set_new(d, key, value);
	else
		json_object_del(d, key);
	return push_body(CITY, ds, NULL);
}

Test(catalog, bad_pushes_store_nothing)
{
	struct participant city;
	register_as(&city, CITY, "FR", "public-sector");
	push_ok(&city, push_body(CITY, three_datasets(), NULL), 3);

	expect_refused(&city, push_body(MOB, three_datasets(), NULL), "invalid_request",
		       "participantId");
	expect_refused(&city, with_field(1, "title", NULL), "invalid_request", "dataset[1].title");
	expect_refused(&city, with_field(0, "spatial", json_pack("{s:[i,i,i,i]}", "bbox", 0, 0, 200, 1)),
		       "invalid_request", "dataset[0].spatial.bbox");
	expect_refused(&city, with_field(0, "spatial", json_pack("{s:[i,i,i,i]}", "bbox", 5, 0, 4, 1)),
		       "invalid_request", "dataset[0].spatial.bbox");
	expect_refused(&city, with_field(0, "spatial", json_pack("{s:[i,i,i]}", "bbox", 5, 0, 4)),
		       "invalid_request", "dataset[0].spatial.bbox");
	expect_refused(&city, with_field(2, "modified", json_string("2026-13-01T00:00:00Z")),
		       "invalid_request", "dataset[2].modified");
	expect_refused(&city, with_field(2, "issued", json_string("yesterday")), "invalid_request",
		       "dataset[2].issued");
	expect_refused(&city, with_field(1, "temporal", json_pack("{s:s, s:s}", "start",
								"2026-02-01T00:00:00Z", "end",
								"2026-01-01T00:00:00Z")),
		       "invalid_request", "dataset[1].temporal");
	expect_refused(&city, with_field(1, "distribution", NULL), "invalid_request",
		       "dataset[1].distribution");
	expect_refused(&city, with_field(0, "colour", json_string("red")), "unknown_field",
		       "dataset[0].colour");
	expect_refused(&city, with_field(0, "keyword", json_pack("[i]", 3)), "invalid_request",
		       "dataset[0].keyword");
	expect_refused(&city, with_field(2, "hasPolicy", json_array()), "invalid_request",
		       "dataset[2].hasPolicy");
	/* Offers: an @id, @type Offer and valid ODRL. */
	expect_refused(&city, with_field(1, "hasPolicy", json_pack("[{s:s, s:[{s:s}]}]", "@type", "Offer",
								 "permission", "action", "use")),
		       "invalid_request", "dataset[1].hasPolicy[0]");
	expect_refused(&city, with_field(1, "hasPolicy",
					 json_pack("[o]", offer("urn:o:1", "shoeSize", "eq", "42"))),
		       "invalid_policy", "dataset[1].hasPolicy[0]");
	/* Two datasets with one id. */
	json_t *ds = three_datasets();
	json_object_set_new(json_array_get(ds, 2), "@id", json_string("urn:uuid:a"));
	expect_refused(&city, push_body(CITY, ds, NULL), "invalid_request", "dataset[2].@id");
	/* Access policies must name offers of the catalog and be valid. */
	expect_refused(&city, push_body(CITY, three_datasets(),
					json_pack("{s:o}", "urn:o:unknown",
						  access_policy("agora:country", "DE"))),
		       "invalid_request", "urn:o:unknown");
	expect_refused(&city, push_body(CITY, three_datasets(),
					json_pack("{s:{s:s}}", "urn:uuid:a:offer", "@type", "Set")),
		       "invalid_policy", "urn:uuid:a:offer");
	/* Unknown top-level member. */
	json_t *b = push_body(CITY, three_datasets(), NULL);
	json_object_set_new(b, "extra", json_true());
	struct harness_resp *r = push_as(&city, CITY, b);
	fx_assert_error(r, 400, "unknown_field");
	harness_resp_free(r);

	/* Nothing of the bad pushes was stored. */
	cr_assert_eq(db_count("SELECT count(*) FROM datasets WHERE NOT withdrawn"), 3);
	cr_assert_eq(db_count("SELECT count(*) FROM datasets WHERE withdrawn"), 0);
	cr_assert_eq(db_count("SELECT count(*) FROM dataset_versions"), 3);
	cr_assert_eq(db_count("SELECT count(*) FROM catalog_offers"), 3);
	cr_assert_eq(db_count("SELECT max(version) FROM catalog_participants"), 1);
}

Test(catalog, repush_replaces_and_keeps_history)
{
	struct participant city;
	register_as(&city, CITY, "FR", "public-sector");
	push_ok(&city, push_body(CITY, three_datasets(), NULL), 3);
	/* Again, unchanged: no new versions. */
	push_ok(&city, push_body(CITY, three_datasets(), NULL), 3);
	cr_assert_eq(db_count("SELECT count(*) FROM dataset_versions"), 3);

	/* Drop c, change b's title. */
	json_t *ds = three_datasets();
	json_array_remove(ds, 2);
	json_object_set_new(json_array_get(ds, 1), "title", json_string("Road traffic counts"));
	struct harness_resp *r = push_as(&city, CITY, push_body(CITY, ds, NULL));
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "version")), 3);
	harness_resp_free(r);
	expect_ids(NULL, "?sort=title", "urn:uuid:a,urn:uuid:b", 2);
	r = get_as(NULL, SEARCH "/urn:uuid:c");
	fx_assert_error(r, 404, "dataset_not_found");
	harness_resp_free(r);
	r = get_as(NULL, SEARCH "/urn:uuid:b");
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "title")), "Road traffic counts");
	cr_assert_eq(json_integer_value(json_object_get(r->json, "version")), 2);
	harness_resp_free(r);
	/* History: 3 first versions, b's change, c's withdrawal; nothing deleted. */
	cr_assert_eq(db_count("SELECT count(*) FROM dataset_versions"), 5);
	cr_assert_eq(db_count("SELECT count(*) FROM dataset_versions WHERE withdrawn"), 1);
	cr_assert_eq(db_count("SELECT count(*) FROM datasets"), 3);
	cr_assert_eq(db_count("SELECT count(*) FROM datasets WHERE withdrawn AND id = 'urn:uuid:c'"), 1);

	/* c comes back: listed again, as a new version. */
	push_ok(&city, push_body(CITY, three_datasets(), NULL), 3);
	expect_ids(NULL, "?sort=title", "urn:uuid:a,urn:uuid:c,urn:uuid:b", 3);
	cr_assert_eq(db_count("SELECT version FROM datasets WHERE id = 'urn:uuid:c'"), 3);

	/* An empty catalog withdraws everything. */
	push_ok(&city, push_body(CITY, json_array(), NULL), 0);
	expect_ids(NULL, "", "", 0);
}

/* ---- search --------------------------------------------------------------- */

Test(catalog, search_filters_sorts_and_facets)
{
	struct participant city, mob;
	register_as(&city, CITY, "FR", "public-sector");
	register_as(&mob, MOB, "DE", "mobility");
	push_ok(&city, push_body(CITY, three_datasets(), NULL), 3);
	json_t *m = json_array();
	json_array_append_new(m, dataset(&(struct ds){
		.id = "urn:uuid:m1", .title = "Parking occupancy", .description = "Car parks.",
		.keywords = { "parking", "traffic" }, .themes = { "mobility" },
		.modified = "2026-02-01T00:00:00Z", .bbox = { 13.3, 52.4, 13.5, 52.6 },
		.tstart = "2024-01-01T00:00:00Z", .tend = "2024-06-30T00:00:00Z" }));
	push_ok(&mob, push_body(MOB, m, NULL), 1);

	/* Relevance: title (A) > keyword (B) > description (C). */
	expect_ids(NULL, "?q=air", "urn:uuid:a,urn:uuid:b,urn:uuid:c", 3);
	expect_ids(NULL, "?q=air&sort=relevance", "urn:uuid:a,urn:uuid:b,urn:uuid:c", 3);
	expect_ids(NULL, "?q=parking", "urn:uuid:m1", 1);
	expect_ids(NULL, "?q=submarine", "", 0);
	/* Sorts: modified (newest first) is the default without q. */
	expect_ids(NULL, "", "urn:uuid:b,urn:uuid:c,urn:uuid:a,urn:uuid:m1", 4);
	expect_ids(NULL, "?sort=modified", "urn:uuid:b,urn:uuid:c,urn:uuid:a,urn:uuid:m1", 4);
	expect_ids(NULL, "?sort=title", "urn:uuid:a,urn:uuid:c,urn:uuid:m1,urn:uuid:b", 4);
	expect_ids(NULL, "?q=air&sort=title", "urn:uuid:a,urn:uuid:c,urn:uuid:b", 3);
	/* Each filter. */
	expect_ids(NULL, "?theme=environment", "urn:uuid:b,urn:uuid:a", 2);
	expect_ids(NULL, "?keyword=traffic", "urn:uuid:b,urn:uuid:c,urn:uuid:m1", 3);
	expect_ids(NULL, "?publisher=" MOB, "urn:uuid:m1", 1);
	expect_ids(NULL, "?format=application/json", "urn:uuid:b", 1);
	expect_ids(NULL, "?license=https://opendatacommons.org/odbl/", "urn:uuid:b", 1);
	expect_ids(NULL, "?bbox=4,45,5,46", "urn:uuid:a", 1);		/* Lyon */
	expect_ids(NULL, "?bbox=-10,40,10,50", "urn:uuid:b,urn:uuid:a", 2);	/* France */
	expect_ids(NULL, "?bbox=100,0,110,10", "", 0);
	/* Temporal overlap; a dataset without an end is ongoing. */
	expect_ids(NULL, "?from=2024-03-01T00:00:00Z&to=2024-04-01T00:00:00Z", "urn:uuid:m1", 1);
	expect_ids(NULL, "?from=2025-06-01T00:00:00Z", "urn:uuid:b,urn:uuid:c,urn:uuid:a", 3);
	expect_ids(NULL, "?to=2025-06-01T00:00:00Z", "urn:uuid:b,urn:uuid:m1", 2);
	expect_ids(NULL, "?q=traffic&theme=mobility&publisher=" CITY, "urn:uuid:b,urn:uuid:c", 2);

	/* Facets count the filtered set, before paging. */
	struct harness_resp *r = search_ok(NULL, "?keyword=traffic&limit=1");
	cr_assert_eq(json_array_size(json_object_get(r->json, "results")), 1);
	char *f = facet(r, "theme");
	cr_assert_str_eq(f, "mobility=3,environment=1");
	free(f);
	f = facet(r, "keyword");
	cr_assert_str_eq(f, "traffic=3,air quality=1,bike=1,parking=1");
	free(f);
	f = facet(r, "publisher");
	cr_assert_str_eq(f, CITY "=2," MOB "=1");
	free(f);
	f = facet(r, "format");
	cr_assert_str_eq(f, "text/csv=2,application/json=1");
	free(f);
	f = facet(r, "license");
	cr_assert_str_eq(f, "https://creativecommons.org/licenses/by/4.0/=2,https://opendatacommons.org/odbl/=1");
	free(f);
	harness_resp_free(r);

	/* Bad parameters name themselves. */
	expect_query_error("?bbox=1,2,3");
	expect_query_error("?bbox=-181,0,0,1");
	expect_query_error("?bbox=0,-91,1,0");
	expect_query_error("?bbox=5,0,4,1");
	expect_query_error("?from=2026-01-01");
	expect_query_error("?to=tomorrow");
	expect_query_error("?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z");
	expect_query_error("?sort=popularity");
	expect_query_error("?limit=0");
	expect_query_error("?limit=101");
	expect_query_error("?cursor=garbage");
	r = fx_call("GET", SEARCH "?sort=fame", NULL, NULL);
	cr_assert(strstr(json_string_value(json_object_get(r->json, "detail")), "sort"));
	harness_resp_free(r);
}

/* Walk all pages of query with limit 2; returns the ids joined. */
static char *
walk(const char *query)
{
	struct agora_buf all;
	agora_buf_init(&all);
	char *cursor = NULL;
	int pages = 0;
	do {
		char *q = cursor ? xasprintf("%s&limit=2&cursor=%s", query, cursor)
				 : xasprintf("%s&limit=2", query);
		struct harness_resp *r = search_ok(NULL, q);
		cr_assert_eq(json_integer_value(json_object_get(r->json, "count")), 5, "%s", r->body);
		char *ids = ids_of(r);
		agora_buf_printf(&all, "%s%s", all.len ? "," : "", ids);
		free(ids);
		free(cursor);
		json_t *next = json_object_get(r->json, "next");
		cursor = json_is_string(next) ? xstrdup(json_string_value(next)) : NULL;
		cr_assert(json_is_string(next) || json_is_null(next), "%s", r->body);
		harness_resp_free(r);
		free(q);
		cr_assert(++pages <= 3);
	} while (cursor);
	cr_assert_eq(pages, 3);
	agora_buf_append(&all, "", 0);
	return agora_buf_steal(&all);
}

Test(catalog, paging_with_cursors)
{
	struct participant city;
	register_as(&city, CITY, "FR", "public-sector");
	json_t *ds = three_datasets();
	json_array_append_new(ds, dataset(&(struct ds){ .id = "urn:uuid:d", .title = "Air temperature",
							 .modified = "2026-05-01T00:00:00Z",
							 .bbox = { 0, 0, 1, 1 } }));
	json_array_append_new(ds, dataset(&(struct ds){ .id = "urn:uuid:e", .title = "Water levels",
							 .description = "River air gaps",
							 .bbox = { 0, 0, 1, 1 } }));
	push_ok(&city, push_body(CITY, ds, NULL), 5);
	char *s = walk("?sort=modified");
	/* b and d tie on modified: id breaks the tie. */
	cr_assert_str_eq(s, "urn:uuid:e,urn:uuid:b,urn:uuid:d,urn:uuid:c,urn:uuid:a");
	free(s);
	s = walk("?sort=title");
	cr_assert_str_eq(s, "urn:uuid:a,urn:uuid:d,urn:uuid:c,urn:uuid:b,urn:uuid:e");
	free(s);
	s = walk("?q=air");
	/* a and d tie (air once in the title): id breaks it across pages. */
	cr_assert_str_eq(s, "urn:uuid:a,urn:uuid:d,urn:uuid:b,urn:uuid:c,urn:uuid:e");
	free(s);
	/* A cursor of another sort is refused. */
	struct harness_resp *r = search_ok(NULL, "?sort=title&limit=2");
	char *q = xasprintf(SEARCH "?sort=modified&cursor=%s",
			    json_string_value(json_object_get(r->json, "next")));
	harness_resp_free(r);
	r = fx_call("GET", q, NULL, NULL);
	fx_assert_error(r, 400, "invalid_query");
	harness_resp_free(r);
	free(q);
}

/* ---- access policies --------------------------------------------------------- */

/* x: public offer; y: offer for country DE only; z: a public offer and one
 * for the mobility industry. */
static void
push_restricted(const struct participant *city)
{
	json_t *ds = json_array();
	json_array_append_new(ds, dataset(&(struct ds){ .id = "urn:uuid:x", .title = "Open noise map",
							 .themes = { "environment" },
							 .offer_ids = { "urn:o:x" },
							 .bbox = { 0, 0, 1, 1 } }));
	json_array_append_new(ds, dataset(&(struct ds){ .id = "urn:uuid:y", .title = "German grid load",
							 .themes = { "energy" },
							 .offer_ids = { "urn:o:y" },
							 .bbox = { 0, 0, 1, 1 } }));
	json_array_append_new(ds, dataset(&(struct ds){ .id = "urn:uuid:z", .title = "Bus positions",
							 .themes = { "mobility" },
							 .offer_ids = { "urn:o:z-open", "urn:o:z-mob" },
							 .bbox = { 0, 0, 1, 1 } }));
	json_t *access = json_pack("{s:o, s:o}", "urn:o:y", access_policy("agora:country", "DE"),
				   "urn:o:z-mob", access_policy("industry", "mobility"));
	push_ok(city, push_body(CITY, ds, access), 3);
}

static char *
offers_of(const struct harness_resp *r, const char *dataset_id)
{
	json_t *res = json_object_get(r->json, "results");
	for (size_t i = 0; i < json_array_size(res); i++) {
		json_t *d = json_array_get(res, i);
		if (strcmp(json_string_value(json_object_get(d, "id")), dataset_id))
			continue;
		struct agora_buf b;
		agora_buf_init(&b);
		json_t *o = json_object_get(d, "offers");
		for (size_t k = 0; k < json_array_size(o); k++)
			agora_buf_printf(&b, "%s%s", k ? "," : "",
					 json_string_value(json_object_get(json_array_get(o, k), "id")));
		agora_buf_append(&b, "", 0);
		return agora_buf_steal(&b);
	}
	return xstrdup("(absent)");
}

Test(catalog, access_policies_filter_per_caller)
{
	struct participant city, mob, fr;
	register_as(&city, CITY, "FR", "public-sector");
	register_as(&mob, MOB, "DE", "mobility");
	register_as(&fr, FRORG, "FR", "public-sector");
	push_restricted(&city);
	cr_assert_eq(db_count("SELECT count(*) FROM catalog_access_policies"), 2);
	/* The access policies are never published. */
	struct harness_resp *r = search_ok(&mob, "");
	cr_assert_null(strstr(r->body, "agora:country"), "%s", r->body);
	harness_resp_free(r);

	/* Anonymous: x, and z with its open offer only; y not listed. */
	expect_ids(NULL, "?sort=title", "urn:uuid:z,urn:uuid:x", 2);
	r = search_ok(NULL, "?sort=title");
	char *o = offers_of(r, "urn:uuid:z");
	cr_assert_str_eq(o, "urn:o:z-open");
	free(o);
	char *f = facet(r, "theme");
	cr_assert_str_eq(f, "environment=1,mobility=1");
	free(f);
	harness_resp_free(r);

	/* The German mobility company: everything, z with both offers. */
	expect_ids(&mob, "?sort=title", "urn:uuid:z,urn:uuid:y,urn:uuid:x", 3);
	r = search_ok(&mob, "?sort=title");
	o = offers_of(r, "urn:uuid:z");
	cr_assert_str_eq(o, "urn:o:z-open,urn:o:z-mob");
	free(o);
	f = facet(r, "theme");
	cr_assert_str_eq(f, "energy=1,environment=1,mobility=1");
	free(f);
	harness_resp_free(r);

	/* The French agency: like anonymous. */
	expect_ids(&fr, "?sort=title", "urn:uuid:z,urn:uuid:x", 2);
	r = search_ok(&fr, "?theme=mobility");
	o = offers_of(r, "urn:uuid:z");
	cr_assert_str_eq(o, "urn:o:z-open");
	free(o);
	harness_resp_free(r);

	/* Dataset lookup follows the same rules. */
	r = get_as(NULL, SEARCH "/urn:uuid:y");
	fx_assert_error(r, 404, "dataset_not_found");
	harness_resp_free(r);
	r = get_as(&fr, SEARCH "/urn:uuid:y");
	fx_assert_error(r, 404, "dataset_not_found");
	harness_resp_free(r);
	r = get_as(&mob, SEARCH "/urn:uuid:y");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r->json, "offers"), 0), "id")),
			 "urn:o:y");
	harness_resp_free(r);
	/* The publisher sees its own offers. */
	expect_ids(&city, "?sort=title", "urn:uuid:z,urn:uuid:y,urn:uuid:x", 3);

	/* Looked up often enough that each of the broker's threads has the
	 * lookup prepared: later ones check staleness in the same round trip. */
	for (int i = 0; i < 8; i++) {
		r = get_as(&fr, SEARCH "/urn:uuid:y");
		fx_assert_error(r, 404, "dataset_not_found");
		harness_resp_free(r);
	}

	/* The agency moves to Germany: its next search sees y, and so does
	 * every lookup (whichever thread answers it). */
	r = fx_call("PATCH", "/api/v1/participants/" FRORG, ADMIN_KEY,
		    "{\"attributes\":{\"country\":\"DE\",\"industry\":\"public-sector\"}}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	for (int i = 0; i < 8; i++) {
		r = get_as(&fr, SEARCH "/urn:uuid:y");
		cr_assert_eq(r->status, 200, "lookup %d: %s", i, r->body);
		harness_resp_free(r);
	}
	expect_ids(&fr, "?sort=title", "urn:uuid:z,urn:uuid:y,urn:uuid:x", 3);

	/* A bad token is an error, not anonymous. */
	r = fx_call("GET", SEARCH, "x.y.z", NULL);
	fx_assert_error(r, 401, "invalid_token");
	harness_resp_free(r);
	/* A participant registered after the push is evaluated on first use. */
	struct participant late;
	register_as(&late, "urn:agora:participant:late", "DE", "energy");
	expect_ids(&late, "?sort=title", "urn:uuid:z,urn:uuid:y,urn:uuid:x", 3);
}

/* ---- DSP catalog of catalogs ----------------------------------------------- */

static struct harness_resp *
dsp_request(const struct participant *p, const char *query, const char *body)
{
	const char *path = "/dsp/catalog/request";
	char *t = p ? fx_token(p, "POST", path, body, NULL) : NULL;
	char *pq = xasprintf("%s%s", path, query ? query : "");
	struct harness_resp *r = fx_call("POST", pq, t, body);
	free(pq);
	free(t);
	return r;
}

#define CRM "{\"@context\":[\"" DSP_CTX "\"],\"@type\":\"CatalogRequestMessage\",\"filter\":[]}"

static void
assert_dsp_valid(const struct harness_resp *r)
{
	bool skipped = false;
	cr_assert(harness_dsp_validate(r->body, &skipped), "dsp-validate: %s", r->body);
}

Test(catalog, dsp_catalog_of_catalogs)
{
	struct participant city, mob, fr;
	register_as(&city, CITY, "FR", "public-sector");
	register_as(&mob, MOB, "DE", "mobility");
	register_as(&fr, FRORG, "FR", "public-sector");
	push_restricted(&city);
	json_t *m = json_array();
	json_array_append_new(m, dataset(&(struct ds){ .id = "urn:uuid:m1", .title = "Parking",
							.bbox = { 0, 0, 1, 1 } }));
	push_ok(&mob, push_body(MOB, m, NULL), 1);

	/* Unauthenticated: 404 (DSP). */
	struct harness_resp *r = dsp_request(NULL, NULL, CRM);
	cr_assert_eq(r->status, 404, "%s", r->body);
	harness_resp_free(r);
	r = fx_call("POST", "/dsp/catalog/request", "a.b.c", CRM);
	cr_assert_eq(r->status, 404, "%s", r->body);
	harness_resp_free(r);

	r = dsp_request(&fr, NULL, CRM);
	cr_assert_eq(r->status, 200, "%s", r->body);
	assert_dsp_valid(r);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "@type")), "Catalog");
	json_t *cats = json_object_get(r->json, "catalog");
	cr_assert_eq(json_array_size(cats), 2, "%s", r->body);
	json_t *c0 = json_array_get(cats, 0);
	cr_assert_str_eq(json_string_value(json_object_get(c0, "participantId")), CITY);
	/* The French agency sees x and z (z with its open offer only). */
	json_t *ds = json_object_get(c0, "dataset");
	cr_assert_eq(json_array_size(ds), 2, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(ds, 0), "@id")), "urn:uuid:x");
	json_t *z = json_array_get(ds, 1);
	cr_assert_str_eq(json_string_value(json_object_get(z, "@id")), "urn:uuid:z");
	cr_assert_eq(json_array_size(json_object_get(z, "hasPolicy")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cats, 1), "participantId")), MOB);
	cr_assert_null(harness_resp_header(r, "Link"));
	harness_resp_free(r);

	/* Paged: one dataset per page, Link rel="next" until the end. */
	int pages = 0, total = 0;
	char *query = xstrdup("?limit=1");
	while (query) {
		r = dsp_request(&mob, query, CRM);
		cr_assert_eq(r->status, 200, "%s", r->body);
		assert_dsp_valid(r);
		json_t *cs = json_object_get(r->json, "catalog");
		cr_assert_eq(json_array_size(cs), 1);
		total += (int)json_array_size(json_object_get(json_array_get(cs, 0), "dataset"));
		free(query);
		query = NULL;
		const char *link = harness_resp_header(r, "Link");
		if (link) {
			cr_assert(strstr(link, "rel=\"next\""), "%s", link);
			const char *q = strchr(link, '?');
			const char *end = strchr(link, '>');
			cr_assert(q && end && end > q, "%s", link);
			char *prefix = xasprintf("<%s/dsp/catalog/request?", fx.url);
			cr_assert(!strncmp(link, prefix, strlen(prefix)), "%s", link);
			free(prefix);
			query = xstrndup(q, (size_t)(end - q));
		}
		harness_resp_free(r);
		cr_assert(++pages <= 5);
	}
	cr_assert_eq(pages, 4);
	cr_assert_eq(total, 4);

	/* A message that is not a CatalogRequestMessage. */
	r = dsp_request(&fr, NULL, "{\"@context\":[\"" DSP_CTX "\"],\"@type\":\"Catalog\"}");
	cr_assert_eq(r->status, 400, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "@type")), "CatalogError");
	assert_dsp_valid(r);
	harness_resp_free(r);
	r = dsp_request(&fr, NULL, "{\"@type\":\"CatalogRequestMessage\"}");
	cr_assert_eq(r->status, 400, "%s", r->body);
	harness_resp_free(r);
}

/* ---- crawling ------------------------------------------------------------------ */

/* A tiny connector stand-in: answers every request with `answer`. */
struct stub {
	struct MHD_Daemon *d;
	const char *answer;
	unsigned status;
	int port;
};

static enum MHD_Result
stub_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	     const char *version, const char *upload, size_t *upload_size, void **state)
{
	(void)url;
	(void)method;
	(void)version;
	(void)upload;
	struct stub *s = cls;
	if (!*state) {
		*state = s;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0;
		return MHD_YES;
	}
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(s->answer),
								    (void *)s->answer,
								    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, s->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
stub_start(struct stub *s, const char *answer, unsigned status)
{
	s->answer = answer;
	s->status = status;
	s->port = harness_free_port();
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)s->port, NULL, NULL,
				stub_handler, s, MHD_OPTION_END);
	cr_assert_not_null(s->d, "stub server on port %d", s->port);
}

static void
set_endpoint(const char *pid, int port)
{
	char *b = xasprintf("{\"endpoint\":\"http://127.0.0.1:%d\"}", port);
	char *path = xasprintf("/api/v1/participants/%s", pid);
	struct harness_resp *r = fx_call("PATCH", path, ADMIN_KEY, b);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	free(b);
	free(path);
}

/* Crawl now; the result status for pid. */
static char *
crawl_status(const char *pid)
{
	struct harness_resp *r = fx_call("POST", "/api/v1/catalog/crawl", ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	json_t *res = json_object_get(r->json, "results");
	char *st = NULL;
	for (size_t i = 0; i < json_array_size(res); i++) {
		json_t *e = json_array_get(res, i);
		if (!strcmp(json_string_value(json_object_get(e, "participant")), pid))
			st = xstrdup(json_string_value(json_object_get(e, "status")));
	}
	cr_assert_not_null(st, "no result for %s: %s", pid, r->body);
	harness_resp_free(r);
	return st;
}

static bool
available(const char *id)
{
	char *p = xasprintf(SEARCH "/%s", id);
	struct harness_resp *r = get_as(NULL, p);
	cr_assert_eq(r->status, 200, "%s", r->body);
	bool a = json_is_true(json_object_get(r->json, "available"));
	harness_resp_free(r);
	free(p);
	return a;
}

Test(catalog, crawl_marks_unavailable_and_restores)
{
	struct participant city;
	register_as(&city, CITY, "FR", "public-sector");
	push_ok(&city, push_body(CITY, three_datasets(), NULL), 3);
	cr_assert(available("urn:uuid:a"));

	/* The registered endpoint (port 9) does not answer. */
	char *st = crawl_status(CITY);
	cr_assert_str_eq(st, "unavailable");
	free(st);
	cr_assert_not(available("urn:uuid:a"));
	cr_assert_eq(db_count("SELECT count(*) FROM datasets WHERE available"), 0);
	/* Still listed, flagged. */
	struct harness_resp *r = search_ok(NULL, "");
	cr_assert_eq(json_integer_value(json_object_get(r->json, "count")), 3);
	harness_resp_free(r);

	/* A connector answering a valid DSP catalog: available again. */
	json_t *body = push_body(CITY, three_datasets(), NULL);
	char *cat = json_dumps(json_object_get(body, "catalog"), JSON_COMPACT);
	json_decref(body);
	struct stub good;
	stub_start(&good, cat, 200);
	set_endpoint(CITY, good.port);
	st = crawl_status(CITY);
	cr_assert_str_eq(st, "available");
	free(st);
	cr_assert(available("urn:uuid:a"));
	cr_assert_eq(db_count("SELECT count(*) FROM datasets WHERE available"), 3);
	MHD_stop_daemon(good.d);

	/* An answer that is not a DSP catalog is rejected and changes nothing. */
	struct stub bad;
	stub_start(&bad, "{\"@type\":\"Catalog\",\"dataset\":\"nope\"}", 200);
	set_endpoint(CITY, bad.port);
	st = crawl_status(CITY);
	cr_assert_str_eq(st, "rejected");
	free(st);
	cr_assert(available("urn:uuid:a"));
	cr_assert_eq(db_count("SELECT count(*) FROM catalog_participants WHERE crawl_status = 'rejected'"
			      " AND crawl_error LIKE 'not a valid DSP catalog%'"), 1);
	MHD_stop_daemon(bad.d);

	/* A 5xx is "not answering". */
	struct stub down;
	stub_start(&down, "{}", 503);
	set_endpoint(CITY, down.port);
	st = crawl_status(CITY);
	cr_assert_str_eq(st, "unavailable");
	free(st);
	cr_assert_not(available("urn:uuid:a"));
	MHD_stop_daemon(down.d);
	free(cat);

	/* The crawl trigger is for admins. */
	r = fx_call("POST", "/api/v1/catalog/crawl", NULL, NULL);
	fx_assert_error(r, 401, "missing_credentials");
	harness_resp_free(r);
}
