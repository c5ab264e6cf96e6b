/* pauth.c — see pauth.h.
 *
 * Order of checks: the cheap, stateless ones first; the jti is recorded
 * last, so a token that fails any other check does not use up its jti.
 */
#include "pauth.h"
#include "jose.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* iss of a not yet verified token: needed to find the key.  Heap or NULL. */
static char *
unverified_issuer(const struct agora_jws *jws)
{
	json_t *c = json_loadb((const char *)jws->payload, jws->payload_len, 0, NULL);
	const char *iss = json_string_value(json_object_get(c, "iss"));
	char *out = iss && strlen(iss) <= 200 ? xstrdup(iss) : NULL;
	json_decref(c);
	return out;
}

/* Does the token's htu name the request's URL?  The receiver sees the
 * path percent-decoded (libmicrohttpd unescapes it) while senders sign the
 * URL they send, escapes included (agora_path_segment): compare the
 * decoded forms.  %00 is never decoded, so it cannot cut a URL short. */
static bool
htu_matches(const char *htu, const char *url)
{
	if (strcmp(htu, url) == 0)
		return true;
	char *d = xstrdup(htu), *o = d;
	for (const char *p = htu; *p; p++) {
		unsigned v;
		if (p[0] == '%' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]) &&
		    sscanf(p + 1, "%2x", &v) == 1 && v != 0) {
			*o++ = (char)v;
			p += 2;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	bool same = strcmp(d, url) == 0;
	free(d);
	return same;
}

enum agora_error
agora_pauth_verify(const char *jwt, const struct agora_pauth_request *req,
		   const struct agora_pauth_ops *ops, char **participant, char *detail, size_t dlen)
{
	enum agora_error e = AGORA_E_INVALID_TOKEN;
	char err[160] = "";
	json_t *claims = NULL, *jwk = NULL;
	char *status = NULL, *issuer = NULL;
	struct agora_key *key = NULL;

	struct agora_jws *jws = agora_jws_parse(jwt, err, sizeof err);
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
	issuer = unverified_issuer(jws);
	if (!kid || !issuer) {
		snprintf(detail, dlen, "the token needs a kid header and an iss claim");
		goto out;
	}
	enum agora_qs qs = ops->key(ops->ctx, issuer, kid, &jwk, &status);
	if (qs < 0) {
		e = AGORA_E_UNAVAILABLE;
		snprintf(detail, dlen, "the participant directory is unavailable");
		goto out;
	}
	if (qs == AGORA_QS_NONE) {
		e = AGORA_E_UNKNOWN_PARTICIPANT;
		snprintf(detail, dlen, "'%s' is not a registered participant", issuer);
		goto out;
	}
	if (strcmp(status, "active") != 0) {
		e = AGORA_E_PARTICIPANT_SUSPENDED;
		snprintf(detail, dlen, "the participant is %.32s", status);
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
	/* Signature good: from here on the claims are the participant's words. */
	struct agora_jwt_expect want = {
		.typ = "JWT",
		.aud = req->audience,
		.leeway = AGORA_PAUTH_LEEWAY,
		.max_lifetime = AGORA_PAUTH_MAX_LIFETIME,
		.require_iat = true,
		.require_jti = true,
	};
	enum agora_jwt_status js = agora_jwt_validate(jws, &want, &claims, err, sizeof err);
	if (js != AGORA_JWT_OK) {
		e = jwt_error(js);
		snprintf(detail, dlen, "%s", err);
		goto out;
	}
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	const char *sub = json_string_value(json_object_get(claims, "sub"));
	if (!iss || !sub || strcmp(sub, iss) != 0 || strcmp(iss, issuer) != 0) {
		snprintf(detail, dlen, "sub must equal iss in a self-issued token");
		goto out;
	}
	const char *htm = json_string_value(json_object_get(claims, "htm"));
	const char *htu = json_string_value(json_object_get(claims, "htu"));
	const char *bh = json_string_value(json_object_get(claims, "bh"));
	const char *jti = json_string_value(json_object_get(claims, "jti"));
	if (!htm || !htu || !bh || !jti || strlen(jti) > 256) {
		snprintf(detail, dlen, "htm, htu, bh and jti (at most 256 bytes) are required");
		goto out;
	}
	uint8_t h[32];
	agora_sha256(req->body, req->body_len, h);
	char *want_bh = agora_b64url_encode(h, sizeof h);
	const char *bad = strcmp(htm, req->method) ? "htm"
			  : !htu_matches(htu, req->url) ? "htu"
			  : strcmp(bh, want_bh)    ? "bh" : NULL;
	free(want_bh);
	if (bad) {
		e = AGORA_E_REQUEST_MISMATCH;
		snprintf(detail, dlen, "the token's %s does not match this request", bad);
		goto out;
	}
	long long exp = (long long)json_integer_value(json_object_get(claims, "exp"));
	qs = ops->seen(ops->ctx, iss, jti, exp);
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
	*participant = xstrdup(iss);
	e = AGORA_E__COUNT;
out:
	agora_key_free(key);
	json_decref(jwk);
	json_decref(claims);
	free(status);
	free(issuer);
	agora_jws_free(jws);
	return e;
}

char *
agora_pauth_mint(const struct agora_key *key, const char *kid, const char *iss,
		 const char *audience, const char *method, const char *url, const void *body,
		 size_t body_len)
{
	uint8_t h[32];
	agora_sha256(body ? body : "", body ? body_len : 0, h);
	char *bh = agora_b64url_encode(h, sizeof h);
	char jti[46];
	agora_urn_uuid(jti);
	int64_t now = agora_now();
	size_t ul = strcspn(url, "?");
	char *htu = xstrndup(url, ul);
	json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s, s:s}", "iss", iss,
				   "sub", iss, "aud", audience, "iat", (json_int_t)now, "exp",
				   (json_int_t)(now + 120), "jti", jti, "htm", method, "htu", htu,
				   "bh", bh);
	char *jwt = agora_jwt_sign(key, kid, "JWT", claims);
	json_decref(claims);
	free(htu);
	free(bh);
	return jwt;
}
