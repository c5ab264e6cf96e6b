/* test_federation.c — the whole issue-4 flow across real processes: two
 * connectors and the broker on one PostgreSQL.  Each connector registers
 * datasets, uploads and ingests, publishes offers; its pusher sends the
 * catalog to the broker; the broker's search shows each caller what its
 * access policies allow; the crawler sees a connector go away and return. */
#include "connector_fixture.h"
#include "pauth.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CITY "urn:agora:participant:city"
#define MOBI "urn:agora:participant:mobility"

static struct cfx city, mobi;

static void
setup(void)
{
	fx_start();
	cfx_start(&city, CITY, "FR");
	cfx_start(&mobi, MOBI, "DE");
}

static void
teardown(void)
{
	cfx_stop(&mobi);
	cfx_stop(&city);
	fx_stop();
}

TestSuite(federation, .init = setup, .fini = teardown, .timeout = 120);

static char *
post_id(struct cfx *c, const char *path, const char *body)
{
	struct harness_resp *r = cfx_call(c, "POST", path, CONN_ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "POST %s: %s", path, r->body);
	char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
	harness_resp_free(r);
	return id;
}

/* Search the broker as `who` (NULL: anonymously) until `want` results show
 * (the push is asynchronous), or give up after 10 s. */
static struct harness_resp *
search(const struct participant *who, const char *query, size_t want)
{
	struct harness_resp *r = NULL;
	for (int i = 0; i < 200; i++) {
		harness_resp_free(r);
		char *path = xasprintf("/api/v1/catalog/datasets%s", query);
		if (who) {
			char *url = xasprintf("%s%s", fx.url, path);
			char *tok = agora_pauth_mint(who->key, who->kid, who->id, fx.url, "GET", url, NULL, 0);
			r = fx_call("GET", path, tok, NULL);
			free(tok);
			free(url);
		} else {
			r = fx_call("GET", path, NULL, NULL);
		}
		free(path);
		if (r->status == 200 && json_integer_value(json_object_get(r->json, "count")) == (json_int_t)want)
			break;
		usleep(50000);
	}
	return r;
}

Test(federation, publish_push_search_crawl)
{
	/* The city: an air-quality file dataset offered to everyone, and a
	 * traffic observations dataset offered only to German participants. */
	char *open = post_id(&city, "/api/v1/policies", "{\"policy\":{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\"}]}}");
	char *de = post_id(&city, "/api/v1/policies", "{\"policy\":{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":[{\"leftOperand\":\"agora:country\",\"operator\":\"eq\",\"rightOperand\":\"DE\"}]}]}}");
	char *air = post_id(&city, "/api/v1/datasets", "{\"title\":\"Air quality Lyon\",\"description\":\"NO2 hourly\",\"keyword\":[\"no2\"],\"theme\":[\"environment\"],\"mediaType\":\"text/csv\",\"spatial\":{\"bbox\":[4.83,45.74,4.87,45.77]},\"source\":{\"type\":\"file\"}}");
	char *traffic = post_id(&city, "/api/v1/datasets", "{\"title\":\"Traffic counters Lyon\",\"theme\":[\"mobility\"],\"accrualPeriodicity\":\"PT1H\",\"source\":{\"type\":\"observations\",\"fields\":[{\"name\":\"count\",\"type\":\"integer\",\"min\":0}],\"thingField\":\"sensor\"}}");
	char *up = xasprintf("/api/v1/datasets/%s/content", air);
	struct harness_resp *r = cfx_call_raw(&city, "PUT", up, CONN_ADMIN_KEY, "text/csv", "t,no2\n1,2\n", 10);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	char *ing = xasprintf("/api/v1/datasets/%s/observations", traffic);
	const char *csv = "timestamp,sensor,count\n2026-11-25T08:00:00Z,c1,120\n2026-11-25T09:00:00Z,c1,95\n";
	r = cfx_call_raw(&city, "POST", ing, CONN_ADMIN_KEY, "text/csv", csv, strlen(csv));
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "accepted")), 2);
	harness_resp_free(r);
	char *o1 = xasprintf("{\"datasetSelector\":{\"ids\":[\"%s\"]},\"contractPolicyId\":\"%s\",\"autoAccept\":true}", air, open);
	char *o2 = xasprintf("{\"datasetSelector\":{\"theme\":[\"mobility\"]},\"accessPolicyId\":\"%s\",\"contractPolicyId\":\"%s\"}", de, open);
	free(post_id(&city, "/api/v1/offers", o1));
	free(post_id(&city, "/api/v1/offers", o2));

	/* The mobility company: one open dataset. */
	char *mopen = post_id(&mobi, "/api/v1/policies", "{\"policy\":{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\"}]}}");
	char *bikes = post_id(&mobi, "/api/v1/datasets", "{\"title\":\"Bike-share trips\",\"theme\":[\"mobility\"],\"keyword\":[\"bikes\"],\"source\":{\"type\":\"file\"}}");
	char *o3 = xasprintf("{\"datasetSelector\":{\"all\":true},\"contractPolicyId\":\"%s\"}", mopen);
	free(post_id(&mobi, "/api/v1/offers", o3));

	/* Anonymous: the open ones only (air, bikes). */
	r = search(NULL, "", 2);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "count")), 2, "%s", r->body);
	harness_resp_free(r);
	/* The mobility company (DE) also sees the city's traffic counters. */
	r = search(&mobi.p, "?theme=mobility", 2);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "count")), 2, "%s", r->body);
	harness_resp_free(r);
	r = search(NULL, "?theme=mobility", 1);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "count")), 1, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r->json, "results"), 0), "id")), bikes);
	harness_resp_free(r);
	/* Full text and the publisher facet. */
	r = search(NULL, "?q=air", 1);
	json_t *res0 = json_array_get(json_object_get(r->json, "results"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(res0, "id")), air);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(res0, "publisher"), "id")), CITY);
	cr_assert(json_is_true(json_object_get(res0, "available")));
	cr_assert(json_string_length(json_object_get(json_array_get(json_object_get(res0, "offers"), 0), "description")) > 0);
	harness_resp_free(r);

	/* The city's users search through their connector, as the city (FR):
	 * they do not see the DE-only offer even though it is their own? The
	 * publisher always sees its own offers. */
	r = cfx_call(&city, "GET", "/api/v1/catalog?theme=mobility", CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "count")), 2, "%s", r->body);
	harness_resp_free(r);

	/* Crawl: the mobility connector stops answering → unavailable; back → available. */
	int st = harness_proc_stop(mobi.proc);
	cr_assert_eq(st, 0);
	r = fx_call("POST", "/api/v1/catalog/crawl", ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	r = search(NULL, "?q=bike", 1);
	res0 = json_array_get(json_object_get(r->json, "results"), 0);
	cr_assert(json_is_false(json_object_get(res0, "available")), "%s", r->body);
	harness_resp_free(r);
	/* Restart the same connector (same database and key). */
	char *listen = xasprintf("%s", mobi.url + strlen("http://"));
	char *data = xasprintf("%s/data", mobi.dir), *keyf = xasprintf("%s/key.pem", mobi.dir);
	const char *argv[] = { harness_bin("agora-connector"), "--listen", listen, "--db", mobi.db,
			       "--data-dir", data, "--public-url", mobi.url, "--broker", fx.url,
			       "--participant-id", MOBI, "--key", keyf, "--api-key", CONN_ADMIN_KEY,
			       "--push-debounce", "20", NULL };
	mobi.proc = harness_proc_start(argv, NULL, mobi.log);
	char *health = xasprintf("%s/healthz", mobi.url);
	cr_assert(harness_wait_http(health, 15000));
	r = fx_call("POST", "/api/v1/catalog/crawl", ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	r = search(NULL, "?q=bike", 1);
	res0 = json_array_get(json_object_get(r->json, "results"), 0);
	cr_assert(json_is_true(json_object_get(res0, "available")), "%s", r->body);
	harness_resp_free(r);

	/* Deleting a dataset withdraws it from the broker's search. */
	char *dp = xasprintf("/api/v1/datasets/%s", bikes);
	r = cfx_call(&mobi, "DELETE", dp, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200);
	harness_resp_free(r);
	r = search(NULL, "?q=bike", 0);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "count")), 0, "%s", r->body);
	harness_resp_free(r);

	free(dp);
	free(health);
	free(listen);
	free(data);
	free(keyf);
	free(open);
	free(de);
	free(air);
	free(traffic);
	free(up);
	free(ing);
	free(o1);
	free(o2);
	free(o3);
	free(mopen);
	free(bikes);
}
