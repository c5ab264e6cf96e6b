/* test_jose.c — JWK/JWS against RFC 8037 Appendix A and RFC 7638, the
 * parse refusals, the alg allow-list, and every JWT validation status. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "jcs.h"
#include "jose.h"
#include "util.h"

#define RFC8037_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define RFC8037_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define RFC8037_THUMB "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
#define RFC8037_JWS                                                                      \
	"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."                      \
	"hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_" \
	"MuM0KAg"

/* Fixed "now" for the JWT tests. */
#define NOW 1800000000

static struct agora_key *
rfc8037_key(void)
{
	size_t n = 0;
	uint8_t *d = agora_b64url_decode(RFC8037_D, strlen(RFC8037_D), &n);
	cr_assert_not_null(d);
	cr_assert_eq(n, 32);
	struct agora_key *k = agora_key_from_private_raw(d);
	free(d);
	cr_assert_not_null(k);
	return k;
}

/* A JWS with an arbitrary header, really signed by k: only what the test
 * varies in the header can make verification fail. */
static char *
forge(const struct agora_key *k, const char *header, const char *payload)
{
	char *h64 = agora_b64url_encode(header, strlen(header));
	char *p64 = agora_b64url_encode(payload, strlen(payload));
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

/* Parse must refuse compact with a reason that contains why. */
static void
expect_parse_fails(const char *compact, const char *why)
{
	char err[256] = "";
	struct agora_jws *j = agora_jws_parse(compact, err, sizeof err);
	cr_expect_null(j, "accepted: %.80s", compact);
	agora_jws_free(j);
	cr_expect_not_null(strstr(err, why), "err \"%s\" lacks \"%s\"", err, why);
}

Test(jose, rfc8037_a1_jwk_from_key)
{
	struct agora_key *k = rfc8037_key();
	json_t *jwk = agora_jwk_from_key(k);
	char *s = json_dumps(jwk, JSON_COMPACT);
	cr_expect_str_eq(s, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\"}");
	free(s);
	json_decref(jwk);
	agora_key_free(k);
}

Test(jose, rfc8037_a3_thumbprint)
{
	json_t *jwk = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", RFC8037_X);
	char tp[44];
	cr_assert(agora_jwk_thumbprint(jwk, tp));
	cr_expect_str_eq(tp, RFC8037_THUMB);
	/* Extra members (here the private d and a kid) do not change it. */
	json_object_set_new(jwk, "d", json_string(RFC8037_D));
	json_object_set_new(jwk, "kid", json_string("whatever"));
	memset(tp, 0, sizeof tp);
	cr_assert(agora_jwk_thumbprint(jwk, tp));
	cr_expect_str_eq(tp, RFC8037_THUMB);
	json_decref(jwk);

	struct agora_key *k = rfc8037_key();
	memset(tp, 0, sizeof tp);
	cr_assert(agora_key_thumbprint(k, tp));
	cr_expect_str_eq(tp, RFC8037_THUMB);
	agora_key_free(k);
}

Test(jose, rfc7638_rsa_thumbprint_members)
{
	json_t *m = json_pack(
		"{s:s, s:s, s:s}", "kty", "RSA", "n",
		"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJ"
		"ECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FD"
		"W2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
		"vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
		"e", "AQAB");
	char tp[44];
	cr_assert(agora_jwk_thumbprint_members(m, tp));
	cr_expect_str_eq(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	json_decref(m);
}

Test(jose, thumbprint_refusals)
{
	char tp[44] = "untouched";
	json_t *m = json_pack("{s:s, s:i}", "kty", "RSA", "e", 65537);
	cr_expect_not(agora_jwk_thumbprint_members(m, tp));
	json_decref(m);
	m = json_object();
	cr_expect_not(agora_jwk_thumbprint_members(m, tp));
	json_decref(m);
	m = json_string("x");
	cr_expect_not(agora_jwk_thumbprint_members(m, tp));
	json_decref(m);

	/* agora_jwk_thumbprint is OKP/Ed25519 only. */
	m = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "x", "AA", "y", "AA");
	cr_expect_not(agora_jwk_thumbprint(m, tp));
	json_decref(m);
	m = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "X25519", "x", RFC8037_X);
	cr_expect_not(agora_jwk_thumbprint(m, tp));
	json_decref(m);
	cr_expect_str_eq(tp, "untouched");
}

Test(jose, key_from_jwk)
{
	char err[256] = "";
	json_t *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x",
				RFC8037_X, "use", "sig", "alg", "EdDSA");
	struct agora_key *k = agora_key_from_jwk(jwk, err, sizeof err);
	cr_assert_not_null(k, "%s", err);
	cr_expect_not(agora_key_has_private(k));
	json_t *back = agora_jwk_from_key(k);
	cr_expect_str_eq(json_string_value(json_object_get(back, "x")), RFC8037_X);
	json_decref(back);
	agora_key_free(k);
	json_decref(jwk);

	static const struct {
		const char *json, *why;
	} bad[] = {
		{ "[]", "not a JSON object" },
		{ "{\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\"}", "kty" },
		{ "{\"kty\":\"EC\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\"}", "kty" },
		{ "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" RFC8037_X "\"}", "crv" },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}", "x missing" },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":32}", "x missing" },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}", "32 bytes" },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "=\"}", "32 bytes" },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\",\"d\":\"" RFC8037_D "\"}",
		  "private key" },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\",\"alg\":\"ES256\"}", "alg" },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" RFC8037_X "\",\"use\":\"enc\"}", "use" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		json_t *j = json_loads(bad[i].json, JSON_DECODE_ANY, NULL);
		cr_assert_not_null(j, "%s", bad[i].json);
		err[0] = '\0';
		cr_expect_null(agora_key_from_jwk(j, err, sizeof err), "%s", bad[i].json);
		cr_expect_not_null(strstr(err, bad[i].why), "case %zu: \"%s\"", i, err);
		json_decref(j);
	}
}

Test(jose, rfc8037_a4_sign_exact)
{
	struct agora_key *k = rfc8037_key();
	const char payload[] = "Example of Ed25519 signing";
	char *jws = agora_jws_sign(k, NULL, NULL, payload, strlen(payload));
	cr_expect_str_eq(jws, RFC8037_JWS);
	free(jws);
	agora_key_free(k);
}

Test(jose, rfc8037_a4_verify)
{
	json_t *jwk = json_pack("{s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", RFC8037_X);
	struct agora_key *pk = agora_key_from_jwk(jwk, NULL, 0);
	cr_assert_not_null(pk);
	char err[256] = "";
	struct agora_jws *j = agora_jws_parse(RFC8037_JWS, err, sizeof err);
	cr_assert_not_null(j, "%s", err);
	cr_expect_str_eq(json_string_value(json_object_get(j->header, "alg")), "EdDSA");
	cr_expect_eq(json_object_size(j->header), 1);
	cr_expect_eq(j->payload_len, 26);
	cr_expect_str_eq((char *)j->payload, "Example of Ed25519 signing");
	cr_expect_eq(j->sig_len, 64);
	cr_expect_str_eq(j->signing_input, "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc");
	cr_expect_null(agora_jws_kid(j));
	cr_expect(agora_jws_verify(j, pk));
	agora_jws_free(j);

	/* Other payload under the same header and signature. */
	char *p64 = agora_b64url_encode("Example of Ed25519 signinG", 26);
	char *tampered = xasprintf("eyJhbGciOiJFZERTQSJ9.%s.%s", p64, strrchr(RFC8037_JWS, '.') + 1);
	j = agora_jws_parse(tampered, err, sizeof err);
	cr_assert_not_null(j, "%s", err);
	cr_expect_not(agora_jws_verify(j, pk));
	agora_jws_free(j);

	/* Another key. */
	struct agora_key *other = agora_key_generate();
	j = agora_jws_parse(RFC8037_JWS, err, sizeof err);
	cr_expect_not(agora_jws_verify(j, other));
	agora_jws_free(j);

	agora_key_free(other);
	free(p64);
	free(tampered);
	agora_key_free(pk);
	json_decref(jwk);
}

Test(jose, sign_header_order_and_kid)
{
	struct agora_key *k = agora_key_generate();
	char *jws = agora_jws_sign(k, "did:web:a.example#k1", "JWT", "{}", 2);
	cr_assert_not_null(jws);
	struct agora_jws *j = agora_jws_parse(jws, NULL, 0);
	cr_assert_not_null(j);
	char *dot = strchr(j->signing_input, '.');
	size_t n = 0;
	uint8_t *hdr = agora_b64url_decode(j->signing_input, (size_t)(dot - j->signing_input), &n);
	cr_expect_str_eq((char *)hdr, "{\"alg\":\"EdDSA\",\"kid\":\"did:web:a.example#k1\",\"typ\":\"JWT\"}");
	cr_expect_str_eq(agora_jws_kid(j), "did:web:a.example#k1");
	cr_expect(agora_jws_verify(j, k));
	free(hdr);
	agora_jws_free(j);
	free(jws);

	jws = agora_jws_sign(k, NULL, "at+jwt", "x", 1);
	j = agora_jws_parse(jws, NULL, 0);
	dot = strchr(j->signing_input, '.');
	hdr = agora_b64url_decode(j->signing_input, (size_t)(dot - j->signing_input), &n);
	cr_expect_str_eq((char *)hdr, "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}");
	free(hdr);
	agora_jws_free(j);
	free(jws);

	/* Invalid UTF-8 in kid cannot become a header. */
	cr_expect_null(agora_jws_sign(k, "\xff", NULL, "x", 1));
	/* A public key cannot sign. */
	uint8_t pub[32];
	agora_key_public_raw(k, pub);
	struct agora_key *pk = agora_key_from_public_raw(pub);
	cr_expect_null(agora_jws_sign(pk, NULL, NULL, "x", 1));
	agora_key_free(pk);
	agora_key_free(k);
}

Test(jose, sign_jcs_payload_is_canonical)
{
	struct agora_key *k = agora_key_generate();
	json_t *obj = json_loads("{\"b\":1.50,\"a\":[true,\"\\u20ac\"]}", 0, NULL);
	char *jws = agora_jws_sign_jcs(k, "k1", obj);
	struct agora_jws *j = agora_jws_parse(jws, NULL, 0);
	cr_assert_not_null(j);
	cr_expect_str_eq((char *)j->payload, "{\"a\":[true,\"\xe2\x82\xac\"],\"b\":1.5}");
	cr_expect_null(json_object_get(j->header, "typ"));
	cr_expect_str_eq(agora_jws_kid(j), "k1");
	cr_expect(agora_jws_verify(j, k));
	agora_jws_free(j);
	free(jws);
	json_decref(obj);
	agora_key_free(k);
}

Test(jose, parse_rejects_malformed)
{
	struct agora_key *k = agora_key_generate();
	expect_parse_fails("eyJhbGciOiJFZERTQSJ9.UEF5bG9hZA", "three parts");
	expect_parse_fails("eyJhbGciOiJFZERTQSJ9.UEF5bG9hZA.AAAA.AAAA", "three parts");
	expect_parse_fails("", "three parts");
	expect_parse_fails("..", "header is empty");
	expect_parse_fails(".UEF5bG9hZA.AAAA", "header is empty");
	expect_parse_fails("eyJhbGciOiJFZERTQSJ9.UEF5bG9hZA.", "signature is empty");
	expect_parse_fails("eyJhbGciOiJFZERTQSJ9=.UEF5bG9hZA.AAAA", "header is not base64url");
	expect_parse_fails("eyJhbGciOiJFZERTQSJ9.UEF5b+9hZA.AAAA", "payload is not base64url");
	expect_parse_fails("eyJhbGciOiJFZERTQSJ9.UEF5bG9hZA.AA/A", "signature is not base64url");
	expect_parse_fails("eyJhbGciOiJFZERTQSJ9.UEF5bG9hZA.AAAA ", "signature is not base64url");

	/* Headers that decode but are not one JSON object. */
	static const char *hdrs[] = { "[\"alg\",\"EdDSA\"]", "\"EdDSA\"", "{\"alg\":\"EdDSA\"",
				      "{\"alg\":\"EdDSA\"} {}", "null" };
	for (size_t i = 0; i < ARRAY_LEN(hdrs); i++) {
		char *jws = forge(k, hdrs[i], "p");
		expect_parse_fails(jws, "header is not a JSON object");
		free(jws);
	}
	char *jws = forge(k, "{\"alg\":\"EdDSA\",\"alg\":\"none\"}", "p");
	expect_parse_fails(jws, "header is not a JSON object");
	free(jws);
	jws = forge(k, "{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"exp\":1}", "p");
	expect_parse_fails(jws, "crit");
	free(jws);

	/* 16 KiB is the limit, counted on the compact form. */
	size_t plen = 13000;
	char *big = xmalloc(plen + 1);
	memset(big, 'a', plen);
	big[plen] = '\0';
	jws = forge(k, "{\"alg\":\"EdDSA\"}", big);
	cr_assert_gt(strlen(jws), 16384);
	expect_parse_fails(jws, "longer than 16384");
	free(jws);
	big[9000] = '\0';
	jws = forge(k, "{\"alg\":\"EdDSA\"}", big);
	cr_assert_lt(strlen(jws), 16384);
	struct agora_jws *j = agora_jws_parse(jws, NULL, 0);
	cr_expect_not_null(j);
	cr_expect(agora_jws_verify(j, k));
	agora_jws_free(j);
	free(jws);
	free(big);
	agora_key_free(k);
}

Test(jose, verify_allows_only_eddsa)
{
	struct agora_key *k = agora_key_generate();
	/* Each of these is correctly signed by k over its own signing input:
	 * the alg check alone must refuse them. */
	static const char *hdrs[] = {
		"{\"alg\":\"none\"}",  "{\"alg\":\"HS256\"}", "{\"alg\":\"ES256\"}",
		"{\"alg\":\"eddsa\"}", "{\"alg\":\"EdDSA \"}", "{\"alg\":\"Ed25519\"}",
		"{\"alg\":null}",      "{\"alg\":[\"EdDSA\"]}", "{\"typ\":\"JWT\"}",
		"{\"alg\":\"EdDSA\\u0000\"}",
	};
	for (size_t i = 0; i < ARRAY_LEN(hdrs); i++) {
		char *jws = forge(k, hdrs[i], "{}");
		char err[256] = "";
		struct agora_jws *j = agora_jws_parse(jws, err, sizeof err);
		if (j)
			cr_expect_not(agora_jws_verify(j, k), "accepted header %s", hdrs[i]);
		agora_jws_free(j);
		free(jws);
	}
	/* The control: the same construction with alg EdDSA verifies. */
	char *jws = forge(k, "{\"alg\":\"EdDSA\"}", "{}");
	struct agora_jws *j = agora_jws_parse(jws, NULL, 0);
	cr_assert_not_null(j);
	cr_expect(agora_jws_verify(j, k));
	agora_jws_free(j);
	free(jws);

	/* Unsecured JWS (alg none, empty signature) does not even parse. */
	expect_parse_fails("eyJhbGciOiJub25lIn0.e30.", "signature is empty");
	agora_key_free(k);
}

Test(jose, verify_rejects_wrong_signature_length)
{
	struct agora_key *k = agora_key_generate();
	char *jws = agora_jws_sign(k, NULL, NULL, "x", 1);
	struct agora_jws *j = agora_jws_parse(jws, NULL, 0);
	cr_assert_not_null(j);
	cr_assert_eq(j->sig_len, 64);
	/* The real signature, one byte short and one byte long. */
	uint8_t sig[65];
	memcpy(sig, j->sig, 64);
	sig[64] = 0;
	for (size_t len = 63; len <= 65; len += 2) {
		char *s64 = agora_b64url_encode(sig, len);
		char *bad = xasprintf("%s.%s", j->signing_input, s64);
		struct agora_jws *jb = agora_jws_parse(bad, NULL, 0);
		cr_assert_not_null(jb);
		cr_expect_eq(jb->sig_len, len);
		cr_expect_not(agora_jws_verify(jb, k));
		agora_jws_free(jb);
		free(bad);
		free(s64);
	}
	cr_expect(agora_jws_verify(j, k));
	agora_jws_free(j);
	free(jws);
	agora_key_free(k);
}

/* ---- JWT claim validation ---- */

struct jwt_fixture {
	struct agora_key *k;
};
static struct jwt_fixture fx;

static void
jwt_init(void)
{
	fx.k = agora_key_generate();
}

static void
jwt_fini(void)
{
	agora_key_free(fx.k);
}

TestSuite(jwt, .init = jwt_init, .fini = jwt_fini);

/* Validate claims (JSON text) signed under header typ against want. */
static enum agora_jwt_status
check_hdr(const char *header, const char *claims, const struct agora_jwt_expect *want,
	  char *err, size_t errlen)
{
	char *jws = forge(fx.k, header, claims);
	struct agora_jws *j = agora_jws_parse(jws, NULL, 0);
	cr_assert_not_null(j);
	cr_assert(agora_jws_verify(j, fx.k));
	json_t *out = (json_t *)0x1;
	enum agora_jwt_status st = agora_jwt_validate(j, want, &out, err, errlen);
	if (st == AGORA_JWT_OK) {
		cr_assert(json_is_object(out));
		json_decref(out);
	} else {
		cr_expect_eq(out, (json_t *)0x1, "claims set on failure");
	}
	agora_jws_free(j);
	free(jws);
	return st;
}

static enum agora_jwt_status
check(const char *claims, const struct agora_jwt_expect *want)
{
	char err[256];
	return check_hdr("{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", claims, want, err, sizeof err);
}

Test(jwt, valid_token_and_claims_returned)
{
	json_t *claims = json_pack("{s:s, s:s, s:[s,s], s:I, s:I, s:I, s:s}", "iss", "https://broker",
				   "sub", "conn-1", "aud", "x", "https://broker", "iat", (json_int_t)NOW - 10,
				   "nbf", (json_int_t)NOW - 10, "exp", (json_int_t)NOW + 300, "jti", "j1");
	char *jwt = agora_jwt_sign(fx.k, "k1", "JWT", claims);
	struct agora_jws *j = agora_jws_parse(jwt, NULL, 0);
	cr_assert(agora_jws_verify(j, fx.k));
	struct agora_jwt_expect want = {
		.typ = "JWT", .iss = "https://broker", .sub = "conn-1", .aud = "https://broker",
		.now = NOW, .max_lifetime = 600, .require_iat = true, .require_jti = true,
		.require_nbf = true,
	};
	json_t *out = NULL;
	char err[256] = "";
	cr_expect_eq(agora_jwt_validate(j, &want, &out, err, sizeof err), AGORA_JWT_OK, "%s", err);
	cr_assert_not_null(out);
	cr_expect(json_equal(out, claims));
	/* claims may be NULL. */
	cr_expect_eq(agora_jwt_validate(j, &want, NULL, NULL, 0), AGORA_JWT_OK);
	json_decref(out);
	agora_jws_free(j);
	free(jwt);
	json_decref(claims);

	/* Not an object: nothing to sign. */
	json_t *arr = json_array();
	cr_expect_null(agora_jwt_sign(fx.k, NULL, NULL, arr));
	json_decref(arr);
}

Test(jwt, malformed)
{
	struct agora_jwt_expect want = { .now = NOW };
	cr_expect_eq(check("[1]", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("not json", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":1800000100,\"exp\":1}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":\"1800000100\"}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":1800000100.5}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":1.8000001e9}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":null}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":1800000100,\"iat\":true}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":1800000100,\"nbf\":\"0\"}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":1800000100,\"iss\":1}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":1800000100,\"sub\":{}}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":1800000100,\"jti\":7}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":1800000100,\"aud\":7}", &want), AGORA_JWT_MALFORMED);
	cr_expect_eq(check("{\"exp\":1800000100,\"aud\":[\"a\",7]}", &want), AGORA_JWT_MALFORMED);
	char err[256] = "";
	cr_expect_eq(check_hdr("{\"alg\":\"EdDSA\",\"typ\":1}", "{\"exp\":1800000100}", &want, err,
			       sizeof err),
		     AGORA_JWT_MALFORMED);
	cr_expect_str_eq(err, "header typ is not a string");
	cr_expect_eq(check_hdr("{\"alg\":\"EdDSA\"}", "{\"exp\":1800000100,\"aud\":[\"a\",7]}", &want, err,
			       sizeof err),
		     AGORA_JWT_MALFORMED);
	cr_expect_str_eq(err, "claim aud[1] is not a string");
}

Test(jwt, bad_typ)
{
	struct agora_jwt_expect want = { .now = NOW, .typ = "at+jwt" };
	const char *c = "{\"exp\":1800000100}";
	char err[256];
	cr_expect_eq(check_hdr("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\"}", c, &want, err, sizeof err),
		     AGORA_JWT_OK);
	cr_expect_eq(check_hdr("{\"alg\":\"EdDSA\",\"typ\":\"JWT\"}", c, &want, err, sizeof err),
		     AGORA_JWT_BAD_TYP);
	/* Compared exactly, case included. */
	cr_expect_eq(check_hdr("{\"alg\":\"EdDSA\",\"typ\":\"AT+JWT\"}", c, &want, err, sizeof err),
		     AGORA_JWT_BAD_TYP);
	cr_expect_eq(check_hdr("{\"alg\":\"EdDSA\"}", c, &want, err, sizeof err), AGORA_JWT_BAD_TYP);
	cr_expect_str_eq(err, "header typ is not \"at+jwt\"");
}

Test(jwt, bad_iss_sub_aud)
{
	struct agora_jwt_expect want = { .now = NOW, .iss = "https://broker" };
	cr_expect_eq(check("{\"exp\":1800000100,\"iss\":\"https://broker\"}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1800000100,\"iss\":\"https://evil\"}", &want), AGORA_JWT_BAD_ISS);
	cr_expect_eq(check("{\"exp\":1800000100,\"iss\":\"https://broker/\"}", &want), AGORA_JWT_BAD_ISS);

	want = (struct agora_jwt_expect){ .now = NOW, .sub = "conn-1" };
	cr_expect_eq(check("{\"exp\":1800000100,\"sub\":\"conn-1\"}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1800000100,\"sub\":\"conn-2\"}", &want), AGORA_JWT_BAD_SUB);

	want = (struct agora_jwt_expect){ .now = NOW, .aud = "https://broker" };
	cr_expect_eq(check("{\"exp\":1800000100,\"aud\":\"https://broker\"}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1800000100,\"aud\":[\"x\",\"https://broker\"]}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1800000100,\"aud\":\"https://other\"}", &want), AGORA_JWT_BAD_AUD);
	cr_expect_eq(check("{\"exp\":1800000100,\"aud\":[\"x\",\"y\"]}", &want), AGORA_JWT_BAD_AUD);
	cr_expect_eq(check("{\"exp\":1800000100,\"aud\":[]}", &want), AGORA_JWT_BAD_AUD);
	/* A \u0000 could make a prefix match; Jansson refuses it outright. */
	cr_expect_eq(check("{\"exp\":1800000100,\"aud\":\"https://broker\\u0000x\"}", &want),
		     AGORA_JWT_MALFORMED);
}

Test(jwt, expired_with_leeway)
{
	struct agora_jwt_expect want = { .now = NOW };
	cr_expect_eq(check("{\"exp\":1800000001}", &want), AGORA_JWT_OK);
	/* exp is the first instant the token is no longer accepted. */
	cr_expect_eq(check("{\"exp\":1800000000}", &want), AGORA_JWT_EXPIRED);
	cr_expect_eq(check("{\"exp\":0}", &want), AGORA_JWT_EXPIRED);
	cr_expect_eq(check("{\"exp\":-9223372036854775808}", &want), AGORA_JWT_EXPIRED);
	cr_expect_eq(check("{\"exp\":9223372036854775807}", &want), AGORA_JWT_OK);
	want.leeway = 30;
	cr_expect_eq(check("{\"exp\":1799999971}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1799999970}", &want), AGORA_JWT_EXPIRED);
	/* Leeway is clamped to 60 s. */
	want.leeway = 3600;
	cr_expect_eq(check("{\"exp\":1799999941}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1799999940}", &want), AGORA_JWT_EXPIRED);
	cr_expect_eq(check("{\"exp\":1799999000}", &want), AGORA_JWT_EXPIRED);
	/* A negative leeway counts as none. */
	want.leeway = -100;
	cr_expect_eq(check("{\"exp\":1800000001}", &want), AGORA_JWT_OK);
}

Test(jwt, now_zero_means_current_time)
{
	struct agora_jwt_expect want = { 0 };
	char c[64];
	snprintf(c, sizeof c, "{\"exp\":%lld}", (long long)agora_now() + 120);
	cr_expect_eq(check(c, &want), AGORA_JWT_OK);
	snprintf(c, sizeof c, "{\"exp\":%lld}", (long long)agora_now() - 1);
	cr_expect_eq(check(c, &want), AGORA_JWT_EXPIRED);
}

Test(jwt, not_yet_valid)
{
	struct agora_jwt_expect want = { .now = NOW };
	cr_expect_eq(check("{\"exp\":1800000100,\"nbf\":1800000000}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1800000100,\"nbf\":1800000001}", &want), AGORA_JWT_NOT_YET_VALID);
	want.leeway = 60;
	cr_expect_eq(check("{\"exp\":1800000100,\"nbf\":1800000060}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1800000100,\"nbf\":1800000061}", &want), AGORA_JWT_NOT_YET_VALID);
	cr_expect_eq(check("{\"exp\":1800000100,\"nbf\":9223372036854775807}", &want),
		     AGORA_JWT_NOT_YET_VALID);
}

Test(jwt, iat_in_future)
{
	struct agora_jwt_expect want = { .now = NOW };
	cr_expect_eq(check("{\"exp\":1800000100,\"iat\":1800000000}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1800000100,\"iat\":1800000001}", &want), AGORA_JWT_IAT_IN_FUTURE);
	want.leeway = 5;
	cr_expect_eq(check("{\"exp\":1800000100,\"iat\":1800000005}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1800000100,\"iat\":1800000006}", &want), AGORA_JWT_IAT_IN_FUTURE);
}

Test(jwt, lifetime_too_long)
{
	struct agora_jwt_expect want = { .now = NOW, .max_lifetime = 300 };
	cr_expect_eq(check("{\"exp\":1800000200,\"iat\":1799999900}", &want), AGORA_JWT_OK);
	cr_expect_eq(check("{\"exp\":1800000201,\"iat\":1799999900}", &want), AGORA_JWT_LIFETIME_TOO_LONG);
	/* Extreme values do not overflow into acceptance. */
	cr_expect_eq(check("{\"exp\":9223372036854775807,\"iat\":-9223372036854775808}", &want),
		     AGORA_JWT_LIFETIME_TOO_LONG);
}

Test(jwt, missing_claim)
{
	char err[256] = "";
	const char *h = "{\"alg\":\"EdDSA\"}";
	struct agora_jwt_expect want = { .now = NOW };
	cr_expect_eq(check_hdr(h, "{}", &want, err, sizeof err), AGORA_JWT_MISSING_CLAIM);
	cr_expect_str_eq(err, "claim exp is missing");
	cr_expect_eq(check_hdr(h, "{\"iat\":1800000000}", &want, err, sizeof err), AGORA_JWT_MISSING_CLAIM);

	want.require_iat = true;
	cr_expect_eq(check_hdr(h, "{\"exp\":1800000100}", &want, err, sizeof err), AGORA_JWT_MISSING_CLAIM);
	cr_expect_str_eq(err, "claim iat is missing");

	want = (struct agora_jwt_expect){ .now = NOW, .max_lifetime = 300 };
	cr_expect_eq(check_hdr(h, "{\"exp\":1800000100}", &want, err, sizeof err), AGORA_JWT_MISSING_CLAIM);
	cr_expect_str_eq(err, "claim iat is missing");

	want = (struct agora_jwt_expect){ .now = NOW, .require_nbf = true };
	cr_expect_eq(check_hdr(h, "{\"exp\":1800000100}", &want, err, sizeof err), AGORA_JWT_MISSING_CLAIM);
	cr_expect_str_eq(err, "claim nbf is missing");

	want = (struct agora_jwt_expect){ .now = NOW, .require_jti = true };
	cr_expect_eq(check_hdr(h, "{\"exp\":1800000100}", &want, err, sizeof err), AGORA_JWT_MISSING_CLAIM);
	cr_expect_str_eq(err, "claim jti is missing");

	want = (struct agora_jwt_expect){ .now = NOW, .iss = "i" };
	cr_expect_eq(check_hdr(h, "{\"exp\":1800000100}", &want, err, sizeof err), AGORA_JWT_MISSING_CLAIM);
	cr_expect_str_eq(err, "claim iss is missing");

	want = (struct agora_jwt_expect){ .now = NOW, .sub = "s" };
	cr_expect_eq(check_hdr(h, "{\"exp\":1800000100}", &want, err, sizeof err), AGORA_JWT_MISSING_CLAIM);
	cr_expect_str_eq(err, "claim sub is missing");

	want = (struct agora_jwt_expect){ .now = NOW, .aud = "a" };
	cr_expect_eq(check_hdr(h, "{\"exp\":1800000100}", &want, err, sizeof err), AGORA_JWT_MISSING_CLAIM);
	cr_expect_str_eq(err, "claim aud is missing");
}

Test(jwt, status_strings)
{
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_OK), "ok");
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_MALFORMED), "malformed");
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_BAD_TYP), "bad_typ");
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_BAD_ISS), "bad_iss");
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_BAD_SUB), "bad_sub");
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_BAD_AUD), "bad_aud");
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_EXPIRED), "expired");
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_NOT_YET_VALID), "not_yet_valid");
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_IAT_IN_FUTURE), "iat_in_future");
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_LIFETIME_TOO_LONG), "lifetime_too_long");
	cr_expect_str_eq(agora_jwt_status_str(AGORA_JWT_MISSING_CLAIM), "missing_claim");
	cr_expect_str_eq(agora_jwt_status_str((enum agora_jwt_status)99), "unknown");
}
