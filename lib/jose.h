/* jose.h — JWK (OKP/Ed25519), RFC 7638 thumbprints, JWS compact
 * serialisation (EdDSA only) and JWT claim validation (RFC 7519, RFC 8725).
 *
 * Jansson ownership: functions returning json_t * return a new reference the
 * caller must json_decref(); json_t * arguments are borrowed.
 */
#ifndef AGORA_JOSE_H
#define AGORA_JOSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "crypto.h"

/* Public JWK {"kty":"OKP","crv":"Ed25519","x":…} (new reference). */
json_t *agora_jwk_from_key(const struct agora_key *k);
/* Public key from a JWK; NULL with a reason in err when the JWK is not a
 * well-formed OKP/Ed25519 key ("d" present is refused: no private keys). */
struct agora_key *agora_key_from_jwk(const json_t *jwk, char *err, size_t errlen);
/* RFC 7638 thumbprint (base64url SHA-256 of the canonical required members)
 * into out (44 bytes incl. NUL).  false when the JWK is not OKP/Ed25519. */
bool agora_jwk_thumbprint(const json_t *jwk, char out[44]);
bool agora_key_thumbprint(const struct agora_key *k, char out[44]);
/* The Ed25519 key of a JWK Set ({"keys":[…]}) whose RFC 7638 thumbprint is
 * kid, as a new key; NULL when none matches (members beyond kty/crv/x, such
 * as kid, use or alg, are ignored; an alg other than EdDSA skips the key). */
struct agora_key *agora_jwks_key(const json_t *jwks, const char *kid);
/* The RFC 7638 mechanism itself, for any key type: members is an object
 * holding exactly the required members of the JWK (e.g. crv, kty, x for
 * OKP; e, kty, n for RSA), all strings.  false when it is not. */
bool agora_jwk_thumbprint_members(const json_t *members, char out[44]);

/* Compact JWS over payload bytes with header {"alg":"EdDSA", "kid":kid,
 * "typ":typ} (typ may be NULL; header members in that order).  Heap string. */
char *agora_jws_sign(const struct agora_key *k, const char *kid, const char *typ,
		     const void *payload, size_t len);
/* A JWT: payload = compact JSON of claims (as given, not canonicalised). */
char *agora_jwt_sign(const struct agora_key *k, const char *kid, const char *typ,
		     const json_t *claims);
/* JWS whose payload is the RFC 8785 canonical form of obj. */
char *agora_jws_sign_jcs(const struct agora_key *k, const char *kid, const json_t *obj);

/* A parsed compact JWS, before or after verification. */
struct agora_jws {
	json_t *header;		/* the protected header object */
	uint8_t *payload;	/* decoded payload bytes, NUL-terminated */
	size_t payload_len;
	uint8_t *sig;		/* decoded signature */
	size_t sig_len;
	char *signing_input;	/* "b64(header).b64(payload)" */
};

/* Parse compact serialisation; NULL with reason in err when malformed
 * (wrong number of parts, bad base64url, header not a JSON object, more
 * than 16 KiB, crit present, …).  Does not check the signature. */
struct agora_jws *agora_jws_parse(const char *compact, char *err, size_t errlen);
void agora_jws_free(struct agora_jws *j);
/* alg must be exactly "EdDSA" (allow-list; "none" and all else refused)
 * and the signature must verify with k. */
bool agora_jws_verify(const struct agora_jws *j, const struct agora_key *k);
/* The header's kid, or NULL (borrowed). */
const char *agora_jws_kid(const struct agora_jws *j);

/* JWT claim checks.  Fields left NULL / 0 are not checked, except exp which
 * is always required.  leeway is clamped to at most 60 s. */
struct agora_jwt_expect {
	const char *typ;	/* header typ, e.g. "JWT" or "at+jwt" */
	const char *iss;
	const char *sub;
	const char *aud;	/* string aud must equal; array aud must contain */
	int64_t now;		/* 0 = current time */
	int64_t leeway;		/* seconds, ≤ 60 */
	int64_t max_lifetime;	/* if > 0: exp - iat must be ≤ this (iat required) */
	bool require_iat;
	bool require_jti;
	bool require_nbf;
};

/* Which check failed, for error mapping. */
enum agora_jwt_status {
	AGORA_JWT_OK = 0,
	AGORA_JWT_MALFORMED,	/* payload not a JSON object, wrong claim types */
	AGORA_JWT_BAD_TYP,
	AGORA_JWT_BAD_ISS,
	AGORA_JWT_BAD_SUB,
	AGORA_JWT_BAD_AUD,
	AGORA_JWT_EXPIRED,
	AGORA_JWT_NOT_YET_VALID,	/* nbf in the future */
	AGORA_JWT_IAT_IN_FUTURE,
	AGORA_JWT_LIFETIME_TOO_LONG,
	AGORA_JWT_MISSING_CLAIM,
};

/* Validate the claims of an already signature-checked JWS.  On success
 * *claims (if not NULL) receives a new reference to the claims object; on
 * failure it is untouched and err says which claim.
 *
 * exp, iat and nbf must be JSON integers (a real such as 1.5e9 is
 * MALFORMED); iss, sub, jti strings; aud a string or an array of strings.
 * A claim the caller asks for (iss/sub/aud set, require_*) but the token
 * lacks is MISSING_CLAIM; present but different is BAD_ISS/SUB/AUD.  The
 * header typ is compared exactly, case-sensitively.  Checks run in the
 * order: types, typ, missing claims, iss, sub, aud, exp, nbf, iat,
 * lifetime. */
enum agora_jwt_status agora_jwt_validate(const struct agora_jws *j,
					 const struct agora_jwt_expect *want,
					 json_t **claims, char *err, size_t errlen);
const char *agora_jwt_status_str(enum agora_jwt_status s);

#endif
