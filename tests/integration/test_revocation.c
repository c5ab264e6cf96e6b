/* test_revocation.c — revocation of an agreement end to end: the
 * provider revokes at its connector, which tells the broker through its
 * outbox (participant token); the broker logs a `revoked` ledger entry and
 * tells the consumer's connector through its own.  Only the provider (and
 * a broker admin) may revoke. */
#include "connector_fixture.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CITY "urn:agora:participant:city"
#define MOBI "urn:agora:participant:mobility"
#define OPEN "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\"}]}"

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

TestSuite(revocation, .init = setup, .fini = teardown, .timeout = 120);

static char *
post_id(struct cfx *c, const char *path, const char *body)
{
	struct harness_resp *r = cfx_call(c, "POST", path, CONN_ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "POST %s: %s", path, r->body);
	char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
	harness_resp_free(r);
	return id;
}

/* The city publishes an auto-accepted open offer; the mobility company
 * negotiates it; returns the agreement id once the consumer is FINALIZED. */
static char *
negotiate(const char *title)
{
	char *pb = xasprintf("{\"policy\":%s}", OPEN);
	char *pol = post_id(&city, "/api/v1/policies", pb);
	char *db = xasprintf("{\"title\":\"%s\",\"theme\":[\"environment\"],\"source\":{\"type\":\"file\"}}", title);
	char *ds = post_id(&city, "/api/v1/datasets", db);
	char *ob = xasprintf("{\"datasetSelector\":{\"ids\":[\"%s\"]},\"contractPolicyId\":\"%s\",\"autoAccept\":true}",
			     ds, pol);
	char *offer = post_id(&city, "/api/v1/offers", ob);
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
	char *nb = xasprintf("{\"datasetId\":\"%s\",\"offerId\":\"%s\",\"provider\":\"%s\"}", ds, offer, CITY);
	char *id = post_id(&mobi, "/api/v1/negotiations", nb);
	char *np = xasprintf("/api/v1/negotiations/%s", id);
	char *aid = NULL;
	for (int i = 0; i < 300 && !aid; i++) {
		struct harness_resp *r = cfx_call(&mobi, "GET", np, CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		const char *st = json_string_value(json_object_get(r->json, "state"));
		cr_assert(strcmp(st, "TERMINATED") != 0, "%s", r->body);
		if (!strcmp(st, "FINALIZED"))
			aid = xstrdup(json_string_value(json_object_get(r->json, "agreementId")));
		harness_resp_free(r);
		if (!aid)
			usleep(50000);
	}
	cr_assert_not_null(aid, "negotiation %s finalized", id);
	free(pb);
	free(pol);
	free(db);
	free(ds);
	free(ob);
	free(offer);
	free(path);
	free(nb);
	free(id);
	free(np);
	return aid;
}

/* GET the agreement at a connector (c) or at the broker (c NULL, admin)
 * until its status is want; returns the last document. */
static json_t *
wait_status(const struct cfx *c, const char *aid, const char *want)
{
	char *ap = xasprintf("/api/v1/agreements/%s", aid);
	json_t *doc = NULL;
	for (int i = 0; i < 200; i++) {
		struct harness_resp *r = c ? cfx_call(c, "GET", ap, CONN_ADMIN_KEY, NULL)
					   : fx_call("GET", ap, ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "GET %s: %s", ap, r->body);
		json_decref(doc);
		doc = json_incref(r->json);
		harness_resp_free(r);
		const char *st = json_string_value(json_object_get(doc, "status"));
		if (st && !strcmp(st, want))
			break;
		usleep(50000);
	}
	free(ap);
	return doc;
}

static const char *
status_of(const json_t *doc)
{
	const char *s = json_string_value(json_object_get(doc, "status"));
	return s ? s : "(none)";
}

/* POST the broker's revoke as participant p (its token). */
static struct harness_resp *
broker_revoke_as(const struct participant *p, const char *aid)
{
	char *path = xasprintf("/api/v1/agreements/%s/revoke", aid);
	char *t = fx_token(p, "POST", path, "{}", NULL);
	struct harness_resp *r = fx_call("POST", path, t, "{}");
	free(t);
	free(path);
	return r;
}

static long
ledger_count(const char *kind, const char *aid)
{
	char *q = xasprintf("SELECT count(*) FROM ledger_entries WHERE kind = '%s' AND entry->>'agreementId' = '%s'",
			    kind, aid);
	long n = harness_db_count(fx.db, q);
	free(q);
	return n;
}

Test(revocation, provider_revocation_reaches_broker_ledger_and_consumer)
{
	char *aid = negotiate("Air quality");
	cr_assert_eq(ledger_count("agreement", aid), 1);
	char *rp = xasprintf("/api/v1/agreements/%s/revoke", aid);
	struct harness_resp *r = cfx_call(&city, "POST", rp, CONN_ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(status_of(r->json), "revoked", "%s", r->body);
	harness_resp_free(r);

	/* The broker learns it from the provider's outbox… */
	json_t *b = wait_status(NULL, aid, "revoked");
	char *s = json_dumps(b, JSON_COMPACT);
	cr_assert_str_eq(status_of(b), "revoked", "broker: %s", s);
	cr_assert(json_is_integer(json_object_get(b, "revocationIndex")), "%s", s);
	/* … logs it once, as revoked by the provider … */
	cr_assert_eq(ledger_count("revoked", aid), 1);
	char *q = xasprintf("SELECT count(*) FROM ledger_entries WHERE kind = 'revoked' AND entry->>'agreementId' = '%s'"
			    " AND entry->>'revokedBy' = '%s' AND entry->>'assignee' = '%s' AND idx = %lld",
			    aid, CITY, MOBI, (long long)json_integer_value(json_object_get(b, "revocationIndex")));
	cr_assert_eq(harness_db_count(fx.db, q), 1, "%s", s);
	free(q);
	/* … and the consumer's copy follows from the broker's outbox. */
	json_t *m = wait_status(&mobi, aid, "revoked");
	cr_assert_str_eq(status_of(m), "revoked");
	json_decref(m);
	/* The provider's own copy was revoked at once. */
	m = wait_status(&city, aid, "revoked");
	cr_assert_str_eq(status_of(m), "revoked");
	json_decref(m);

	/* A second revocation is a conflict, at the provider and at the
	 * broker alike; nothing more is logged. */
	r = cfx_call(&city, "POST", rp, CONN_ADMIN_KEY, "{}");
	fx_assert_error(r, 409, "agreement_revoked");
	harness_resp_free(r);
	r = broker_revoke_as(&city.p, aid);
	fx_assert_error(r, 409, "agreement_revoked");
	harness_resp_free(r);
	r = fx_call("POST", rp, ADMIN_KEY, NULL);
	fx_assert_error(r, 409, "agreement_revoked");
	harness_resp_free(r);
	cr_assert_eq(ledger_count("revoked", aid), 1);
	/* The provider's message was delivered, not dead-lettered. */
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM outbox_dead"), 0);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM outbox_dead"), 0);

	free(s);
	json_decref(b);
	free(rp);
	free(aid);
}

Test(revocation, only_the_provider_may_revoke)
{
	char *aid = negotiate("Parking occupancy");
	char *rp = xasprintf("/api/v1/agreements/%s/revoke", aid);
	struct participant other;
	fx_participant(&other, "urn:agora:participant:stranger");

	/* At the broker: a participant that is not a party, and the consumer
	 * (a party, but not the assigner), are told it does not exist. */
	struct harness_resp *r = broker_revoke_as(&other, aid);
	fx_assert_error(r, 404, "agreement_not_found");
	harness_resp_free(r);
	r = broker_revoke_as(&mobi.p, aid);
	fx_assert_error(r, 404, "agreement_not_found");
	harness_resp_free(r);
	/* An unknown agreement, even for the provider. */
	r = broker_revoke_as(&city.p, "urn:uuid:00000000-0000-4000-8000-000000000000");
	fx_assert_error(r, 404, "agreement_not_found");
	harness_resp_free(r);

	/* At the provider's connector: a consumer-role API key may not. */
	char *ck = cfx_key(&city, "consumer");
	r = cfx_call(&city, "POST", rp, ck, "{}");
	fx_assert_error(r, 403, "forbidden");
	harness_resp_free(r);
	/* At the consumer's connector: only the provider revokes. */
	r = cfx_call(&mobi, "POST", rp, CONN_ADMIN_KEY, "{}");
	fx_assert_error(r, 403, "forbidden");
	harness_resp_free(r);

	/* The consumer's revocation callback takes only the broker. */
	char *cb = xasprintf("/dsp/callback/agreements/%s/revoked", aid);
	r = cfx_dsp(&mobi, &other, "POST", cb, "{}");
	cr_assert_eq(r->status, 404, "%s", r->body);
	harness_resp_free(r);
	r = cfx_dsp(&mobi, &city.p, "POST", cb, "{}");
	cr_assert_eq(r->status, 404, "%s", r->body);
	harness_resp_free(r);
	r = cfx_call(&mobi, "POST", cb, NULL, "{}");
	cr_assert_eq(r->status, 404, "%s", r->body);
	harness_resp_free(r);

	/* Nothing changed anywhere. */
	usleep(300000);
	cr_assert_eq(ledger_count("revoked", aid), 0);
	json_t *d = wait_status(NULL, aid, "active");
	cr_assert_str_eq(status_of(d), "active");
	json_decref(d);
	d = wait_status(&mobi, aid, "active");
	cr_assert_str_eq(status_of(d), "active");
	json_decref(d);
	d = wait_status(&city, aid, "active");
	cr_assert_str_eq(status_of(d), "active");
	json_decref(d);

	agora_key_free(other.key);
	free(cb);
	free(ck);
	free(rp);
	free(aid);
}

Test(revocation, broker_admin_revocation_reaches_both_connectors)
{
	char *aid = negotiate("Traffic counters");
	char *rp = xasprintf("/api/v1/agreements/%s/revoke", aid);
	struct harness_resp *r = fx_call("POST", rp, ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	cr_assert_eq(ledger_count("revoked", aid), 1);
	json_t *d = wait_status(&mobi, aid, "revoked");
	cr_assert_str_eq(status_of(d), "revoked");
	json_decref(d);
	d = wait_status(&city, aid, "revoked");
	cr_assert_str_eq(status_of(d), "revoked");
	json_decref(d);
	/* The provider cannot revoke it again. */
	r = cfx_call(&city, "POST", rp, CONN_ADMIN_KEY, "{}");
	fx_assert_error(r, 409, "agreement_revoked");
	harness_resp_free(r);
	cr_assert_eq(ledger_count("revoked", aid), 1);
	free(rp);
	free(aid);
}
