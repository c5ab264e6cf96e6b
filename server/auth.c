/* auth.c — verification of self-issued participant tokens (DESIGN.md §3)
 * and the broker's membership credentials.
 *
 * Order of checks: the cheap, stateless ones first; the jti is recorded
 * last, so a token that fails any other check does not use up its jti.
 */
#include "broker.h"
#include "db_participants.h"
#include "jose.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX_LIFETIME 300
#define TOKEN_LEEWAY 60

static enum agora_error
jwt_error(enum agora_jwt_status s)
{
	switch (s) {
	case AGORA_JWT_EXPIRED:
		return AGORA_E_TOKEN_EXPIRED;
	case AGORA_JWT_NOT_YET_VALID:
	case AGORA_JWT_IAT_IN_FUTURE:
		return AGORA_E_TOKEN_NOT_YET_VALID;
	case AGORA_JWT_BAD_AUD:
		return AGORA_E_WRONG_AUDIENCE;
	default:
		return AGORA_E_INVALID_TOKEN;
	}
}

enum agora_error
broker_participant_auth(struct agora_req *r, const char *jwt, char *detail, size_t dlen)
{
	const struct broker *b = r->app;
	enum agora_error e = AGORA_E_INVALID_TOKEN;
	char err[160] = "";
	json_t *claims = NULL, *jwk = NULL;
	char *status = NULL;
	struct agora_key *key = NULL;
	struct agora_jws *jws = NULL;

	if (!b->public_url) {
		e = AGORA_E_UNAVAILABLE;
		snprintf(detail, dlen, "the broker is starting");
		goto out;
	}

	jws = agora_jws_parse(jwt, err, sizeof err);
	if (!jws) {
		snprintf(detail, dlen, "malformed token: %s", err);
		goto out;
	}
	const char *alg = json_string_value(json_object_get(jws->header, "alg"));
	if (!alg || strcmp(alg, "EdDSA") != 0) {
		e = AGORA_E_UNSUPPORTED_ALG;
		snprintf(detail, dlen, "alg '%.32s' is not accepted; use EdDSA", alg ? alg : "");
		goto out;
	}
	const char *kid = agora_jws_kid(jws);
	json_t *unverified = json_loadb((const char *)jws->payload, jws->payload_len, 0, NULL);
	const char *iss = json_string_value(json_object_get(unverified, "iss"));
	char *issuer = iss ? xstrdup(iss) : NULL;
	json_decref(unverified);
	if (!kid || !issuer) {
		free(issuer);
		snprintf(detail, dlen, "the token needs a kid header and an iss claim");
		goto out;
	}
	enum agora_qs qs = db_participant_key(issuer, kid, &jwk, &status);
	if (qs < 0) {
		free(issuer);
		e = AGORA_E_UNAVAILABLE;
		snprintf(detail, dlen, "the participant directory is unavailable");
		goto out;
	}
	if (qs == AGORA_QS_NONE) {
		e = AGORA_E_UNKNOWN_PARTICIPANT;
		snprintf(detail, dlen, "'%.200s' is not a registered participant", issuer);
		free(issuer);
		goto out;
	}
	free(issuer);
	if (strcmp(status, "active") != 0) {
		e = AGORA_E_PARTICIPANT_SUSPENDED;
		snprintf(detail, dlen, "the participant is %s", status);
		goto out;
	}
	if (!jwk) {
		e = AGORA_E_UNKNOWN_KEY;
		snprintf(detail, dlen, "kid '%.64s' is not a key of this participant", kid);
		goto out;
	}
	key = agora_key_from_jwk(jwk, err, sizeof err);
	if (!key || !agora_jws_verify(jws, key)) {
		e = AGORA_E_BAD_SIGNATURE;
		snprintf(detail, dlen, "the signature does not verify with the participant's key");
		goto out;
	}
	/* Signature good: now the claims are the participant's own words. */
	struct agora_jwt_expect want = {
		.typ = "JWT",
		.aud = b->public_url,
		.leeway = TOKEN_LEEWAY,
		.max_lifetime = TOKEN_MAX_LIFETIME,
		.require_iat = true,
		.require_jti = true,
	};
	enum agora_jwt_status js = agora_jwt_validate(jws, &want, &claims, err, sizeof err);
	if (js != AGORA_JWT_OK) {
		e = jwt_error(js);
		snprintf(detail, dlen, "%s", err);
		goto out;
	}
	const char *cl_iss = json_string_value(json_object_get(claims, "iss"));
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	if (!sub || strcmp(sub, cl_iss) != 0) {
		snprintf(detail, dlen, "sub must equal iss in a self-issued token");
		goto out;
	}
	const char *htm = json_string_value(json_object_get(claims, "htm"));
	const char *htu = json_string_value(json_object_get(claims, "htu"));
	const char *bh = json_string_value(json_object_get(claims, "bh"));
	const char *jti = json_string_value(json_object_get(claims, "jti"));
	if (!htm || !htu || !bh || !jti || strlen(jti) > 256) {
		snprintf(detail, dlen, "htm, htu, bh and jti (≤ 256 bytes) are required");
		goto out;
	}
	char *want_htu = xasprintf("%s%s", b->public_url, r->path);
	bool htu_ok = strcmp(htu, want_htu) == 0;
	free(want_htu);
	uint8_t h[32];
	agora_sha256(r->body, r->body_len, h);
	char *want_bh = agora_b64url_encode(h, sizeof h);
	bool bh_ok = strcmp(bh, want_bh) == 0;
	free(want_bh);
	if (strcmp(htm, r->method) != 0 || !htu_ok || !bh_ok) {
		e = AGORA_E_REQUEST_MISMATCH;
		snprintf(detail, dlen, "the token's %s does not match this request",
			 strcmp(htm, r->method) ? "htm" : !htu_ok ? "htu" : "bh");
		goto out;
	}
	long long exp = (long long)json_integer_value(json_object_get(claims, "exp"));
	qs = db_token_seen(cl_iss, jti, exp);
	if (qs < 0) {
		e = AGORA_E_UNAVAILABLE;
		snprintf(detail, dlen, "the replay cache is unavailable");
		goto out;
	}
	if (qs == AGORA_QS_NONE) {
		e = AGORA_E_TOKEN_REPLAYED;
		snprintf(detail, dlen, "jti '%.64s' was already used", jti);
		goto out;
	}
	r->participant = xstrdup(cl_iss);
	e = AGORA_E__COUNT;
out:
	agora_key_free(key);
	json_decref(jwk);
	json_decref(claims);
	free(status);
	agora_jws_free(jws);
	return e;
}

char *
broker_membership_credential(const struct broker *b, const json_t *participant)
{
	int64_t now = agora_now();
	char jti[46];
	agora_urn_uuid(jti);
	json_t *claims = json_pack("{s:s, s:O, s:I, s:I, s:I, s:s, s:O, s:O, s:O}",
				   "iss", b->public_url,
				   "sub", json_object_get(participant, "id"),
				   "iat", (json_int_t)now, "nbf", (json_int_t)now,
				   "exp", (json_int_t)(now + 365 * 24 * 3600),
				   "jti", jti,
				   "name", json_object_get(participant, "name"),
				   "endpoint", json_object_get(participant, "endpoint"),
				   "attributes", json_object_get(participant, "attributes"));
	json_object_set_new(claims, "type", json_string("MembershipCredential"));
	char *jwt = agora_jwt_sign(b->key, b->kid, "JWT", claims);
	json_decref(claims);
	return jwt;
}
