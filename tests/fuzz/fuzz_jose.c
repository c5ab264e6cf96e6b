/* libFuzzer target: JWS compact parsing, EdDSA verification with a fixed
 * key and JWT claim validation (lib/jose.c).
 *
 * The first byte chooses how the rest is used:
 *   0  a compact JWS as received: parse, kid, verify, validate.  Nothing
 *      the fuzzer writes can carry a good signature, so verify must fail.
 *   1  "header JSON\npayload bytes", signed here with the fixed key: parse
 *      must succeed unless the header is refused (not an object, crit,
 *      too long), verify must succeed exactly when alg is "EdDSA", the
 *      payload must come back byte for byte, then the claims are validated.
 *   2  "kid\ntyp\npayload": agora_jws_sign, then parse and verify must
 *      succeed and give back the payload and kid.
 * In every mode agora_jwt_validate runs with expectations chosen from a
 * hash of the input; OK must hand back an object whose exp is an integer,
 * anything else must leave *claims alone. */
#include <jansson.h>

#include "fuzz_util.h"
#include "jose.h"

static struct agora_key *key;

static void
validate(const struct agora_jws *j, uint32_t h)
{
	static const char *const typs[] = { NULL, "JWT", "at+jwt" };
	static const char *const vals[] = { NULL, "a", "https://broker", "did:web:a.example" };
	struct agora_jwt_expect want = {
		.typ = typs[h % 3],
		.iss = vals[(h >> 2) % 4],
		.sub = vals[(h >> 4) % 4],
		.aud = vals[(h >> 6) % 4],
		.now = (h >> 8) & 1 ? 1800000000 : 0,
		.leeway = (int64_t)((h >> 9) % 200) - 50,	/* clamped by the callee */
		.max_lifetime = (h >> 10) & 1 ? 300 : 0,
		.require_iat = (h >> 11) & 1,
		.require_jti = (h >> 12) & 1,
		.require_nbf = (h >> 13) & 1,
	};
	json_t *claims = (json_t *)0x1;
	char err[200];
	enum agora_jwt_status st = agora_jwt_validate(j, &want, &claims, err, sizeof err);
	FUZZ_CHECK(agora_jwt_status_str(st) != NULL, "status %d", (int)st);
	if (st == AGORA_JWT_OK) {
		FUZZ_CHECK(json_is_object(claims), "OK without an object");
		FUZZ_CHECK(json_is_integer(json_object_get(claims, "exp")), "OK without integer exp");
		json_decref(claims);
	} else {
		FUZZ_CHECK(claims == (json_t *)0x1, "claims set on failure %d", (int)st);
	}
}

static void
raw(const uint8_t *data, size_t size, uint32_t h)
{
	char *s = fuzz_strndup(data, size);
	char err[200] = "";
	struct agora_jws *j = agora_jws_parse(s, err, sizeof err);
	if (j) {
		FUZZ_CHECK(json_is_object(j->header), "header");
		FUZZ_CHECK(j->payload[j->payload_len] == '\0', "payload not terminated");
		(void)agora_jws_kid(j);
		/* The fixed key's seeds are the RFC 8037 A.4 example; only it
		 * may verify (it is in the corpus). */
		if (agora_jws_verify(j, key))
			FUZZ_CHECK(j->payload_len == 26 && !memcmp(j->payload, "Example of Ed25519 signing", 26),
				   "a fuzzed JWS verified");
		validate(j, h);
	} else {
		FUZZ_CHECK(err[0] != '\0', "refused without a reason");
	}
	agora_jws_free(j);
	free(s);
}

static void
forged(const uint8_t *data, size_t size, uint32_t h)
{
	const uint8_t *hd, *pl;
	size_t hlen, plen;
	fuzz_split(data, size, &hd, &hlen, &pl, &plen);
	char *jws = fuzz_forge(key, (const char *)hd, hlen, (const char *)pl, plen);
	char err[200] = "";
	struct agora_jws *j = agora_jws_parse(jws, err, sizeof err);
	json_t *hj = json_loadb((const char *)hd, hlen, JSON_REJECT_DUPLICATES, NULL);
	if (j) {
		FUZZ_CHECK(j->payload_len == plen && !memcmp(j->payload, pl, plen), "payload changed");
		FUZZ_CHECK(json_equal(j->header, hj), "header changed");
		const json_t *alg = json_object_get(j->header, "alg");
		bool exact = json_is_string(alg) && json_string_length(alg) == 5 &&
			     !memcmp(json_string_value(alg), "EdDSA", 5);
		bool other = !json_is_string(alg) || strcmp(json_string_value(alg), "EdDSA") != 0;
		bool ok = agora_jws_verify(j, key);
		if (exact)
			FUZZ_CHECK(ok, "a good EdDSA signature refused");
		if (other)
			FUZZ_CHECK(!ok, "alg other than EdDSA accepted");
		validate(j, h);
	} else {
		/* Only the header can be at fault (or the length). */
		FUZZ_CHECK(strlen(jws) > 16384 || !json_is_object(hj) || json_object_get(hj, "crit"),
			   "a well-formed signed JWS refused: %s", err);
	}
	json_decref(hj);
	agora_jws_free(j);
	free(jws);
}

static void
signed_roundtrip(const uint8_t *data, size_t size)
{
	const uint8_t *a, *rest, *b, *pl;
	size_t alen, rlen, blen, plen;
	fuzz_split(data, size, &a, &alen, &rest, &rlen);
	fuzz_split(rest, rlen, &b, &blen, &pl, &plen);
	char *kid = fuzz_strndup(a, alen), *typ = fuzz_strndup(b, blen);
	/* Jansson refuses strings that are not UTF-8: such a kid cannot be put
	 * in a header, and signing then fails (NULL) — that is fine. */
	char *jws = agora_jws_sign(key, kid, typ[0] ? typ : NULL, pl, plen);
	if (jws) {
		char err[200] = "";
		struct agora_jws *j = agora_jws_parse(jws, err, sizeof err);
		FUZZ_CHECK(j || strlen(jws) > 16384, "own JWS refused: %s", err);
		if (j) {
			FUZZ_CHECK(agora_jws_verify(j, key), "own JWS does not verify");
			FUZZ_CHECK(j->payload_len == plen && !memcmp(j->payload, pl, plen), "payload");
			const char *k2 = agora_jws_kid(j);
			FUZZ_CHECK(k2 && !strcmp(k2, kid), "kid");
		}
		agora_jws_free(j);
	}
	free(jws);
	free(kid);
	free(typ);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 20000)
		return 0;
	if (!key)
		key = fuzz_key();
	uint32_t h = fuzz_hash(data, size);
	switch (data[0] % 3) {
	case 0:
		raw(data + 1, size - 1, h);
		break;
	case 1:
		forged(data + 1, size - 1, h);
		break;
	default:
		signed_roundtrip(data + 1, size - 1);
	}
	return 0;
}
