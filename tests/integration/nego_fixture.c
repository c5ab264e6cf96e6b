/* nego_fixture.c — see nego_fixture.h. */
#include "nego_fixture.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct cfx city, mobi;

void
nfx_start(void)
{
	fx_start();
	cfx_start(&city, CITY, "FR");
	cfx_start(&mobi, MOBI, "DE");
}

void
nfx_stop(void)
{
	cfx_stop(&mobi);
	cfx_stop(&city);
	fx_stop();
}

char *
nfx_post_id(struct cfx *c, const char *path, const char *body)
{
	struct harness_resp *r = cfx_call(c, "POST", path, CONN_ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "POST %s: %s", path, r->body);
	char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
	harness_resp_free(r);
	return id;
}

char *
nfx_publish(const char *title, const char *policy, bool auto_accept, char **offer)
{
	char *pb = xasprintf("{\"policy\":%s}", policy);
	char *pol = nfx_post_id(&city, "/api/v1/policies", pb);
	char *db = xasprintf("{\"title\":\"%s\",\"theme\":[\"environment\"],\"source\":{\"type\":\"file\"}}", title);
	char *ds = nfx_post_id(&city, "/api/v1/datasets", db);
	char *ob = xasprintf("{\"datasetSelector\":{\"ids\":[\"%s\"]},\"contractPolicyId\":\"%s\",\"autoAccept\":%s}",
			     ds, pol, auto_accept ? "true" : "false");
	*offer = nfx_post_id(&city, "/api/v1/offers", ob);
	/* The push is asynchronous: wait until the broker lists the dataset. */
	char *path = xasprintf("/api/v1/catalog/datasets/%s", ds);
	bool seen = false;
	for (int i = 0; i < 200 && !seen; i++) {
		struct harness_resp *r = fx_call("GET", path, NULL, NULL);
		seen = r->status == 200;
		harness_resp_free(r);
		if (!seen)
			usleep(50000);
	}
	cr_assert(seen, "the broker lists %s", ds);
	free(path);
	free(pb);
	free(pol);
	free(db);
	free(ob);
	return ds;
}

char *
nfx_request(const char *ds, const char *offer)
{
	char *b = xasprintf("{\"datasetId\":\"%s\",\"offerId\":\"%s\",\"provider\":\"%s\"}", ds, offer, CITY);
	char *id = nfx_post_id(&mobi, "/api/v1/negotiations", b);
	free(b);
	return id;
}

json_t *
nfx_wait_state(struct cfx *c, const char *id, const char *want)
{
	char *path = xasprintf("/api/v1/negotiations/%s", id);
	json_t *doc = NULL;
	for (int i = 0; i < 300; i++) {
		struct harness_resp *r = cfx_call(c, "GET", path, CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		json_decref(doc);
		doc = json_incref(r->json);
		harness_resp_free(r);
		const char *st = json_string_value(json_object_get(doc, "state"));
		if (!strcmp(st, want) || !strcmp(st, "FINALIZED") || !strcmp(st, "TERMINATED"))
			break;
		usleep(50000);
	}
	free(path);
	return doc;
}

char *
nfx_negotiate(const char *title)
{
	char *offer;
	char *ds = nfx_publish(title, OPEN, true, &offer);
	char *id = nfx_request(ds, offer);
	json_t *n = nfx_wait_state(&mobi, id, "FINALIZED");
	cr_assert_str_eq(json_string_value(json_object_get(n, "state")), "FINALIZED", "negotiation %s", id);
	char *aid = xstrdup(json_string_value(json_object_get(n, "agreementId")));
	json_decref(n);
	free(id);
	free(ds);
	free(offer);
	return aid;
}
