/* libFuzzer target: the participant-token verifier (lib/pauth.c) with stub
 * callbacks — a fixed key table and an in-memory replay set, emptied for
 * every input so runs are reproducible.
 *
 * Key table (all participants hold the fixed RFC 8037 key):
 *   did:web:a.example  active      did:web:s.example  suspended
 *   did:web:n.example  no such key did:web:d.example  directory down
 * The request: audience did:web:b.example, POST
 * https://b.example/dsp/negotiations/request, body "{}".
 *
 * First byte:
 *   0  the rest is a token as received.
 *   1  the rest is a claims object signed here (header alg EdDSA, typ JWT,
 *      the key's kid); integer iat/nbf/exp are taken relative to now and
 *      a bh of "BH" is replaced by the request body's hash, so the fuzzer
 *      reaches every check after the signature.
 *   2  "iss\nmethod\nurl\nbody": agora_pauth_mint, then verify against the
 *      same request: must succeed for the active participant (with a
 *      method and url Jansson can carry), and a second verify must be
 *      refused as a replay.
 * Always: success means *participant is set, equals the iss of the token
 * and the same token is refused as replayed the second time. */
#include <jansson.h>
#include <time.h>

#include "fuzz_util.h"
#include "jose.h"
#include "pauth.h"

#define AUD "did:web:b.example"
#define METHOD "POST"
#define URL "https://b.example/dsp/negotiations/request"

static struct agora_key *key;
static char kid[44];
static json_t *jwk;
static json_t *seen_set;	/* "participant\njti" → true */

static enum agora_qs
key_cb(void *ctx, const char *id, const char *k, json_t **out, char **status)
{
	(void)ctx;
	if (!strcmp(id, "did:web:d.example"))
		return AGORA_QS_HARD_ERROR;
	const char *st = !strcmp(id, "did:web:a.example")   ? "active"
			 : !strcmp(id, "did:web:n.example") ? "active"
			 : !strcmp(id, "did:web:s.example") ? "suspended" : NULL;
	if (!st)
		return AGORA_QS_NONE;
	*status = xstrdup(st);
	*out = strcmp(k, kid) || !strcmp(id, "did:web:n.example") ? NULL : json_incref(jwk);
	return AGORA_QS_ONE;
}

static enum agora_qs
seen_cb(void *ctx, const char *participant, const char *jti, long long exp)
{
	(void)ctx;
	(void)exp;
	char *k = xasprintf("%s\n%s", participant, jti);
	enum agora_qs qs = AGORA_QS_ONE;
	if (json_object_get(seen_set, k))
		qs = AGORA_QS_NONE;
	else
		json_object_set_new(seen_set, k, json_true());
	free(k);
	return qs;
}

static const struct agora_pauth_ops ops = { key_cb, seen_cb, NULL };

/* Verify tok twice against req; check the outcome's properties. */
static enum agora_error
verify(const char *tok, const struct agora_pauth_request *req)
{
	char *who = NULL;
	char detail[300] = "";
	enum agora_error e = agora_pauth_verify(tok, req, &ops, &who, detail, sizeof detail);
	if (e != AGORA_E__COUNT) {
		FUZZ_CHECK(who == NULL, "participant set on error %d", (int)e);
		FUZZ_CHECK(detail[0] != '\0', "error %d without detail", (int)e);
		return e;
	}
	FUZZ_CHECK(who && !strcmp(who, "did:web:a.example"), "accepted for %s", who ? who : "(null)");
	free(who);
	who = NULL;
	enum agora_error e2 = agora_pauth_verify(tok, req, &ops, &who, detail, sizeof detail);
	FUZZ_CHECK(e2 == AGORA_E_TOKEN_REPLAYED, "replay gave %d", (int)e2);
	FUZZ_CHECK(who == NULL, "participant set on replay");
	return e;
}

/* Integer time claims are offsets from now. */
static void
shift_time(json_t *claims, const char *name, long long now)
{
	json_t *v = json_object_get(claims, name);
	if (json_is_integer(v) && json_integer_value(v) > -1000000000 &&
	    json_integer_value(v) < 1000000000)
		json_object_set_new(claims, name, json_integer(now + json_integer_value(v)));
}

static void
minted_claims(const uint8_t *data, size_t size, const struct agora_pauth_request *req)
{
	json_t *claims = json_loadb((const char *)data, size, 0, NULL);
	if (!json_is_object(claims)) {
		json_decref(claims);
		return;
	}
	long long now = (long long)time(NULL);
	shift_time(claims, "iat", now);
	shift_time(claims, "nbf", now);
	shift_time(claims, "exp", now);
	if (json_is_string(json_object_get(claims, "bh")) &&
	    !strcmp(json_string_value(json_object_get(claims, "bh")), "BH")) {
		uint8_t hash[32];
		agora_sha256(req->body, req->body_len, hash);
		char *bh = agora_b64url_encode(hash, sizeof hash);
		json_object_set_new(claims, "bh", json_string(bh));
		free(bh);
	}
	char *tok = agora_jwt_sign(key, kid, "JWT", claims);
	if (tok)
		verify(tok, req);
	free(tok);
	json_decref(claims);
}

static void
minted(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	char *f[4] = { s, NULL, NULL, NULL };
	for (int i = 1; i < 4; i++) {
		char *nl = f[i - 1] ? strchr(f[i - 1], '\n') : NULL;
		if (nl) {
			*nl = '\0';
			f[i] = nl + 1;
		}
	}
	if (!f[3]) {
		free(s);
		return;
	}
	char *url = xstrndup(f[2], strcspn(f[2], "?"));	/* the request's url has no query */
	struct agora_pauth_request req = { AUD, f[1], url, f[3], strlen(f[3]) };
	char *tok = agora_pauth_mint(key, kid, f[0], AUD, f[1], f[2], f[3], strlen(f[3]));
	if (tok) {
		enum agora_error e = verify(tok, &req);
		/* Our own token for the active participant must pass (the iss
		 * is read back only up to 200 bytes). */
		if (!strcmp(f[0], "did:web:a.example") && strlen(tok) <= 16384)
			FUZZ_CHECK(e == AGORA_E__COUNT, "own token refused: %d", (int)e);
	}
	free(tok);
	free(url);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 20000)
		return 0;
	if (!key) {
		key = fuzz_key();
		jwk = agora_jwk_from_key(key);
		if (!agora_key_thumbprint(key, kid))
			abort();
		seen_set = json_object();
	}
	json_object_clear(seen_set);
	static const char body[] = "{}";
	struct agora_pauth_request req = { AUD, METHOD, URL, body, 2 };
	switch (data[0] % 3) {
	case 0: {
		char *tok = fuzz_strndup(data + 1, size - 1);
		verify(tok, &req);
		free(tok);
		break;
	}
	case 1:
		minted_claims(data + 1, size - 1, &req);
		break;
	default:
		minted(data + 1, size - 1);
	}
	return 0;
}
