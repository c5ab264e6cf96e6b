/* test_negotiation.c — contract negotiation end to end across real
 * processes: a consumer connector, the broker and a provider connector on
 * one PostgreSQL.  DSP messages go through each side's outbox; the
 * agreement collects the provider's, the broker's and the consumer's
 * signatures and a ledger receipt. */
#include "agreement.h"
#include "nego_fixture.h"
#include "jose.h"
#include "merkle.h"
#include "pauth.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


TestSuite(negotiation, .init = nfx_start, .fini = nfx_stop, .timeout = 120);


Test(negotiation, auto_accept_three_signatures_and_receipt)
{
	char *offer;
	char *ds = nfx_publish("Air quality", OPEN, true, &offer);
	char *id = nfx_request(ds, offer);
	json_t *n = nfx_wait_state(&mobi, id, "FINALIZED");
	char *s = json_dumps(n, JSON_COMPACT);
	cr_assert_str_eq(json_string_value(json_object_get(n, "state")), "FINALIZED", "%s", s);
	const char *aid = json_string_value(json_object_get(n, "agreementId"));
	cr_assert_not_null(aid, "%s", s);
	/* The negotiation's document carries its agreement and its history:
	 * the request sent and the broker's acknowledgement; then, in the
	 * agreement's transaction, the verification queued and the agreement
	 * recorded as answered; and the FINALIZED event. */
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(n, "agreement"), "@id")), aid,
			 "%s", s);
	json_t *hist = json_object_get(n, "history");
	char *hs = json_dumps(hist, JSON_COMPACT);
	static const char *const kinds[][2] = {
		{ "out", "ContractRequestMessage" },
		{ "in", "ContractNegotiation" },
		{ "out", "ContractAgreementVerificationMessage" },
		{ "in", "ContractAgreementMessage" },
		{ "in", "ContractNegotiationEventMessage:FINALIZED" },
	};
	cr_assert_eq(json_array_size(hist), ARRAY_LEN(kinds), "%s", hs);
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
		json_t *h = json_array_get(hist, i);
		cr_assert_str_eq(json_string_value(json_object_get(h, "direction")), kinds[i][0],
				 "history[%zu]: %s", i, hs);
		cr_assert_str_eq(json_string_value(json_object_get(h, "type")), kinds[i][1],
				 "history[%zu]: %s", i, hs);
	}
	free(hs);

	/* The consumer's copy: the agreement, three signatures, a receipt. */
	char *ap = xasprintf("/api/v1/agreements/%s", aid);
	struct harness_resp *r = cfx_call(&mobi, "GET", ap, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	json_t *agreement = json_object_get(r->json, "agreement");
	json_t *sigs = json_object_get(r->json, "signatures");
	cr_assert_eq(json_array_size(sigs), 3, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(agreement, "@id")), aid);
	cr_assert_str_eq(json_string_value(json_object_get(agreement, "target")), ds);
	cr_assert_str_eq(json_string_value(json_object_get(agreement, "assigner")), CITY);
	cr_assert_str_eq(json_string_value(json_object_get(agreement, "assignee")), MOBI);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(sigs, 0), "role")), "provider");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(sigs, 1), "role")), "broker");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(sigs, 2), "role")), "consumer");
	/* Each signature verifies with the signer's published key. */
	char err[160];
	cr_assert(agora_agreement_verify_signature(agreement, json_array_get(sigs, 0), city.p.key, err, sizeof err), "%s", err);
	cr_assert(agora_agreement_verify_signature(agreement, json_array_get(sigs, 2), mobi.p.key, err, sizeof err), "%s", err);
	struct harness_resp *jw = fx_call("GET", "/.well-known/jwks.json", NULL, NULL);
	struct agora_key *bk = agora_key_from_jwk(json_array_get(json_object_get(jw->json, "keys"), 0), err, sizeof err);
	cr_assert(agora_agreement_verify_signature(agreement, json_array_get(sigs, 1), bk, err, sizeof err), "%s", err);
	/* The receipt's inclusion proof holds against its signed tree head. */
	json_t *rc = json_object_get(r->json, "receipt");
	cr_assert(json_is_object(rc), "%s", r->body);
	json_int_t idx = json_integer_value(json_object_get(rc, "index"));
	json_int_t size = json_integer_value(json_object_get(rc, "treeSize"));
	json_t *proof = json_object_get(rc, "proof");
	uint8_t leaf[32], root[32], path[64][32];
	cr_assert(agora_merkle_from_hex(json_string_value(json_object_get(rc, "leafHash")), leaf));
	cr_assert(agora_merkle_from_hex(json_string_value(json_object_get(json_object_get(rc, "sth"), "rootHash")), root));
	size_t np = json_array_size(proof);
	for (size_t i = 0; i < np && i < 64; i++)
		cr_assert(agora_merkle_from_hex(json_string_value(json_array_get(proof, i)), path[i]));
	cr_assert(agora_merkle_verify_inclusion(leaf, (size_t)idx, (size_t)size, (const uint8_t (*)[32])path, np, root));
	harness_resp_free(r);

	/* The provider and the broker hold the same agreement. */
	r = cfx_call(&city, "GET", ap, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_array_size(json_object_get(r->json, "signatures")), 3, "%s", r->body);
	harness_resp_free(r);
	r = fx_call("GET", ap, ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_array_size(json_object_get(r->json, "signatures")), 3, "%s", r->body);
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM ledger_entries WHERE kind = 'agreement'"), 1);
	/* The provider's side is finalized too. */
	r = cfx_call(&city, "GET", "/api/v1/negotiations?role=provider", CONN_ADMIN_KEY, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(r->json, "results"), 0), "state")), "FINALIZED", "%s", r->body);
	harness_resp_free(r);

	harness_resp_free(jw);
	agora_key_free(bk);
	free(s);
	json_decref(n);
	free(ap);
	free(ds);
	free(offer);
	free(id);
}

Test(negotiation, manual_approval_and_rejection)
{
	char *offer;
	char *ds = nfx_publish("Parking occupancy", OPEN, false, &offer);
	char *a = nfx_request(ds, offer), *b = nfx_request(ds, offer);
	/* Both wait at the provider for a publisher. */
	struct harness_resp *r = NULL;
	for (int i = 0; i < 200; i++) {
		harness_resp_free(r);
		r = cfx_call(&city, "GET", "/api/v1/negotiations?state=REQUESTED", CONN_ADMIN_KEY, NULL);
		if (json_array_size(json_object_get(r->json, "results")) == 2)
			break;
		usleep(50000);
	}
	json_t *res = json_object_get(r->json, "results");
	cr_assert_eq(json_array_size(res), 2, "%s", r->body);
	char *p0 = xstrdup(json_string_value(json_object_get(json_array_get(res, 0), "id")));
	char *p1 = xstrdup(json_string_value(json_object_get(json_array_get(res, 1), "id")));
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "datasetId")), ds);
	harness_resp_free(r);
	char *ap = xasprintf("/api/v1/negotiations/%s/approve", p0);
	char *rp = xasprintf("/api/v1/negotiations/%s/reject", p1);
	r = cfx_call(&city, "POST", ap, CONN_ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	r = cfx_call(&city, "POST", rp, CONN_ADMIN_KEY, "{\"reason\":\"not for you\"}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	/* One consumer negotiation finishes, the other ends terminated. */
	json_t *na = nfx_wait_state(&mobi, a, "FINALIZED"), *nb = nfx_wait_state(&mobi, b, "TERMINATED");
	const char *sa = json_string_value(json_object_get(na, "state"));
	const char *sb = json_string_value(json_object_get(nb, "state"));
	cr_assert((!strcmp(sa, "FINALIZED") && !strcmp(sb, "TERMINATED")) ||
		  (!strcmp(sa, "TERMINATED") && !strcmp(sb, "FINALIZED")), "%s / %s", sa, sb);
	json_decref(na);
	json_decref(nb);
	free(ap);
	free(rp);
	free(p0);
	free(p1);
	free(a);
	free(b);
	free(ds);
	free(offer);
}

Test(negotiation, policy_refusal_reaches_the_consumer)
{
	char *offer;
	/* Only French participants may sign; the mobility company is German. */
	char *ds = nfx_publish("Traffic counters",
			   "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":["
			   "{\"leftOperand\":\"agora:country\",\"operator\":\"eq\",\"rightOperand\":\"FR\"}]}]}",
			   true, &offer);
	char *id = nfx_request(ds, offer);
	json_t *n = nfx_wait_state(&mobi, id, "TERMINATED");
	char *s = json_dumps(n, JSON_COMPACT);
	cr_assert_str_eq(json_string_value(json_object_get(n, "state")), "TERMINATED", "%s", s);
	cr_assert(strstr(s, "agora:country"), "the reason names the failing constraint: %s", s);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM negotiations"), 0,
		     "the provider never heard of it");
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM ledger_entries WHERE kind = 'agreement'"), 0);
	free(s);
	json_decref(n);
	free(id);
	free(ds);
	free(offer);
}
