/* test_dataplane.c — the provider's data endpoint GET /data/{transfer}
 * for a client that pulls itself (autoPull false): repeated requests with
 * one token, and what the provider remembers between them (the usage
 * authorisation and the transfer's facts, connectors/dataplane.c) is
 * forgotten as soon as the transfer leaves STARTED, well before the
 * re-authorisation interval (30 s) would end it. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nego_fixture.h"
#include "util.h"

TestSuite(dataplane, .init = nfx_start, .fini = nfx_stop, .timeout = 120);

static const char content[] = "station,pm10\nlyon-3e,21\nlyon-7e,17\n";

static const char *
sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* A file dataset with content, negotiated and pulled with autoPull false;
 * returns the consumer's transfer id once it is STARTED. */
static char *
started_pull(void)
{
	char *offer;
	char *ds = nfx_publish("Self-pulled file", OPEN, true, &offer);
	char *path = xasprintf("/api/v1/datasets/%s/content", ds);
	struct harness_resp *r = cfx_call_raw(&city, "PUT", path, CONN_ADMIN_KEY, "text/csv", content,
					      strlen(content));
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	char *neg = nfx_request(ds, offer);
	json_t *n = nfx_wait_state(&mobi, neg, "FINALIZED");
	cr_assert_str_eq(sget(n, "state"), "FINALIZED");
	char *b = xasprintf("{\"agreementId\":\"%s\",\"format\":\"HttpData-PULL\",\"autoPull\":false}",
			    sget(n, "agreementId"));
	char *id = nfx_post_id(&mobi, "/api/v1/transfers", b);
	free(b);
	json_decref(n);
	free(neg);
	free(path);
	free(offer);
	free(ds);
	return id;
}

/* Poll the consumer's transfer until its state is want (asserted). */
static void
wait_state(const char *id, const char *want)
{
	char *path = xasprintf("/api/v1/transfers/%s", id);
	bool ok = false;
	for (int i = 0; i < 200 && !ok; i++) {
		struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		ok = !strcmp(sget(r->json, "state"), want);
		harness_resp_free(r);
		if (!ok)
			usleep(50000);
	}
	cr_assert(ok, "transfer %s reaches %s", id, want);
	free(path);
}

/* The data URL and a token from the consumer's edr (heap strings). */
static void
edr(const char *id, char **url, char **token)
{
	char *path = xasprintf("/api/v1/transfers/%s/edr", id);
	struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	*url = xstrdup(sget(r->json, "endpoint"));
	*token = xstrdup(sget(r->json, "authorization"));
	harness_resp_free(r);
	free(path);
}

static bool
str_is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

static struct harness_resp *
get_data(const char *url, const char *token)
{
	char *h = xasprintf("Authorization: Bearer %s", token);
	const char *hs[] = { h, NULL };
	struct harness_resp *r = harness_http("GET", url, hs, NULL);
	free(h);
	return r;
}

/* The same token is refused within 15 s (under the 30 s a cached
 * authorisation could otherwise last): 409 transfer_state when the provider
 * has heard of the new state, 403 usage_denied when the broker, asked
 * again, knew first. */
static void
refused_soon(const char *url, const char *token)
{
	long status = 0;
	const char *sym = NULL;
	struct harness_resp *r = NULL;
	for (int i = 0; i < 300; i++) {
		harness_resp_free(r);
		r = get_data(url, token);
		status = r->status;
		sym = sget(r->json, "error");
		if (status != 200)
			break;
		usleep(50000);
	}
	cr_expect((status == 409 && str_is(sym, "transfer_state")) ||
			  (status == 403 && str_is(sym, "usage_denied")),
		  "refused: HTTP %ld %s", status, r->body);
	harness_resp_free(r);
}

Test(dataplane, repeated_pulls_then_suspend_resume_terminate)
{
	char *id = started_pull();
	wait_state(id, "STARTED");
	char *url, *token;
	edr(id, &url, &token);
	/* The first request checks everything; the next ones reuse it. */
	for (int i = 0; i < 3; i++) {
		struct harness_resp *r = get_data(url, token);
		cr_assert_eq(r->status, 200, "request %d: %s", i, r->body);
		cr_expect_eq(r->body_len, strlen(content));
		cr_expect(!memcmp(r->body, content, strlen(content)));
		harness_resp_free(r);
	}
	/* Another transfer's token is still refused. */
	struct harness_resp *r = get_data(url, "e30.e30.e30");
	cr_expect_eq(r->status, 401, "%s", r->body);
	harness_resp_free(r);

	char *act = xasprintf("/api/v1/transfers/%s/suspend", id);
	r = cfx_call(&mobi, "POST", act, CONN_ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	refused_soon(url, token);

	free(act);
	act = xasprintf("/api/v1/transfers/%s/resume", id);
	r = cfx_call(&mobi, "POST", act, CONN_ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	wait_state(id, "STARTED");
	free(url);
	free(token);
	edr(id, &url, &token);
	bool served = false;
	r = NULL;
	for (int i = 0; i < 300 && !served; i++) {
		harness_resp_free(r);
		r = get_data(url, token);
		served = r->status == 200;
		if (!served)
			usleep(50000);
	}
	cr_assert(served, "served again once resumed: %s", r->body);
	harness_resp_free(r);

	free(act);
	act = xasprintf("/api/v1/transfers/%s/terminate", id);
	r = cfx_call(&mobi, "POST", act, CONN_ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	refused_soon(url, token);

	free(act);
	free(url);
	free(token);
	free(id);
}

Test(dataplane, revoked_by_the_provider_refused_at_once)
{
	char *id = started_pull();
	wait_state(id, "STARTED");
	char *url, *token;
	edr(id, &url, &token);
	for (int i = 0; i < 3; i++) {
		struct harness_resp *r = get_data(url, token);
		cr_assert_eq(r->status, 200, "request %d: %s", i, r->body);
		harness_resp_free(r);
	}
	char *path = xasprintf("/api/v1/transfers/%s", id);
	struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	char *rev = xasprintf("/api/v1/agreements/%s/revoke", sget(r->json, "agreementId"));
	harness_resp_free(r);
	r = cfx_call(&city, "POST", rev, CONN_ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	/* The very next request, before the broker's termination arrives. */
	r = get_data(url, token);
	cr_expect((r->status == 409 && str_is(sget(r->json, "error"), "agreement_not_active")) ||
			  (r->status == 409 && str_is(sget(r->json, "error"), "transfer_state")),
		  "refused at once: HTTP %ld %s", r->status, r->body);
	harness_resp_free(r);
	free(rev);
	free(path);
	free(url);
	free(token);
	free(id);
}
