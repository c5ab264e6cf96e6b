/* test_agreement.c — JCS+JWS signatures on ODRL agreements: sign/verify,
 * tampering (a different canonical form fails, a different member order
 * does not), wrong keys and kids, alg none, truncated JWS, a payload from
 * another agreement, and the provider → broker → consumer chain. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "agreement.h"
#include "jcs.h"
#include "jose.h"
#include "util.h"

#define PROVIDER "urn:agora:participant:city"
#define CONSUMER "urn:agora:participant:lab"
#define BROKER "https://broker.agora.example"

#define AGREEMENT_TEXT                                                      \
	"{\"@id\":\"urn:uuid:agreement-1\",\"@type\":\"Agreement\","        \
	"\"target\":\"urn:uuid:dataset-1\",\"assigner\":\"" PROVIDER "\","  \
	"\"assignee\":\"" CONSUMER "\",\"timestamp\":\"2026-03-01T10:00:00Z\"," \
	"\"permission\":[{\"action\":\"use\",\"constraint\":[{\"leftOperand\":" \
	"\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"research\"}]}]}"

/* The same agreement with every object's members in another order. */
#define AGREEMENT_REORDERED                                                   \
	"{\"permission\":[{\"constraint\":[{\"rightOperand\":\"research\","  \
	"\"operator\":\"eq\",\"leftOperand\":\"purpose\"}],\"action\":\"use\"}]," \
	"\"timestamp\":\"2026-03-01T10:00:00Z\",\"assignee\":\"" CONSUMER "\"," \
	"\"assigner\":\"" PROVIDER "\",\"target\":\"urn:uuid:dataset-1\","   \
	"\"@type\":\"Agreement\",\"@id\":\"urn:uuid:agreement-1\"}"

static struct agora_key *keys[3]; /* provider, broker, consumer */
static json_t *agreement;

static void
setup(void)
{
	for (int i = 0; i < 3; i++) {
		keys[i] = agora_key_generate();
		cr_assert_not_null(keys[i]);
	}
	json_error_t e;
	agreement = json_loads(AGREEMENT_TEXT, 0, &e);
	cr_assert_not_null(agreement, "%s", e.text);
}

static void
teardown(void)
{
	for (int i = 0; i < 3; i++)
		agora_key_free(keys[i]);
	json_decref(agreement);
}

TestSuite(agreement, .init = setup, .fini = teardown);

static json_t *
parse_text(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);
	cr_assert_not_null(v, "%s", e.text);
	return v;
}

/* verify_signature must fail with exactly want. */
static void
expect_refused(const json_t *a, const json_t *entry, const struct agora_key *k, const char *want)
{
	char err[256] = "";
	cr_expect_not(agora_agreement_verify_signature(a, entry, k, err, sizeof err));
	cr_expect_str_eq(err, want);
}

/* An entry with the given jws string. */
static json_t *
entry_with_jws(const char *role, const char *signer, const char *jws)
{
	json_t *e = json_object();
	json_object_set_new(e, "role", json_string(role));
	json_object_set_new(e, "signer", json_string(signer));
	json_object_set_new(e, "jws", json_string(jws));
	return e;
}

/* A compact JWS with an arbitrary header and payload, really signed by k. */
static char *
forge(const struct agora_key *k, const char *header, const void *payload, size_t len)
{
	char *h64 = agora_b64url_encode(header, strlen(header));
	char *p64 = agora_b64url_encode(payload, len);
	char *input = xasprintf("%s.%s", h64, p64);
	uint8_t sig[64];
	cr_assert(agora_ed25519_sign(k, input, strlen(input), sig));
	char *s64 = agora_b64url_encode(sig, sizeof sig);
	char *jws = xasprintf("%s.%s", input, s64);
	free(h64);
	free(p64);
	free(input);
	free(s64);
	return jws;
}

Test(agreement, sign_and_verify)
{
	json_t *e = agora_agreement_sign(agreement, "provider", PROVIDER, keys[0], NULL);
	cr_assert_not_null(e);
	cr_expect_str_eq(json_string_value(json_object_get(e, "role")), "provider");
	cr_expect_str_eq(json_string_value(json_object_get(e, "signer")), PROVIDER);
	const char *jws = json_string_value(json_object_get(e, "jws"));
	cr_assert_not_null(jws);

	/* The JWS is EdDSA, kid = thumbprint, payload = JCS(agreement). */
	struct agora_jws *j = agora_jws_parse(jws, NULL, 0);
	cr_assert_not_null(j);
	char thumb[44];
	cr_assert(agora_key_thumbprint(keys[0], thumb));
	cr_expect_str_eq(agora_jws_kid(j), thumb);
	cr_expect_str_eq(json_string_value(json_object_get(j->header, "alg")), "EdDSA");
	size_t len = 0;
	char *canon = agora_jcs(agreement, &len);
	cr_expect_eq(j->payload_len, len);
	cr_expect_eq(memcmp(j->payload, canon, len), 0);
	free(canon);
	agora_jws_free(j);

	char err[256] = "";
	cr_expect(agora_agreement_verify_signature(agreement, e, keys[0], err, sizeof err), "%s",
		  err);
	json_decref(e);
}

Test(agreement, sign_refusals)
{
	cr_expect_null(agora_agreement_sign(agreement, "auditor", PROVIDER, keys[0], NULL));
	cr_expect_null(agora_agreement_sign(agreement, NULL, PROVIDER, keys[0], NULL));
	cr_expect_null(agora_agreement_sign(agreement, "provider", "", keys[0], NULL));
	cr_expect_null(agora_agreement_sign(agreement, "provider", NULL, keys[0], NULL));
	json_t *arr = json_array();
	cr_expect_null(agora_agreement_sign(arr, "provider", PROVIDER, keys[0], NULL));
	json_decref(arr);
	/* A public key cannot sign. */
	uint8_t pub[32];
	agora_key_public_raw(keys[0], pub);
	struct agora_key *pk = agora_key_from_public_raw(pub);
	cr_expect_null(agora_agreement_sign(agreement, "provider", PROVIDER, pk, NULL));
	agora_key_free(pk);
}

Test(agreement, reordered_members_still_verify)
{
	json_t *e = agora_agreement_sign(agreement, "broker", BROKER, keys[1], NULL);
	cr_assert_not_null(e);
	json_t *other = parse_text(AGREEMENT_REORDERED);
	/* Not the same bytes as sent, but the same canonical form. */
	char *a = json_dumps(agreement, JSON_COMPACT), *b = json_dumps(other, JSON_COMPACT);
	cr_assert_str_neq(a, b);
	free(a);
	free(b);
	char err[256] = "";
	cr_expect(agora_agreement_verify_signature(other, e, keys[1], err, sizeof err), "%s", err);
	json_decref(other);
	json_decref(e);
}

Test(agreement, tampered_agreement_fails)
{
	json_t *e = agora_agreement_sign(agreement, "provider", PROVIDER, keys[0], NULL);
	cr_assert_not_null(e);
	const char *want = "jws: payload is not the canonical form of the agreement";

	/* A changed constraint value. */
	json_t *t = json_deep_copy(agreement);
	json_t *c0 = json_array_get(
		json_object_get(json_array_get(json_object_get(t, "permission"), 0), "constraint"), 0);
	json_object_set_new(c0, "rightOperand", json_string("commercial"));
	expect_refused(t, e, keys[0], want);
	json_decref(t);

	/* An extra permission. */
	t = json_deep_copy(agreement);
	json_array_append_new(json_object_get(t, "permission"), parse_text("{\"action\":\"distribute\"}"));
	expect_refused(t, e, keys[0], want);
	json_decref(t);

	/* Another assignee, an added member, a number instead of a string. */
	t = json_deep_copy(agreement);
	json_object_set_new(t, "assignee", json_string("urn:agora:participant:mallory"));
	expect_refused(t, e, keys[0], want);
	json_decref(t);

	t = json_deep_copy(agreement);
	json_object_set_new(t, "obligation", parse_text("[{\"action\":\"delete\"}]"));
	expect_refused(t, e, keys[0], want);
	json_decref(t);

	t = json_deep_copy(agreement);
	json_object_del(t, "timestamp");
	expect_refused(t, e, keys[0], want);
	json_decref(t);
	json_decref(e);
}

Test(agreement, wrong_key_and_kid)
{
	json_t *e = agora_agreement_sign(agreement, "provider", PROVIDER, keys[0], NULL);
	cr_assert_not_null(e);
	/* Another key: its thumbprint is not the kid. */
	expect_refused(agreement, e, keys[2], "jws: kid is not the signer key's thumbprint");
	json_decref(e);

	/* Signed by key 0 but claiming key 2's kid: the signature fails. */
	char thumb2[44];
	cr_assert(agora_key_thumbprint(keys[2], thumb2));
	e = agora_agreement_sign(agreement, "provider", PROVIDER, keys[0], thumb2);
	cr_assert_not_null(e);
	expect_refused(agreement, e, keys[2], "jws: signature does not verify");
	json_decref(e);

	/* A kid that names nothing, and no kid at all. */
	e = agora_agreement_sign(agreement, "provider", PROVIDER, keys[0], "key-1");
	cr_assert_not_null(e);
	expect_refused(agreement, e, keys[0], "jws: kid is not the signer key's thumbprint");
	json_decref(e);

	size_t len = 0;
	char *canon = agora_jcs(agreement, &len);
	char *jws = forge(keys[0], "{\"alg\":\"EdDSA\"}", canon, len);
	e = entry_with_jws("provider", PROVIDER, jws);
	expect_refused(agreement, e, keys[0], "jws: kid is not the signer key's thumbprint");
	json_decref(e);
	free(jws);
	free(canon);
}

Test(agreement, alg_none_and_others_refused)
{
	char thumb[44];
	cr_assert(agora_key_thumbprint(keys[0], thumb));
	size_t len = 0;
	char *canon = agora_jcs(agreement, &len);
	const char *algs[] = { "none", "HS256", "eddsa", "ES256" };
	for (size_t i = 0; i < ARRAY_LEN(algs); i++) {
		char *hdr = xasprintf("{\"alg\":\"%s\",\"kid\":\"%s\"}", algs[i], thumb);
		char *jws = forge(keys[0], hdr, canon, len);
		json_t *e = entry_with_jws("provider", PROVIDER, jws);
		expect_refused(agreement, e, keys[0], "jws: alg must be EdDSA");
		json_decref(e);
		free(jws);
		free(hdr);
	}
	/* The unsecured form "header.payload." is refused while parsing. */
	char *hdr = xasprintf("{\"alg\":\"none\",\"kid\":\"%s\"}", thumb);
	char *h64 = agora_b64url_encode(hdr, strlen(hdr));
	char *p64 = agora_b64url_encode(canon, len);
	char *unsecured = xasprintf("%s.%s.", h64, p64);
	json_t *e = entry_with_jws("provider", PROVIDER, unsecured);
	expect_refused(agreement, e, keys[0], "jws: JWS signature is empty");
	json_decref(e);
	free(unsecured);
	free(h64);
	free(p64);
	free(hdr);
	free(canon);
}

Test(agreement, truncated_and_malformed_jws)
{
	json_t *e = agora_agreement_sign(agreement, "provider", PROVIDER, keys[0], NULL);
	cr_assert_not_null(e);
	const char *jws = json_string_value(json_object_get(e, "jws"));
	size_t n = strlen(jws);

	/* Signature cut short: 86 base64url characters down to 84, which
	 * decode cleanly to 63 bytes — still three parts, but no signature. */
	char *cut = xstrndup(jws, n - 2);
	json_t *t = entry_with_jws("provider", PROVIDER, cut);
	expect_refused(agreement, t, keys[0], "jws: signature does not verify");
	json_decref(t);
	free(cut);

	/* Cut inside the last base64url quantum: not base64url any more. */
	cut = xstrndup(jws, n - 85);
	t = entry_with_jws("provider", PROVIDER, cut);
	expect_refused(agreement, t, keys[0], "jws: JWS signature is not base64url");
	json_decref(t);
	free(cut);

	/* Cut before the signature: two parts. */
	cut = xstrndup(jws, (size_t)(strrchr(jws, '.') - jws));
	t = entry_with_jws("provider", PROVIDER, cut);
	expect_refused(agreement, t, keys[0], "jws: JWS does not have exactly three parts");
	json_decref(t);
	free(cut);

	t = entry_with_jws("provider", PROVIDER, "not a jws");
	char err[256] = "";
	cr_expect_not(agora_agreement_verify_signature(agreement, t, keys[0], err, sizeof err));
	cr_expect_eq(strncmp(err, "jws: ", 5), 0, "%s", err);
	json_decref(t);

	/* Entry shape. */
	t = json_deep_copy(e);
	json_object_del(t, "jws");
	expect_refused(agreement, t, keys[0], "jws: missing or not a non-empty string");
	json_decref(t);
	t = json_deep_copy(e);
	json_object_set_new(t, "role", json_string("auditor"));
	expect_refused(agreement, t, keys[0], "role: must be provider, broker or consumer");
	json_decref(t);
	t = json_deep_copy(e);
	json_object_set_new(t, "signer", json_integer(1));
	expect_refused(agreement, t, keys[0], "signer: missing or not a non-empty string");
	json_decref(t);
	json_t *arr = json_array();
	expect_refused(agreement, arr, keys[0], "signature entry is not an object");
	json_decref(arr);
	json_decref(e);
}

Test(agreement, payload_of_another_agreement)
{
	/* A genuine signature by the right key over a different agreement. */
	json_t *other = json_deep_copy(agreement);
	json_object_set_new(other, "@id", json_string("urn:uuid:agreement-2"));
	json_t *e = agora_agreement_sign(other, "provider", PROVIDER, keys[0], NULL);
	cr_assert_not_null(e);
	expect_refused(agreement, e, keys[0],
		       "jws: payload is not the canonical form of the agreement");
	/* The same payload, but not canonical (pretty-printed): refused too. */
	char thumb[44];
	cr_assert(agora_key_thumbprint(keys[0], thumb));
	char *hdr = xasprintf("{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", thumb);
	char *pretty = json_dumps(agreement, JSON_INDENT(2) | JSON_SORT_KEYS);
	char *jws = forge(keys[0], hdr, pretty, strlen(pretty));
	json_t *e2 = entry_with_jws("provider", PROVIDER, jws);
	expect_refused(agreement, e2, keys[0],
		       "jws: payload is not the canonical form of the agreement");
	json_decref(e2);
	free(jws);
	free(pretty);
	free(hdr);
	json_decref(other);
	json_decref(e);
}

/* --- the chain --------------------------------------------------------------- */

struct directory {
	const char *signer[3];
	const struct agora_key *key[3];
	int calls;
	char last_kid[64];
};

/* The public half of the key registered for signer (a new key). */
static struct agora_key *
lookup(void *ctx, const char *role, const char *signer, const char *kid)
{
	struct directory *d = ctx;
	(void)role;
	d->calls++;
	snprintf(d->last_kid, sizeof d->last_kid, "%s", kid ? kid : "");
	for (int i = 0; i < 3; i++) {
		if (d->signer[i] && strcmp(d->signer[i], signer) == 0) {
			uint8_t pub[32];
			agora_key_public_raw(d->key[i], pub);
			return agora_key_from_public_raw(pub);
		}
	}
	return NULL;
}

static struct directory
directory(void)
{
	struct directory d = { { PROVIDER, BROKER, CONSUMER }, { keys[0], keys[1], keys[2] }, 0, "" };
	return d;
}

/* provider, broker, consumer signatures over a. */
static json_t *
full_chain(const json_t *a)
{
	json_t *sigs = json_array();
	json_array_append_new(sigs, agora_agreement_sign(a, "provider", PROVIDER, keys[0], NULL));
	json_array_append_new(sigs, agora_agreement_sign(a, "broker", BROKER, keys[1], NULL));
	json_array_append_new(sigs, agora_agreement_sign(a, "consumer", CONSUMER, keys[2], NULL));
	cr_assert_eq(json_array_size(sigs), 3);
	return sigs;
}

static void
expect_chain_refused(const json_t *a, const json_t *sigs, size_t n, struct directory *d,
		     const char *want)
{
	char err[256] = "";
	cr_expect_not(agora_agreement_verify_chain(a, sigs, n, lookup, d, err, sizeof err));
	cr_expect_str_eq(err, want);
}

Test(agreement, chain_verifies_at_each_step)
{
	json_t *sigs = full_chain(agreement);
	struct directory d = directory();
	char err[256] = "";
	cr_expect(agora_agreement_verify_chain(agreement, sigs, 3, lookup, &d, err, sizeof err),
		  "%s", err);
	cr_expect_eq(d.calls, 3);
	char thumb[44];
	cr_assert(agora_key_thumbprint(keys[2], thumb));
	cr_expect_str_eq(d.last_kid, thumb);

	/* The broker sees one signature, the consumer two. */
	json_t *first = json_array();
	json_array_append(first, json_array_get(sigs, 0));
	cr_expect(agora_agreement_verify_chain(agreement, first, 1, lookup, &d, err, sizeof err),
		  "%s", err);
	json_array_append(first, json_array_get(sigs, 1));
	cr_expect(agora_agreement_verify_chain(agreement, first, 2, lookup, &d, err, sizeof err),
		  "%s", err);
	/* Count must match what the step expects. */
	expect_chain_refused(agreement, first, 3, &d, "signatures: 2 present, 3 expected");
	expect_chain_refused(agreement, sigs, 2, &d, "signatures: 3 present, 2 expected");
	expect_chain_refused(agreement, sigs, 0, &d, "expected 0 signatures: must be 1 to 3");
	json_decref(first);

	/* Reordered agreement members still verify as a chain. */
	json_t *re = parse_text(AGREEMENT_REORDERED);
	cr_expect(agora_agreement_verify_chain(re, sigs, 3, lookup, &d, err, sizeof err), "%s",
		  err);
	json_decref(re);
	json_decref(sigs);
}

Test(agreement, chain_wrong_order)
{
	json_t *sigs = full_chain(agreement);
	struct directory d = directory();
	json_t *swapped = json_array();
	json_array_append(swapped, json_array_get(sigs, 1));
	json_array_append(swapped, json_array_get(sigs, 0));
	expect_chain_refused(agreement, swapped, 2, &d, "signatures[0]: role must be provider");
	json_decref(swapped);

	swapped = json_array();
	json_array_append(swapped, json_array_get(sigs, 0));
	json_array_append(swapped, json_array_get(sigs, 2));
	json_array_append(swapped, json_array_get(sigs, 1));
	expect_chain_refused(agreement, swapped, 3, &d, "signatures[1]: role must be broker");
	json_decref(swapped);
	json_decref(sigs);

	expect_chain_refused(agreement, NULL, 1, &d, "signatures: not an array");
}

Test(agreement, chain_tampered_or_forged)
{
	struct directory d = directory();
	json_t *sigs = full_chain(agreement);

	/* The agreement changed after signing: the first signature fails. */
	json_t *t = json_deep_copy(agreement);
	json_object_set_new(t, "target", json_string("urn:uuid:dataset-2"));
	expect_chain_refused(t, sigs, 3, &d,
			     "signatures[0] (provider): jws: payload is not the canonical form of "
			     "the agreement");
	json_decref(t);

	/* The broker's signature replaced by one made with the consumer's key. */
	json_array_set_new(sigs, 1, agora_agreement_sign(agreement, "broker", BROKER, keys[2], NULL));
	expect_chain_refused(agreement, sigs, 3, &d,
			     "signatures[1] (broker): jws: kid is not the signer key's thumbprint");
	json_decref(sigs);

	/* A participant signing as provider of someone else's agreement. */
	sigs = json_array();
	json_array_append_new(sigs, agora_agreement_sign(agreement, "provider", CONSUMER, keys[2], NULL));
	expect_chain_refused(agreement, sigs, 1, &d, "signatures[0]: signer is not the agreement's assigner");
	json_decref(sigs);

	/* The consumer entry names a party that is not the assignee. */
	sigs = full_chain(agreement);
	json_object_set_new(json_array_get(sigs, 2), "signer", json_string(PROVIDER));
	expect_chain_refused(agreement, sigs, 3, &d, "signatures[2]: signer is not the agreement's assignee");
	json_decref(sigs);

	/* An unknown broker. */
	sigs = full_chain(agreement);
	d.signer[1] = "https://other-broker.example";
	expect_chain_refused(agreement, sigs, 3, &d,
			     "signatures[1]: no key known for broker " BROKER);
	json_decref(sigs);
}
