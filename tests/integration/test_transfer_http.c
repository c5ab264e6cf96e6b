/* test_transfer_http.c — a dataset whose source is an upstream HTTP
 * endpoint (say a SensorThings server), transferred under contract: the
 * provider streams the upstream body through (no buffering of the whole),
 * the consumer receives exactly it, an upstream refusal is not data, and an
 * upstream host taken off the allow-list is refused. */
#include <criterion/criterion.h>

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transfer_fixture.h"
#include "util.h"

#define FEED_SIZE (3 << 20)

static struct MHD_Daemon *upstream;
static char *feed;
static int upstream_port;

static enum MHD_Result
serve(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
      const char *data, size_t *len, void **state)
{
	(void)cls;
	(void)method;
	(void)version;
	(void)data;
	(void)len;
	(void)state;
	struct MHD_Response *r;
	unsigned status = 200;
	if (!strcmp(url, "/feed")) {
		r = MHD_create_response_from_buffer(FEED_SIZE, feed, MHD_RESPMEM_PERSISTENT);
	} else {
		status = 404;
		r = MHD_create_response_from_buffer(9, "not here\n", MHD_RESPMEM_PERSISTENT);
	}
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void
start(void)
{
	feed = xmalloc(FEED_SIZE);
	for (size_t i = 0; i < FEED_SIZE; i++)
		feed[i] = (char)('a' + (i * 7 + i / 1000) % 26);
	upstream_port = harness_free_port();
	upstream = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)upstream_port, NULL, NULL,
				    serve, NULL, MHD_OPTION_END);
	cr_assert_not_null(upstream);
	setenv("AGORA_TEST_HTTP_ALLOW", "sensors.example.org,127.0.0.1", 1);
	nfx_start();
}

static void
stop(void)
{
	nfx_stop();
	MHD_stop_daemon(upstream);
	free(feed);
}

TestSuite(http_source, .init = start, .fini = stop, .timeout = 120);

/* A dataset with an http source at path on the upstream, offered openly
 * and negotiated: the agreement id. */
static char *
http_agreement(const char *path)
{
	char *pol = nfx_post_id(&city, "/api/v1/policies", "{\"policy\":" OPEN "}");
	char *db = xasprintf("{\"title\":\"Live feed\",\"mediaType\":\"text/plain\",\"source\":{\"type\":"
			     "\"http\",\"url\":\"http://127.0.0.1:%d%s\"}}", upstream_port, path);
	char *ds = nfx_post_id(&city, "/api/v1/datasets", db);
	char *ob = xasprintf("{\"datasetSelector\":{\"ids\":[\"%s\"]},\"contractPolicyId\":\"%s\","
			     "\"autoAccept\":true}", ds, pol);
	char *offer = nfx_post_id(&city, "/api/v1/offers", ob);
	char *cpath = xasprintf("/api/v1/catalog/datasets/%s", ds);
	bool seen = false;
	for (int i = 0; i < 200 && !seen; i++) {
		struct harness_resp *r = fx_call("GET", cpath, NULL, NULL);
		seen = r->status == 200 && json_array_size(json_object_get(r->json, "offers")) > 0;
		harness_resp_free(r);
		if (!seen)
			usleep(50000);
	}
	cr_assert(seen);
	char *neg = nfx_request(ds, offer);
	json_t *n = nfx_wait_state(&mobi, neg, "FINALIZED");
	cr_assert_str_eq(tfx_str(n, "state"), "FINALIZED");
	char *ag = xstrdup(tfx_str(n, "agreementId"));
	json_decref(n);
	free(pol);
	free(db);
	free(ds);
	free(ob);
	free(offer);
	free(cpath);
	free(neg);
	return ag;
}

Test(http_source, streamed_through)
{
	char *ag = http_agreement("/feed");
	char *id = tfx_start(ag, NULL);
	json_t *t = tfx_wait(id, NULL, false);
	cr_assert_str_eq(tfx_str(t, "state"), "COMPLETED", "%s", json_dumps(t, 0));
	char *want = tfx_sha(feed, FEED_SIZE);
	cr_expect_eq(json_integer_value(json_object_get(t, "bytes")), FEED_SIZE);
	cr_expect_str_eq(tfx_str(t, "sha256"), want);
	char *path = xasprintf("/api/v1/transfers/%s/data", id);
	struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200);
	cr_expect_eq(r->body_len, (size_t)FEED_SIZE);
	cr_expect(!memcmp(r->body, feed, FEED_SIZE));
	harness_resp_free(r);
	/* The provider reported what it passed on, and it matches. */
	int completed = 0;
	for (int k = 0; k < 100 && completed < 2; k++) {
		completed = tfx_ledger_count("transfer_completed", tfx_str(t, "brokerPid"));
		if (completed < 2)
			usleep(50000);
	}
	cr_expect_eq(completed, 2);
	json_decref(t);
	free(path);
	free(want);
	free(id);
	free(ag);
}

Test(http_source, upstream_refusal_is_not_data)
{
	char *ag = http_agreement("/missing");
	char *id = tfx_start(ag, "\"autoPull\":false");
	json_t *t = tfx_wait(id, "STARTED", false);
	cr_assert_str_eq(tfx_str(t, "state"), "STARTED");
	json_decref(t);
	char *path = xasprintf("/api/v1/transfers/%s/edr", id);
	struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	char *authz = xasprintf("Authorization: Bearer %s", tfx_str(r->json, "authorization"));
	char *endpoint = xstrdup(tfx_str(r->json, "endpoint"));
	harness_resp_free(r);
	const char *h[] = { authz, NULL };
	r = harness_http("GET", endpoint, h, NULL);
	fx_assert_error(r, 503, "unavailable");
	cr_expect(!strstr(r->body, "not here"), "%s", r->body);
	harness_resp_free(r);
	free(path);
	free(authz);
	free(endpoint);
	free(id);
	free(ag);
}
