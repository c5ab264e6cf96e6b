/* test_transfer_attacks.c — the provider's data endpoint under attack
 * (issue 6 "Bad input and attacks"): forged, misaddressed, expired,
 * premature and misdirected access tokens, missing sender proofs, bad
 * ranges, revocation — each refused with its status and error symbol, and
 * none of them moves a byte of the data. */
#include <criterion/criterion.h>

#include <openssl/hmac.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "jose.h"
#include "transfer_fixture.h"
#include "util.h"

TestSuite(attacks, .init = nfx_start, .fini = nfx_stop, .timeout = 120);

/* A started pull the test makes itself: the data address and token. */
struct edr {
	char *transfer;	/* the consumer's id */
	char *endpoint;	/* the provider's /data/{transfer} */
	char *token;
	char *provider_pid;
};

static void
edr_free(struct edr *e)
{
	free(e->transfer);
	free(e->endpoint);
	free(e->token);
	free(e->provider_pid);
}

static void
started_pull(const char *policy, struct edr *e)
{
	char *ag = tfx_agreement("Attacked file", policy, NULL);
	e->transfer = tfx_start(ag, "\"autoPull\":false");
	json_t *t = tfx_wait(e->transfer, "STARTED", false);
	cr_assert_str_eq(tfx_str(t, "state"), "STARTED", "%s", json_dumps(t, 0));
	json_decref(t);
	char *path = xasprintf("/api/v1/transfers/%s/edr", e->transfer);
	struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	e->endpoint = xstrdup(tfx_str(r->json, "endpoint"));
	e->token = xstrdup(tfx_str(r->json, "authorization"));
	e->provider_pid = xstrdup(strrchr(e->endpoint, '/') + 1);
	harness_resp_free(r);
	free(path);
	free(ag);
}

static struct harness_resp *
get_data(const char *url, const char *token, const char *extra_header)
{
	char *authz = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
	const char *h[3] = { NULL, NULL, NULL };
	int n = 0;
	if (authz)
		h[n++] = authz;
	if (extra_header)
		h[n++] = extra_header;
	struct harness_resp *r = harness_http("GET", url, h, NULL);
	free(authz);
	return r;
}

/* Refused with status and symbol, and not a byte of the content. */
static void
expect_refused(struct harness_resp *r, long status, const char *symbol)
{
	fx_assert_error(r, status, symbol);
	cr_expect(!strstr(r->body, "lyon-3e"), "data leaked in a refusal: %s", r->body);
	harness_resp_free(r);
}

static struct agora_key *
broker_key(char kid[44])
{
	char *path = xasprintf("%s/data/broker-key.pem", fx.dir);
	char err[128];
	struct agora_key *k = agora_key_load_pem(path, err, sizeof err);
	cr_assert_not_null(k, "%s", err);
	agora_key_thumbprint(k, kid);
	free(path);
	return k;
}

/* The claims of a valid token for e, to tamper with (new). */
static json_t *
claims_of(const char *jwt)
{
	char err[128];
	struct agora_jws *j = agora_jws_parse(jwt, err, sizeof err);
	cr_assert_not_null(j, "%s", err);
	json_t *c = json_loads((const char *)j->payload, 0, NULL);
	agora_jws_free(j);
	return c;
}

/* header.payload.signature with our own header and signing. */
static char *
forge(const char *alg, const char *kid, const json_t *claims, const struct agora_key *k)
{
	json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", alg, "typ", "at+jwt", "kid", kid);
	char *h = json_dumps(hdr, JSON_COMPACT), *p = json_dumps(claims, JSON_COMPACT);
	char *hb = agora_b64url_encode(h, strlen(h)), *pb = agora_b64url_encode(p, strlen(p));
	char *input = xasprintf("%s.%s", hb, pb);
	char *sig;
	if (!strcmp(alg, "EdDSA")) {
		uint8_t s[64];
		cr_assert(agora_ed25519_sign(k, input, strlen(input), s));
		sig = agora_b64url_encode(s, 64);
	} else if (!strcmp(alg, "HS256")) {
		uint8_t mac[32];
		unsigned len = 32;
		HMAC(EVP_sha256(), "secret", 6, (const unsigned char *)input, strlen(input), mac, &len);
		sig = agora_b64url_encode(mac, len);
	} else {
		sig = xstrdup("AAAA");
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

Test(attacks, tokens)
{
	struct edr e;
	started_pull(OPEN, &e);
	char kid[44];
	struct agora_key *bk = broker_key(kid);
	long long now = (long long)agora_now();

	/* The genuine token works (the control). */
	struct harness_resp *r = get_data(e.endpoint, e.token, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_expect_eq(r->body_len, strlen(tfx_content));
	harness_resp_free(r);

	expect_refused(get_data(e.endpoint, NULL, NULL), 401, "missing_credentials");
	expect_refused(get_data(e.endpoint, "not.a-token", NULL), 401, "invalid_token");

	json_t *c = claims_of(e.token);
	char *t = forge("none", kid, c, NULL);
	expect_refused(get_data(e.endpoint, t, NULL), 401, "unsupported_alg");
	free(t);
	/* alg none in its unsecured form: an empty signature. */
	t = forge("none", kid, c, NULL);
	t[strlen(t) - 4] = '\0';
	expect_refused(get_data(e.endpoint, t, NULL), 401, "invalid_token");
	free(t);
	t = forge("HS256", kid, c, NULL);
	expect_refused(get_data(e.endpoint, t, NULL), 401, "unsupported_alg");
	free(t);

	/* Signed with another key: under the broker's kid, and under its own. */
	struct agora_key *other = agora_key_generate();
	char okid[44];
	agora_key_thumbprint(other, okid);
	t = forge("EdDSA", kid, c, other);
	expect_refused(get_data(e.endpoint, t, NULL), 401, "bad_signature");
	free(t);
	t = forge("EdDSA", okid, c, other);
	expect_refused(get_data(e.endpoint, t, NULL), 401, "unknown_key");
	free(t);

	/* Broker-signed but wrong: audience, expiry, not yet valid. */
	json_t *x = json_deep_copy(c);
	json_object_set_new(x, "aud", json_string(MOBI));
	t = forge("EdDSA", kid, x, bk);
	expect_refused(get_data(e.endpoint, t, NULL), 401, "wrong_audience");
	free(t);
	json_decref(x);
	x = json_deep_copy(c);
	json_object_set_new(x, "iat", json_integer(now - 900));
	json_object_set_new(x, "nbf", json_integer(now - 900));
	json_object_set_new(x, "exp", json_integer(now - 600));
	t = forge("EdDSA", kid, x, bk);
	expect_refused(get_data(e.endpoint, t, NULL), 401, "token_expired");
	free(t);
	json_decref(x);
	x = json_deep_copy(c);
	json_object_set_new(x, "nbf", json_integer(now + 600));
	json_object_set_new(x, "exp", json_integer(now + 900));
	t = forge("EdDSA", kid, x, bk);
	expect_refused(get_data(e.endpoint, t, NULL), 401, "token_not_yet_valid");
	free(t);
	json_decref(x);

	/* A token for another transfer, here; and this token there. */
	x = json_deep_copy(c);
	json_object_set_new(x, "transfer", json_string("urn:uuid:00000000-0000-4000-8000-000000000000"));
	t = forge("EdDSA", kid, x, bk);
	expect_refused(get_data(e.endpoint, t, NULL), 403, "forbidden");
	free(t);
	json_decref(x);
	char *elsewhere = xasprintf("%s/data/urn:uuid:00000000-0000-4000-8000-000000000000", city.url);
	expect_refused(get_data(elsewhere, e.token, NULL), 403, "forbidden");
	free(elsewhere);

	/* Ranges outside the content. */
	expect_refused(get_data(e.endpoint, e.token, "Range: bytes=1000-2000"), 416,
		       "range_not_satisfiable");
	r = get_data(e.endpoint, e.token, "Range: bytes=8-14");
	cr_expect_eq(r->status, 206, "%s", r->body);
	cr_expect_eq(r->body_len, 7);
	cr_expect(!memcmp(r->body, tfx_content + 8, 7));
	harness_resp_free(r);

	json_decref(c);
	agora_key_free(other);
	agora_key_free(bk);
	edr_free(&e);
}

Test(attacks, revocation_stops_the_token_at_once)
{
	struct edr e;
	started_pull(OPEN, &e);
	struct harness_resp *r = get_data(e.endpoint, e.token, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	/* The provider revokes; the broker terminates the transfer on both
	 * sides.  The token is still unexpired, and refused. */
	r = cfx_call(&mobi, "GET", "/api/v1/agreements", CONN_ADMIN_KEY, NULL);
	const char *ag = tfx_str(json_array_get(json_object_get(r->json, "results"), 0), "id");
	cr_assert_not_null(ag, "%s", r->body);
	char *path = xasprintf("/api/v1/agreements/%s/revoke", ag);
	char *agid = xstrdup(ag);
	harness_resp_free(r);
	ag = agid;
	r = cfx_call(&city, "POST", path, CONN_ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	/* Refused at once (the provider knows its own revocation)… */
	r = get_data(e.endpoint, e.token, NULL);
	cr_expect_eq(r->status, 409, "%s", r->body);
	cr_expect(!strstr(r->body, "lyon-3e"));
	harness_resp_free(r);
	/* …and once the broker's termination has arrived, as a terminated
	 * transfer. */
	json_t *t = tfx_wait(e.transfer, "TERMINATED", false);
	cr_assert_str_eq(tfx_str(t, "state"), "TERMINATED");
	cr_expect(tfx_str(t, "code") && !strcmp(tfx_str(t, "code"), "agreement_revoked"), "%s",
		  json_dumps(t, 0));
	json_decref(t);
	expect_refused(get_data(e.endpoint, e.token, NULL), 409, "transfer_state");
	/* And no new transfer under it, once the consumer has heard of the
	 * revocation (the broker's outbox tells it). */
	char *apath = xasprintf("/api/v1/agreements/%s", ag);
	bool heard = false;
	for (int i = 0; i < 100 && !heard; i++) {
		r = cfx_call(&mobi, "GET", apath, CONN_ADMIN_KEY, NULL);
		heard = tfx_str(r->json, "status") && !strcmp(tfx_str(r->json, "status"), "revoked");
		harness_resp_free(r);
		if (!heard)
			usleep(50000);
	}
	cr_expect(heard, "the consumer's copy of the agreement is revoked");
	free(apath);
	char *body = xasprintf("{\"agreementId\":\"%s\"}", ag);
	r = cfx_call(&mobi, "POST", "/api/v1/transfers", CONN_ADMIN_KEY, body);
	fx_assert_error(r, 409, "agreement_not_active");
	harness_resp_free(r);
	free(body);
	free(path);
	free(agid);
	edr_free(&e);
}

Test(attacks, sender_constrained_tokens_need_the_proof)
{
	struct edr e;
	started_pull("{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\","
		     "\"agora:senderConstrained\":true}]}",
		     &e);
	json_t *c = claims_of(e.token);
	cr_assert_not_null(json_object_get(json_object_get(c, "cnf"), "jkt"), "cnf.jkt in the token");
	cr_expect_str_eq(tfx_str(json_object_get(c, "cnf"), "jkt"), mobi.p.kid);
	expect_refused(get_data(e.endpoint, e.token, NULL), 401, "proof_required");
	/* A proof by someone else (the city's own key) does not do. */
	char *path = xasprintf("/data/%s", e.provider_pid);
	struct tok o = { .aud = CITY, .htu = e.endpoint };
	char *bad = fx_token(&city.p, "GET", path, "", &o);
	char *hb = xasprintf("Agora-Proof: %s", bad);
	expect_refused(get_data(e.endpoint, e.token, hb), 401, "proof_required");
	/* The consumer's proof for this request works. */
	char *good = fx_token(&mobi.p, "GET", path, "", &o);
	char *hg = xasprintf("Agora-Proof: %s", good);
	struct harness_resp *r = get_data(e.endpoint, e.token, hg);
	cr_expect_eq(r->status, 200, "%s", r->body);
	cr_expect_eq(r->body_len, strlen(tfx_content));
	harness_resp_free(r);
	/* The same proof twice is a replay. */
	expect_refused(get_data(e.endpoint, e.token, hg), 401, "token_replayed");
	json_decref(c);
	free(path);
	free(bad);
	free(hb);
	free(good);
	free(hg);
	edr_free(&e);
}

Test(attacks, token_refresh_only_for_the_consumer)
{
	struct edr e;
	started_pull(OPEN, &e);
	json_t *t = tfx_wait(e.transfer, "STARTED", false);
	const char *bpid = tfx_str(t, "brokerPid");
	char *path = xasprintf("/api/v1/transfers/%s/token", bpid);
	/* The consumer gets a fresh token that works. */
	char *tok = fx_token(&mobi.p, "POST", path, "{}", NULL);
	struct harness_resp *r = fx_call("POST", path, tok, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	char *fresh = xstrdup(tfx_str(r->json, "token"));
	cr_expect_str_neq(fresh, e.token);
	harness_resp_free(r);
	r = get_data(e.endpoint, fresh, NULL);
	cr_expect_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	/* The provider may not mint the consumer's tokens. */
	char *ptok = fx_token(&city.p, "POST", path, "{}", NULL);
	r = fx_call("POST", path, ptok, "{}");
	fx_assert_error(r, 404, "transfer_not_found");
	harness_resp_free(r);
	/* Suspended: no token, and the provider refuses the old one. */
	char *spath = xasprintf("/api/v1/transfers/%s/suspend", e.transfer);
	r = cfx_call(&mobi, "POST", spath, CONN_ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_expect_str_eq(tfx_str(r->json, "state"), "SUSPENDED");
	harness_resp_free(r);
	long status = 200;
	for (int i = 0; i < 100 && status == 200; i++) {
		r = get_data(e.endpoint, fresh, NULL);
		status = r->status;
		if (status == 200)
			harness_resp_free(r);
		usleep(50000);
	}
	expect_refused(r, 409, "transfer_state");
	char *tok2 = fx_token(&mobi.p, "POST", path, "{}", NULL);
	r = fx_call("POST", path, tok2, "{}");
	fx_assert_error(r, 409, "transfer_state");
	harness_resp_free(r);
	json_decref(t);
	free(path);
	free(spath);
	free(tok);
	free(tok2);
	free(ptok);
	free(fresh);
	edr_free(&e);
}
