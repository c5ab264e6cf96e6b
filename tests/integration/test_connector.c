/* test_connector.c — a real connector registered at a real broker:
 * datasets, content uploads, observations, policies, offers, the DSP
 * catalog with access policies, ownership. */
#include "connector.h"
#include "connector_fixture.h"
#include "crypto.h"
#include "jose.h"
#include "openapi_check.h"
#include "util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#define CITY "urn:agora:participant:city"
#define AIR "{\"title\":\"Air quality, Lyon 3e, hourly\",\"description\":\"NO2, PM10 and PM2.5\"," \
	"\"keyword\":[\"air quality\",\"no2\"],\"theme\":[\"environment\"]," \
	"\"license\":\"https://creativecommons.org/licenses/by/4.0/\"," \
	"\"spatial\":{\"bbox\":[4.83,45.74,4.87,45.77]},\"temporal\":{\"start\":\"2026-01-01T00:00:00Z\",\"end\":null}," \
	"\"accrualPeriodicity\":\"PT1H\",\"mediaType\":\"text/csv\",\"source\":{\"type\":\"file\"}}"
#define OBS "{\"title\":\"NO2 sensors\",\"accrualPeriodicity\":\"PT1H\",\"theme\":[\"environment\"]," \
	"\"source\":{\"type\":\"observations\",\"fields\":[{\"name\":\"no2\",\"type\":\"number\",\"min\":0,\"max\":400}]," \
	"\"timeField\":\"timestamp\",\"thingField\":\"sensor\"}}"

static struct cfx city;

static void
setup(void)
{
	fx_start();
	cfx_start(&city, CITY, "FR");
}

static void
teardown(void)
{
	cfx_stop(&city);
	fx_stop();
}

TestSuite(connector, .init = setup, .fini = teardown, .timeout = 90);

static char *
create(const char *key, const char *body)
{
	struct harness_resp *r = cfx_call(&city, "POST", "/api/v1/datasets", key, body);
	cr_assert_eq(r->status, 201, "%s", r->body);
	char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
	harness_resp_free(r);
	return id;
}

Test(connector, wellknown_and_print_jwk)
{
	struct harness_resp *r = cfx_call(&city, "GET", "/.well-known/jwks.json", NULL, NULL);
	cr_assert_eq(r->status, 200);
	json_t *k = json_array_get(json_object_get(r->json, "keys"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(k, "kid")), city.p.kid);
	harness_resp_free(r);
	r = cfx_call(&city, "GET", "/.well-known/dspace-version", NULL, NULL);
	cr_assert_eq(r->status, 200);
	json_t *v = json_array_get(json_object_get(r->json, "protocolVersions"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(v, "serviceId")), CITY);
	harness_resp_free(r);
	r = cfx_call(&city, "GET", "/readyz", NULL, NULL);
	cr_assert_eq(r->status, 200);
	harness_resp_free(r);
}

/* schemas/openapi/connector.yaml, as served, describes exactly the route
 * table, with the four credentials and the route table's extras. */
Test(connector, openapi_describes_every_route)
{
	struct harness_resp *r = cfx_call(&city, "GET", "/openapi.json", NULL, NULL);
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(harness_resp_header(r, "Content-Type"), "application/json");
	openapi_check_routes(r->json, connector_routes, connector_nroutes, "connector.yaml");
	json_t *paths = json_object_get(r->json, "paths");
	json_t *schemes = json_object_get(json_object_get(r->json, "components"), "securitySchemes");
	const char *want[] = { "apiKey", "participantToken", "accessToken", "pushSecret" };
	for (size_t i = 0; i < 4; i++)
		cr_expect(json_is_object(json_object_get(schemes, want[i])), "no %s scheme", want[i]);
	json_t *data = json_object_get(json_object_get(paths, "/data/{transfer}"), "get");
	cr_assert_not_null(json_object_get(json_array_get(json_object_get(data, "security"), 0), "accessToken"));
	json_t *push = json_object_get(json_object_get(paths, "/push/{id}"), "put");
	cr_assert_not_null(json_object_get(json_array_get(json_object_get(push, "security"), 0), "pushSecret"));
	cr_assert(json_is_true(json_object_get(push, "x-agora-streamed-body")));
	json_t *create = json_object_get(json_object_get(paths, "/api/v1/datasets"), "post");
	json_t *roles = json_object_get(create, "x-agora-roles");
	cr_assert_eq(json_array_size(roles), 2);
	cr_assert_str_eq(json_string_value(json_array_get(roles, 1)), "publisher");
	harness_resp_free(r);
}

Test(connector, dataset_crud)
{
	struct harness_resp *r = cfx_call(&city, "POST", "/api/v1/datasets", CONN_ADMIN_KEY, AIR);
	cr_assert_eq(r->status, 201, "%s", r->body);
	const char *id = json_string_value(json_object_get(r->json, "id"));
	cr_assert(strncmp(id, "urn:uuid:", 9) == 0);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "title")), "Air quality, Lyon 3e, hourly");
	cr_assert_eq(json_real_value(json_array_get(json_object_get(json_object_get(r->json, "spatial"), "bbox"), 2)), 4.87);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r->json, "temporal"), "start")), "2026-01-01T00:00:00Z");
	cr_assert(json_is_null(json_object_get(json_object_get(r->json, "temporal"), "end")));
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "accrualPeriodicity")), "PT1H");
	cr_assert(json_is_false(json_object_get(r->json, "published")), "no offer covers it yet");
	cr_assert_eq(json_integer_value(json_object_get(r->json, "version")), 1);
	char *path = xasprintf("/api/v1/datasets/%s", id);
	harness_resp_free(r);

	r = cfx_call(&city, "PATCH", path, CONN_ADMIN_KEY, "{\"title\":\"Air quality (v2)\",\"keyword\":[\"pm10\"]}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "title")), "Air quality (v2)");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(r->json, "keyword"), 0)), "pm10");
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "license")), "https://creativecommons.org/licenses/by/4.0/");
	cr_assert_eq(json_integer_value(json_object_get(r->json, "version")), 2);
	harness_resp_free(r);

	r = cfx_call(&city, "PUT", path, CONN_ADMIN_KEY, "{\"title\":\"Replaced\",\"source\":{\"type\":\"file\"}}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_null(json_object_get(r->json, "license"), "PUT replaces: absent fields are cleared");
	harness_resp_free(r);

	r = cfx_call(&city, "GET", "/api/v1/datasets?limit=1", CONN_ADMIN_KEY, NULL);
	cr_assert_eq(json_array_size(json_object_get(r->json, "results")), 1);
	harness_resp_free(r);

	r = cfx_call(&city, "DELETE", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	r = cfx_call(&city, "GET", path, CONN_ADMIN_KEY, NULL);
	fx_assert_error(r, 404, "dataset_not_found");
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM datasets"), 0);
	free(path);
}

Test(connector, dataset_bad_input_changes_nothing)
{
	const char *cases[][2] = {
		{ "{\"title\":\"x\"}", "invalid_request" },
		{ "{\"source\":{\"type\":\"file\"}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"file\"},\"owner\":\"me\"}", "unknown_field" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"file\"},\"spatial\":{\"bbox\":[200,0,1,1]}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"file\"},\"spatial\":{\"bbox\":[4,45,3,46]}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"file\"},\"spatial\":{\"bbox\":[1,2,3]}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"file\"},\"temporal\":{\"start\":\"yesterday\"}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"file\"},\"temporal\":{\"start\":\"2026-02-30T00:00:00Z\"}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"file\"},\"temporal\":{\"start\":\"2026-02-01T00:00:00Z\",\"end\":\"2026-01-01T00:00:00Z\"}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"file\"},\"accrualPeriodicity\":\"hourly\"}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"file\"},\"mediaType\":\"csv\"}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"ftp\"}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"http\",\"url\":\"http://169.254.169.254/latest\"}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"http\",\"url\":\"http://sensors.example.org@evil.example/\"}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"observations\",\"fields\":[{\"name\":\"a\",\"type\":\"complex\"}]}}", "invalid_request" },
		{ "{\"title\":\"x\",\"source\":{\"type\":\"file\"},\"keyword\":[1]}", "invalid_request" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct harness_resp *r = cfx_call(&city, "POST", "/api/v1/datasets", CONN_ADMIN_KEY, cases[i][0]);
		cr_log_info("case %zu", i);
		fx_assert_error(r, 400, cases[i][1]);
		harness_resp_free(r);
	}
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM datasets"), 0);
	/* An allowed http source is fine. */
	char *id = create(CONN_ADMIN_KEY, "{\"title\":\"x\",\"source\":{\"type\":\"http\",\"url\":\"https://Sensors.Example.org/v1.1/Things\"}}");
	free(id);
}

Test(connector, roles_and_ownership)
{
	char *alice = cfx_key(&city, "publisher"), *bob = cfx_key(&city, "publisher");
	char *viewer = cfx_key(&city, "viewer");
	char *id = create(alice, AIR);
	char *path = xasprintf("/api/v1/datasets/%s", id);
	struct harness_resp *r = cfx_call(&city, "PATCH", path, bob, "{\"title\":\"mine now\"}");
	fx_assert_error(r, 403, "forbidden");
	harness_resp_free(r);
	r = cfx_call(&city, "DELETE", path, bob, NULL);
	fx_assert_error(r, 403, "forbidden");
	harness_resp_free(r);
	r = cfx_call(&city, "POST", "/api/v1/datasets", viewer, AIR);
	fx_assert_error(r, 403, "forbidden");
	harness_resp_free(r);
	r = cfx_call(&city, "GET", path, viewer, NULL);
	cr_assert_eq(r->status, 200, "viewers read");
	harness_resp_free(r);
	r = cfx_call(&city, "PATCH", path, CONN_ADMIN_KEY, "{\"title\":\"admin may\"}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	r = cfx_call(&city, "GET", path, NULL, NULL);
	fx_assert_error(r, 401, "missing_credentials");
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM datasets WHERE title = 'admin may'"), 1);
	free(path);
	free(id);
	free(alice);
	free(bob);
	free(viewer);
}

static int
files_in(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

Test(connector, content_upload_streams_to_disk)
{
	char *id = create(CONN_ADMIN_KEY, AIR);
	char *path = xasprintf("/api/v1/datasets/%s/content", id);
	size_t n = 700 * 1024;
	char *data = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		data[i] = (char)('a' + i % 26);
	data[n] = '\0';
	uint8_t h[32];
	agora_sha256(data, n, h);
	char hex[65];
	agora_hex(h, 32, hex);
	struct harness_resp *r = cfx_call_raw(&city, "PUT", path, CONN_ADMIN_KEY, "text/csv", data, n);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "byteSize")), (json_int_t)n);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "sha256")), hex);
	harness_resp_free(r);

	r = cfx_call(&city, "GET", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200);
	cr_assert_eq(r->body_len, n);
	cr_assert(memcmp(r->body, data, n) == 0);
	harness_resp_free(r);

	char *url = xasprintf("%s%s", city.url, path);
	const char *range[] = { "Authorization: Bearer " CONN_ADMIN_KEY, "Range: bytes=26-51", NULL };
	r = harness_http("GET", url, range, NULL);
	cr_assert_eq(r->status, 206);
	cr_assert_str_eq(r->body, "abcdefghijklmnopqrstuvwxyz");
	cr_assert_str_eq(harness_resp_header(r, "Content-Range"), "bytes 26-51/716800");
	harness_resp_free(r);
	const char *bad_range[] = { "Authorization: Bearer " CONN_ADMIN_KEY, "Range: bytes=999999999-", NULL };
	r = harness_http("GET", url, bad_range, NULL);
	fx_assert_error(r, 416, "range_not_satisfiable");
	harness_resp_free(r);
	free(url);

	char *qpath = xasprintf("/api/v1/datasets/%s/quality", id);
	r = cfx_call(&city, "GET", qpath, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "byteSize")), (json_int_t)n);
	harness_resp_free(r);
	free(qpath);

	/* Over --max-upload (1 MiB): 413, nothing stored, no temp file left. */
	size_t big = 1100 * 1024;
	char *bigdata = xmalloc(big + 1);
	memset(bigdata, 'z', big);
	bigdata[big] = '\0';
	r = cfx_call_raw(&city, "PUT", path, CONN_ADMIN_KEY, "text/csv", bigdata, big);
	fx_assert_error(r, 413, "upload_too_large");
	harness_resp_free(r);
	free(bigdata);
	char *tmp = xasprintf("%s/data/tmp", city.dir), *objects = xasprintf("%s/data/objects", city.dir);
	cr_assert_eq(files_in(tmp), 0);
	cr_assert_eq(files_in(objects), 1);
	char *q = xasprintf("SELECT count(*) FROM datasets WHERE sha256 = '%s' AND byte_size = %zu", hex, n);
	cr_assert_eq(harness_db_count(city.db, q), 1);
	free(q);
	free(tmp);
	free(objects);

	/* Content goes to file datasets only. */
	char *obs = create(CONN_ADMIN_KEY, OBS);
	char *opath = xasprintf("/api/v1/datasets/%s/content", obs);
	r = cfx_call_raw(&city, "PUT", opath, CONN_ADMIN_KEY, "text/csv", "x", 1);
	fx_assert_error(r, 409, "wrong_source");
	harness_resp_free(r);
	free(opath);
	free(obs);
	free(data);
	free(path);
	free(id);
}

Test(connector, observations_csv_and_json)
{
	char *id = create(CONN_ADMIN_KEY, OBS);
	char *path = xasprintf("/api/v1/datasets/%s/observations", id);
	const char *csv = "timestamp,sensor,no2\n"
			  "2026-11-25T08:00:00Z,s1,21.5\n"
			  "2026-11-25T09:00:00Z,s1,22\n"
			  "2026-11-25T10:00:00Z,s1\n"
			  "2026-11-25T10:00:00Z,s1,abc\n"
			  "2026-11-25T10:00:00Z,s1,900\n";
	struct harness_resp *r = cfx_call_raw(&city, "POST", path, CONN_ADMIN_KEY, "text/csv", csv, strlen(csv));
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "accepted")), 3);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "rejectedCount")), 2);
	json_t *rej = json_object_get(r->json, "rejected");
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(rej, 0), "row")), 4);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(rej, 1), "row")), 5);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(rej, 1), "column")), "no2");
	json_t *q = json_object_get(r->json, "quality");
	cr_assert_eq(json_integer_value(json_object_get(q, "recordCount")), 3);
	cr_assert_eq(json_real_value(json_object_get(q, "schemaConformance")), 0.6);
	cr_assert_eq(json_real_value(json_object_get(q, "plausibility")), 0.6667, "900 is outside 0..400");
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM observations"), 3);

	r = cfx_call(&city, "POST", path, CONN_ADMIN_KEY,
		     "[{\"timestamp\":\"2026-11-25T11:00:00+01:00\",\"sensor\":\"s2\",\"no2\":10}]");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "accepted")), 1);
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM observations WHERE thing = 's2' AND ts = '2026-11-25T10:00:00Z'"), 1);

	/* A header naming an undeclared column fails the whole batch. */
	r = cfx_call_raw(&city, "POST", path, CONN_ADMIN_KEY, "text/csv", "timestamp,sensor,so2\n", 21);
	fx_assert_error(r, 400, "invalid_observations");
	harness_resp_free(r);
	r = cfx_call(&city, "POST", path, CONN_ADMIN_KEY, "{\"not\":\"an array\"}");
	fx_assert_error(r, 400, "invalid_observations");
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM observations"), 4);
	/* Deleting the dataset deletes its observations and statistics. */
	char *dpath = xasprintf("/api/v1/datasets/%s", id);
	r = cfx_call(&city, "DELETE", dpath, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM observations"), 0);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM obs_stats"), 0);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM obs_things"), 0);
	free(dpath);
	free(path);
	free(id);
}

#define OPEN_USE "{\"policy\":{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\"}]}}"
#define DE_ONLY "{\"policy\":{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":[" \
	"{\"leftOperand\":\"agora:country\",\"operator\":\"eq\",\"rightOperand\":\"DE\"}]}]}}"

static char *
make_policy(const char *body)
{
	struct harness_resp *r = cfx_call(&city, "POST", "/api/v1/policies", CONN_ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "%s", r->body);
	cr_assert(json_string_length(json_object_get(r->json, "description")) > 0);
	char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
	harness_resp_free(r);
	return id;
}

/* offer_covers (migrations 0001, 0009): the selector's ids, keywords
 * (any), themes (any; with keywords, both must match) or all; and simple
 * enough for PostgreSQL to inline (no call left in the plan). */
Test(connector, offer_covers_selectors_and_is_inlined)
{
	static const struct {
		const char *sel, *id, *kw, *theme;
		long want;
	} c[] = {
		{ "{\"all\":true}", "d1", "{}", "{}", 1 },
		{ "{\"all\":false}", "d1", "{a}", "{t}", 0 },
		{ "{\"ids\":[\"d0\",\"d1\"]}", "d1", "{}", "{}", 1 },
		{ "{\"ids\":[\"d0\"]}", "d1", "{a}", "{t}", 0 },
		{ "{\"keyword\":[\"x\",\"no2\"]}", "d1", "{air quality,no2}", "{}", 1 },
		{ "{\"keyword\":[\"x\"]}", "d1", "{air quality,no2}", "{}", 0 },
		{ "{\"keyword\":[\"x\"]}", "d1", NULL, "{}", 0 },
		{ "{\"theme\":[\"environment\"]}", "d1", "{}", "{energy,environment}", 1 },
		{ "{\"theme\":[\"mobility\"]}", "d1", "{}", "{environment}", 0 },
		{ "{\"keyword\":[\"no2\"],\"theme\":[\"energy\"]}", "d1", "{no2}", "{environment}", 0 },
		{ "{\"keyword\":[\"no2\"],\"theme\":[\"environment\"]}", "d1", "{no2}", "{environment}", 1 },
		{ "{}", "d1", "{no2}", "{environment}", 0 },
	};
	for (size_t i = 0; i < ARRAY_LEN(c); i++) {
		char *q = xasprintf("SELECT count(*) FROM (SELECT 1 WHERE offer_covers('%s'::jsonb, '%s', %s, '%s'::text[])) s",
				    c[i].sel, c[i].id, c[i].kw ? "" : "NULL::text[]", c[i].theme);
		if (c[i].kw) {
			free(q);
			q = xasprintf("SELECT count(*) FROM (SELECT 1 WHERE offer_covers('%s'::jsonb, '%s', '%s'::text[], '%s'::text[])) s",
				      c[i].sel, c[i].id, c[i].kw, c[i].theme);
		}
		cr_expect_eq(harness_db_count(city.db, q), c[i].want, "case %zu: %s", i, q);
		free(q);
	}
	/* Inlined: the plan of a query using it shows the expression, not a
	 * call (and the same look-up does find what the plan does show). */
	static const char plan_mentions[] =
		"CREATE FUNCTION pg_temp.plan_mentions(q text, needle text) RETURNS int"
		" LANGUAGE plpgsql AS $$ DECLARE l text; BEGIN"
		" FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP"
		" IF position(needle IN l) > 0 THEN RETURN 1; END IF; END LOOP; RETURN 0; END $$;";
	static const char q[] = "'SELECT o.id FROM offers o, datasets d"
				" WHERE offer_covers(o.selector, d.id, d.keyword, d.theme)'";
	char *sql = xasprintf("%s SELECT pg_temp.plan_mentions(%s, 'offer_covers(')", plan_mentions, q);
	cr_expect_eq(harness_db_count(city.db, sql), 0, "offer_covers is not inlined");
	free(sql);
	sql = xasprintf("%s SELECT pg_temp.plan_mentions(%s, '?| d.keyword')", plan_mentions, q);
	cr_expect_eq(harness_db_count(city.db, sql), 1, "the inlined expression is not in the plan");
	free(sql);
}

Test(connector, policies_offers_and_dsp_catalog)
{
	struct harness_resp *r = cfx_call(&city, "POST", "/api/v1/policies", CONN_ADMIN_KEY,
					  "{\"policy\":{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":[{\"leftOperand\":\"colour\",\"operator\":\"eq\",\"rightOperand\":\"red\"}]}]}}");
	fx_assert_error(r, 400, "invalid_policy");
	cr_assert(json_array_size(json_object_get(r->json, "problems")) >= 1, "%s", r->body);
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM policies"), 0);

	char *open = make_policy(OPEN_USE), *de = make_policy(DE_ONLY);
	char *ds1 = create(CONN_ADMIN_KEY, AIR);
	char *ds2 = create(CONN_ADMIN_KEY, OBS);
	char *b1 = xasprintf("{\"datasetSelector\":{\"ids\":[\"%s\"]},\"contractPolicyId\":\"%s\",\"autoAccept\":true}", ds1, open);
	r = cfx_call(&city, "POST", "/api/v1/offers", CONN_ADMIN_KEY, b1);
	cr_assert_eq(r->status, 201, "%s", r->body);
	harness_resp_free(r);
	char *b2 = xasprintf("{\"datasetSelector\":{\"theme\":[\"environment\"]},\"accessPolicyId\":\"%s\",\"contractPolicyId\":\"%s\"}", de, open);
	r = cfx_call(&city, "POST", "/api/v1/offers", CONN_ADMIN_KEY, b2);
	cr_assert_eq(r->status, 201, "%s", r->body);
	harness_resp_free(r);
	r = cfx_call(&city, "POST", "/api/v1/offers", CONN_ADMIN_KEY, "{\"datasetSelector\":{},\"contractPolicyId\":\"x\"}");
	fx_assert_error(r, 400, "invalid_request");
	harness_resp_free(r);
	char *b3 = xasprintf("{\"datasetSelector\":{\"all\":true},\"contractPolicyId\":\"urn:uuid:none\"}");
	r = cfx_call(&city, "POST", "/api/v1/offers", CONN_ADMIN_KEY, b3);
	fx_assert_error(r, 400, "invalid_request");
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM offers"), 2);

	char *p1 = xasprintf("/api/v1/datasets/%s", ds1);
	r = cfx_call(&city, "GET", p1, CONN_ADMIN_KEY, NULL);
	cr_assert(json_is_true(json_object_get(r->json, "published")));
	harness_resp_free(r);
	char *pp = xasprintf("/api/v1/policies/%s", open);
	r = cfx_call(&city, "DELETE", pp, CONN_ADMIN_KEY, NULL);
	fx_assert_error(r, 409, "policy_in_use");
	harness_resp_free(r);

	/* DSP catalog for a French participant: ds1 with the open offer only
	 * (the DE-only offer is hidden; ds2 has no offer it may see). */
	struct participant fr, de_p;
	fx_participant(&fr, "urn:agora:participant:fr-reader");
	const char *req = "{\"@context\":[\"https://w3id.org/dspace/2025/1/context.jsonld\"],\"@type\":\"CatalogRequestMessage\",\"filter\":[]}";
	r = cfx_dsp(&city, &fr, "POST", "/dsp/catalog/request", req);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert(harness_dsp_validate(r->body, NULL), "%s", r->body);
	json_t *dsets = json_object_get(r->json, "dataset");
	cr_assert_eq(json_array_size(dsets), 1, "%s", r->body);
	json_t *d0 = json_array_get(dsets, 0);
	cr_assert_str_eq(json_string_value(json_object_get(d0, "@id")), ds1);
	cr_assert_eq(json_array_size(json_object_get(d0, "hasPolicy")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "participantId")), CITY);
	harness_resp_free(r);

	/* A German participant sees both datasets, ds1 with two offers. */
	{
		de_p.key = agora_key_generate();
		agora_key_thumbprint(de_p.key, de_p.kid);
		snprintf(de_p.id, sizeof de_p.id, "urn:agora:participant:de-reader");
		json_t *reg = json_pack("{s:s, s:s, s:s, s:{s:[o]}, s:{s:s}}", "id", de_p.id, "name", "DE",
					"endpoint", "http://127.0.0.1:9", "jwks", "keys",
					agora_jwk_from_key(de_p.key), "attributes", "country", "DE");
		char *rb = json_dumps(reg, JSON_COMPACT);
		struct harness_resp *rr = fx_call("POST", "/api/v1/participants", ADMIN_KEY, rb);
		cr_assert_eq(rr->status, 201, "%s", rr->body);
		harness_resp_free(rr);
		free(rb);
		json_decref(reg);
	}
	r = cfx_dsp(&city, &de_p, "POST", "/dsp/catalog/request", req);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert(harness_dsp_validate(r->body, NULL), "%s", r->body);
	cr_assert_eq(json_array_size(json_object_get(r->json, "dataset")), 2, "%s", r->body);
	harness_resp_free(r);

	/* One dataset by id, and the DSP rules for strangers and bad bodies. */
	char *dp = xasprintf("/dsp/catalog/datasets/%s", ds1);
	r = cfx_dsp(&city, &fr, "GET", dp, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert(harness_dsp_validate(r->body, NULL), "%s", r->body);
	harness_resp_free(r);
	char *dp2 = xasprintf("/dsp/catalog/datasets/%s", ds2);
	r = cfx_dsp(&city, &fr, "GET", dp2, NULL);
	cr_assert_eq(r->status, 404, "hidden from FR: %s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "@type")), "CatalogError");
	harness_resp_free(r);
	r = cfx_call(&city, "POST", "/dsp/catalog/request", NULL, req);
	fx_assert_error(r, 404, "not_found");
	harness_resp_free(r);
	r = cfx_dsp(&city, &fr, "POST", "/dsp/catalog/request", "{\"@type\":\"Catalog\"}");
	cr_assert_eq(r->status, 400, "%s", r->body);
	harness_resp_free(r);
	free(dp);
	free(dp2);
	free(p1);
	free(pp);
	free(b1);
	free(b2);
	free(b3);
	free(ds1);
	free(ds2);
	free(open);
	free(de);
}

Test(connector, observations_publish_a_sample)
{
	/* The catalog carries the newest values of the first numeric field,
	 * of the sensor that reported last, oldest first (the UI's preview). */
	char *id = create(CONN_ADMIN_KEY, OBS);
	char *path = xasprintf("/api/v1/datasets/%s/observations", id);
	const char *csv = "timestamp,sensor,no2\n"
			  "2026-11-25T08:00:00Z,s1,21.5\n"
			  "2026-11-25T10:00:00Z,s2,12\n"
			  "2026-11-25T09:00:00Z,s2,10.25\n";
	struct harness_resp *r = cfx_call_raw(&city, "POST", path, CONN_ADMIN_KEY, "text/csv", csv, strlen(csv));
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	char *open = make_policy(OPEN_USE);
	char *ob = xasprintf("{\"datasetSelector\":{\"ids\":[\"%s\"]},\"contractPolicyId\":\"%s\"}", id, open);
	r = cfx_call(&city, "POST", "/api/v1/offers", CONN_ADMIN_KEY, ob);
	cr_assert_eq(r->status, 201, "%s", r->body);
	harness_resp_free(r);

	struct participant fr;
	fx_participant(&fr, "urn:agora:participant:fr-sampler");
	char *dp = xasprintf("/dsp/catalog/datasets/%s", id);
	r = cfx_dsp(&city, &fr, "GET", dp, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert(harness_dsp_validate(r->body, NULL), "%s", r->body);
	json_t *sample = json_object_get(r->json, "sample");
	cr_assert_str_eq(json_string_value(json_object_get(sample, "field")), "no2", "%s", r->body);
	json_t *pts = json_object_get(sample, "points");
	cr_assert_eq(json_array_size(pts), 2, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_array_get(json_array_get(pts, 0), 0)), "2026-11-25T09:00:00Z");
	cr_assert_eq(json_real_value(json_array_get(json_array_get(pts, 0), 1)), 10.25);
	cr_assert_eq(json_real_value(json_array_get(json_array_get(pts, 1), 1)), 12);
	harness_resp_free(r);
	agora_key_free(fr.key);
	free(dp);
	free(ob);
	free(open);
	free(path);
	free(id);
}

/* A DSP message whose sender cannot be checked because the broker's
 * directory is unreachable gets 503 — retried by the sender's outbox — and
 * not the 404 that hides resources from strangers, which the outbox takes
 * for a final refusal (found by make test-load-netfaults).  The 503 is
 * the same for a sender the directory would not know: it reveals nothing. */
Test(connector, dsp_sender_unverifiable_while_the_directory_is_down_is_503)
{
	struct participant p, stranger;
	fx_participant(&p, "urn:agora:participant:netfaults");
	const char *req = "{\"@context\":[\"https://w3id.org/dspace/2025/1/context.jsonld\"],"
			  "\"@type\":\"CatalogRequestMessage\",\"filter\":[]}";
	/* The broker goes away; something that stops cleanly takes its place
	 * in the fixture (not its port). */
	cr_assert_eq(harness_proc_stop(fx.proc), 0);
	fx.proc = harness_proc_start((const char *const[]){ "sh", "-c",
		"trap 'exit 0' TERM; while sleep 0.1; do :; done", NULL }, NULL, fx.log);
	struct harness_resp *r = cfx_dsp(&city, &p, "POST", "/dsp/catalog/request", req);
	fx_assert_error(r, 503, "unavailable");
	harness_resp_free(r);

	memset(&stranger, 0, sizeof stranger);
	snprintf(stranger.id, sizeof stranger.id, "%s", "urn:agora:participant:stranger");
	stranger.key = agora_key_generate();
	cr_assert(stranger.key);
	agora_key_thumbprint(stranger.key, stranger.kid);
	r = cfx_dsp(&city, &stranger, "POST", "/dsp/catalog/request", req);
	cr_assert_eq(r->status, 503, "%s", r->body);	/* unknown or not: nobody can tell */
	harness_resp_free(r);
	agora_key_free(stranger.key);
}
