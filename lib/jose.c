/* jose.c — see jose.h.  Only what Agora needs: OKP/Ed25519 JWKs, compact
 * JWS with alg EdDSA, and JWT claim checks following RFC 8725. */
#include "jose.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jcs.h"
#include "util.h"

/* Tokens and signed documents are small; bounding the input bounds every
 * allocation and every JSON parse below. */
#define JWS_MAX_LEN 16384
#define JWT_MAX_LEEWAY 60

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* True when member name of obj is a string equal to want, byte for byte
 * (an embedded NUL cannot make a longer string match). */
static bool
member_is(const json_t *obj, const char *name, const char *want)
{
	const json_t *v = json_object_get(obj, name);
	return json_is_string(v) && json_string_length(v) == strlen(want) &&
	       strcmp(json_string_value(v), want) == 0;
}

json_t *
agora_jwk_from_key(const struct agora_key *k)
{
	uint8_t pub[AGORA_ED25519_PUB_LEN];
	agora_key_public_raw(k, pub);
	char *x = agora_b64url_encode(pub, sizeof pub);
	json_t *jwk = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x);
	free(x);
	if (!jwk)
		abort();
	return jwk;
}

/* The raw public key of an OKP/Ed25519 JWK, or false with a reason. */
static bool
jwk_okp_x(const json_t *jwk, uint8_t pub[32], char *err, size_t errlen)
{
	if (!json_is_object(jwk)) {
		set_err(err, errlen, "JWK is not a JSON object");
		return false;
	}
	if (!member_is(jwk, "kty", "OKP")) {
		set_err(err, errlen, "JWK kty is not \"OKP\"");
		return false;
	}
	if (!member_is(jwk, "crv", "Ed25519")) {
		set_err(err, errlen, "JWK crv is not \"Ed25519\"");
		return false;
	}
	const json_t *x = json_object_get(jwk, "x");
	if (!json_is_string(x)) {
		set_err(err, errlen, "JWK x missing or not a string");
		return false;
	}
	size_t len = 0;
	uint8_t *raw = agora_b64url_decode(json_string_value(x), json_string_length(x), &len);
	if (!raw || len != 32) {
		free(raw);
		set_err(err, errlen, "JWK x is not 32 bytes of base64url");
		return false;
	}
	memcpy(pub, raw, 32);
	free(raw);
	return true;
}

struct agora_key *
agora_key_from_jwk(const json_t *jwk, char *err, size_t errlen)
{
	uint8_t pub[32];
	if (!jwk_okp_x(jwk, pub, err, errlen))
		return NULL;
	/* A private key has no business travelling as a JWK in Agora; taking
	 * it silently would hide a leak. */
	if (json_object_get(jwk, "d")) {
		set_err(err, errlen, "JWK contains a private key (d)");
		return NULL;
	}
	/* Optional members, when present, must not restrict the key to
	 * something other than EdDSA signatures. */
	if (json_object_get(jwk, "alg") && !member_is(jwk, "alg", "EdDSA")) {
		set_err(err, errlen, "JWK alg is not \"EdDSA\"");
		return NULL;
	}
	if (json_object_get(jwk, "use") && !member_is(jwk, "use", "sig")) {
		set_err(err, errlen, "JWK use is not \"sig\"");
		return NULL;
	}
	struct agora_key *k = agora_key_from_public_raw(pub);
	if (!k)
		set_err(err, errlen, "JWK x is not an Ed25519 public key");
	return k;
}

/* RFC 7638 §3.3: the required members, sorted, no whitespace, minimal
 * string escaping — which is exactly their RFC 8785 canonical form as long
 * as every value is a string. */
bool
agora_jwk_thumbprint_members(const json_t *members, char out[44])
{
	if (!json_is_object(members) || json_object_size(members) == 0)
		return false;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)members, key, v)
		if (!json_is_string(v))
			return false;
	size_t len = 0;
	char *canon = agora_jcs(members, &len);
	if (!canon)
		return false;
	uint8_t digest[AGORA_SHA256_LEN];
	agora_sha256(canon, len, digest);
	free(canon);
	char *b64 = agora_b64url_encode(digest, sizeof digest);
	memcpy(out, b64, 44);	/* 43 characters and the NUL */
	free(b64);
	return true;
}

bool
agora_jwk_thumbprint(const json_t *jwk, char out[44])
{
	uint8_t pub[32];
	if (!jwk_okp_x(jwk, pub, NULL, 0))
		return false;
	json_t *req = json_pack("{s:s, s:s, s:O}", "crv", "Ed25519", "kty", "OKP", "x",
				json_object_get(jwk, "x"));
	if (!req)
		abort();
	bool ok = agora_jwk_thumbprint_members(req, out);
	json_decref(req);
	return ok;
}

bool
agora_key_thumbprint(const struct agora_key *k, char out[44])
{
	json_t *jwk = agora_jwk_from_key(k);
	bool ok = agora_jwk_thumbprint(jwk, out);
	json_decref(jwk);
	return ok;
}

char *
agora_jws_sign(const struct agora_key *k, const char *kid, const char *typ,
	       const void *payload, size_t len)
{
	char *jws = NULL;
	char *hdr = NULL, *hdr64 = NULL, *pay64 = NULL, *sig64 = NULL;
	json_t *h = json_object();
	if (!h)
		abort();
	/* Jansson keeps insertion order, which fixes the header bytes as
	 * alg, kid, typ.  json_string() refuses invalid UTF-8. */
	json_object_set_new(h, "alg", json_string("EdDSA"));
	if (kid && json_object_set_new(h, "kid", json_string(kid)) != 0)
		goto out;
	if (typ && json_object_set_new(h, "typ", json_string(typ)) != 0)
		goto out;
	hdr = json_dumps(h, JSON_COMPACT);
	if (!hdr)
		abort();
	hdr64 = agora_b64url_encode(hdr, strlen(hdr));
	pay64 = agora_b64url_encode(payload, len);
	char *input = xasprintf("%s.%s", hdr64, pay64);
	uint8_t sig[AGORA_ED25519_SIG_LEN];
	if (agora_ed25519_sign(k, input, strlen(input), sig)) {
		sig64 = agora_b64url_encode(sig, sizeof sig);
		jws = xasprintf("%s.%s", input, sig64);
	}
	free(input);
out:
	json_decref(h);
	free(hdr);
	free(hdr64);
	free(pay64);
	free(sig64);
	return jws;
}

char *
agora_jwt_sign(const struct agora_key *k, const char *kid, const char *typ,
	       const json_t *claims)
{
	if (!json_is_object(claims))
		return NULL;
	char *payload = json_dumps(claims, JSON_COMPACT);
	if (!payload)
		return NULL;
	char *jwt = agora_jws_sign(k, kid, typ, payload, strlen(payload));
	free(payload);
	return jwt;
}

char *
agora_jws_sign_jcs(const struct agora_key *k, const char *kid, const json_t *obj)
{
	size_t len = 0;
	char *canon = agora_jcs(obj, &len);
	if (!canon)
		return NULL;
	char *jws = agora_jws_sign(k, kid, NULL, canon, len);
	free(canon);
	return jws;
}

struct agora_jws *
agora_jws_parse(const char *compact, char *err, size_t errlen)
{
	struct agora_jws *j = NULL;
	uint8_t *hdr = NULL;
	size_t total = strnlen(compact, JWS_MAX_LEN + 1);
	if (total > JWS_MAX_LEN) {
		set_err(err, errlen, "JWS longer than %d bytes", JWS_MAX_LEN);
		goto fail;
	}
	const char *dot1 = memchr(compact, '.', total);
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', total - (size_t)(dot1 + 1 - compact)) : NULL;
	if (!dot2 || memchr(dot2 + 1, '.', total - (size_t)(dot2 + 1 - compact))) {
		set_err(err, errlen, "JWS does not have exactly three parts");
		goto fail;
	}
	if (dot1 == compact) {
		set_err(err, errlen, "JWS header is empty");
		goto fail;
	}
	/* An empty signature is the unsecured JWS form ("alg":"none"). */
	if (dot2 + 1 == compact + total) {
		set_err(err, errlen, "JWS signature is empty");
		goto fail;
	}

	j = xcalloc(1, sizeof *j);
	size_t hdr_len = 0;
	hdr = agora_b64url_decode(compact, (size_t)(dot1 - compact), &hdr_len);
	if (!hdr) {
		set_err(err, errlen, "JWS header is not base64url");
		goto fail;
	}
	j->payload = agora_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &j->payload_len);
	if (!j->payload) {
		set_err(err, errlen, "JWS payload is not base64url");
		goto fail;
	}
	j->sig = agora_b64url_decode(dot2 + 1, total - (size_t)(dot2 + 1 - compact), &j->sig_len);
	if (!j->sig) {
		set_err(err, errlen, "JWS signature is not base64url");
		goto fail;
	}

	/* Duplicate names are how two parsers come to disagree about a
	 * header (RFC 7515 §4 lets us reject them). */
	json_error_t jerr;
	j->header = json_loadb((const char *)hdr, hdr_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j->header)) {
		set_err(err, errlen, "JWS header is not a JSON object");
		goto fail;
	}
	/* We understand no extensions, so RFC 7515 §4.1.11 obliges us to
	 * refuse any JWS that marks one critical. */
	if (json_object_get(j->header, "crit")) {
		set_err(err, errlen, "JWS header has crit");
		goto fail;
	}
	j->signing_input = xstrndup(compact, (size_t)(dot2 - compact));
	free(hdr);
	return j;
fail:
	free(hdr);
	agora_jws_free(j);
	return NULL;
}

void
agora_jws_free(struct agora_jws *j)
{
	if (!j)
		return;
	json_decref(j->header);
	free(j->payload);
	free(j->sig);
	free(j->signing_input);
	free(j);
}

bool
agora_jws_verify(const struct agora_jws *j, const struct agora_key *k)
{
	/* An allow-list of one: the header never chooses the algorithm
	 * (RFC 8725 §3.1), so "none", HMAC and case variants all fail. */
	if (!member_is(j->header, "alg", "EdDSA"))
		return false;
	if (j->sig_len != AGORA_ED25519_SIG_LEN)
		return false;
	return agora_ed25519_verify(k, j->signing_input, strlen(j->signing_input), j->sig,
				    j->sig_len);
}

const char *
agora_jws_kid(const struct agora_jws *j)
{
	return json_string_value(json_object_get(j->header, "kid"));
}

/* Claims that must be strings when present. */
static const char *const string_claims[] = { "iss", "sub", "jti" };
/* Claims that must be integer NumericDates when present. */
static const char *const time_claims[] = { "exp", "iat", "nbf" };

static bool
aud_matches(const json_t *aud, const char *want)
{
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0 &&
		       json_string_length(aud) == strlen(want);
	size_t i;
	const json_t *v;
	json_array_foreach(aud, i, v)
		if (strcmp(json_string_value(v), want) == 0 && json_string_length(v) == strlen(want))
			return true;
	return false;
}

/* The type checks: every registered claim we look at has the type RFC 7519
 * gives it, so the comparisons below never see a surprise. */
static enum agora_jwt_status
check_types(const json_t *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < ARRAY_LEN(string_claims); i++) {
		const json_t *v = json_object_get(c, string_claims[i]);
		if (v && !json_is_string(v)) {
			set_err(err, errlen, "claim %s is not a string", string_claims[i]);
			return AGORA_JWT_MALFORMED;
		}
	}
	/* Integers only: a real such as 1.5e9 is refused rather than rounded,
	 * since Agora issues whole seconds. */
	for (size_t i = 0; i < ARRAY_LEN(time_claims); i++) {
		const json_t *v = json_object_get(c, time_claims[i]);
		if (v && !json_is_integer(v)) {
			set_err(err, errlen, "claim %s is not an integer", time_claims[i]);
			return AGORA_JWT_MALFORMED;
		}
	}
	const json_t *aud = json_object_get(c, "aud");
	if (aud && !json_is_string(aud)) {
		if (!json_is_array(aud)) {
			set_err(err, errlen, "claim aud is not a string or an array");
			return AGORA_JWT_MALFORMED;
		}
		size_t i;
		const json_t *v;
		json_array_foreach(aud, i, v) {
			if (!json_is_string(v)) {
				set_err(err, errlen, "claim aud[%zu] is not a string", i);
				return AGORA_JWT_MALFORMED;
			}
		}
	}
	return AGORA_JWT_OK;
}

/* typ is compared byte for byte although RFC 7515 §4.1.9 calls media
 * types case-insensitive: Agora issues its own tokens and spells typ one
 * way, and one spelling leaves nothing for two parsers to disagree on. */
enum agora_jwt_status
agora_jwt_validate(const struct agora_jws *j, const struct agora_jwt_expect *want,
		   json_t **claims, char *err, size_t errlen)
{
	enum agora_jwt_status st = AGORA_JWT_MALFORMED;
	json_error_t jerr;
	json_t *c = json_loadb((const char *)j->payload, j->payload_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(c)) {
		set_err(err, errlen, "JWT payload is not a JSON object");
		goto out;
	}
	if ((st = check_types(c, err, errlen)) != AGORA_JWT_OK)
		goto out;

	const json_t *typ = json_object_get(j->header, "typ");
	if (typ && !json_is_string(typ)) {
		st = AGORA_JWT_MALFORMED;
		set_err(err, errlen, "header typ is not a string");
		goto out;
	}
	if (want->typ && !member_is(j->header, "typ", want->typ)) {
		st = AGORA_JWT_BAD_TYP;
		set_err(err, errlen, "header typ is not \"%s\"", want->typ);
		goto out;
	}

	const json_t *exp = json_object_get(c, "exp");
	const json_t *iat = json_object_get(c, "iat");
	const json_t *nbf = json_object_get(c, "nbf");
	const char *missing = NULL;
	if (!exp)
		missing = "exp";
	else if (!iat && (want->require_iat || want->max_lifetime > 0))
		missing = "iat";
	else if (!nbf && want->require_nbf)
		missing = "nbf";
	else if (want->require_jti && !json_object_get(c, "jti"))
		missing = "jti";
	else if (want->iss && !json_object_get(c, "iss"))
		missing = "iss";
	else if (want->sub && !json_object_get(c, "sub"))
		missing = "sub";
	else if (want->aud && !json_object_get(c, "aud"))
		missing = "aud";
	if (missing) {
		st = AGORA_JWT_MISSING_CLAIM;
		set_err(err, errlen, "claim %s is missing", missing);
		goto out;
	}
	if (want->iss && !member_is(c, "iss", want->iss)) {
		st = AGORA_JWT_BAD_ISS;
		set_err(err, errlen, "claim iss is not \"%s\"", want->iss);
		goto out;
	}
	if (want->sub && !member_is(c, "sub", want->sub)) {
		st = AGORA_JWT_BAD_SUB;
		set_err(err, errlen, "claim sub is not \"%s\"", want->sub);
		goto out;
	}
	if (want->aud && !aud_matches(json_object_get(c, "aud"), want->aud)) {
		st = AGORA_JWT_BAD_AUD;
		set_err(err, errlen, "claim aud does not contain \"%s\"", want->aud);
		goto out;
	}

	int64_t now = want->now ? want->now : agora_now();
	int64_t leeway = want->leeway < 0 ? 0 : want->leeway > JWT_MAX_LEEWAY ? JWT_MAX_LEEWAY : want->leeway;
	/* Written so that no attacker-chosen claim value is ever added to or
	 * subtracted from: an exp near INT64_MAX cannot overflow anything. */
	int64_t e = json_integer_value(exp);
	if (now - leeway >= e) {
		st = AGORA_JWT_EXPIRED;
		set_err(err, errlen, "token expired at %lld", (long long)e);
		goto out;
	}
	if (nbf && json_integer_value(nbf) > now + leeway) {
		st = AGORA_JWT_NOT_YET_VALID;
		set_err(err, errlen, "token not valid before %lld", (long long)json_integer_value(nbf));
		goto out;
	}
	if (iat && json_integer_value(iat) > now + leeway) {
		st = AGORA_JWT_IAT_IN_FUTURE;
		set_err(err, errlen, "token issued in the future (%lld)", (long long)json_integer_value(iat));
		goto out;
	}
	if (want->max_lifetime > 0) {
		int64_t i = json_integer_value(iat);
		/* e > i, so the unsigned difference is exact. */
		if (e > i && (uint64_t)e - (uint64_t)i > (uint64_t)want->max_lifetime) {
			st = AGORA_JWT_LIFETIME_TOO_LONG;
			set_err(err, errlen, "exp - iat exceeds %lld s", (long long)want->max_lifetime);
			goto out;
		}
	}
	st = AGORA_JWT_OK;
	if (claims) {
		*claims = c;
		c = NULL;
	}
out:
	json_decref(c);
	return st;
}

const char *
agora_jwt_status_str(enum agora_jwt_status s)
{
	switch (s) {
	case AGORA_JWT_OK: return "ok";
	case AGORA_JWT_MALFORMED: return "malformed";
	case AGORA_JWT_BAD_TYP: return "bad_typ";
	case AGORA_JWT_BAD_ISS: return "bad_iss";
	case AGORA_JWT_BAD_SUB: return "bad_sub";
	case AGORA_JWT_BAD_AUD: return "bad_aud";
	case AGORA_JWT_EXPIRED: return "expired";
	case AGORA_JWT_NOT_YET_VALID: return "not_yet_valid";
	case AGORA_JWT_IAT_IN_FUTURE: return "iat_in_future";
	case AGORA_JWT_LIFETIME_TOO_LONG: return "lifetime_too_long";
	case AGORA_JWT_MISSING_CLAIM: return "missing_claim";
	}
	return "unknown";
}

struct agora_key *
agora_jwks_key(const json_t *jwks, const char *kid)
{
	size_t i;
	const json_t *k;
	json_array_foreach(json_object_get(jwks, "keys"), i, k) {
		char tp[44], e[128];
		const char *alg = json_string_value(json_object_get(k, "alg"));
		if (alg && strcmp(alg, "EdDSA") != 0)
			continue;
		/* Only the public members: the thumbprint and the import refuse
		 * anything else (kid, use) a published key usually carries. */
		json_t *pub = json_pack("{s:O*, s:O*, s:O*}", "kty", json_object_get(k, "kty"), "crv",
					json_object_get(k, "crv"), "x", json_object_get(k, "x"));
		struct agora_key *key = NULL;
		if (pub && agora_jwk_thumbprint(pub, tp) && !strcmp(tp, kid))
			key = agora_key_from_jwk(pub, e, sizeof e);
		json_decref(pub);
		if (key)
			return key;
	}
	return NULL;
}
