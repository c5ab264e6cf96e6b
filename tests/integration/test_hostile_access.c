/* test_hostile_access.c — the hostile-input suite (issue 9), access: a
 * third participant asking for the city's and the mobility company's
 * negotiations, agreements and transfers at the broker and at their
 * connectors (OWASP API1/API3/API5), API keys of one process used at
 * another, roles used beyond their rights, and every token attack of the
 * transfer issue (participant tokens at the broker, access tokens at the
 * provider's data endpoint).  Each is a 4xx with its error body, nothing
 * leaks, no 5xx, the processes live, the databases do not change. */
#include "hostile_fixture.h"
#include "transfer_fixture.h"
#include "crypto.h"
#include "dsp.h"
#include "dsp_transfer.h"
#include "jose.h"
#include "util.h"

#include <criterion/criterion.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

/* The stage: an agreement between mobility (consumer) and the city
 * (provider) with a started pull the consumer did not pull (autoPull
 * false), and the ids each process knows it by. */
static struct {
	char *agreement, *dataset;
	char *mobi_transfer, *city_transfer, *broker_transfer;
	char *mobi_neg, *city_neg, *broker_neg;
	char *endpoint, *token;	/* the pull's data address and access token */
} s;
static struct participant suspended;

static char *
first_id(struct harness_resp *r)
{
	cr_assert_eq(r->status, 200, "%s", r->body);
	const json_t *first = json_array_get(json_object_get(r->json, "results"), 0);
	cr_assert_not_null(first, "%s", r->body);
	char *id = xstrdup(json_string_value(json_object_get(first, "id")));
	harness_resp_free(r);
	return id;
}

static void
stage(void)
{
	memset(&s, 0, sizeof s);
	nfx_start();
	fx_participant(&intruder, INTRUDER);
	fx_participant(&suspended, "urn:agora:participant:suspended");
	struct harness_resp *r = fx_call("PATCH", "/api/v1/participants/urn:agora:participant:suspended", ADMIN_KEY,
					 "{\"status\":\"suspended\"}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);

	s.agreement = tfx_agreement("Guarded file", OPEN, &s.dataset);
	s.mobi_transfer = tfx_start(s.agreement, "\"autoPull\":false");
	json_t *t = tfx_wait(s.mobi_transfer, "STARTED", false);
	cr_assert_str_eq(tfx_str(t, "state"), "STARTED");
	s.broker_transfer = xstrdup(tfx_str(t, "brokerPid"));
	json_decref(t);
	char *path = xasprintf("/api/v1/transfers/%s/edr", s.mobi_transfer);
	r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	s.endpoint = xstrdup(tfx_str(r->json, "endpoint"));
	s.token = xstrdup(tfx_str(r->json, "authorization"));
	s.city_transfer = xstrdup(strrchr(s.endpoint, '/') + 1);
	harness_resp_free(r);
	free(path);
	s.mobi_neg = first_id(cfx_call(&mobi, "GET", "/api/v1/negotiations", CONN_ADMIN_KEY, NULL));
	s.city_neg = first_id(cfx_call(&city, "GET", "/api/v1/negotiations", CONN_ADMIN_KEY, NULL));
	s.broker_neg = first_id(fx_call("GET", "/api/v1/negotiations", ADMIN_KEY, NULL));
	hfx_settle();
}

static void
unstage(void)
{
	free(s.agreement);
	free(s.dataset);
	free(s.mobi_transfer);
	free(s.city_transfer);
	free(s.broker_transfer);
	free(s.mobi_neg);
	free(s.city_neg);
	free(s.broker_neg);
	free(s.endpoint);
	free(s.token);
	agora_key_free(intruder.key);
	agora_key_free(suspended.key);
	nfx_stop();
}

TestSuite(hostile_access, .init = stage, .fini = unstage, .timeout = 120);

/* The values a case's path and body may name. */
static char *
fill(const char *tmpl)
{
	struct { const char *k, *v; } m[] = {
		{ "{AG}", s.agreement }, { "{DS}", s.dataset }, { "{MT}", s.mobi_transfer },
		{ "{CT}", s.city_transfer }, { "{BT}", s.broker_transfer }, { "{MN}", s.mobi_neg },
		{ "{CN}", s.city_neg }, { "{BN}", s.broker_neg },
	};
	char *out = xstrdup(tmpl);
	for (size_t i = 0; i < ARRAY_LEN(m); i++) {
		char *p;
		while ((p = strstr(out, m[i].k))) {
			char *n = xasprintf("%.*s%s%s", (int)(p - out), out, m[i].v, p + strlen(m[i].k));
			free(out);
			out = n;
		}
	}
	return out;
}

/* The same path with every id replaced by one nobody has (heap). */
static char *
fill_ghost(const char *tmpl)
{
	char *out = xstrdup(tmpl), *a, *b;
	while ((a = strchr(out, '{')) && (b = strchr(a, '}'))) {
		char *n = xasprintf("%.*surn:uuid:00000000-0000-4000-8000-00000000beef%s", (int)(a - out), out, b + 1);
		free(out);
		out = n;
	}
	return out;
}

enum who { W_BROKER, W_CITY, W_MOBI };

static const char *
base_of(enum who w)
{
	return w == W_BROKER ? fx.url : w == W_CITY ? city.url : mobi.url;
}

/* A DSP message body for the path's last segment (heap), or "{}". */
static char *
dsp_body(const char *path)
{
	json_t *m = NULL;
	const char *cp = "urn:uuid:00000000-0000-4000-8000-0000000000cc";
	const char *pp = "urn:uuid:00000000-0000-4000-8000-0000000000dd";
	const char *why[] = { "hostile" };
	if (strstr(path, "/transfers/") && strstr(path, "/termination"))
		m = agora_dspt_termination_new(pp, cp, NULL, why, 1);
	else if (strstr(path, "/transfers/") && strstr(path, "/suspension"))
		m = agora_dspt_suspension_new(pp, cp, NULL, why, 1);
	else if (strstr(path, "/transfers/") && strstr(path, "/completion"))
		m = agora_dspt_completion_new(pp, cp);
	else if (strstr(path, "/negotiations/") && strstr(path, "/termination"))
		m = agora_dsp_termination_new(pp, cp, NULL, why, 1);
	else if (strstr(path, "/negotiations/") && strstr(path, "/events"))
		m = agora_dsp_event_new(pp, cp, AGORA_DSP_MSG_EVENT_FINALIZED);
	if (!m)
		return xstrdup("{}");
	char *b = json_dumps(m, JSON_COMPACT);
	json_decref(m);
	return b;
}

/* --- another organisation's objects ------------------------------------- */

struct probe {
	enum who at;
	const char *method, *path;
	long want;		/* status, 4 = any 4xx */
	const char *symbol;	/* API error symbol, or NULL */
	enum hfx_body kind;
	const char *body;	/* NULL: a DSP message for the path, or none for GET */
};

static const struct probe probes[] = {
	{ W_BROKER, "GET", "/dsp/negotiations/{BN}", 404, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "POST", "/dsp/negotiations/{BN}/termination", 4, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "POST", "/dsp/negotiations/{BN}/events", 4, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "POST", "/dsp/negotiations/{BN}/agreement/verification", 4, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "POST", "/dsp/callback/negotiations/{BN}/termination", 4, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "POST", "/dsp/callback/negotiations/{BN}/agreement", 4, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "GET", "/dsp/transfers/{BT}", 404, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "POST", "/dsp/transfers/{BT}/termination", 4, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "POST", "/dsp/transfers/{BT}/suspension", 4, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "POST", "/dsp/transfers/{BT}/completion", 4, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "POST", "/dsp/callback/transfers/{BT}/termination", 4, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "POST", "/dsp/callback/transfers/{CT}/termination", 4, NULL, HFX_EITHER, NULL },
	{ W_BROKER, "GET", "/api/v1/agreements/{AG}", 404, "agreement_not_found", HFX_API, NULL },
	{ W_BROKER, "POST", "/api/v1/agreements/{AG}/revoke", 404, "agreement_not_found", HFX_API, "" },
	{ W_BROKER, "GET", "/api/v1/transfers/{BT}", 404, "transfer_not_found", HFX_API, NULL },
	{ W_BROKER, "POST", "/api/v1/transfers/{BT}/token", 404, "transfer_not_found", HFX_API, "" },
	{ W_BROKER, "POST", "/api/v1/usage/authorize", 404, "transfer_not_found", HFX_API, "{\"transfer\":\"{CT}\"}" },
	{ W_BROKER, "POST", "/api/v1/usage/authorize", 404, "transfer_not_found", HFX_API, "{\"transfer\":\"{BT}\"}" },
	{ W_BROKER, "POST", "/api/v1/usage/report", 404, "transfer_not_found", HFX_API,
	  "{\"transfer\":\"{BT}\",\"event\":\"received\",\"bytes\":1,\"sha256\":\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}" },
	{ W_BROKER, "POST", "/api/v1/usage/report", 404, "transfer_not_found", HFX_API,
	  "{\"transfer\":\"{BT}\",\"event\":\"inform\"}" },
	{ W_BROKER, "GET", "/api/v1/negotiations", 4, NULL, HFX_API, NULL },
	{ W_BROKER, "GET", "/api/v1/negotiations/{BN}", 4, NULL, HFX_API, NULL },
	{ W_BROKER, "GET", "/api/v1/participants/" CITY "/credential", 4, NULL, HFX_API, NULL },
	{ W_BROKER, "PUT", "/api/v1/catalogs/" CITY, 4, NULL, HFX_API, "{\"catalog\":{}}" },
	{ W_BROKER, "PATCH", "/api/v1/participants/" INTRUDER, 4, NULL, HFX_API, "{\"status\":\"active\"}" },
	{ W_BROKER, "GET", "/api/v1/api-keys", 4, NULL, HFX_API, NULL },
	{ W_CITY, "GET", "/dsp/negotiations/{CN}", 404, NULL, HFX_EITHER, NULL },
	{ W_CITY, "POST", "/dsp/negotiations/{CN}/termination", 4, NULL, HFX_EITHER, NULL },
	{ W_CITY, "POST", "/dsp/negotiations/{CN}/events", 4, NULL, HFX_EITHER, NULL },
	{ W_CITY, "GET", "/dsp/transfers/{CT}", 404, NULL, HFX_EITHER, NULL },
	{ W_CITY, "POST", "/dsp/transfers/{CT}/termination", 4, NULL, HFX_EITHER, NULL },
	{ W_CITY, "POST", "/dsp/transfers/{CT}/suspension", 4, NULL, HFX_EITHER, NULL },
	{ W_CITY, "POST", "/dsp/transfers/{CT}/completion", 4, NULL, HFX_EITHER, NULL },
	{ W_CITY, "POST", "/dsp/negotiations/request", 4, NULL, HFX_EITHER, "{}" },
	{ W_CITY, "POST", "/dsp/transfers/request", 4, NULL, HFX_EITHER, "{}" },
	{ W_CITY, "POST", "/api/v1/usage/notify", 404, NULL, HFX_API, "{\"transfer\":\"{CT}\"}" },
	{ W_CITY, "GET", "/data/{CT}", 401, NULL, HFX_API, NULL },
	{ W_CITY, "GET", "/api/v1/datasets", 401, NULL, HFX_API, NULL },
	{ W_MOBI, "POST", "/dsp/callback/transfers/{MT}/termination", 4, NULL, HFX_EITHER, NULL },
	{ W_MOBI, "POST", "/dsp/callback/transfers/{MT}/suspension", 4, NULL, HFX_EITHER, NULL },
	{ W_MOBI, "POST", "/dsp/callback/transfers/{MT}/completion", 4, NULL, HFX_EITHER, NULL },
	{ W_MOBI, "POST", "/dsp/callback/negotiations/{MN}/termination", 4, NULL, HFX_EITHER, NULL },
	{ W_MOBI, "POST", "/dsp/callback/negotiations/{MN}/events", 4, NULL, HFX_EITHER, NULL },
	{ W_MOBI, "POST", "/dsp/callback/agreements/{AG}/revoked", 4, NULL, HFX_EITHER, "{}" },
	{ W_MOBI, "GET", "/dsp/negotiations/{MN}", 404, NULL, HFX_EITHER, NULL },
	{ W_MOBI, "GET", "/api/v1/transfers/{MT}/data", 401, NULL, HFX_API, NULL },
};

Test(hostile_access, cross_organisation)
{
	const char *auds[] = { fx.url, CITY, MOBI };
	struct hfx_group g;
	hfx_group_begin(&g, "cross-organisation access");
	/* The intruder, and the mobility company where it is no party (the
	 * provider's DSP endpoints take messages from the broker only). */
	const struct participant *who[] = { &intruder, &mobi.p };
	for (size_t w = 0; w < 2; w++) {
		for (size_t i = 0; i < ARRAY_LEN(probes); i++) {
			const struct probe *p = &probes[i];
			if (w == 1 && (p->at != W_CITY || !strncmp(p->path, "/api/", 5)))
				continue;
			char *path = fill(p->path);
			char *body = p->body ? fill(p->body) : strcmp(p->method, "GET") ? dsp_body(path) : NULL;
			struct harness_resp *r = hfx_as(who[w], auds[p->at], p->method, base_of(p->at), path,
							body && *body ? "application/json" : NULL, body,
							body ? strlen(body) : 0);
			char *what = xasprintf("%s %s %s by %s", p->at == W_BROKER ? "broker" : p->at == W_CITY ? "city" : "mobility",
					       p->method, path, who[w]->id);
			hfx_check(what, r, p->want, p->symbol, p->kind);
			if (strchr(p->path, '{')) {
				/* No oracle: the same answer as for an id that does not exist. */
				char *ghost = fill_ghost(p->path);
				struct harness_resp *g2 = hfx_as(who[w], auds[p->at], p->method, base_of(p->at), ghost,
								 body && *body ? "application/json" : NULL, body,
								 body ? strlen(body) : 0);
				cr_expect_eq(g2->status, r->status, "%s: %ld, but %ld for an unknown id: %.200s", what,
					     r->status, g2->status, g2->body);
				harness_resp_free(g2);
				free(ghost);
			}
			cr_expect(!strstr(r->body, s.agreement) || strstr(path, s.agreement),
				  "%s: the agreement's id leaked: %.300s", what, r->body);
			cr_expect(!strstr(r->body, "lyon-3e"), "%s: data leaked: %.300s", what, r->body);
			free(what);
			free(body);
			free(path);
			harness_resp_free(r);
		}
	}
	/* Lists: the intruder's own are empty (200, nothing of the others'). */
	const char *lists[] = { "/api/v1/agreements", "/api/v1/transfers" };
	for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
		struct harness_resp *r = hfx_as(&intruder, fx.url, "GET", fx.url, lists[i], NULL, NULL, 0);
		cr_expect_eq(r->status, 200, "%s: %s", lists[i], r->body);
		cr_expect_eq(json_array_size(json_object_get(r->json, "results")), 0, "%s lists others': %s", lists[i],
			     r->body);
		harness_resp_free(r);
	}
	/* The control: the consumer itself is answered (the probes can fail). */
	char *own = xasprintf("/api/v1/transfers/%s", s.broker_transfer);
	struct harness_resp *r = hfx_as(&mobi.p, fx.url, "GET", fx.url, own, NULL, NULL, 0);
	cr_expect_eq(r->status, 200, "the consumer reads its transfer: %s", r->body);
	harness_resp_free(r);
	free(own);
	hfx_group_end(&g);
	hfx_report("cross-organisation");
}

/* --- keys and roles ----------------------------------------------------- */

/* A key with role at the broker (heap). */
static char *
broker_key_of(const char *role)
{
	char *body = xasprintf("{\"name\":\"%s\",\"role\":\"%s\"}", role, role);
	struct harness_resp *r = fx_call("POST", "/api/v1/api-keys", ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "%s", r->body);
	char *k = xstrdup(json_string_value(json_object_get(r->json, "key")));
	harness_resp_free(r);
	free(body);
	return k;
}

struct keyed {
	enum who at;
	int key;	/* index into keys[] */
	const char *method, *path, *ctype, *body;
	long want;
	const char *symbol;
};

enum { K_CITY_ADMIN, K_MOBI_ADMIN, K_BROKER_ADMIN, K_CITY_VIEWER, K_CITY_CONSUMER, K_CITY_PUB2,
       K_MOBI_VIEWER, K_BROKER_VIEWER, K_BROKER_PUBLISHER, K_REVOKED, K_GARBAGE, NKEYS };

static const struct keyed keyed[] = {
	/* One process's key at another. */
	{ W_MOBI, K_CITY_ADMIN, "GET", "/api/v1/transfers", NULL, NULL, 401, "invalid_api_key" },
	{ W_MOBI, K_CITY_ADMIN, "GET", "/api/v1/transfers/{MT}/data", NULL, NULL, 401, "invalid_api_key" },
	{ W_MOBI, K_CITY_ADMIN, "GET", "/api/v1/transfers/{MT}/edr", NULL, NULL, 401, "invalid_api_key" },
	{ W_MOBI, K_CITY_ADMIN, "POST", "/api/v1/transfers", "application/json", "{\"agreementId\":\"{AG}\"}", 401, "invalid_api_key" },
	{ W_MOBI, K_CITY_ADMIN, "POST", "/api/v1/transfers/{MT}/terminate", "application/json", "{}", 401, "invalid_api_key" },
	{ W_CITY, K_MOBI_ADMIN, "POST", "/api/v1/datasets", "application/json", "{\"title\":\"x\",\"source\":{\"type\":\"file\"}}", 401, "invalid_api_key" },
	{ W_CITY, K_MOBI_ADMIN, "DELETE", "/api/v1/datasets/{DS}", NULL, NULL, 401, "invalid_api_key" },
	{ W_CITY, K_MOBI_ADMIN, "GET", "/api/v1/datasets/{DS}/content", NULL, NULL, 401, "invalid_api_key" },
	{ W_CITY, K_MOBI_ADMIN, "POST", "/api/v1/agreements/{AG}/revoke", "application/json", "{}", 401, "invalid_api_key" },
	{ W_CITY, K_BROKER_ADMIN, "GET", "/api/v1/datasets", NULL, NULL, 401, "invalid_api_key" },
	{ W_BROKER, K_CITY_ADMIN, "GET", "/api/v1/negotiations", NULL, NULL, 401, "invalid_api_key" },
	{ W_BROKER, K_CITY_ADMIN, "POST", "/api/v1/participants", "application/json", "{}", 401, "invalid_api_key" },
	{ W_CITY, K_REVOKED, "GET", "/api/v1/datasets", NULL, NULL, 401, "invalid_api_key" },
	{ W_CITY, K_GARBAGE, "GET", "/api/v1/datasets", NULL, NULL, 401, "invalid_api_key" },
	/* Roles beyond their rights. */
	{ W_CITY, K_CITY_VIEWER, "POST", "/api/v1/datasets", "application/json", "{\"title\":\"x\",\"source\":{\"type\":\"file\"}}", 403, "forbidden" },
	{ W_CITY, K_CITY_VIEWER, "PATCH", "/api/v1/datasets/{DS}", "application/json", "{\"title\":\"x\"}", 403, "forbidden" },
	{ W_CITY, K_CITY_VIEWER, "DELETE", "/api/v1/datasets/{DS}", NULL, NULL, 403, "forbidden" },
	{ W_CITY, K_CITY_VIEWER, "PUT", "/api/v1/datasets/{DS}/content", "text/csv", "a,b\n", 403, "forbidden" },
	{ W_CITY, K_CITY_VIEWER, "POST", "/api/v1/policies", "application/json", "{\"policy\":" OPEN "}", 403, "forbidden" },
	{ W_CITY, K_CITY_VIEWER, "POST", "/api/v1/offers", "application/json", "{\"datasetSelector\":{\"all\":true},\"contractPolicyId\":\"x\"}", 403, "forbidden" },
	{ W_CITY, K_CITY_VIEWER, "POST", "/api/v1/agreements/{AG}/revoke", "application/json", "{}", 403, "forbidden" },
	{ W_CITY, K_CITY_VIEWER, "POST", "/api/v1/api-keys", "application/json", "{\"name\":\"x\",\"role\":\"admin\"}", 403, "forbidden" },
	{ W_CITY, K_CITY_VIEWER, "POST", "/api/v1/negotiations/{CN}/reject", "application/json", "{}", 403, "forbidden" },
	{ W_CITY, K_CITY_CONSUMER, "POST", "/api/v1/datasets", "application/json", "{\"title\":\"x\",\"source\":{\"type\":\"file\"}}", 403, "forbidden" },
	{ W_CITY, K_CITY_CONSUMER, "DELETE", "/api/v1/datasets/{DS}", NULL, NULL, 403, "forbidden" },
	{ W_CITY, K_CITY_PUB2, "PATCH", "/api/v1/datasets/{DS}", "application/json", "{\"title\":\"x\"}", 403, "forbidden" },
	{ W_CITY, K_CITY_PUB2, "DELETE", "/api/v1/datasets/{DS}", NULL, NULL, 403, "forbidden" },
	{ W_CITY, K_CITY_PUB2, "PUT", "/api/v1/datasets/{DS}/content", "text/csv", "a,b\n", 403, "forbidden" },
	{ W_CITY, K_CITY_PUB2, "POST", "/api/v1/agreements/{AG}/revoke", "application/json", "{}", 403, "forbidden" },
	{ W_CITY, K_CITY_PUB2, "POST", "/api/v1/api-keys", "application/json", "{\"name\":\"x\",\"role\":\"admin\"}", 403, "forbidden" },
	{ W_MOBI, K_MOBI_VIEWER, "POST", "/api/v1/transfers", "application/json", "{\"agreementId\":\"{AG}\"}", 403, "forbidden" },
	{ W_MOBI, K_MOBI_VIEWER, "POST", "/api/v1/negotiations", "application/json", "{\"datasetId\":\"{DS}\",\"offerId\":\"x\",\"provider\":\"" CITY "\"}", 403, "forbidden" },
	{ W_MOBI, K_MOBI_VIEWER, "POST", "/api/v1/transfers/{MT}/terminate", "application/json", "{}", 403, "forbidden" },
	{ W_MOBI, K_MOBI_VIEWER, "GET", "/api/v1/transfers/{MT}/edr", NULL, NULL, 403, "forbidden" },
	{ W_BROKER, K_BROKER_VIEWER, "POST", "/api/v1/participants", "application/json", "{}", 403, "forbidden" },
	{ W_BROKER, K_BROKER_VIEWER, "PATCH", "/api/v1/participants/" CITY, "application/json", "{\"status\":\"suspended\"}", 403, "forbidden" },
	{ W_BROKER, K_BROKER_VIEWER, "POST", "/api/v1/api-keys", "application/json", "{\"name\":\"x\",\"role\":\"admin\"}", 403, "forbidden" },
	{ W_BROKER, K_BROKER_VIEWER, "GET", "/api/v1/negotiations", NULL, NULL, 403, "forbidden" },
	{ W_BROKER, K_BROKER_VIEWER, "POST", "/api/v1/agreements/{AG}/revoke", "application/json", "{}", 403, "forbidden" },
	{ W_BROKER, K_BROKER_PUBLISHER, "POST", "/api/v1/catalog/crawl", "application/json", "{}", 403, "forbidden" },
	{ W_BROKER, K_BROKER_PUBLISHER, "DELETE", "/api/v1/api-keys/x", NULL, NULL, 403, "forbidden" },
};

Test(hostile_access, keys_and_roles)
{
	char *keys[NKEYS];
	keys[K_CITY_ADMIN] = cfx_key(&city, "admin");
	keys[K_MOBI_ADMIN] = cfx_key(&mobi, "admin");
	keys[K_BROKER_ADMIN] = xstrdup(ADMIN_KEY);
	keys[K_CITY_VIEWER] = cfx_key(&city, "viewer");
	keys[K_CITY_CONSUMER] = cfx_key(&city, "consumer");
	keys[K_CITY_PUB2] = cfx_key(&city, "publisher");
	keys[K_MOBI_VIEWER] = cfx_key(&mobi, "viewer");
	keys[K_BROKER_VIEWER] = broker_key_of("viewer");
	keys[K_BROKER_PUBLISHER] = broker_key_of("publisher");
	/* A key revoked at the city. */
	struct harness_resp *r = cfx_call(&city, "POST", "/api/v1/api-keys", CONN_ADMIN_KEY,
					  "{\"name\":\"gone\",\"role\":\"admin\"}");
	cr_assert_eq(r->status, 201, "%s", r->body);
	keys[K_REVOKED] = xstrdup(tfx_str(r->json, "key"));
	char *del = xasprintf("/api/v1/api-keys/%s", tfx_str(r->json, "id"));
	harness_resp_free(r);
	r = cfx_call(&city, "DELETE", del, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	free(del);
	keys[K_GARBAGE] = xstrdup("agk_' OR '1'='1");
	hfx_settle();

	struct hfx_group g;
	hfx_group_begin(&g, "keys and roles");
	for (size_t i = 0; i < ARRAY_LEN(keyed); i++) {
		const struct keyed *k = &keyed[i];
		char *path = fill(k->path), *body = k->body ? fill(k->body) : NULL;
		/* Both header forms: Authorization: Bearer and X-Api-Key. */
		for (int form = 0; form < 2; form++) {
			char *authz = xasprintf("Bearer %s", keys[k->key]);
			struct harness_resp *res;
			if (form == 0) {
				res = hfx_call(base_of(k->at), k->method, path, authz, k->ctype, body, body ? strlen(body) : 0);
			} else {
				char *url = xasprintf("%s%s", base_of(k->at), path);
				char *h1 = xasprintf("X-Api-Key: %s", keys[k->key]);
				char *h2 = k->ctype ? xasprintf("Content-Type: %s", k->ctype) : xstrdup("X-None: 1");
				const char *h[] = { h1, h2, NULL };
				res = harness_http(k->method, url, h, body);
				hfx_requests++;
				free(url);
				free(h1);
				free(h2);
			}
			char *what = xasprintf("%s %s with key %d (%s)", k->method, path, k->key,
					       form ? "X-Api-Key" : "Bearer");
			hfx_check(what, res, k->want, k->symbol, HFX_API);
			free(what);
			free(authz);
			harness_resp_free(res);
		}
		free(path);
		free(body);
	}
	hfx_group_end(&g);
	for (int i = 0; i < NKEYS; i++)
		free(keys[i]);
	hfx_report("keys and roles");
}

/* --- tokens ------------------------------------------------------------- */

/* A JWT with our own header and claims, signed as alg says (heap). */
static char *
forge(const char *alg, const char *typ, const char *kid, const json_t *claims, const struct agora_key *k)
{
	json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", alg, "typ", typ, "kid", kid);
	char *h = json_dumps(hdr, JSON_COMPACT), *p = json_dumps(claims, JSON_COMPACT);
	char *hb = agora_b64url_encode(h, strlen(h)), *pb = agora_b64url_encode(p, strlen(p));
	char *input = xasprintf("%s.%s", hb, pb);
	char *sig;
	if (!strcmp(alg, "EdDSA")) {
		uint8_t sg[64];
		cr_assert(agora_ed25519_sign(k, input, strlen(input), sg));
		sig = agora_b64url_encode(sg, 64);
	} else if (!strcmp(alg, "HS256")) {
		uint8_t mac[32];
		unsigned len = 32;
		HMAC(EVP_sha256(), "secret", 6, (const unsigned char *)input, strlen(input), mac, &len);
		sig = agora_b64url_encode(mac, len);
	} else {
		sig = xstrdup("");
	}
	char *jwt = xasprintf("%s.%s", input, sig);
	json_decref(hdr);
	free(h);
	free(p);
	free(hb);
	free(pb);
	free(input);
	free(sig);
	return jwt;
}

static void
bearer(const char *base, const char *method, const char *path, const char *token, long want, const char *symbol,
       const char *what)
{
	char *authz = token ? xasprintf("Bearer %s", token) : NULL;
	struct harness_resp *r = hfx_call(base, method, path, authz, NULL, NULL, 0);
	hfx_check(what, r, want, symbol, want < 400 ? HFX_NONE : HFX_API);
	cr_expect(!strstr(r->body, "lyon-3e"), "%s: data leaked: %.200s", what, r->body);
	harness_resp_free(r);
	free(authz);
}

Test(hostile_access, tokens)
{
	struct hfx_group g;
	hfx_group_begin(&g, "participant tokens at the broker");
	const char *path = "/api/v1/whoami";
	struct agora_key *other = agora_key_generate();
	char okid[44];
	agora_key_thumbprint(other, okid);
	const struct {
		const char *what;
		struct tok o;
		const char *symbol;
	} toks[] = {
		{ "alg none (no signature)", { .alg = "none" }, NULL },
		{ "alg HS256", { .alg = "HS256" }, "unsupported_alg" },
		{ "alg RS256 (no signature)", { .alg = "RS256" }, NULL },
		{ "typ at+jwt", { .typ = "at+jwt" }, "invalid_token" },
		{ "no jti", { .no_jti = true }, "invalid_token" },
		{ "sub is not iss", { .sub = CITY }, "invalid_token" },
		{ "an unknown issuer", { .iss = "urn:agora:participant:ghost", .sub = "urn:agora:participant:ghost" },
		  "unknown_participant" },
		{ "the city's id with the intruder's key", { .iss = CITY, .sub = CITY }, "unknown_key" },
		{ "an unknown kid", { .kid = okid, .sign_with = other }, "unknown_key" },
		{ "signed with another key", { .sign_with = other }, "bad_signature" },
		{ "expired", { .iat_offset = -1000, .exp_offset = -700 }, "token_expired" },
		{ "a lifetime of an hour", { .exp_offset = 3600 }, "invalid_token" },
		{ "issued in the future", { .iat_offset = 600, .exp_offset = 700 }, "token_not_yet_valid" },
		{ "for the city", { .aud = CITY }, "wrong_audience" },
		{ "for another method", { .htm = "POST" }, "request_mismatch" },
		{ "for another path", { .htu = "http://127.0.0.1:1/api/v1/whoami" }, "request_mismatch" },
		{ "for another body", { .bh = "AAAA" }, "request_mismatch" },
		{ "a 10 KiB jti", { .jti = NULL }, "invalid_token" },
	};
	char big_jti[10240];
	memset(big_jti, 'j', sizeof big_jti - 1);
	big_jti[sizeof big_jti - 1] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(toks); i++) {
		struct tok o = toks[i].o;
		if (!strcmp(toks[i].what, "a 10 KiB jti"))
			o.jti = big_jti;
		char *t = fx_token(&intruder, "GET", path, NULL, &o);
		if (o.alg && strcmp(o.alg, "EdDSA")) {	/* re-sign as the alg says */
			char err[128];
			struct agora_jws *j = agora_jws_parse(t, err, sizeof err);
			json_t *c = j ? json_loads((const char *)j->payload, 0, NULL) : NULL;
			agora_jws_free(j);
			free(t);
			t = forge(o.alg, "JWT", intruder.kid, c, intruder.key);
			json_decref(c);
		}
		bearer(fx.url, "GET", path, t, 401, toks[i].symbol, toks[i].what);
		free(t);
	}
	char *t = fx_token(&suspended, "GET", path, NULL, NULL);
	bearer(fx.url, "GET", path, t, 401, "participant_suspended", "a suspended participant");
	free(t);
	/* Replay: the first use is answered, the second refused. */
	t = fx_token(&intruder, "GET", path, NULL, NULL);
	bearer(fx.url, "GET", path, t, 200, NULL, "the first use");
	bearer(fx.url, "GET", path, t, 401, "token_replayed", "a replay");
	free(t);
	const char *junk[] = { "abc", "a.b.c", "..", "eyJhbGciOiJub25lIn0.e30.", "\"'; DROP TABLE seen_tokens;--" };
	for (size_t i = 0; i < ARRAY_LEN(junk); i++)
		bearer(fx.url, "GET", path, junk[i], 401, NULL, junk[i]);
	bearer(fx.url, "GET", path, NULL, 401, "missing_credentials", "no credentials");
	hfx_group_end(&g);

	/* The access token attacks of the transfer issue at the provider's
	 * data endpoint (as test_transfer_attacks, here with the database
	 * check). */
	hfx_group_begin(&g, "access tokens at the data endpoint");
	char *kpath = xasprintf("%s/data/broker-key.pem", fx.dir);
	char err[128], bkid[44];
	struct agora_key *bk = agora_key_load_pem(kpath, err, sizeof err);
	cr_assert_not_null(bk, "%s", err);
	agora_key_thumbprint(bk, bkid);
	free(kpath);
	struct agora_jws *j = agora_jws_parse(s.token, err, sizeof err);
	cr_assert_not_null(j, "%s", err);
	json_t *c = json_loads((const char *)j->payload, 0, NULL);
	agora_jws_free(j);
	long long now = (long long)agora_now();
	const char *dpath = strstr(s.endpoint + 8, "/");
	struct {
		const char *what, *alg, *typ, *kid, *key, *val;
		long long num;
		const struct agora_key *k;
		long want;
		const char *symbol;
	} at[] = {
		{ "alg none (no signature)", "none", "at+jwt", bkid, NULL, NULL, 0, NULL, 401, NULL },
		{ "alg HS256", "HS256", "at+jwt", bkid, NULL, NULL, 0, NULL, 401, "unsupported_alg" },
		{ "another key under the broker's kid", "EdDSA", "at+jwt", bkid, NULL, NULL, 0, other, 401, "bad_signature" },
		{ "another key under its own kid", "EdDSA", "at+jwt", okid, NULL, NULL, 0, other, 401, "unknown_key" },
		{ "for another provider", "EdDSA", "at+jwt", bkid, "aud", MOBI, 0, bk, 401, "wrong_audience" },
		{ "expired", "EdDSA", "at+jwt", bkid, "exp", NULL, now - 600, bk, 401, "token_expired" },
		{ "not yet valid", "EdDSA", "at+jwt", bkid, "nbf", NULL, now + 600, bk, 401, "token_not_yet_valid" },
		{ "for another transfer", "EdDSA", "at+jwt", bkid, "transfer",
		  "urn:uuid:00000000-0000-4000-8000-000000000000", 0, bk, 403, "forbidden" },
		{ "issued by someone else", "EdDSA", "at+jwt", bkid, "iss", "http://127.0.0.1:1", 0, bk, 401, NULL },
		{ "a participant token's typ", "EdDSA", "JWT", bkid, NULL, NULL, 0, bk, 401, NULL },
	};
	for (size_t i = 0; i < ARRAY_LEN(at); i++) {
		json_t *x = json_deep_copy(c);
		if (at[i].key && at[i].val)
			json_object_set_new(x, at[i].key, json_string(at[i].val));
		else if (at[i].key)
			json_object_set_new(x, at[i].key, json_integer(at[i].num));
		if (at[i].key && !strcmp(at[i].key, "exp")) {
			json_object_set_new(x, "iat", json_integer(now - 900));
			json_object_set_new(x, "nbf", json_integer(now - 900));
		}
		if (at[i].key && !strcmp(at[i].key, "nbf"))
			json_object_set_new(x, "exp", json_integer(now + 900));
		char *tk = forge(at[i].alg, at[i].typ, at[i].kid, x, at[i].k);
		bearer(city.url, "GET", dpath, tk, at[i].want, at[i].symbol, at[i].what);
		free(tk);
		json_decref(x);
	}
	/* The genuine token on another transfer's path; the intruder's own
	 * participant token; garbage; none. */
	bearer(city.url, "GET", "/data/urn:uuid:00000000-0000-4000-8000-000000000000", s.token, 403, "forbidden",
	       "the genuine token elsewhere");
	t = fx_token(&intruder, "GET", dpath, NULL, NULL);
	bearer(city.url, "GET", dpath, t, 401, NULL, "the intruder's participant token");
	free(t);
	bearer(city.url, "GET", dpath, "not.a-token", 401, "invalid_token", "garbage");
	bearer(city.url, "GET", dpath, NULL, 401, "missing_credentials", "no token");
	hfx_group_end(&g);
	json_decref(c);
	agora_key_free(bk);
	agora_key_free(other);
	hfx_report("tokens");
}
