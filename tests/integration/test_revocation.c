/* test_revocation.c — revocation of an agreement end to end: the
 * provider revokes at its connector, which tells the broker through its
 * outbox (participant token); the broker logs a `revoked` ledger entry and
 * tells the consumer's connector through its own.  Only the provider (and
 * a broker admin) may revoke. */
#include "nego_fixture.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(revocation, .init = nfx_start, .fini = nfx_stop, .timeout = 120);

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
	char *aid = nfx_negotiate("Air quality");
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
	char *aid = nfx_negotiate("Parking occupancy");
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
	char *aid = nfx_negotiate("Traffic counters");
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
