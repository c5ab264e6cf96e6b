/* sig_bench — signatures per second through lib/jose.c (make bench-sig).
 *
 *   sig_bench [SECONDS]
 *
 * For SECONDS each (default 3), on one thread:
 *   jws_sign     agora_jwt_sign() of an access token's claims (at+jwt, kid =
 *                the key's thumbprint): JSON dump, base64url, Ed25519 sign;
 *   jws_verify   agora_jws_parse() + agora_jws_verify() of that token: the
 *                work a data-plane request does on a cache miss before its
 *                claims are checked;
 *   ed25519_sign / ed25519_verify   the primitive alone (agora_ed25519_*)
 *                over the token's signing input, for comparison with
 *                `openssl speed ed25519`, which the script runs beside it;
 *   ed25519_verify_remembered   the same verification answered from the
 *                cache of signatures that verified before (lib/crypto.c).
 * The verifications (but the last) forget the remembered signatures first
 * (agora_ed25519_verify_cache_clear, a 32 KiB memset: about 1 % of a
 * verification), so that they measure the curve arithmetic.
 * Prints one line of name=value pairs (operations per second). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "crypto.h"
#include "jose.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What the operations work on; set up once in main(). */
static struct agora_key *key;
static char kid[44];
static json_t *claims;
static char *token;
static const char *input;
static size_t input_len;
static uint8_t sig[AGORA_ED25519_SIG_LEN];
static long bad;

static void op_jws_sign(void)
{
	char *t = agora_jwt_sign(key, kid, "at+jwt", claims);
	bad += t == NULL;
	free(t);
}

static void op_jws_verify(void)
{
	char err[128];
	agora_ed25519_verify_cache_clear();
	struct agora_jws *j = agora_jws_parse(token, err, sizeof err);
	bad += !j || !agora_jws_verify(j, key);
	agora_jws_free(j);
}

static void op_ed25519_sign(void)
{
	uint8_t s[AGORA_ED25519_SIG_LEN];
	bad += !agora_ed25519_sign(key, input, input_len, s);
}

static void op_ed25519_verify(void)
{
	agora_ed25519_verify_cache_clear();
	bad += !agora_ed25519_verify(key, input, input_len, sig, sizeof sig);
}

static void op_ed25519_verify_remembered(void)
{
	bad += !agora_ed25519_verify(key, input, input_len, sig, sizeof sig);
}

/* Run op until `seconds` have passed (the clock read every 64 calls);
 * operations per second. */
static double rate(double seconds, void (*op)(void))
{
	long n = 0;
	double t0 = now_s(), t;
	do {
		for (int i = 0; i < 64; i++)
			op();
		n += 64;
		t = now_s() - t0;
	} while (t < seconds);
	return n / t;
}

static void fail(const char *what)
{
	fprintf(stderr, "sig_bench: %s\n", what);
	exit(1);
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 3.0;
	if (seconds <= 0)
		fail("usage: sig_bench [SECONDS]");
	key = agora_key_generate();
	if (!key || !agora_key_thumbprint(key, kid))
		fail("no key");
	/* The shape of a transfer access token (connectors/dataplane.c checks
	 * these claims). */
	claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s}",
		"iss", "http://127.0.0.1:8080", "sub", "urn:agora:participant:mobility",
		"aud", "urn:agora:participant:city", "iat", (json_int_t)1767225600,
		"nbf", (json_int_t)1767225600, "exp", (json_int_t)1767225900,
		"jti", "0b6f7c1e-5a4d-4c3b-9e2f-1a2b3c4d5e6f",
		"transfer", "urn:uuid:3dd1add8-4d2d-569e-d634-8394a8836a88",
		"agreement", "urn:uuid:6bcea82e-c509-443d-ba8c-8eef25984c07");
	if (!claims)
		fail("claims");
	token = agora_jwt_sign(key, kid, "at+jwt", claims);
	if (!token)
		fail("sign");
	char err[128];
	struct agora_jws *once = agora_jws_parse(token, err, sizeof err);
	if (!once || !agora_jws_verify(once, key) || once->sig_len != sizeof sig)
		fail("the token does not verify");
	input = once->signing_input;
	input_len = strlen(input);
	memcpy(sig, once->sig, sizeof sig);

	double sign = rate(seconds, op_jws_sign);
	double verify = rate(seconds, op_jws_verify);
	double raw_sign = rate(seconds, op_ed25519_sign);
	double raw_verify = rate(seconds, op_ed25519_verify);
	unsigned long hits = agora_ed25519_verify_cache_hits();
	double remembered = rate(seconds, op_ed25519_verify_remembered);
	if (agora_ed25519_verify_cache_hits() == hits)
		fail("the remembered verification was not answered from the cache");
	if (bad)
		fail("an operation failed during the run");

	printf("jws_sign=%.0f jws_verify=%.0f ed25519_sign=%.0f ed25519_verify=%.0f "
	       "ed25519_verify_remembered=%.0f token_bytes=%zu input_bytes=%zu seconds=%.1f\n",
	       sign, verify, raw_sign, raw_verify, remembered, strlen(token), input_len, seconds);
	agora_jws_free(once);
	free(token);
	json_decref(claims);
	agora_key_free(key);
	return 0;
}
